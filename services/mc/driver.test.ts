// The driver with core's real controller endpoint and wall-clock timers: what it does with
// each output. The effects record what they are asked and answer as a handler or Redis would.
import { afterEach, describe, expect, it } from 'vitest';
import {
  handlerId,
  meetingId,
  participantId,
  type HandlerId,
  type MeetingId,
} from '../../core/ids.ts';
import { layoutRequestNamed } from '../../core/layout/named.ts';
import { ControllerEndpoint } from '../../core/mc/endpoint.ts';
import { controllerConfig, report } from '../../core/mc/testing.ts';
import { createLogger } from '../../adapters/logging/logger.ts';
import type { ApplyRouteCommandRequest } from '../generated/darktower/mh/v1/route.ts';
import type { ServerMessage } from '../generated/darktower/mc/v1/signaling.ts';
import { MediaKind } from '../generated/darktower/mh/v1/route.ts';
import { systemClock } from '../shared/clock.ts';
import {
  ControllerDriver,
  type DriverEffects,
  type MeetingGate,
  type SignalingPeer,
} from './driver.ts';

const M = meetingId('m-1');
const MEDIA_KIND_SCREEN = MediaKind.MEDIA_KIND_SCREEN;
const logger = createLogger('test', 'silent');
let driver: ControllerDriver | undefined;
afterEach(() => driver?.stop());

class Peer implements SignalingPeer {
  readonly messages: ServerMessage[] = [];
  /** The messages handed over ready (not awaiting a signature), as they were handed over. */
  readonly sent: ServerMessage[] = [];
  closedWith: number | undefined;
  private queue = Promise.resolve();
  /** In order, as the signaling connection sends them. */
  send(message: ServerMessage | Promise<ServerMessage>): void {
    if (!(message instanceof Promise)) this.sent.push(message);
    this.queue = this.queue.then(async () => void this.messages.push(await message));
  }
  close(code: number): void {
    this.closedWith = code;
  }
}

/** Effects whose route API fails the first `failures` calls to each command id. */
function effects(failures: number) {
  const calls: { handler: HandlerId; request: ApplyRouteCommandRequest }[] = [];
  const sessions = new Map<string, number>();
  const heartbeats: number[] = [];
  const failed = new Map<string, number>();
  const recorded: DriverEffects = {
    signGrant: async (grant) => `token-for-${grant.participant}@${grant.handler}`,
    handlerAddress: (handler) => ({
      id: handler,
      websocketUrl: `ws://${handler}/v1/media`,
      quicAddress: '',
      certHash: Buffer.alloc(0),
      webtransportUrl: '',
    }),
    applyRouteCommand: async (handler, request) => {
      calls.push({ handler, request });
      const seen = failed.get(request.id) ?? 0;
      if (seen < failures) {
        failed.set(request.id, seen + 1);
        throw new Error('unavailable');
      }
    },
    endMeeting: async () => {},
    writeSession: async (meeting, participant, ttlMs) => void sessions.set(participant, ttlMs),
    deleteSession: async (meeting, participant) => void sessions.delete(participant),
    heartbeat: async (meetings) => {
      heartbeats.push(meetings);
      return [];
    },
  };
  return { recorded, calls, sessions, heartbeats };
}

function start(failures: number, gate?: MeetingGate) {
  const world = effects(failures);
  const config = controllerConfig();
  const endpoint = new ControllerEndpoint(config, systemClock.now());
  driver = new ControllerDriver(endpoint, config.region, world.recorded, systemClock, logger, gate);
  driver.loadReports([report('h1', systemClock.now())]);
  driver.start();
  return { ...world, driver, config };
}

