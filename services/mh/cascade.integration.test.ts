// Cascades between two handlers over QUIC peer links. A publishes on mh-1; B subscribes on
// mh-1; C subscribes on mh-2. Route commands go through each handler's gRPC route API, the
// cascade leg to both ends; mh-1 (the smaller id) dials mh-2 with its AC service token.
//
// Checks: every frame reaches B and C byte-exact and exactly once (C's copies with hop count 1
// and otherwise the same bytes); then, under steady flow, C's delivery moves to mh-1
// make-before-break (C connects to mh-1, the new delivery is added and acked, then the cascade
// and the old delivery are removed): in C's view, the datagrams of both its connections
// deduplicated by sequence number, no sequence is missing and each is byte-exact; B sees every
// datagram exactly once throughout; the unneeded link is closed. A forged peer (no token, a
// garbage token, a valid token of another service) is refused, closed and counted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../adapters/logging/logger.ts';
import { connectQuic } from '../../adapters/quic/client.ts';
import type { MediaClient } from '../../client/media/index.ts';
import type { DatagramHeader } from '../../core/protocol/datagram.ts';
import { ClientControl, HandlerControl } from '../generated/darktower/mh/v1/control.ts';
import { MediaKind, type Leg } from '../generated/darktower/mh/v1/route.ts';
import { connectMh, type MhClient } from './grpc-client.ts';
import { startMh, type RunningMh } from './server.ts';
import {
  acceptedQuicClient,
  eventually,
  grant,
  metricValue,
  mhTestEnvironment,
  startAcForMh,
  startStandInController,
  tokenFrom,
  type AcForMh,
  type StandInController,
} from './testing.ts';

const logger = createLogger('test', 'silent');
const MH1 = 'mh-1';
const MH2 = 'mh-2';
const MEETING = 'meeting-cascade';
let acm: AcForMh;
let controller: StandInController;
const handlers = new Map<string, RunningMh>();
const routes = new Map<string, MhClient>();

const CAM = MediaKind.MEDIA_KIND_CAMERA;
const publish = (publisher: string, handler: string): Leg => ({
  publish: { publisher, kind: CAM, handler },
});
const deliver = (publisher: string, subscriber: string, handler: string): Leg => ({
  deliver: { publisher, kind: CAM, handler, subscriber },
});
const cascade = (publisher: string, from: string, to: string): Leg => ({
  cascade: { publisher, kind: CAM, fromHandler: from, toHandler: to },
});

let commandId = 0;
/** The same command to each handler named, through its route API; resolves once all acked. */
async function command(to: readonly string[], add: Leg[], remove: Leg[] = []) {
  const id = `cascade-${++commandId}`;
  return Promise.all(
    to.map((handler) =>
      (routes.get(handler) as MhClient).applyRouteCommand({
        id,
        meeting: MEETING,
        controller: 'mc-1',
        add,
        remove,
      }),
    ),
  );
}

interface Received {
  readonly raw: Buffer;
  readonly header: DatagramHeader;
}
function record(client: MediaClient): Received[] {
  const received: Received[] = [];
  client.onDatagram = (header, _payload, raw) => received.push({ raw: Buffer.from(raw), header });
  return received;
}
/** The bytes with the hop count (byte 2) cleared. */
const hopless = (raw: Uint8Array) => {
  const copy = Buffer.from(raw);
  copy[2] = 0;
  return copy.toString('hex');
};

const mh = (id: string) => handlers.get(id) as RunningMh;
const token = (participant: string, handler: string) =>
  tokenFrom(controller, grant(MEETING, participant, handler));

beforeAll(async () => {
  acm = await startAcForMh(logger);
  controller = await startStandInController('mc-1');
  for (const id of [MH1, MH2]) {
    // Each handler's service account is registered under its id (core's naming rule).
    const account = await acm.registerService(id, ['service.write.mh']);
    const running = await startMh(
      mhTestEnvironment({
        id,
        acUrl: acm.ac.url,
        controllers: [controller],
        redisPrefix: `${acm.backends.redisPrefix}mh:`,
        extra: {
          MH_QUIC_BIND_ADDRESS: '127.0.0.1:0',
          MH_AC_CLIENT_ID: account.clientId,
          MH_AC_CLIENT_SECRET: account.clientSecret,
        },
      }),
      { logger },
    );
    handlers.set(id, running);
    routes.set(id, connectMh(running.grpcAddress, acm.routeToken));
  }
}, 40_000);

