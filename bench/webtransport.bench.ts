/**
 * WebTransport datagram relay: client A -> server -> client B, 1,199-byte datagrams (the most a
 * browser takes), through the HTTP/3 WebTransport session layer (adapters/webtransport/ on the
 * media transport's port), against the same transport's plain QUIC path and a bare relay
 * written directly on the native quiche API, in rotating rounds. Both clients run in a child
 * process, so this process's CPU time is the relay's alone: datagrams per CPU-second is
 * delivered datagrams over the server's CPU time.
 *
 * Writes reports/bench-webtransport.json. `npm run bench:webtransport`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { certificateSha256, selfSignedCertificate } from '../adapters/quic/cert.ts';
import { connectQuic } from '../adapters/quic/client.ts';
import { connectWebTransport, WebTransportClientLink } from '../adapters/webtransport/client.ts';
import { benchEnvironment, benchStart, udpReceiveBufferErrors } from './measure.ts';
import {
  requestRound,
  relayFailures,
  runClientRound,
  startBareQuicRelay,
  startTransportRelay,
  type ClientRoundResult,
  type Round,
  type RoundLink,
} from './relays.ts';

const ROUND_MS = Number(process.env.ROUND_MS ?? 3_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const DATAGRAM_BYTES = 1_199;
const WINDOW = 64;

type Kind = 'bare' | 'quic' | 'webtransport';

interface RunRequest {
  readonly kind: Kind;
  readonly port: number;
  readonly hash: number[];
  readonly durationMs: number;
}
type RunResult = ClientRoundResult;

// ---- child: clients A and B ----

async function clientRole(): Promise<void> {
  process.on('message', (request: RunRequest) => {
    void runClients(request).then((result) => process.send?.(result));
  });
}

async function connect(
  request: RunRequest,
): Promise<{ link: RoundLink; closed: Promise<unknown> }> {
  const options = { serverCertificateHash: new Uint8Array(request.hash) };
  if (request.kind !== 'webtransport') {
    const link = await connectQuic('127.0.0.1', request.port, options);
    return { link, closed: link.closed };
  }
  const client = await connectWebTransport('127.0.0.1', request.port, '/v1/media', options);
  return { link: new WebTransportClientLink(client), closed: client.closed };
}

async function runClients(request: RunRequest): Promise<RunResult> {
  return runClientRound(() => connect(request), {
    durationMs: request.durationMs,
    datagramBytes: DATAGRAM_BYTES,
    window: WINDOW,
  });
}

// ---- the transport under test, relaying the same way ----

// ---- parent: alternate rounds and report ----

async function round(
  child: ChildProcess,
  kind: Kind,
  port: number,
  hash: Uint8Array,
): Promise<Round> {
  const bufferErrorsBefore = udpReceiveBufferErrors();
  const { result, cpuSeconds } = await requestRound<RunRequest, RunResult>(child, {
    kind,
    port,
    hash: [...hash],
    durationMs: ROUND_MS,
  });
  return {
    datagramsPerSecond: Math.round(result.delivered / (result.elapsedMs / 1000)),
    datagramsPerCpuSecond: Math.round(result.delivered / cpuSeconds),
    sent: result.sent,
    delivered: result.delivered,
    lossPercent:
      Math.round((1 - result.deliveredAfterSettle / Math.max(1, result.sent)) * 10_000) / 100,
    udpReceiveBufferErrors:
      bufferErrorsBefore === null ? null : (udpReceiveBufferErrors() ?? 0) - bufferErrorsBefore,
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function main(): Promise<void> {
  const start = benchStart();
  const pair = await selfSignedCertificate();
  const hash = certificateSha256(pair.certPem);
  const bare = await startBareQuicRelay(pair.certPem, pair.keyPem);
  const ours = await startTransportRelay(pair.certPem, pair.keyPem, {
    webTransport: { paths: ['/v1/media'] },
  });
  const child = fork(fileURLToPath(import.meta.url), ['--clients'], {
    execArgv: process.execArgv,
  });
  const rounds: Record<Kind, Round[]> = { bare: [], quic: [], webtransport: [] };
  const ratios = { vsQuic: [] as number[], vsBare: [] as number[] };
  const cpuRatios = { vsQuic: [] as number[], vsBare: [] as number[] };
  const portOf = (kind: Kind) => (kind === 'bare' ? bare.port : ours.port);
  // One untimed warm-up round each.
  for (const kind of ['bare', 'quic', 'webtransport'] as const) {
    await round(child, kind, portOf(kind), hash);
  }
  for (let i = 0; i < ROUNDS; i++) {
    const r = {} as Record<Kind, Round>;
    for (const kind of ['bare', 'quic', 'webtransport'] as const) {
      r[kind] = await round(child, kind, portOf(kind), hash);
      rounds[kind].push(r[kind]);
    }
    ratios.vsQuic.push(r.webtransport.datagramsPerSecond / r.quic.datagramsPerSecond);
    ratios.vsBare.push(r.webtransport.datagramsPerSecond / r.bare.datagramsPerSecond);
    cpuRatios.vsQuic.push(r.webtransport.datagramsPerCpuSecond / r.quic.datagramsPerCpuSecond);
    cpuRatios.vsBare.push(r.webtransport.datagramsPerCpuSecond / r.bare.datagramsPerCpuSecond);
    console.log(
      `round ${i + 1}: ` +
        (['bare', 'quic', 'webtransport'] as const)
          .map(
            (kind) =>
              `${kind} ${r[kind].datagramsPerSecond}/s (${r[kind].datagramsPerCpuSecond}/CPU-s, loss ${r[kind].lossPercent}%)`,
          )
          .join(', '),
    );
  }
  child.kill();
  await ours.transport.stop();
  const round3 = (x: number): number => Math.round(x * 1000) / 1000;
  const summary = (kind: Kind) => ({
    datagramsPerSecond: median(rounds[kind].map((r) => r.datagramsPerSecond)),
    datagramsPerCpuSecond: median(rounds[kind].map((r) => r.datagramsPerCpuSecond)),
    cpuMicrosecondsPerDatagram: round3(
      1e6 / median(rounds[kind].map((r) => r.datagramsPerCpuSecond)),
    ),
    rounds: rounds[kind],
  });
  const report = {
    ...benchEnvironment('webtransport', start),
    setup: {
      path: 'client A -> server -> client B (loopback), clients in a child process',
      datagramBytes: DATAGRAM_BYTES,
      window: WINDOW,
      roundMs: ROUND_MS,
      rounds: ROUNDS,
      cpu: 'server process only (user + system), over the sending period',
      compared:
        'webtransport: HTTP/3 sessions on the media transport; quic: the same transport, media ALPN; bare: a relay on the native quiche API',
    },
    webTransport: summary('webtransport'),
    quic: summary('quic'),
    bareRelay: summary('bare'),
    ratio: {
      webTransportVsQuic: {
        datagramsPerSecond: round3(median(ratios.vsQuic)),
        datagramsPerCpuSecond: round3(median(cpuRatios.vsQuic)),
      },
      webTransportVsBare: {
        datagramsPerSecond: round3(median(ratios.vsBare)),
        datagramsPerCpuSecond: round3(median(cpuRatios.vsBare)),
      },
    },
    transportCounters: ours.transport.counters(),
    transportRelayFailures: relayFailures,
  };
  fs.mkdirSync('reports', { recursive: true });
  fs.writeFileSync('reports/bench-webtransport.json', `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify({ ratio: report.ratio }, null, 2));
  process.exit(0);
}

if (process.argv.includes('--clients')) await clientRole();
else await main();
