// k6: media publish/subscribe against one Media Handler's WebSocket ingress. N publisher VUs
// send SFrame-shaped camera datagrams at a fixed rate with their capture time in the header;
// M subscriber VUs receive them and check, per stream, the sequence (gaps) and the latency
// from the capture time. Tokens, routes and header templates come from prepare.ts:
//
//   MH_ROUTE_TOKEN=<AC service token, scope service.write.mh> \
//     npx tsx loadtest/k6/prepare.ts --publishers 4 --subscribers 8 > /tmp/mh-k6.json
//   npm run load:k6 -- mh-media -e MH_K6=/tmp/mh-k6.json
//
// Environment: DATAGRAMS_PER_SECOND (50), PAYLOAD_BYTES (1000), SESSION_SECONDS (30),
// RAMP_SECONDS (10: publishers join one by one over it). Thresholds: lib/targets.ts.
import ws from 'k6/ws';
import encoding from 'k6/encoding';
import exec from 'k6/execution';
import { check, sleep } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import {
  controlKind,
  helloBytes,
  mediaDatagram,
  readHeader,
  SequenceTracker,
  templateBytes,
} from './lib/mh-wire.ts';
import { handleSummaryFor, type SummaryData } from './lib/summary.ts';
import { TARGETS } from './lib/targets.ts';

interface Participant {
  readonly participant: string;
  readonly role: 'publisher' | 'subscriber';
  readonly token: string;
  readonly template: string;
}
interface Plan {
  readonly url: string;
  readonly meeting: string;
  readonly participants: readonly Participant[];
}

const plan = JSON.parse(open(__ENV.MH_K6 ?? 'MH_K6 is not set')) as Plan;
const publishers = plan.participants.filter((p) => p.role === 'publisher');
const subscribers = plan.participants.filter((p) => p.role === 'subscriber');
const RATE = Number(__ENV.DATAGRAMS_PER_SECOND ?? 50);
const PAYLOAD = Number(__ENV.PAYLOAD_BYTES ?? 1_000);
const SESSION_SECONDS = Number(__ENV.SESSION_SECONDS ?? 30);
const RAMP_SECONDS = Number(__ENV.RAMP_SECONDS ?? 10);
/** Subscribers join first and stay until every publisher is done. */
const SUBSCRIBER_SECONDS = RAMP_SECONDS + SESSION_SECONDS + 5;

const sent = new Counter('mh_datagrams_sent');
const received = new Counter('mh_datagrams_received');
const gaps = new Counter('mh_sequence_gaps');
const inOrder = new Rate('mh_in_order');
const latency = new Trend('mh_media_latency', true);
const helloTime = new Trend('mh_hello_ms', true);

export const options = {
  scenarios: {
    subscribers: {
      executor: 'per-vu-iterations',
      exec: 'subscriber',
      vus: Math.max(1, subscribers.length),
      iterations: 1,
      maxDuration: `${SUBSCRIBER_SECONDS + 30}s`,
    },
    publishers: {
      executor: 'per-vu-iterations',
      exec: 'publisher',
      vus: Math.max(1, publishers.length),
      iterations: 1,
      startTime: '3s',
      maxDuration: `${RAMP_SECONDS + SESSION_SECONDS + 30}s`,
    },
  },
  thresholds: {
    mh_media_latency: [`p(99)<${TARGETS.mediaLatencyP99Ms}`],
    mh_in_order: [`rate>${TARGETS.inOrderRate}`],
    mh_hello_ms: [`p(99)<${TARGETS.joinToMediaMs}`],
    checks: [`rate>${1 - TARGETS.errorRate}`],
  },
};

/** Connects `me`, sends the hello and runs `session` once it is accepted. */
function join(
  me: Participant,
  seconds: number,
  session: (socket: Parameters<Parameters<typeof ws.connect>[2]>[0]) => void,
): void {
  const response = ws.connect(
    plan.url,
    { headers: { 'Sec-WebSocket-Protocol': 'darktower-media.v1' } },
    (socket) => {
      let started = 0;
      socket.on('open', () => {
        started = Date.now();
        socket.send(encoding.b64encode(helloBytes(me.token), 'std'));
      });
      socket.on('message', (message: string) => {
        const kind = controlKind(new Uint8Array(encoding.b64decode(message, 'std')));
        if (kind === 'session-closed') return;
        helloTime.add(Date.now() - started);
        if (!check(kind, { 'hello accepted': (k) => k === 'accepted' })) {
          socket.close();
          return;
        }
        session(socket);
      });
      socket.setTimeout(() => socket.close(), seconds * 1000);
    },
  );
  check(response, { 'websocket upgraded': (r) => r !== undefined && r.status === 101 });
}

export function publisher(): void {
  const index = exec.scenario.iterationInTest;
  const me = publishers[index % publishers.length] as Participant;
  sleep((RAMP_SECONDS * index) / Math.max(1, publishers.length));
  const template = templateBytes(me.template);
  join(me, SESSION_SECONDS, (socket) => {
    let sequence = 0;
    socket.setInterval(() => {
      socket.sendBinary(mediaDatagram(template, sequence++, Date.now() * 1000, PAYLOAD));
      sent.add(1);
    }, 1000 / RATE);
  });
}

export function subscriber(): void {
  const me = subscribers[exec.scenario.iterationInTest % subscribers.length] as Participant;
  const streams = new Map<string, SequenceTracker>();
  join(me, SUBSCRIBER_SECONDS, (socket) => {
    socket.on('binaryMessage', (data: ArrayBuffer) => {
      const header = readHeader(new Uint8Array(data));
      if (!check(header, { 'datagram decodes': (h) => h !== null }) || header === null) return;
      received.add(1);
      let tracker = streams.get(header.stream);
      if (tracker === undefined) {
        tracker = new SequenceTracker();
        streams.set(header.stream, tracker);
      }
      const skipped = tracker.receive(header.sequence);
      inOrder.add(skipped === 0);
      if (skipped > 0) gaps.add(skipped);
      latency.add(Date.now() - header.captureTimeUs / 1000);
    });
  });
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return handleSummaryFor('mh-media', data);
}
