/**
 * Media Handler ingress benchmark: datagrams per second through a running handler (its own
 * process), one publisher fanned out to two subscribers, 1,192-byte datagrams, over the
 * WebSocket ingress and over the plain UDP benchmark ingress. Each is compared with a baseline
 * measured in the same run: a relay process that forwards every message to the other two
 * connections with no checks at all (a `ws` server for WebSocket, a `node:dgram` socket for
 * UDP), i.e. the least a Node forwarder could do. The load client runs in this process and
 * shares the machine's cores with the handler. Writes reports/bench-mh-ingress.json.
 *
 * Run: npm run bench:mh-ingress   (needs Redis on 127.0.0.1:6379)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { setImmediate as yieldNow, setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { buildTokenClaims } from '../core/auth/claims.ts';
import { parseScopeList } from '../core/auth/scopes.ts';
import { unwrap } from '../core/result.ts';
import { signClaims } from '../adapters/jwt/tokens.ts';
import {
  helloMessage,
  MediaClient,
  StreamPublisher,
  type WebSocketConstructor,
} from '../client/media/index.ts';
import { ClientControl, HandlerControl } from '../services/generated/darktower/mh/v1/control.ts';
import { MediaKind } from '../services/generated/darktower/mh/v1/route.ts';
import { connectMh } from '../services/mh/grpc-client.ts';
import { grant, startStandInController, tokenFrom } from '../services/mh/testing.ts';
import { benchEnvironment, benchStart } from './measure.ts';

const ROUND_MS = 2_000;
const ROUNDS = 5;
const PAYLOAD = 1_150;
const start = benchStart();
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

interface Round {
  sent: number;
  /** Datagrams each subscriber received (the lower of the two). */
  delivered: number;
  inPerSecond: number;
  outPerSecond: number;
  loss: number;
}

/** A measured path: one round at a time, so that targets can take turns. */
interface Target {
  round(): Promise<Round>;
  close(): Promise<void>;
}

/** Rounds of `a` and `b` taking turns, so that both see the same background load. */
async function alternate(a: Target, b: Target): Promise<[Round[], Round[]]> {
  const roundsA: Round[] = [];
  const roundsB: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    roundsA.push(await a.round());
    roundsB.push(await b.round());
  }
  await a.close();
  await b.close();
  return [roundsA, roundsB];
}

