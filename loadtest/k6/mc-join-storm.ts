// k6: a join storm against a Meeting Controller's WebSocket signaling. Joins arrive at a rate
// that ramps up, holds and stops (stages); each opens /v1/signaling, sends a protobuf
// JoinRequest (lib/signaling.ts), times the JoinResponse (or counts the JoinRejected or Error
// by kind), leaves and closes. setup() logs the users in at AC and creates the meeting at GC,
// which names the controller (its `meeting_controller.url`; MC_URL overrides).
//
//   npm run load:k6 -- mc-join-storm -e AC_URL=http://127.0.0.1:8082 -e GC_URL=http://127.0.0.1:8080
//
// Environment: USERS (a JSON file [{"username","password"}]; default the stack's demo user:
// with one user every join after the first is a reconnect of the same participant),
// JOINS_PER_SECOND (20), RAMP (10s), HOLD (30s), MC_URL.
import http from 'k6/http';
import ws from 'k6/ws';
import { check } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import { handleSummaryFor, type SummaryData } from './lib/summary.ts';
import {
  joinBytes,
  leaveBytes,
  readServerMessage,
  SIGNALING_SUBPROTOCOL,
} from './lib/signaling.ts';
import { TARGETS } from './lib/targets.ts';

const AC_URL = __ENV.AC_URL ?? 'http://127.0.0.1:8082';
const GC_URL = __ENV.GC_URL ?? 'http://127.0.0.1:8080';
const RATE = Number(__ENV.JOINS_PER_SECOND ?? 20);
const users = (
  __ENV.USERS ? JSON.parse(open(__ENV.USERS)) : [{ username: 'demo', password: 'demo-password' }]
) as { username: string; password: string }[];

const joinTime = new Trend('mc_join_ms', true);
const accepted = new Rate('mc_join_accepted');
const refusals = new Counter('mc_join_refusals');

export const options = {
  scenarios: {
    storm: {
      executor: 'ramping-arrival-rate',
      startRate: 1,
      timeUnit: '1s',
      preAllocatedVUs: Math.max(10, RATE),
      maxVUs: Math.max(50, RATE * 5),
      stages: [
        { target: RATE, duration: __ENV.RAMP ?? '10s' },
        { target: RATE, duration: __ENV.HOLD ?? '30s' },
        { target: 0, duration: '5s' },
      ],
    },
  },
  thresholds: {
    mc_join_ms: [`p(99)<${TARGETS.signalingP99Ms}`],
    mc_join_accepted: [`rate>${1 - TARGETS.errorRate}`],
    checks: [`rate>${1 - TARGETS.errorRate}`],
  },
};

interface Setup {
  readonly tokens: string[];
  readonly meetingId: string;
  readonly mcUrl: string;
}

export function setup(): Setup {
  const tokens = users.map((user) => {
    const response = http.post(`${AC_URL}/v1/auth/user/token`, JSON.stringify(user), {
      headers: { 'content-type': 'application/json' },
    });
    if (response.status !== 200) throw new Error(`login ${user.username}: ${response.status}`);
    return response.json('access_token') as string;
  });
  const created = http.post(`${GC_URL}/v1/meetings`, JSON.stringify({ title: 'k6 join storm' }), {
    headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[0]}` },
  });
  if (created.status !== 201 && created.status !== 200) {
    throw new Error(`create meeting: ${created.status} ${String(created.body)}`);
  }
  const meetingId = created.json('meeting_id') as string;
  const named = created.json('meeting_controller.url') as string | null;
  const base = __ENV.MC_URL ?? named ?? 'ws://127.0.0.1:8081';
  const mcUrl = base.replace(/^http/, 'ws').replace(/\/v1\/signaling$/, '') + '/v1/signaling';
  return { tokens, meetingId, mcUrl };
}

export default function (data: Setup): void {
  const token = data.tokens[Math.floor(Math.random() * data.tokens.length)] as string;
  const response = ws.connect(
    data.mcUrl,
    { headers: { 'Sec-WebSocket-Protocol': SIGNALING_SUBPROTOCOL } },
    (socket) => {
      let started = 0;
      socket.on('open', () => {
        started = Date.now();
        socket.sendBinary(
          joinBytes({ accessToken: token, meetingId: data.meetingId, layout: 'grid' }),
        );
      });
      socket.on('binaryMessage', (bytes: ArrayBuffer) => {
        const frame = readServerMessage(new Uint8Array(bytes));
        if (frame.kind === 'join-response') {
          joinTime.add(Date.now() - started);
          accepted.add(true);
          socket.sendBinary(leaveBytes());
          socket.close();
        } else if (frame.kind === 'join-rejected' || frame.kind === 'error') {
          accepted.add(false);
          refusals.add(1, { kind: frame.kind, code: String(frame.code ?? 0) });
          socket.close();
        }
      });
      socket.setTimeout(() => {
        accepted.add(false);
        refusals.add(1, { kind: 'timeout', code: '0' });
        socket.close();
      }, 10_000);
    },
  );
  check(response, { 'websocket upgraded': (r) => r !== undefined && r.status === 101 });
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return handleSummaryFor('mc-join-storm', data);
}
