/**
 * SFrame benchmark: frames per second through `SFrameContext.encrypt` and `decrypt` for
 * 1,200-byte frames, for AES_128_GCM_SHA256_128 and AES_128_CTR_HMAC_SHA256_80, one frame at a
 * time (each awaited) and 64 in flight. Each figure comes with a ratio against a baseline
 * timed in alternating rounds: the same number of bare WebCrypto AES-128-GCM encryptions of
 * the same bytes under an already imported key, i.e. the least any WebCrypto SFrame could
 * cost. Writes reports/bench-sframe.json.
 *
 * Run: npx tsx bench/sframe.bench.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { SFrameContext } from '../adapters/sframe/index.ts';
import {
  SFRAME_AES_128_CTR_HMAC_SHA256_80,
  SFRAME_AES_128_GCM_SHA256_128,
} from '../core/protocol/index.ts';
import { unwrap } from '../core/result.ts';
import { benchEnvironment, benchStart } from './measure.ts';

const ROUND_MS = 400;
const ROUNDS = 5;
const FRAME_BYTES = 1_200;
const IN_FLIGHT = 64;
const start = benchStart();
const subtle = globalThis.crypto.subtle;
const plaintext = new Uint8Array(FRAME_BYTES).fill(0x5a);
const baseKey = Uint8Array.from({ length: 16 }, (_, i) => i);

type Batch = () => Promise<unknown>;

/** Frames per second of `batch` (which handles `size` frames) over one round. */
async function round(batch: Batch, size: number): Promise<number> {
  let frames = 0;
  const begin = performance.now();
  let elapsed = 0;
  while (elapsed < ROUND_MS) {
    await batch();
    frames += size;
    elapsed = performance.now() - begin;
  }
  return (frames / elapsed) * 1000;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

/** Alternating rounds of baseline and operation; medians and the median ratio. */
async function compareAsync(operation: Batch, baseline: Batch, size: number) {
  await round(baseline, size);
  await round(operation, size);
  const ops: number[] = [];
  const bases: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const base = await round(baseline, size);
    const op = await round(operation, size);
    bases.push(base);
    ops.push(op);
    ratios.push(op / base);
  }
  return {
    framesPerSecond: Math.round(median(ops)),
    megabitsPerSecond: Math.round((median(ops) * FRAME_BYTES * 8) / 1e5) / 10,
    baselineFramesPerSecond: Math.round(median(bases)),
    ratioToBaseline: Math.round(median(ratios) * 1000) / 1000,
  };
}

const rawKey = await subtle.importKey('raw', new Uint8Array(16), 'AES-GCM', false, ['encrypt']);
const iv = new Uint8Array(12);
const bareGcm = () => subtle.encrypt({ name: 'AES-GCM', iv }, rawKey, plaintext);

async function suiteFigures(cipherSuite: number) {
  // No replay window: the benchmark decrypts the same frames again and again.
  const sender = unwrap(SFrameContext.create({ cipherSuite }));
  const receiver = unwrap(SFrameContext.create({ cipherSuite, replayWindow: false }));
  unwrap(sender.addSendKey(1n, baseKey));
  unwrap(receiver.addReceiveKey(1n, baseKey));
  await Promise.all([sender.ready(), receiver.ready()]);
  const frames = await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => unwrap(await sender.encrypt(1n, plaintext))),
  );
  const encryptOne = async () => unwrap(await sender.encrypt(1n, plaintext));
  const decryptOne = async () => unwrap(await receiver.decrypt(frames[0]!));
  const many = (one: () => Promise<unknown>) => () =>
    Promise.all(Array.from({ length: IN_FLIGHT }, one));
  const decryptMany = () => Promise.all(frames.map(async (f) => unwrap(await receiver.decrypt(f))));
  return {
    suite: sender.suite.name,
    overheadBytes: frames[0]!.length - FRAME_BYTES,
    encryptOneAtATime: await compareAsync(encryptOne, bareGcm, 1),
    decryptOneAtATime: await compareAsync(decryptOne, bareGcm, 1),
    encrypt64InFlight: await compareAsync(many(encryptOne), many(bareGcm), IN_FLIGHT),
    decrypt64InFlight: await compareAsync(decryptMany, many(bareGcm), IN_FLIGHT),
  };
}

const suites = [
  await suiteFigures(SFRAME_AES_128_GCM_SHA256_128),
  await suiteFigures(SFRAME_AES_128_CTR_HMAC_SHA256_80),
];

const report = {
  ...benchEnvironment('sframe', start),
  frameBytes: FRAME_BYTES,
  baseline: 'bare WebCrypto AES-128-GCM encrypt of the same bytes, key already imported',
  suites,
};
mkdirSync('reports', { recursive: true });
writeFileSync('reports/bench-sframe.json', `${JSON.stringify(report, null, 2)}\n`);
for (const s of suites) {
  console.log(
    `${s.suite} (+${s.overheadBytes} B): encrypt ${s.encryptOneAtATime.framesPerSecond}/s one at a time, ` +
      `${s.encrypt64InFlight.framesPerSecond}/s 64 in flight (x${s.encrypt64InFlight.ratioToBaseline} of bare GCM); ` +
      `decrypt ${s.decryptOneAtATime.framesPerSecond}/s, ${s.decrypt64InFlight.framesPerSecond}/s`,
  );
}
console.log('wrote reports/bench-sframe.json');
