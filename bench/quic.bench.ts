/**
 * QUIC datagram relay: client A -> server -> client B, 1,200-byte datagrams, through the
 * media transport (adapters/quic/server.ts) and through a bare relay written directly on the
 * same native quiche API (the library's ceiling here: no events, no bookkeeping), in
 * alternating rounds. Both clients run in a child process, so this process's CPU time is the
 * relay's alone: datagrams per CPU-second is delivered datagrams over the server's CPU time.
 *
 * Writes reports/bench-quic.json. `npm run bench:quic`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { certificateSha256, selfSignedCertificate } from '../adapters/quic/cert.ts';
import { connectQuic } from '../adapters/quic/client.ts';
import { benchEnvironment, benchStart, udpReceiveBufferErrors } from './measure.ts';
import {
  requestRound,
  relayFailures,
  runClientRound,
  startBareQuicRelay,
  startTransportRelay,
  type ClientRoundResult,
  type Round,
} from './relays.ts';

const ROUND_MS = Number(process.env.ROUND_MS ?? 3_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const DATAGRAM_BYTES = 1_200;
const WINDOW = 64;

interface RunRequest {
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

async function runClients(request: RunRequest): Promise<RunResult> {
  const options = { serverCertificateHash: new Uint8Array(request.hash) };
  return runClientRound(
    async () => {
      const link = await connectQuic('127.0.0.1', request.port, options);
      return { link, closed: link.closed };
    },
    { durationMs: request.durationMs, datagramBytes: DATAGRAM_BYTES, window: WINDOW },
  );
}

// ---- the transport under test, relaying the same way ----

// ---- parent: alternate rounds and report ----

async function round(child: ChildProcess, port: number, hash: Uint8Array): Promise<Round> {
  const bufferErrorsBefore = udpReceiveBufferErrors();
  const { result, cpuSeconds } = await requestRound<RunRequest, RunResult>(child, {
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
  const ours = await startTransportRelay(pair.certPem, pair.keyPem);
  const child = fork(fileURLToPath(import.meta.url), ['--clients'], {
    execArgv: process.execArgv,
  });
  const bareRounds: Round[] = [];
  const oursRounds: Round[] = [];
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  // One untimed warm-up round each.
  await round(child, bare.port, hash);
  await round(child, ours.port, hash);
  for (let i = 0; i < ROUNDS; i++) {
    const b = await round(child, bare.port, hash);
    const o = await round(child, ours.port, hash);
    bareRounds.push(b);
    oursRounds.push(o);
    ratios.push(o.datagramsPerSecond / b.datagramsPerSecond);
    cpuRatios.push(o.datagramsPerCpuSecond / b.datagramsPerCpuSecond);
    console.log(
      `round ${i + 1}: bare ${b.datagramsPerSecond}/s (${b.datagramsPerCpuSecond}/CPU-s, loss ${b.lossPercent}%, rcvbuf drops ${b.udpReceiveBufferErrors}), ` +
        `transport ${o.datagramsPerSecond}/s (${o.datagramsPerCpuSecond}/CPU-s, loss ${o.lossPercent}%, rcvbuf drops ${o.udpReceiveBufferErrors})`,
    );
  }
  child.kill();
  await ours.transport.stop();
  const round3 = (x: number): number => Math.round(x * 1000) / 1000;
  const report = {
    ...benchEnvironment('quic', start),
    setup: {
      path: 'client A -> server -> client B (loopback), clients in a child process',
      datagramBytes: DATAGRAM_BYTES,
      window: WINDOW,
      roundMs: ROUND_MS,
      rounds: ROUNDS,
      cpu: 'server process only (user + system), over the sending period',
    },
    transport: {
      datagramsPerSecond: median(oursRounds.map((r) => r.datagramsPerSecond)),
      datagramsPerCpuSecond: median(oursRounds.map((r) => r.datagramsPerCpuSecond)),
      rounds: oursRounds,
    },
    bareRelay: {
      datagramsPerSecond: median(bareRounds.map((r) => r.datagramsPerSecond)),
      datagramsPerCpuSecond: median(bareRounds.map((r) => r.datagramsPerCpuSecond)),
      rounds: bareRounds,
    },
    ratio: {
      datagramsPerSecond: round3(median(ratios)),
      datagramsPerCpuSecond: round3(median(cpuRatios)),
    },
    transportCounters: ours.transport.counters(),
    transportRelayFailures: relayFailures,
  };
  fs.mkdirSync('reports', { recursive: true });
  fs.writeFileSync('reports/bench-quic.json', `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify({ ratio: report.ratio }, null, 2));
  process.exit(0);
}

if (process.argv.includes('--clients')) await clientRole();
else await main();