/** Spawns a process and waits for a line containing `ready`; returns it and the line. */
async function spawnUntil(args: string[], env: NodeJS.ProcessEnv, ready: string) {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const line = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const found = output.split('\n').find((l) => l.includes(ready));
      if (found !== undefined) resolve(found);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${output.slice(-500)}`)));
  });
  return { child, line };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** One round: the publisher sends as fast as the socket drains for ROUND_MS. */
async function wsRound(
  send: (d: Uint8Array) => void,
  buffered: () => number,
  received: () => [number, number],
  datagram: () => Uint8Array,
): Promise<Round> {
  const [b0, c0] = received();
  let sent = 0;
  const began = performance.now();
  while (performance.now() - began < ROUND_MS) {
    for (let i = 0; i < 64; i++) {
      send(datagram());
      sent++;
    }
    while (buffered() > 256 * 1024) await yieldNow();
    await yieldNow();
  }
  await settle(received);
  const elapsed = (performance.now() - began) / 1000;
  const [b1, c1] = received();
  const delivered = Math.min(b1 - b0, c1 - c0);
  return {
    sent,
    delivered,
    inPerSecond: Math.round(sent / elapsed),
    outPerSecond: Math.round((b1 - b0 + c1 - c0) / elapsed),
    loss: Number((1 - delivered / sent).toFixed(4)),
  };
}

/** Waits until the subscribers' counts stop moving (at most 3 s). */
async function settle(received: () => [number, number]): Promise<void> {
  let last = -1;
  for (let i = 0; i < 30; i++) {
    const [b, c] = received();
    if (b + c === last) return;
    last = b + c;
    await sleep(100);
  }
}

/** One UDP round: bursts of `burst` datagrams per turn of the event loop. */
async function udpRound(
  send: (d: Uint8Array) => void,
  received: () => [number, number],
  datagram: () => Uint8Array,
  burst: number,
): Promise<Round> {
  const [b0, c0] = received();
  let sent = 0;
  const began = performance.now();
  while (performance.now() - began < ROUND_MS) {
    for (let i = 0; i < burst; i++) {
      send(datagram());
      sent++;
    }
    await sleep(1);
  }
  await settle(received);
  const elapsed = (performance.now() - began) / 1000;
  const [b1, c1] = received();
  const delivered = Math.min(b1 - b0, c1 - c0);
  return {
    sent,
    delivered,
    inPerSecond: Math.round(delivered / elapsed),
    outPerSecond: Math.round((b1 - b0 + c1 - c0) / elapsed),
    loss: Number((1 - delivered / sent).toFixed(4)),
  };
}

const summary = (rounds: Round[]) => ({
  inPerSecond: median(rounds.map((r) => r.inPerSecond)),
  outPerSecond: median(rounds.map((r) => r.outPerSecond)),
  loss: median(rounds.map((r) => r.loss)),
  rounds,
});

// ---- the handler --------------------------------------------------------------------------

const controller = await startStandInController('bench-mc');
const acStandIn = await startStandInController('dark-tower-ac');
const routeToken = await signClaims(
  unwrap(
    buildTokenClaims({
      subject: 'bench-mc',
      kind: 'service',
      scopes: unwrap(parseScopeList('service.write.mh')),
      org: 'default',
      issuer: 'dark-tower-ac',
      audience: 'dark-tower',
      now: Date.now(),
      jti: randomUUID(),
    }),
  ),
  acStandIn.key,
);
const MH = 'mh-bench';
const handler = await spawnUntil(
  ['--import', 'tsx', 'services/mh/main.ts'],
  {
    ...process.env,
    MH_ID: MH,
    MH_WS_BIND_ADDRESS: '127.0.0.1:0',
    MH_UDP_BIND_ADDRESS: '127.0.0.1:0',
    BIND_ADDRESS: '127.0.0.1:0',
    METRICS_BIND_ADDRESS: '127.0.0.1:0',
    MH_GRPC_BIND_ADDRESS: '127.0.0.1:0',
    MH_TRUSTED_ISSUERS: `bench-mc=${controller.jwksUrl}`,
    AC_JWKS_URL: acStandIn.jwksUrl,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    MH_REDIS_KEY_PREFIX: `bench_${randomUUID().slice(0, 8)}:`,
    MH_DRAIN_GRACE_MS: '0',
    LOG_LEVEL: 'info',
  },
  'mh-service listening',
);
const listening = JSON.parse(handler.line) as {
  ws: string;
  udp: string;
  grpc: string;
  metrics_url: string;
};
const route = connectMh(listening.grpc, routeToken);
const meetingRoutes = (meeting: string) =>
  route.applyRouteCommand({
    id: `${meeting}-routes`,
    meeting,
    controller: 'bench-mc',
    add: [
      { publish: { publisher: 'alice', kind: MediaKind.MEDIA_KIND_CAMERA, handler: MH } },
      ...['bob', 'carol'].map((subscriber) => ({
        deliver: { publisher: 'alice', kind: MediaKind.MEDIA_KIND_CAMERA, handler: MH, subscriber },
      })),
    ],
    remove: [],
  });

// ---- WebSocket: the handler -------------------------------------------------------------

async function handlerOverWebSocket(): Promise<Target> {
  await meetingRoutes('bench-ws');
  const join = async (participant: string) => {
    const { client, outcome } = await MediaClient.connect({
      url: listening.ws,
      token: await tokenFrom(controller, grant('bench-ws', participant, MH)),
      WebSocket: WebSocket as unknown as WebSocketConstructor,
    });
    if (client === undefined) throw new Error(JSON.stringify(outcome));
    return client;
  };
  // Subscribers count binary messages without decoding them, as the relay's do.
  const subscribe = async (participant: string, count: () => void) => {
    const ws = new WebSocket(listening.ws, 'darktower-media.v1');
    await new Promise((resolve) => ws.once('open', resolve));
    const answered = new Promise((resolve) => ws.once('message', resolve));
    ws.send(helloMessage(await tokenFrom(controller, grant('bench-ws', participant, MH))));
    await answered;
    ws.on('message', (_data, binary) => binary && count());
    return ws;
  };
  const counts = [0, 0];
  const alice = await join('alice');
  const bob = await subscribe('bob', () => counts[0]!++);
  const carol = await subscribe('carol', () => counts[1]!++);
  // One datagram sent again and again, as the relay's client does (the handler reads only its
  // header, so a repeated sequence number changes nothing).
  const camera = alice.publisher('bench-ws', 'alice', 'camera');
  const datagram = camera.datagrams(new Uint8Array(PAYLOAD).fill(7))[0] as Uint8Array;
  return {
    round: () =>
      wsRound(
        (d) => alice.sendDatagram(d),
        () => alice.bufferedAmount,
        () => [counts[0]!, counts[1]!],
        () => datagram,
      ),
    close: async () => {
      await alice.close();
      bob.close();
      carol.close();
    },
  };
}

// ---- WebSocket: the baseline relay ------------------------------------------------------

const WS_RELAY = `
import { WebSocketServer } from 'ws';
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('message', (data, binary) => {
  for (const other of wss.clients) if (other !== ws) other.send(data, { binary });
}));
wss.on('listening', () => console.log('relay ' + wss.address().port));
`;

async function relayOverWebSocket(): Promise<Target> {
  const relay = await spawnUntil(['--input-type=module', '-e', WS_RELAY], process.env, 'relay ');
  const port = Number(relay.line.trim().split(' ')[1]);
  const open = () =>
    new Promise<WebSocket>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}`);
      ws.once('open', () => resolve(ws));
    });
  const alice = await open();
  const bob = await open();
  const carol = await open();
  const counts = [0, 0];
  bob.on('message', () => counts[0]!++);
  carol.on('message', () => counts[1]!++);
  // The same bytes the handler's clients send: a 42-byte header and the payload.
  const bytes = new Uint8Array(42 + PAYLOAD).fill(7);
  return {
    round: () =>
      wsRound(
        (d) => alice.send(d),
        () => alice.bufferedAmount,
        () => [counts[0]!, counts[1]!],
        () => bytes,
      ),
    close: async () => {
      for (const ws of [alice, bob, carol]) ws.close();
      await stop(relay.child);
    },
  };
}

