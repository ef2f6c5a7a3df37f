// End-to-end encryption through the Meeting Controller: AC, GC, a Meeting Controller and two
// Media Handlers in process, on real PostgreSQL and Redis and loopback ports. Three Node
// clients join with MLS key packages; the controller, as the MLS delivery service, has the
// group created, asks members for commits, orders them and fans out commits and welcomes; each
// client derives its SFrame keys from the MLS exporter and encrypts what it publishes.
//
// Checks: every member reaches the same epoch with the same exporter key; one client moves to
// the second handler so media cascades between the two; every frame each subscriber receives
// decrypts byte-exact (none fails); a layout change and two speaker changes reroute without a
// lost frame (pairs kept across a change have no hole, a tile moving to another publisher
// starts the new stream before the old one stops); a participant who leaves cannot decrypt a
// frame of the next epoch with all the key material it kept. Malformed MLS messages get a
// typed error that closes that connection only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createLogger } from '../../adapters/logging/logger.ts';
import { type Pool } from '../../adapters/postgres/pool.ts';
import { SFrameMlsContext } from '../../adapters/sframe/mls.ts';
import { E2eeMember } from '../../client/e2ee/index.ts';
import {
  MediaClient,
  StreamPublisher,
  type WebSocketConstructor,
} from '../../client/media/index.ts';
import type { MeetingId } from '../../core/ids.ts';
import { SFRAME_AES_128_GCM_SHA256_128 } from '../../core/protocol/sframe-crypto.ts';
import { unwrap } from '../../core/result.ts';
import { registerService } from '../ac/accounts.ts';
import { type RunningAc } from '../ac/server.ts';
import { type RunningGc } from '../gc/server.ts';
import { userTokenIn } from '../gc/testing.ts';
import {
  ErrorKind,
  type JoinResponse,
  type MediaHandler,
  type ServerMessage,
} from '../generated/darktower/mc/v1/signaling.ts';
import { startMh, type RunningMh } from '../mh/server.ts';
import { eventually, mhTestEnvironment, type StandInController } from '../mh/testing.ts';
import { http, json, pgAcStores, type IsolatedBackends } from '../shared/testing.ts';
import {
  mcTestEnvironment,
  startControlPlane,
  type ControlPlane,
} from './control-plane-testing.ts';
import { startMc, type RunningMc } from './server.ts';
import { SignalingClient } from './testing.ts';

const logger = createLogger('test', 'silent');
const MC_ID = 'mc-e2ee-test';
const JOIN_SCOPES = ['user.read.gc', 'user.write.gc', 'user.write.mc'];
const FRAME_BYTES = 600;
/** 12 Mbps below the hard limit: two participants' streams fit on a handler, three do not. */
const HANDLER_CAPACITY_BPS = 15_000_000;

let plane: ControlPlane;
let backends: IsolatedBackends;
let pool: Pool;
let ac: RunningAc;
let gc: RunningGc;
let mc: RunningMc;
const mhs: RunningMh[] = [];
const routeAddresses = new Map<string, string>();
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  plane = await startControlPlane(logger);
  ({ backends, pool, ac, gc } = plane);
  mc = await startMc(mcTestEnvironment(plane, MC_ID), {
    logger,
    routeAddress: (handler) => routeAddresses.get(handler),
  });
  const controller = { issuer: MC_ID, jwksUrl: mc.jwksUrl } as StandInController;
  for (const id of ['mh-1', 'mh-2']) {
    // QUIC peer links for the cascade, dialled with the handler's own AC service account. A
    // handler holds two participants' streams below its hard limit, not three.
    const account = await registerService(pgAcStores(pool), {
      name: id,
      scopes: ['service.write.mh'],
      org: 'default',
    });
    if (!account.ok) throw new Error(`cannot register ${id}`);
    const mh = await startMh(
      mhTestEnvironment({
        id,
        acUrl: ac.url,
        controllers: [controller],
        redisPrefix: `${backends.redisPrefix}mh:`,
        extra: {
          MH_QUIC_BIND_ADDRESS: '127.0.0.1:0',
          MH_AC_CLIENT_ID: account.value.clientId,
          MH_AC_CLIENT_SECRET: account.value.clientSecret,
          MH_CAPACITY_BPS: String(HANDLER_CAPACITY_BPS),
        },
      }),
      { logger },
    );
    routeAddresses.set(id, mh.grpcAddress);
    mhs.push(mh);
  }
  await eventually(
    async () => (await http(`${mc.url}/ready`)).body.media_handlers === '2',
    10_000,
    'both handlers known',
  );
}, 30_000);