const until = async (check: () => boolean, timeoutMs = 3_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe('ControllerDriver', () => {
  it('answers a join with a signed token for the handler core chose, and installs its routes', async () => {
    const { driver, calls, sessions, heartbeats, config } = start(0);
    const alice = new Peer();
    driver.join(M, participantId('alice'), config.region, layoutRequestNamed('grid'), alice);
    await until(() => alice.messages.length >= 3);
    // The join answer first, then the first key epoch and the member list.
    expect(alice.messages[0]?.joinResponse).toMatchObject({
      participantId: 'alice',
      participants: ['alice'],
      mediaHandler: { id: 'h1', websocketUrl: 'ws://h1/v1/media' },
      connectionToken: 'token-for-alice@h1',
    });
    expect(alice.messages.slice(1)).toEqual(
      expect.arrayContaining([
        { keyMaterial: { epoch: 0 } },
        { participants: { participants: ['alice'], screenSharing: [], activeSpeakers: [] } },
      ]),
    );
    expect(sessions.get('alice')).toBe(config.meetings.sessionTtlMs);
    expect(heartbeats.length).toBeGreaterThan(0);
    // Alone, alice needs no legs; with bob, the legs between them go to h1's route API.
    expect(calls).toHaveLength(0);
    const bob = new Peer();
    driver.join(M, participantId('bob'), config.region, layoutRequestNamed('grid'), bob);
    await until(() => calls.length > 0);
    expect(calls[0]).toMatchObject({
      handler: handlerId('h1'),
      request: { meeting: 'm-1', controller: config.controller, remove: [] },
    });
    const add = calls[0]?.request.add ?? [];
    expect(add.some((leg) => leg.publish?.publisher === 'alice')).toBe(true);
    expect(
      add.some((leg) => leg.deliver?.publisher === 'bob' && leg.deliver.subscriber === 'alice'),
    ).toBe(true);
    // Both are told of both.
    await until(() =>
      [alice, bob].every((p) => p.messages.some((m) => m.participants?.participants.length === 2)),
    );
  });

  it('resends a route command the handler did not acknowledge, on core’s timer, until it does', async () => {
    const { driver, calls, config } = start(2);
    driver.join(M, participantId('alice'), config.region, layoutRequestNamed('grid'), new Peer());
    driver.join(M, participantId('bob'), config.region, layoutRequestNamed('grid'), new Peer());
    // Two failures, then the ack: three calls with the same id, then no more.
    await until(() => calls.length >= 3, 3_000);
    const id = calls[0]?.request.id;
    expect(calls.slice(0, 3).map((c) => c.request.id)).toEqual([id, id, id]);
    await new Promise((resolve) => setTimeout(resolve, config.meetings.commandRetryMs * 2));
    expect(calls.filter((c) => c.request.id === id)).toHaveLength(3);
    expect(driver.routeCalls).toMatchObject({ failed: 2, acked: 1 });
  });

  it('times each acknowledged route call (the calls that failed are not timed)', async () => {
    const { driver, calls, config } = start(1);
    const timed: number[] = [];
    driver.onRouteCallAnswered = (seconds) => timed.push(seconds);
    driver.join(M, participantId('alice'), config.region, layoutRequestNamed('grid'), new Peer());
    driver.join(M, participantId('bob'), config.region, layoutRequestNamed('grid'), new Peer());
    await until(() => driver.routeCalls.acked >= 1, 3_000);
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(timed).toHaveLength(driver.routeCalls.acked);
    for (const seconds of timed) {
      expect(seconds).toBeGreaterThanOrEqual(0);
      expect(seconds).toBeLessThan(1);
    }
  });

  it('a screen share reaches core: every member hears who shares, and the screen is routed', async () => {
    const { driver, calls, config } = start(0);
    const alice = new Peer();
    const bob = new Peer();
    driver.join(M, participantId('alice'), config.region, layoutRequestNamed('speaker'), alice);
    driver.join(M, participantId('bob'), config.region, layoutRequestNamed('speaker'), bob);
    await until(() =>
      [alice, bob].every((p) => p.messages.some((m) => m.participants?.participants.length === 2)),
    );
    const screenLegs = () =>
      calls.flatMap((c) => c.request.add).filter((leg) => leg.deliver?.kind === MEDIA_KIND_SCREEN);
    expect(screenLegs()).toEqual([]);

    driver.message(M, { type: 'screen-share', participant: participantId('alice'), sharing: true });
    const sharing = (p: Peer) => p.messages.findLast((m) => m.participants)?.participants;
    await until(() => [alice, bob].every((p) => sharing(p)?.screenSharing.includes('alice')));
    // Bob's tile for alice now shows her screen: the handler delivers it to him.
    await until(() => screenLegs().length > 0);
    expect(screenLegs()[0]?.deliver).toMatchObject({ publisher: 'alice', subscriber: 'bob' });

    driver.message(M, {
      type: 'screen-share',
      participant: participantId('alice'),
      sharing: false,
    });
    await until(() => [alice, bob].every((p) => sharing(p)?.screenSharing.length === 0));
  });

  it('every member hears the speaker order core holds whenever a speaker change alters it', async () => {
    const { driver, config } = start(0);
    const peers = { alice: new Peer(), bob: new Peer(), carol: new Peer() };
    // Grid views that show everyone: a new speaker changes no route, so core has no output.
    for (const [name, peer] of Object.entries(peers))
      driver.join(M, participantId(name), config.region, layoutRequestNamed('grid'), peer);
    const all = Object.values(peers);
    const latest = (p: Peer) => p.messages.findLast((m) => m.participants)?.participants;
    await until(() => all.every((p) => latest(p)?.participants.length === 3));
    expect(all.map((p) => latest(p)?.activeSpeakers)).toEqual([[], [], []]);
    const announced = () => all.map((p) => p.messages.filter((m) => m.participants).length);

    const speaks = async (who: string, order: string[]) => {
      driver.message(M, { type: 'speaker', participant: participantId(who) });
      // Sent as core takes the input, not at some later output of the meeting.
      for (const peer of all)
        expect(peer.sent.findLast((m) => m.participants)?.participants?.activeSpeakers).toEqual(
          order,
        );
      expect(driver.endpoint.meeting(M)?.roster.activeSpeakers).toEqual(order);
      await until(() => all.every((p) => latest(p)?.activeSpeakers.join() === order.join()));
    };
    await speaks('bob', ['bob']);
    await speaks('carol', ['carol', 'bob']);
    await speaks('bob', ['bob', 'carol']);
    expect(latest(peers.alice)).toEqual({
      participants: ['alice', 'bob', 'carol'],
      screenSharing: [],
      activeSpeakers: ['bob', 'carol'],
    });
    // The latest speaker again: the order stays, and nothing more is sent.
    const before = announced();
    driver.message(M, { type: 'speaker', participant: participantId('bob') });
    driver.message(M, { type: 'heartbeat', participant: participantId('alice') });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(announced()).toEqual(before);
  });

  it('a speaker change that moves no route still marks the meeting for its stored snapshot', async () => {
    // Every meeting runs here; the gate records which meetings core's inputs changed.
    const changed: MeetingId[] = [];
    const gate: MeetingGate = {
      runs: () => true,
      want: (_meeting, then) => then({ ok: true }),
      changed: (meeting) => void changed.push(meeting),
      ended: () => {},
    };
    const { driver, config } = start(0, gate);
    const peers = [new Peer(), new Peer()];
    driver.join(M, participantId('alice'), config.region, layoutRequestNamed('grid'), peers[0]!);
    driver.join(M, participantId('bob'), config.region, layoutRequestNamed('grid'), peers[1]!);
    await until(() =>
      peers.every((p) => p.messages.some((m) => m.participants?.participants.length === 2)),
    );
    changed.length = 0;
    // In a grid of two each sees the other whoever speaks: no route moves, core has no output.
    driver.message(M, { type: 'speaker', participant: participantId('bob') });
    expect(driver.endpoint.meeting(M)?.roster.activeSpeakers).toEqual(['bob']);
    expect(changed).toEqual([M]);
    // A heartbeat changes nothing stored: the meeting is not marked for it.
    changed.length = 0;
    driver.message(M, { type: 'heartbeat', participant: participantId('alice') });
    expect(changed).toEqual([]);
  });
});
