import { describe, expect, it } from 'vitest';
import { handlerId } from '../ids.ts';
import {
  ALICE,
  BOB,
  CAROL,
  MEETING,
  command,
  datagram,
  deliver,
  destinations,
  drain,
  forwarder,
  loadTo,
  open,
  peerReport,
  publish,
} from './testing.ts';

describe('Forwarder drain', () => {
  it('admits no one once draining: redirect to the least-loaded peer, else reject with retry', () => {
    const f = forwarder();
    open(f, 1, ALICE);
    f.handle({ type: 'drain', deadlineMs: 30_000 }, 100);
    expect(f.draining).toBe(true);
    expect(open(f, 2, BOB, 200)).toEqual([
      { type: 'session-rejected', connection: 2, reason: 'draining', retryAfterMs: 5_000 },
    ]);
    // A reconnect is refused too: the handler is leaving.
    expect(open(f, 3, ALICE, 200)[0]).toMatchObject({
      type: 'session-rejected',
      reason: 'draining',
    });
    f.handle({ type: 'peer-load-report', report: peerReport('mh-b', 0.5, 150) }, 150);
    f.handle({ type: 'peer-load-report', report: peerReport('mh-c', 0.2, 150) }, 150);
    expect(open(f, 4, CAROL, 300)).toEqual([
      {
        type: 'session-redirected',
        connection: 4,
        meeting: MEETING,
        participant: CAROL,
        to: handlerId('mh-c'),
      },
    ]);
    // Claims are still checked first: a wrong handler is refused as such.
    expect(open(f, 5, CAROL, 300, { handler: handlerId('elsewhere') })[0]).toMatchObject({
      reason: 'wrong-handler',
    });
    expect(f.sessionCount).toBe(1);
    expect(f.connectionOf(MEETING, ALICE)).toBe(1);
  });

  it('says so in its load reports, and never redirects to a peer that says so', () => {
    const f = forwarder();
    f.handle({ type: 'drain', deadlineMs: 60_000 }, 0);
    f.handleTimeout(1_000);
    expect(drain(f).find((o) => o.type === 'load-report')).toMatchObject({
      report: { draining: true },
    });
    const full = forwarder();
    loadTo(full, 0.9, 0);
    full.handle(
      { type: 'peer-load-report', report: peerReport('mh-b', 0.1, 900, { draining: true }) },
      1_000,
    );
    full.handle({ type: 'peer-load-report', report: peerReport('mh-c', 0.6, 900) }, 1_000);
    expect(open(full, 1, ALICE, 1_000)[0]).toMatchObject({
      type: 'session-redirected',
      to: handlerId('mh-c'),
    });
    full.handle(
      { type: 'peer-load-report', report: peerReport('mh-c', 0.6, 950, { draining: true }) },
      1_000,
    );
    expect(open(full, 2, BOB, 1_000)[0]).toMatchObject({
      type: 'session-rejected',
      reason: 'capacity',
    });
  });

  it('keeps open sessions forwarding until the deadline, then closes each', () => {
    const f = forwarder();
    open(f, 1, ALICE);
    open(f, 2, BOB);
    command(f, [publish(ALICE), deliver(ALICE, BOB)]);
    f.handle({ type: 'drain', deadlineMs: 5_000 }, 1_000);
    // A later drain never postpones the deadline; an earlier one brings it forward.
    f.handle({ type: 'drain', deadlineMs: 9_000 }, 1_100);
    expect(f.pollTimeout()).toBe(1_000);
    f.handleTimeout(1_000);
    drain(f);
    expect(f.pollTimeout()).toBe(2_000);
    f.handle({ type: 'drain', deadlineMs: 4_000 }, 1_200);
    expect(destinations(f, 1, datagram(ALICE))).toEqual([2]);
    f.handleTimeout(3_999);
    expect(drain(f).filter((o) => o.type === 'session-closed')).toEqual([]);
    expect(f.pollTimeout()).toBe(4_000);
    f.handleTimeout(4_000);
    expect(drain(f).filter((o) => o.type === 'session-closed')).toEqual([
      {
        type: 'session-closed',
        connection: 1,
        meeting: MEETING,
        participant: ALICE,
        reason: 'draining',
      },
      {
        type: 'session-closed',
        connection: 2,
        meeting: MEETING,
        participant: BOB,
        reason: 'draining',
      },
    ]);
    expect(f.sessionCount).toBe(0);
    expect(f.pollTimeout()).toBe(4_999);
    expect(destinations(f, 1, datagram(ALICE))).toBeLessThan(0);
  });

  it('closes at once when the deadline has passed, and ignores a non-finite deadline', () => {
    const f = forwarder();
    open(f, 1, ALICE);
    f.handle({ type: 'drain', deadlineMs: Number.NaN }, 10);
    expect(f.draining).toBe(false);
    f.handle({ type: 'drain', deadlineMs: 10 }, 10);
    expect(drain(f)).toEqual([
      {
        type: 'session-closed',
        connection: 1,
        meeting: MEETING,
        participant: ALICE,
        reason: 'draining',
      },
    ]);
  });
});
