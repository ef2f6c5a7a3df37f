import { describe, expect, it } from 'vitest';
import { handlerId } from '../ids.ts';
import { dialsPeer, PEER_DIAL_BACKOFF, subjectNamesHandler } from './peering.ts';
import {
  ALICE,
  BOB,
  CAROL,
  ME,
  MEETING,
  PEER,
  PEER2,
  cascade,
  command,
  deliver,
  drain,
  forwarder,
  publish,
} from './testing.ts';
import type { MhOutput } from './types.ts';

const peerRequests = (outputs: MhOutput[]) =>
  outputs.filter((o) => o.type === 'peer-wanted' || o.type === 'peer-unneeded');

describe('which end dials', () => {
  it('is the smaller handler id, exactly one end of every pair', () => {
    const ids = ['mh-1', 'mh-2', 'mh-10', 'MH-3', 'a'].map(handlerId);
    for (const a of ids) {
      for (const b of ids) {
        if (a === b) continue;
        expect(dialsPeer(a, b) !== dialsPeer(b, a)).toBe(true);
      }
    }
    expect(dialsPeer(ME, PEER)).toBe(true);
    expect(dialsPeer(PEER, ME)).toBe(false);
  });
});

describe('peer links wanted by cascade legs', () => {
  it('asks once for a peer its legs name, and lets it go when the last leg goes', () => {
    const f = forwarder();
    expect(peerRequests(command(f, [publish(ALICE), cascade(ALICE, ME, PEER)]))).toEqual([
      { type: 'peer-wanted', handler: PEER, attempt: 1 },
    ]);
    expect(f.peerDialStateOf(PEER)).toBe('dialing');
    // Another leg naming the same peer asks for nothing more.
    expect(peerRequests(command(f, [cascade(BOB, PEER, ME), deliver(BOB, CAROL)]))).toEqual([]);
    expect(peerRequests(command(f, [], [cascade(ALICE, ME, PEER)]))).toEqual([]);
    expect(peerRequests(command(f, [], [cascade(BOB, PEER, ME)]))).toEqual([
      { type: 'peer-unneeded', handler: PEER },
    ]);
    expect(f.peerDialStateOf(PEER)).toBeUndefined();
  });

  it('never dials a peer with a smaller id: that end dials', () => {
    const f = forwarder({ handler: handlerId('mh-z') });
    const me = handlerId('mh-z');
    const outputs = command(f, [
      { type: 'publish', publisher: ALICE, kind: 'camera', handler: me },
      { type: 'cascade', publisher: ALICE, kind: 'camera', from: me, to: PEER },
    ]);
    expect(peerRequests(outputs)).toEqual([]);
    expect(f.peerDialStateOf(PEER)).toBeUndefined();
  });

  it('does not ask for a link already up (accepted from the peer or dialed before)', () => {
    const f = forwarder();
    f.handle({ type: 'peer-connected', handler: PEER, connection: 40 }, 0);
    expect(peerRequests(command(f, [cascade(ALICE, PEER, ME)]))).toEqual([]);
    expect(f.peerDialStateOf(PEER)).toBe('up');
  });

  it('asks again after a failed dial or a lost link, with a growing backoff, reset by a link', () => {
    const f = forwarder({ loadReportIntervalMs: 60_000 });
    command(f, [cascade(ALICE, PEER, ME)], [], 0);
    f.handle({ type: 'peer-dial-failed', handler: PEER }, 100);
    expect(f.peerDialStateOf(PEER)).toBe('waiting');
    expect(f.pollTimeout()).toBe(100 + PEER_DIAL_BACKOFF.baseMs);
    f.handleTimeout(100 + PEER_DIAL_BACKOFF.baseMs - 1);
    expect(peerRequests(drain(f))).toEqual([]);
    f.handleTimeout(100 + PEER_DIAL_BACKOFF.baseMs);
    expect(peerRequests(drain(f))).toEqual([{ type: 'peer-wanted', handler: PEER, attempt: 2 }]);
    // A second failure waits twice as long.
    f.handle({ type: 'peer-dial-failed', handler: PEER }, 1_000);
    expect(f.pollTimeout()).toBe(1_000 + PEER_DIAL_BACKOFF.baseMs * 2);
    // A stale failure while waiting changes nothing.
    f.handle({ type: 'peer-dial-failed', handler: PEER }, 1_001);
    expect(f.pollTimeout()).toBe(1_000 + PEER_DIAL_BACKOFF.baseMs * 2);
    f.handleTimeout(1_500);
    expect(peerRequests(drain(f))).toEqual([{ type: 'peer-wanted', handler: PEER, attempt: 3 }]);
    f.handle({ type: 'peer-connected', handler: PEER, connection: 44 }, 1_600);
    expect(f.peerDialStateOf(PEER)).toBe('up');
    expect(f.pollTimeout()).toBe(60_000);
    // The link drops while still needed: asked for again after the first backoff step.
    f.handle({ type: 'peer-disconnected', connection: 44 }, 2_000);
    expect(f.pollTimeout()).toBe(2_000 + PEER_DIAL_BACKOFF.baseMs);
    f.handleTimeout(2_000 + PEER_DIAL_BACKOFF.baseMs);
    expect(peerRequests(drain(f))).toEqual([{ type: 'peer-wanted', handler: PEER, attempt: 2 }]);
  });

  it('caps the backoff and keeps asking while the peer is needed', () => {
    const f = forwarder({ loadReportIntervalMs: 3_600_000 });
    command(f, [cascade(ALICE, PEER, ME)], [], 0);
    let now = 0;
    let last = 0;
    for (let i = 0; i < 12; i++) {
      f.handle({ type: 'peer-dial-failed', handler: PEER }, now);
      const at = f.pollTimeout() as number;
      last = at - now;
      expect(last).toBeLessThanOrEqual(PEER_DIAL_BACKOFF.capMs);
      now = at;
      f.handleTimeout(now);
      expect(peerRequests(drain(f))).toHaveLength(1);
    }
    expect(last).toBe(PEER_DIAL_BACKOFF.capMs);
  });

  it('does not redial a link the dialer let go, and a late dial failure is ignored', () => {
    const f = forwarder({ loadReportIntervalMs: 60_000 });
    command(f, [cascade(ALICE, PEER, ME)]);
    f.handle({ type: 'peer-connected', handler: PEER, connection: 8 }, 0);
    expect(peerRequests(command(f, [], [cascade(ALICE, PEER, ME)]))).toEqual([
      { type: 'peer-unneeded', handler: PEER },
    ]);
    f.handle({ type: 'peer-disconnected', connection: 8 }, 10);
    f.handle({ type: 'peer-dial-failed', handler: PEER }, 10);
    expect(f.pollTimeout()).toBe(60_000);
    f.handleTimeout(60_000);
    expect(peerRequests(drain(f))).toEqual([]);
  });

  it('lets peers go when their meeting ends, and asks per peer in id order', () => {
    const f = forwarder();
    expect(peerRequests(command(f, [cascade(ALICE, ME, PEER2), cascade(ALICE, ME, PEER)]))).toEqual(
      [
        { type: 'peer-wanted', handler: PEER, attempt: 1 },
        { type: 'peer-wanted', handler: PEER2, attempt: 1 },
      ],
    );
    f.handle({ type: 'meeting-ended', meeting: MEETING, controller: 'mc-1' as never }, 5);
    expect(peerRequests(drain(f))).toEqual([
      { type: 'peer-unneeded', handler: PEER },
      { type: 'peer-unneeded', handler: PEER2 },
    ]);
  });
});

describe('the service account of a dialing handler', () => {
  it('is an AC client id whose stem is the handler id', () => {
    expect(subjectNamesHandler('mh-1-0123456789abcdef', 'mh-1')).toBe(true);
    expect(subjectNamesHandler('mh-1-0123456789abcdef', 'MH-1')).toBe(true);
    expect(subjectNamesHandler('mh-1-0123456789abcdef', 'mh-2')).toBe(false);
    expect(subjectNamesHandler('mh-10-0123456789abcdef', 'mh-1')).toBe(false);
    expect(subjectNamesHandler('mh-1', 'mh-1')).toBe(false);
    expect(subjectNamesHandler('meeting-controller-0123456789abcdef', 'mh-1')).toBe(false);
    expect(subjectNamesHandler('-0123456789abcdef', '...')).toBe(false);
  });
});