afterAll(async () => {
  for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  await mc?.close();
  for (const mh of mhs) await mh.close();
  await plane?.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The subject of a compact JWS (the participant id the controller will use). */
const subjectOf = (token: string): string =>
  JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')).sub as string;

async function user(name: string): Promise<string> {
  return userTokenIn(ac, pool, {
    username: name,
    password: `${name}-password-1`,
    org: 'default',
    scopes: JOIN_SCOPES,
  });
}

async function createMeeting(token: string): Promise<string> {
  const created = await http(`${gc.url}/v1/meetings`, json({ title: 'E2EE' }, bearer(token)));
  expect(created.status).toBe(201);
  return created.body.meeting_id as string;
}

/** What a subscriber decrypted from one publisher: tick -> plaintext. */
type Received = Map<number, Uint8Array>;

/** One Node client: signaling, its MLS member, its media connections. */
class Party {
  readonly received = new Map<string, Received>();
  /** Datagrams seen (publisher id and sequence), to drop a copy from a second connection. */
  private readonly seen = new Set<string>();
  /** Media connections by handler id. */
  readonly media = new Map<string, MediaClient>();
  private readonly connecting = new Map<string, Promise<void>>();
  /** The camera: each datagram goes out on every connection (the handlers without a publish
   * route for it drop it). */
  readonly camera: StreamPublisher;
  hops = 0;
  mismatches = 0;
  private closing = false;

  private constructor(
    readonly name: string,
    readonly participant: string,
    readonly meeting: string,
    readonly signaling: SignalingClient,
    readonly member: E2eeMember,
    readonly response: JoinResponse,
    private readonly sent: Map<string, Map<number, Uint8Array>>,
  ) {
    const sink = {
      maxDatagramBytes: 1_200,
      sendDatagram: (datagram: Uint8Array) => {
        for (const media of this.media.values()) media.sendDatagram(datagram);
        return true;
      },
    };
    this.camera = new StreamPublisher(sink, meeting, participant, 'camera');
  }

  static async join(
    name: string,
    token: string,
    meeting: string,
    sent: Map<string, Map<number, Uint8Array>>,
  ): Promise<Party> {
    const participant = subjectOf(token);
    const member = await E2eeMember.create(meeting, participant);
    const signaling = await SignalingClient.open(mc.signalingUrl);
    // Every controller message goes through the member, in order; its answers go back.
    let handled = 0;
    const pump = () => {
      while (handled < signaling.received.length) {
        const message = signaling.received[handled++] as ServerMessage;
        void member.handle(message).then((replies) => {
          for (const reply of replies) if (signaling.socket.readyState === 1) signaling.send(reply);
        });
      }
    };
    signaling.onMessage = pump;
    signaling.send({
      join: {
        accessToken: token,
        meetingId: meeting,
        layout: 'grid',
        region: '',
        keyPackage: member.keyPackage,
      },
    });
    const response = await signaling.next((m) => m.joinResponse);
    expect(response.participantId).toBe(participant);
    const party = new Party(name, participant, meeting, signaling, member, response, sent);
    cleanups.push(async () => {
      party.closing = true;
      for (const client of party.media.values()) await client.close();
      if (signaling.socket.readyState === 1) await signaling.close();
    });
    await party.connect(response.mediaHandler, response.connectionToken, true);
    // Moves are followed make-before-break: the new connection first, then the old one closes.
    signaling.onMessage = (message) => {
      pump();
      const move = message.move;
      if (move !== undefined && !party.closing)
        void party.moveTo(move.mediaHandler, move.connectionToken);
    };
    return party;
  }

  /**
   * Connects media to a handler, once per handler. `home`: the controller placed the client
   * there, and is told it arrived; otherwise the connection only carries what the client
   * publishes to the meeting's hub (spec 003: a client connects to two handlers).
   */
  async connect(handler: MediaHandler | undefined, token: string, home: boolean): Promise<void> {
    const id = handler?.id ?? '';
    let connecting = this.connecting.get(id);
    if (connecting === undefined) {
      connecting = this.dial(handler, token);
      this.connecting.set(id, connecting);
    }
    await connecting;
    if (home) this.signaling.send({ mediaConnected: { handler: id } });
  }

  private async dial(handler: MediaHandler | undefined, token: string): Promise<void> {
    const id = handler?.id ?? '';
    const { client, outcome } = await MediaClient.connect({
      url: handler?.websocketUrl ?? '',
      token,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
    });
    expect(outcome).toMatchObject({ kind: 'accepted', participant: this.participant });
    const media = client as MediaClient;
    media.onDatagram = (header, payload) => {
      const key = `${header.publisherId}/${header.sequence}`;
      if (this.seen.has(key)) return;
      this.seen.add(key);
      if (header.hopCount > 0) this.hops++;
      void this.open(Uint8Array.from(payload));
    };
    this.media.set(id, media);
  }

  /** Moves the media session (the old connection stays, for publishing to the hub). */
  async moveTo(handler: MediaHandler | undefined, token: string): Promise<void> {
    await this.connect(handler, token, true);
  }

  /** A second connection, to `handler`, with a token asked of the controller. */
  async link(handler: string): Promise<void> {
    this.signaling.send({ tokenRequest: { handler } });
    const granted = await this.signaling.next((m) => m.connectionToken);
    await this.connect(granted.mediaHandler, granted.connectionToken, false);
  }

  /** Decrypts a received frame and checks it against what its publisher sent. */
  private async open(frame: Uint8Array): Promise<void> {
    const opened = await this.member.decrypt(frame);
    if (!opened.ok) return;
    const plaintext = opened.value.plaintext;
    const tick = new DataView(plaintext.buffer, plaintext.byteOffset).getUint32(0);
    const publisher = new TextDecoder().decode(plaintext.subarray(4, 40)).replace(/\0+$/, '');
    const original = this.sent.get(publisher)?.get(tick);
    if (original === undefined || Buffer.compare(original, plaintext) !== 0) this.mismatches++;
    let byTick = this.received.get(publisher);
    if (byTick === undefined) this.received.set(publisher, (byTick = new Map()));
    byTick.set(tick, plaintext);
  }

  /** Encrypts and publishes one camera frame for `tick`. */
  async publish(tick: number): Promise<void> {
    const frame = new Uint8Array(FRAME_BYTES);
    crypto.getRandomValues(frame);
    new DataView(frame.buffer).setUint32(0, tick);
    frame.fill(0, 4, 40);
    frame.set(new TextEncoder().encode(this.participant), 4);
    let mine = this.sent.get(this.participant);
    if (mine === undefined) this.sent.set(this.participant, (mine = new Map()));
    mine.set(tick, frame);
    const sealed = unwrap(await this.member.encrypt(frame));
    this.camera.publish(sealed, { keyframe: tick % 30 === 0 });
  }

  ticksFrom(publisher: Party): number[] {
    return [...(this.received.get(publisher.participant)?.keys() ?? [])].sort((a, b) => a - b);
  }
}

/** Contiguous runs of ticks: [first, last] each. */
function runs(ticks: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const tick of ticks) {
    const last = out.at(-1);
    if (last !== undefined && tick === last[1] + 1) last[1] = tick;
    else out.push([tick, tick]);
  }
  return out;
}

describe('end-to-end encryption through the Meeting Controller', () => {
  it('three clients: MLS through the controller, SFrame through two cascaded handlers, reroutes without loss, a leaver locked out', async () => {
    const tokens = await Promise.all(['ann', 'bob', 'cat'].map((n) => user(n)));
    const meeting = await createMeeting(tokens[0] as string);
    const sent = new Map<string, Map<number, Uint8Array>>();
    const parties: Party[] = [];
    for (const [i, name] of ['ann', 'bob', 'cat'].entries())
      parties.push(await Party.join(name, tokens[i] as string, meeting, sent));
    const [ann, bob, cat] = parties as [Party, Party, Party];

    // One group, one epoch, one exporter key at every member; the controller holds none.
    await eventually(
      () =>
        parties.every((p) => p.member.epoch !== undefined && p.member.mls.members().length === 3),
      15_000,
      'all three in the MLS group',
    );
    await eventually(
      () => new Set(parties.map((p) => p.member.epoch)).size === 1,
      10_000,
      'one epoch',
    );
    const keys = await Promise.all(
      parties.map(async (p) => unwrap(await p.member.mls.sframeBaseKey())),
    );
    expect(Buffer.from(keys[1] as Uint8Array)).toEqual(Buffer.from(keys[0] as Uint8Array));
    expect(Buffer.from(keys[2] as Uint8Array)).toEqual(Buffer.from(keys[0] as Uint8Array));
    const machine = mc.driver.endpoint.meeting(meeting as MeetingId);
    expect(machine?.liveEpochs()).toEqual([]);
    expect(machine?.currentEpoch()).toBe(ann.member.epoch);
    expect(machine?.mlsMembers()).toEqual(parties.map((p) => p.participant));

    // Every client also connects to the other handler, to publish to the meeting's hub there
    // when the plan asks for it (the planner's hub publishes).
    const homeOf = (p: Party) =>
      machine?.plan?.homes.find((h) => h.participant === p.participant)?.handler;
    for (const p of parties) await p.link(homeOf(p) === 'mh-1' ? 'mh-2' : 'mh-1');

    let tick = 0;
    let publishing = true;
    const loop = (async () => {
      while (publishing) {
        tick++;
        await Promise.all(parties.map((p) => (p.media.size > 0 ? p.publish(tick) : undefined)));
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
    })();
    const pairs = parties.flatMap((s) =>
      parties.filter((p) => p !== s).map((p) => [s, p] as const),
    );
    const flowing = (from: number) => () =>
      pairs.every(([s, p]) => s.ticksFrom(p).some((t) => t > from));
    try {
      await eventually(flowing(0), 15_000, 'every pair flowing');
      // The meeting spans both handlers and media crosses the cascade.
      expect(new Set(parties.map((p) => homeOf(p))).size).toBe(2);
      expect(machine?.plan?.cascades.length).toBeGreaterThan(0);
      expect(parties.reduce((sum, p) => sum + p.hops, 0)).toBeGreaterThan(0);
      const steady = tick;
      await eventually(flowing(steady + 20), 10_000, 'steady flow');

      // A layout change: ann shows one tile (bob, first by join order). Then speaker changes:
      // cat speaks (ann's tile moves to cat), then bob speaks (back to bob).
      ann.signaling.send({ layout: { layout: 'grid1x1' } });
      const layoutAt = tick;
      await eventually(
        () => ann.ticksFrom(cat).at(-1)! < tick - 20 && bob.ticksFrom(ann).at(-1)! > tick - 5,
        10_000,
        'ann shows bob only',
      );
      cat.signaling.send({ speaker: {} });
      const catSpokeAt = tick;
      await eventually(
        () => (ann.ticksFrom(cat).at(-1) ?? 0) > catSpokeAt + 20,
        10_000,
        'ann shows cat',
      );
      bob.signaling.send({ speaker: {} });
      const bobSpokeAt = tick;
      await eventually(
        () => ann.ticksFrom(bob).some((t) => t > bobSpokeAt + 20),
        10_000,
        'ann shows bob again',
      );
      expect(layoutAt).toBeLessThan(catSpokeAt);
    } finally {
      publishing = false;
      await loop;
    }
    const lastTick = tick;
    // Everything in flight lands.
    await new Promise((resolve) => setTimeout(resolve, 500));

    // Every frame decrypted, byte-exact, none failed.
    for (const p of parties) {
      expect({ who: p.name, failures: Object.fromEntries(p.member.failures) }).toEqual({
        who: p.name,
        failures: {},
      });
      expect(p.mismatches).toBe(0);
      expect(p.member.decrypted).toBeGreaterThan(50);
    }
    // Pairs the changes kept: one run, from the first frame through the last tick.
    for (const [s, p] of pairs) {
      if (s === ann) continue;
      const r = runs(s.ticksFrom(p));
      expect({ pair: `${s.name}<-${p.name}`, runs: r.length, end: r[0]?.[1] }).toEqual({
        pair: `${s.name}<-${p.name}`,
        runs: 1,
        end: lastTick,
      });
    }
    // ann's tile: bob throughout except while cat spoke; each run has no hole, and each new
    // stream started before the old one stopped (make-before-break).
    const fromBob = runs(ann.ticksFrom(bob));
    const fromCat = runs(ann.ticksFrom(cat));
    expect(fromBob.length).toBe(2);
    expect(fromCat.length).toBe(2);
    const [bob1, bob2] = fromBob as [[number, number], [number, number]];
    const [cat1, cat2] = fromCat as [[number, number], [number, number]];
    expect(bob2[1]).toBe(lastTick);
    expect(cat2[0]).toBeLessThanOrEqual(bob1[1] + 1); // cat's stream back before bob's stopped
    expect(bob2[0]).toBeLessThanOrEqual(cat2[1] + 1); // bob's stream back before cat's stopped
    expect(cat1[1]).toBeGreaterThan(0);
    console.log(
      `e2ee frames ${JSON.stringify(
        parties.map((p) => ({ who: p.name, decrypted: p.member.decrypted, hops: p.hops })),
      )} ticks ${lastTick}`,
    );

    // cat leaves, keeping every key it had; ann and bob move to the next epoch without it.
    const catEpoch = cat.member.epoch as number;
    cat.signaling.send({ leave: {} });
    expect((await cat.signaling.closed).code).toBe(1000);
    await eventually(
      () => [ann, bob].every((p) => (p.member.epoch ?? -1) > catEpoch),
      10_000,
      'ann and bob in a new epoch',
    );
    expect(ann.member.epoch).toBe(bob.member.epoch);
    expect(ann.member.mls.members()).toEqual([ann.participant, bob.participant]);
    const secret = new TextEncoder().encode('after cat left');
    const frame = unwrap(await ann.member.encrypt(secret));
    const atBob = unwrap(await bob.member.decrypt(frame));
    expect(Buffer.from(atBob.plaintext)).toEqual(Buffer.from(secret));
    expect(cat.member.epoch).toBe(catEpoch);
    const atCat = await cat.member.decrypt(frame);
    expect(atCat.ok).toBe(false);
    // Even taking its last exporter key as the new epoch's, cat cannot authenticate the frame.
    const forged = unwrap(
      SFrameMlsContext.create({ cipherSuite: SFRAME_AES_128_GCM_SHA256_128, epochBits: 4 }),
    );
    unwrap(
      forged.addEpoch({
        epoch: BigInt(ann.member.epoch as number),
        baseKey: unwrap(await cat.member.mls.sframeBaseKey()),
        groupSize: 3,
        ownIndex: 2,
      }),
    );
    const forgedRead = await forged.decrypt(frame);
    expect(forgedRead.ok ? 'decrypted' : forgedRead.error.kind).toBe('authentication-failed');
  }, 90_000);

  it('answers malformed MLS messages with a typed error, closing that connection only', async () => {
    const token = await user('dan');
    const meeting = await createMeeting(token);
    // A join whose key package is not one.
    const bad = await SignalingClient.open(mc.signalingUrl);
    bad.send({
      join: {
        accessToken: token,
        meetingId: meeting,
        layout: 'grid',
        region: '',
        keyPackage: Buffer.from('not a key package'),
      },
    });
    expect(await bad.next((m) => m.error)).toMatchObject({
      kind: ErrorKind.ERROR_KIND_MALFORMED_MLS,
    });
    expect((await bad.closed).code).toBe(4400);

    const sent = new Map<string, Map<number, Uint8Array>>();
    const dan = await Party.join('dan', token, meeting, sent);
    const eve = await Party.join('eve', await user('eve'), meeting, sent);
    await eventually(
      () => dan.member.epoch === 1 && eve.member.epoch === 1,
      10_000,
      'both in epoch 1',
    );
    // eve answers a commit request nobody made with bytes that are no MLS message.
    eve.signaling.send({
      mlsCommit: { request: 7, commit: Buffer.from([1, 2, 3]), welcome: Buffer.alloc(0) },
    });
    expect(
      await eve.signaling.next((m) =>
        m.error?.kind === ErrorKind.ERROR_KIND_MALFORMED_MLS ? m.error : undefined,
      ),
    ).toBeDefined();
    expect((await eve.signaling.closed).code).toBe(4400);
    // dan is untouched: a manual rotation still gets him (alone in the commit) a new epoch.
    dan.signaling.send({ rotateKeys: {} });
    await eventually(() => (dan.member.epoch ?? 0) >= 2, 10_000, 'rotation');
    expect(dan.signaling.socket.readyState).toBe(1);
  }, 30_000);
});