// ---- UDP: the handler and the baseline ----------------------------------------------------

async function udpSocket(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  socket.setRecvBufferSize(4 << 20);
  socket.setSendBufferSize(4 << 20);
  return socket;
}

async function handlerOverUdp(burst: number): Promise<Target> {
  await meetingRoutes('bench-udp');
  const [host, portText] = listening.udp.split(':') as [string, string];
  const port = Number(portText);
  const join = async (participant: string) => {
    const socket = await udpSocket();
    const hello = ClientControl.encode({
      hello: { connectionToken: await tokenFrom(controller, grant('bench-udp', participant, MH)) },
    }).finish();
    const answered = new Promise<void>((resolve, reject) =>
      socket.once('message', (packet) => {
        const answer = HandlerControl.decode(packet.subarray(1)).helloAnswer;
        if (answer?.accepted !== undefined) resolve();
        else reject(new Error(JSON.stringify(answer)));
      }),
    );
    socket.send(Buffer.concat([Buffer.from([1]), hello]), port, host);
    await answered;
    return socket;
  };
  const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map(join));
  const counts = [0, 0];
  bob!.on('message', () => counts[0]!++);
  carol!.on('message', () => counts[1]!++);
  const prefix = Buffer.from([0]);
  const sink = {
    maxDatagramBytes: 42 + PAYLOAD,
    sendDatagram: (d: Uint8Array) => (alice!.send([prefix, d], port, host), true),
  };
  const publisher = new StreamPublisher(sink, 'bench-udp', 'alice', 'camera');
  const datagram = publisher.datagrams(new Uint8Array(PAYLOAD).fill(7))[0] as Uint8Array;
  return {
    round: () =>
      udpRound(
        (d) => sink.sendDatagram(d),
        () => [counts[0]!, counts[1]!],
        () => datagram,
        burst,
      ),
    close: async () => {
      for (const s of [alice, bob, carol]) s!.close();
    },
  };
}