afterAll(async () => {
  for (const route of routes.values()) route.close();
  for (const running of handlers.values()) await running.close();
  await controller?.close();
  await acm?.close();
});

describe('MH cascades over QUIC peer links', () => {
  it('cascades byte-exact, exactly once, hop count 1; reroutes make-before-break losing nothing', async () => {
    const a = await acceptedQuicClient(mh(MH1), await token('a', MH1));
    const b = await acceptedQuicClient(mh(MH1), await token('b', MH1));
    const c = await acceptedQuicClient(mh(MH2), await token('c', MH2));
    const got = { b: record(b), c: record(c) };

    const acks = await command(
      [MH1, MH2],
      [publish('a', MH1), deliver('a', 'b', MH1), cascade('a', MH1, MH2), deliver('a', 'c', MH2)],
    );
    expect(acks.map((ack) => ack.changed)).toEqual([3, 2]);
    // mh-1 dials (the smaller id); both ends bind the link.
    await eventually(
      () =>
        mh(MH1).driver.forwarder.peerConnectionOf(MH2 as never) !== undefined &&
        mh(MH2).driver.forwarder.peerConnectionOf(MH1 as never) !== undefined,
      10_000,
      'the peer link',
    );
    expect(mh(MH1).driver.counters.peerDials.get('connected')).toBe(1);
    expect(mh(MH2).driver.counters.peerHellos.get('accepted')).toBe(1);

    // Phase 1: a burst of frames of 1 to 3 datagrams.
    const camera = a.publisher(MEETING, 'a', 'camera');
    const sent: Buffer[] = [];
    for (let frame = 0; frame < 120; frame++) {
      const body = Buffer.alloc(100 + ((frame * 397) % 3000), frame);
      body.writeUInt32BE(frame * 7919, 0);
      for (const d of camera.datagrams(body, { keyframe: frame % 30 === 0 })) {
        expect(a.sendDatagram(d)).toBe(true);
        sent.push(Buffer.from(d));
      }
      if (frame % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await eventually(
      () => got.b.length >= sent.length && got.c.length >= sent.length,
      10_000,
      'phase 1 datagrams',
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const hex = (list: readonly { toString(e: 'hex'): string }[]) =>
      list.map((x) => x.toString('hex')).sort();
    expect(hex(got.b.map((r) => r.raw))).toEqual(hex(sent));
    expect(got.b.every((r) => r.header.hopCount === 0)).toBe(true);
    expect(got.c.every((r) => r.header.hopCount === 1)).toBe(true);
    expect(got.c.map((r) => hopless(r.raw)).sort()).toEqual(sent.map(hopless).sort());
    expect(sent.length).toBeGreaterThan(150);

    // Phase 2: steady flow (one datagram every 2 ms) while C's delivery moves to mh-1.
    const phase2: Buffer[] = [];
    let flowing = true;
    const flow = (async () => {
      let n = 0;
      while (flowing) {
        const body = Buffer.alloc(300, n & 0xff);
        body.writeUInt32BE(n++, 0);
        const [d] = camera.datagrams(body);
        a.sendDatagram(d as Uint8Array);
        phase2.push(Buffer.from(d as Uint8Array));
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
    const bBefore = got.b.length;
    const cOldBefore = got.c.length;
    await new Promise((resolve) => setTimeout(resolve, 150));
    // Make: C's new connection on mh-1, its delivery there added and acked.
    const cNew = await acceptedQuicClient(mh(MH1), await token('c', MH1));
    const gotNew = record(cNew);
    const [made] = await command([MH1], [deliver('a', 'c', MH1)]);
    expect(made?.changed).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 150));
    // Break: the cascade (both ends) and the old delivery go.
    const broken = await command([MH1, MH2], [], [cascade('a', MH1, MH2), deliver('a', 'c', MH2)]);
    expect(broken.map((ack) => ack.changed)).toEqual([1, 2]);
    const cOldAtBreak = got.c.length;
    await new Promise((resolve) => setTimeout(resolve, 150));
    flowing = false;
    await flow;
    await eventually(
      () => got.b.length - bBefore >= phase2.length,
      5_000,
      'phase 2 datagrams at B',
    );
    await new Promise((resolve) => setTimeout(resolve, 200));

    // B: every phase-2 datagram exactly once, byte-exact.
    expect(hex(got.b.slice(bBefore).map((r) => r.raw))).toEqual(hex(phase2));
    // C's view: both connections, deduplicated by sequence (the header's per-stream counter).
    const view = new Map<number, string>();
    let duplicates = 0;
    for (const r of [...got.c.slice(cOldBefore), ...gotNew]) {
      const seen = view.get(r.header.sequence);
      if (seen !== undefined) {
        duplicates++;
        expect(seen).toBe(hopless(r.raw));
      } else {
        view.set(r.header.sequence, hopless(r.raw));
      }
    }
    const expected = new Map(
      phase2.map((d) => [d.readUInt32BE(20), hopless(d)] as [number, string]),
    );
    expect(view.size).toBe(expected.size);
    for (const [sequence, bytes] of expected) expect(view.get(sequence)).toBe(bytes);
    // Nothing reached the old path after the break was acked (a datagram in flight at most).
    expect(got.c.length - cOldAtBreak).toBeLessThanOrEqual(1);
    // The overlap delivered some datagrams on both paths; the sequence dedupe removed them.
    expect(duplicates).toBeGreaterThan(0);
    console.info(
      `reroute: ${phase2.length} datagrams, ${view.size} distinct at C, ${duplicates} on both paths`,
    );

    // The link no cascade leg needs is closed by its dialer, and both ends unbind it.
    await eventually(
      () =>
        mh(MH1).driver.forwarder.peerConnectionOf(MH2 as never) === undefined &&
        mh(MH2).driver.forwarder.peerConnectionOf(MH1 as never) === undefined,
      5_000,
      'the unneeded link closed',
    );
    await Promise.all([a.close(), b.close(), c.close(), cNew.close()]);
  }, 40_000);

  it('refuses a forged peer: no token, a garbage token, or a token of another service', async () => {
    const target = mh(MH2);
    const [host, port] = (target.quicAddress as string).split(':') as [string, string];
    const attempts: [string, string][] = [
      ['', 'malformed'],
      ['not.a.token', 'malformed'],
      [acm.routeToken, 'peer_not_named'],
    ];
    const before = target.driver.forwarder.peerConnectionOf(MH1 as never);
    for (const [serviceToken] of attempts) {
      const link = await connectQuic(host, Number(port), {
        serverCertificateHash: target.quicCertificateSha256 as Uint8Array,
      });
      const answers: HandlerControl[] = [];
      link.events = { control: (m) => answers.push(HandlerControl.decode(m)) };
      link.sendControl(
        ClientControl.encode({
          hello: undefined,
          peerHello: { handler: MH1, serviceToken },
        }).finish(),
      );
      const closed = await link.closed;
      expect(closed.code).toBe(4401);
      // The close carries the refusal (the answer may be cut by it); never an acceptance.
      expect(answers.every((a) => a.helloAnswer?.peerAccepted === undefined)).toBe(true);
    }
    expect(target.driver.forwarder.peerConnectionOf(MH1 as never)).toBe(before);
    const refused = [...target.driver.counters.peerHellos]
      .filter(([outcome]) => outcome !== 'accepted')
      .reduce((sum, [, count]) => sum + count, 0);
    expect(refused).toBe(attempts.length);
    expect(target.driver.counters.peerHellos.get('peer_not_named')).toBe(1);
    expect(
      await metricValue(target.metricsUrl, 'mh_peer_hellos_total{outcome="peer_not_named"}'),
    ).toBe(1);
  });
});