async function relayOverUdp(burst: number): Promise<Target> {
  const relay = await spawnUntil(
    ['--import', 'tsx', 'bench/relays.ts', 'udp'],
    process.env,
    'relay ',
  );
  const port = Number(relay.line.trim().split(' ')[1]);
  const [alice, bob, carol] = await Promise.all([udpSocket(), udpSocket(), udpSocket()]);
  // Subscribers make themselves known to the relay first.
  for (const s of [bob!, carol!]) s.send(Buffer.from([1, 0]), port, '127.0.0.1');
  await sleep(100);
  const counts = [0, 0];
  bob!.on('message', () => counts[0]!++);
  carol!.on('message', () => counts[1]!++);
  const bytes = new Uint8Array(1 + 42 + PAYLOAD).fill(7);
  return {
    round: () =>
      udpRound(
        (d) => alice!.send(d, port, '127.0.0.1'),
        () => [counts[0]!, counts[1]!],
        () => bytes,
        burst,
      ),
    close: async () => {
      for (const s of [alice, bob, carol]) s!.close();
      await stop(relay.child);
    },
  };
}

async function handlerMetrics(): Promise<Record<string, number>> {
  const text = await (await fetch(`${listening.metrics_url}/metrics`)).text();
  const wanted: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match =
      /^(mh_(?:datagrams_in_total|datagrams_out_total|forwarding_latency_seconds_(?:sum|count)|datagram_drops_total\{reason="send-queue-full"\}))\s(\S+)$/.exec(
        line,
      );
    if (match) wanted[match[1] as string] = Number(match[2]);
  }
  return wanted;
}

const UDP_BURST = 25; // per millisecond of the sender's loop: at most about 25k datagrams/s offered
const [wsRelayRounds, wsHandlerRounds] = await alternate(
  await relayOverWebSocket(),
  await handlerOverWebSocket(),
);
const [udpRelayRounds, udpHandlerRounds] = await alternate(
  await relayOverUdp(UDP_BURST),
  await handlerOverUdp(UDP_BURST),
);
const wsRelay = summary(wsRelayRounds);
const wsHandler = summary(wsHandlerRounds);
const udpRelay = summary(udpRelayRounds);
const udpHandler = summary(udpHandlerRounds);
const metrics = await handlerMetrics();
route.close();
await stop(handler.child);
await controller.close();
await acStandIn.close();

const report = {
  ...benchEnvironment('mh-ingress', start),
  method:
    `One publisher, two subscribers, ${42 + PAYLOAD}-byte datagrams; ${ROUNDS} rounds of ` +
    `${ROUND_MS} ms per target, the handler's and the relay's taking turns, medians reported. inPerSecond: datagrams the publisher sent ` +
    '(WebSocket: paced by the socket, so all are delivered) or that reached each subscriber ' +
    '(UDP: offered in bursts, the kernel drops what is not read); outPerSecond: copies received by ' +
    'both subscribers together. The load client shares the 2 cores with the process measured.',
  baseline:
    'relay: a process forwarding every message to the other two connections with no checks ' +
    '(ws server / node:dgram socket)',
  webSocket: {
    handler: wsHandler,
    relay: wsRelay,
    ratio: Number((wsHandler.outPerSecond / wsRelay.outPerSecond).toFixed(2)),
  },
  udp: {
    offeredPerSecondAtMost: UDP_BURST * 1000,
    handler: udpHandler,
    relay: udpRelay,
    ratio: Number((udpHandler.outPerSecond / udpRelay.outPerSecond).toFixed(2)),
  },
  handlerMetrics: {
    ...metrics,
    meanForwardingLatencyUs: Number(
      (
        ((metrics['mh_forwarding_latency_seconds_sum'] ?? 0) /
          Math.max(1, metrics['mh_forwarding_latency_seconds_count'] ?? 0)) *
        1e6
      ).toFixed(1),
    ),
  },
};
mkdirSync('reports', { recursive: true });
writeFileSync('reports/bench-mh-ingress.json', `${JSON.stringify(report, null, 2)}\n`);
console.log(`reports/bench-mh-ingress.json (${report.durationSeconds} s)`);
console.log(
  `  WebSocket: handler ${wsHandler.inPerSecond}/s in, ${wsHandler.outPerSecond}/s out; relay ${wsRelay.inPerSecond}/s in, ${wsRelay.outPerSecond}/s out (x${report.webSocket.ratio})`,
);
console.log(
  `  UDP: handler ${udpHandler.inPerSecond}/s in, ${udpHandler.outPerSecond}/s out, loss ${udpHandler.loss}; relay ${udpRelay.inPerSecond}/s in, ${udpRelay.outPerSecond}/s out, loss ${udpRelay.loss} (x${report.udp.ratio})`,
);
console.log(
  `  mean forwarding latency inside the handler: ${report.handlerMetrics.meanForwardingLatencyUs} µs`,
);
