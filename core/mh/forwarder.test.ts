import { describe, expect, it } from 'vitest';
import { handlerId, meetingId, participantId } from '../ids.ts';
import { decodeDatagram } from '../protocol/datagram.ts';
import {
  DROP_BAD_HOP,
  DROP_HOP_EXCEEDED,
  DROP_MALFORMED,
  DROP_NOT_PUBLISHER,
  DROP_OUT_TOO_SMALL,
  DROP_REASONS,
  DROP_UNKNOWN_CONNECTION,
  DROP_UNKNOWN_STREAM,
  Forwarder,
  ForwarderConfigException,
} from './forwarder.ts';
import {
  ALICE,
  BOB,
  CAPACITY_BPS,
  CAROL,
  CONTROLLER,
  ME,
  MEETING,
  PEER,
  PEER2,
  REGION,
  cascade,
  claims,
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

describe('configuration', () => {
  it('returns a typed error for each invalid field, and the constructor throws it', () => {
    const base = { handler: ME, region: REGION, capacityBps: 1 };
    expect(Forwarder.create({ ...base, handler: handlerId('') })).toEqual({
      ok: false,
      error: { kind: 'empty-handler' },
    });
    expect(Forwarder.create({ ...base, capacityBps: 0 })).toEqual({
      ok: false,
      error: { kind: 'non-positive-capacity', capacityBps: 0 },
    });
    expect(Forwarder.create({ ...base, capacityBps: Infinity }).ok).toBe(false);
    expect(Forwarder.create({ ...base, loadReportIntervalMs: 0 })).toEqual({
      ok: false,
      error: { kind: 'non-positive-interval', loadReportIntervalMs: 0 },
    });
    expect(Forwarder.create({ ...base, loadReportIntervalMs: Infinity }).ok).toBe(false);
    expect(Forwarder.create({ ...base, routeIdWindow: 0 })).toEqual({
      ok: false,
      error: { kind: 'invalid-route-id-memory', window: 0, retentionMs: 120_000 },
    });
    expect(Forwarder.create({ ...base, routeIdWindow: 1.5 }).ok).toBe(false);
    expect(Forwarder.create({ ...base, routeIdRetentionMs: -1 }).ok).toBe(false);
    expect(Forwarder.create({ ...base, handler: 5 as never })).toEqual({
      ok: false,
      error: { kind: 'empty-handler' },
    });
    expect(Forwarder.create({ ...base, routeIdWindow: 1, routeIdRetentionMs: 0 }).ok).toBe(true);
    expect(Forwarder.create(base).ok).toBe(true);
    expect(() => new Forwarder({ ...base, capacityBps: -5 })).toThrow(ForwarderConfigException);
    expect(() => new Forwarder({ ...base, capacityBps: -5 })).toThrow(/non-positive-capacity/);
  });
});

describe('route commands', () => {
  it('applies the legs that concern this handler and acks with counts', () => {
    const f = forwarder();
    const out = command(
      f,
      [
        publish(ALICE),
        publish(ALICE, 'camera', PEER),
        cascade(ALICE, ME, PEER),
        cascade(BOB, PEER, ME),
        cascade(BOB, PEER, PEER2),
        cascade(BOB, ME, ME),
        deliver(ALICE, BOB),
        deliver(ALICE, CAROL, 'camera', PEER),
      ],
      [],
      0,
      'cmd-1',
    );
    expect(out).toEqual([
      {
        type: 'route-ack',
        id: 'cmd-1',
        meeting: MEETING,
        controller: CONTROLLER,
        duplicate: false,
        changed: 4,
        ignored: 4,
      },
      // Both cascade legs here name PEER, whose link this handler (the smaller id) dials.
      { type: 'peer-wanted', handler: PEER, attempt: 1 },
    ]);
    expect(f.routes().map((r) => r.route)).toEqual([
      cascade(ALICE, ME, PEER),
      cascade(BOB, PEER, ME),
      deliver(ALICE, BOB),
      publish(ALICE),
    ]);
    expect(f.routes().every((r) => r.meeting === MEETING)).toBe(true);
    expect(f.streamCount).toBe(2);
  });

  it('ignores legs of an unknown type', () => {
    const f = forwarder();
    const bad = { ...publish(ALICE), type: 'mirror' } as unknown as ReturnType<typeof publish>;
    expect(command(f, [bad])[0]).toMatchObject({ changed: 0, ignored: 1 });
    expect(f.streamCount).toBe(0);
  });

  it('ignores legs of an unknown media kind', () => {
    const f = forwarder();
    const bad = { ...publish(ALICE), kind: 'hologram' } as unknown as ReturnType<typeof publish>;
    expect(command(f, [bad])[0]).toMatchObject({ changed: 0, ignored: 1 });
    expect(f.routes()).toEqual([]);
  });

  it('applies additions before removals, so a leg in both ends up removed', () => {
    const f = forwarder();
    command(f, [publish(ALICE), deliver(ALICE, BOB)], [deliver(ALICE, BOB)]);
    expect(f.routes().map((r) => r.route)).toEqual([publish(ALICE)]);
  });

  it('acks a repeated id again without applying it a second time', () => {
    const f = forwarder();
    command(f, [publish(ALICE)], [], 0, 'x');
    command(f, [], [publish(ALICE)], 0, 'y');
    const again = command(f, [publish(ALICE)], [], 10, 'x');
    expect(again).toEqual([
      {
        type: 'route-ack',
        id: 'x',
        meeting: MEETING,
        controller: CONTROLLER,
        duplicate: true,
        changed: 0,
        ignored: 0,
      },
    ]);
    expect(f.routes()).toEqual([]);
  });

  it('keeps ids per controller and meeting: the same id elsewhere is a new command', () => {
    const f = forwarder();
    command(f, [publish(ALICE)], [], 0, 'x');
    const m2 = meetingId('m-2');
    f.handle(
      {
        type: 'route-command',
        id: 'x',
        meeting: m2,
        controller: CONTROLLER,
        add: [publish(ALICE)],
        remove: [],
      },
      0,
    );
    expect(drain(f)[0]).toMatchObject({ duplicate: false, changed: 1 });
    f.handle(
      {
        type: 'route-command',
        id: 'x',
        meeting: MEETING,
        controller: meetingId('mc-2') as never,
        add: [],
        remove: [publish(ALICE)],
      },
      0,
    );
    expect(drain(f)[0]).toMatchObject({ duplicate: false, changed: 1 });
  });

  it('forgets an id only once it is out of the window and older than the retention', () => {
    const f = forwarder({ routeIdWindow: 2, routeIdRetentionMs: 1000 });
    command(f, [publish(ALICE)], [], 0, 'a');
    command(f, [], [], 0, 'b');
    command(f, [], [], 0, 'c');
    // 'a' is out of the window but still young: recognised.
    expect(command(f, [], [], 1000, 'a')[0]).toMatchObject({ duplicate: true });
    command(f, [], [], 1001, 'd');
    // Now 'a' is both old and out of the window: forgotten, applied as new.
    expect(command(f, [], [publish(ALICE)], 1001, 'a')[0]).toMatchObject({
      duplicate: false,
      changed: 1,
    });
    // 'd' and 'a' are the window: recognised however old; 'c' was old and outside it.
    expect(command(f, [], [], 99_999, 'd')[0]).toMatchObject({ duplicate: true });
    expect(command(f, [], [], 99_999, 'a')[0]).toMatchObject({ duplicate: true });
    expect(command(f, [], [], 99_999, 'c')[0]).toMatchObject({ duplicate: false });
  });

  it('forgets old ids at a load report too', () => {
    const f = forwarder({ routeIdWindow: 1, routeIdRetentionMs: 500 });
    command(f, [], [], 0, 'a');
    command(f, [], [], 0, 'b');
    expect(command(f, [], [], 400, 'a')[0]).toMatchObject({ duplicate: true });
    f.handleTimeout(1000);
    drain(f);
    expect(command(f, [], [], 1000, 'a')[0]).toMatchObject({ duplicate: false });
  });
});

describe('session-open', () => {
  it('accepts valid claims and binds the participant to the connection', () => {
    const f = forwarder();
    expect(open(f, 7, ALICE)).toEqual([
      {
        type: 'session-accepted',
        connection: 7,
        meeting: MEETING,
        participant: ALICE,
        reconnect: false,
      },
    ]);
    expect(f.connectionOf(MEETING, ALICE)).toBe(7);
    expect(f.sessionCount).toBe(1);
  });

  const refusals: [string, Parameters<typeof claims>[1], number][] = [
    ['wrong-handler', { handler: PEER }, 0],
    ['expired', { expiresAtMs: 10_000 }, 15_000],
    ['not-yet-valid', { issuedAtMs: 5_001, expiresAtMs: 60_000 }, 0],
    ['invalid-claims', { nonce: '' }, 0],
    ['invalid-claims', { meeting: meetingId('') }, 0],
    ['invalid-claims', { participant: participantId('') }, 0],
    ['invalid-claims', { handler: handlerId('') }, 0],
    ['invalid-claims', { issuedAtMs: Number.NaN }, 0],
    ['invalid-claims', { expiresAtMs: Infinity }, 0],
    ['invalid-claims', { issuedAtMs: 100, expiresAtMs: 100 }, 0],
    ['lifetime-too-long', { issuedAtMs: 0, expiresAtMs: 600_001 }, 0],
  ];
  it.each(refusals)('refuses %s claims before admission', (reason, overrides, now) => {
    const f = forwarder();
    expect(open(f, 1, ALICE, now, overrides)).toEqual([
      { type: 'session-rejected', connection: 1, reason, retryAfterMs: null },
    ]);
    expect(f.sessionCount).toBe(0);
  });

  it('tolerates the clock skew on both ends and no more', () => {
    const f = forwarder();
    expect(open(f, 1, ALICE, 0, { issuedAtMs: 5_000 })[0]).toMatchObject({
      type: 'session-accepted',
    });
    expect(open(f, 2, BOB, 14_999, { expiresAtMs: 10_000 })[0]).toMatchObject({
      type: 'session-accepted',
    });
    expect(open(f, 3, CAROL, 15_000, { expiresAtMs: 10_000 })[0]).toMatchObject({
      reason: 'expired',
    });
    expect(open(f, 4, CAROL, 605_000, { issuedAtMs: 0, expiresAtMs: 600_000 })[0]).toMatchObject({
      reason: 'expired',
    });
  });

  it('refuses a replayed nonce until the token has expired', () => {
    const f = forwarder();
    open(f, 1, ALICE, 0, { nonce: 'once' });
    expect(open(f, 2, BOB, 0, { nonce: 'once' })).toEqual([
      { type: 'session-rejected', connection: 2, reason: 'nonce-replayed', retryAfterMs: null },
    ]);
    // Past expiry + skew the nonce is forgotten at the next report; a fresh token may reuse it.
    f.handleTimeout(65_000);
    drain(f);
    expect(
      open(f, 3, BOB, 65_000, { nonce: 'once', issuedAtMs: 64_000, expiresAtMs: 120_000 })[0],
    ).toMatchObject({
      type: 'session-accepted',
    });
  });

  it('remembers a nonce while its token could still be accepted', () => {
    const f = forwarder();
    open(f, 1, ALICE, 0, { nonce: 'once', expiresAtMs: 10_000 });
    f.handleTimeout(14_000);
    drain(f);
    expect(open(f, 2, BOB, 14_000, { nonce: 'once', expiresAtMs: 10_000 })[0]).toMatchObject({
      reason: 'nonce-replayed',
    });
  });

  it('refuses invalid and in-use connection keys', () => {
    const f = forwarder();
    for (const bad of [-1, 1.5, 2 ** 31, Number.NaN]) {
      expect(open(f, bad, ALICE)[0]).toMatchObject({ reason: 'invalid-connection' });
    }
    expect(open(f, 2 ** 31 - 1, ALICE)[0]).toMatchObject({ type: 'session-accepted' });
    expect(open(f, 0, BOB)[0]).toMatchObject({ type: 'session-accepted' });
    expect(open(f, 0, CAROL)[0]).toMatchObject({ reason: 'connection-in-use' });
    f.handle({ type: 'peer-connected', handler: PEER, connection: 9 }, 0);
    expect(open(f, 9, CAROL)[0]).toMatchObject({ reason: 'connection-in-use' });
  });

  it('treats a second session of a participant as a reconnect that replaces the first', () => {
    const f = forwarder();
    open(f, 1, ALICE);
    loadTo(f, 0.9, 0); // at the hard limit: a reconnect still gets in
    expect(f.band).toBe('hard-limit');
    expect(open(f, 2, ALICE, 1000)).toEqual([
      {
        type: 'session-closed',
        connection: 1,
        meeting: MEETING,
        participant: ALICE,
        reason: 'replaced',
      },
      {
        type: 'session-accepted',
        connection: 2,
        meeting: MEETING,
        participant: ALICE,
        reconnect: true,
      },
    ]);
    expect(f.connectionOf(MEETING, ALICE)).toBe(2);
    expect(f.sessionCount).toBe(1);
  });

  it('redirects to the least-loaded fresh peer of the region at the hard limit', () => {
    const f = forwarder();
    loadTo(f, 0.85, 0);
    f.handle({ type: 'peer-load-report', report: peerReport('mh-b', 0.5, 900) }, 1000);
    f.handle({ type: 'peer-load-report', report: peerReport('mh-c', 0.3, 900) }, 1000);
    f.handle(
      { type: 'peer-load-report', report: peerReport('mh-d', 0.1, 900, { region: 'eu' as never }) },
      1000,
    );
    f.handle({ type: 'peer-load-report', report: peerReport('mh-e', 0.2, -20_000) }, 1000);
    f.handle({ type: 'peer-load-report', report: peerReport(ME, 0.0, 900) }, 1000);
    expect(open(f, 1, ALICE, 1000)).toEqual([
      {
        type: 'session-redirected',
        connection: 1,
        meeting: MEETING,
        participant: ALICE,
        to: handlerId('mh-c'),
      },
    ]);
    expect(f.sessionCount).toBe(0);
  });

  it('lets a report replace one of the same time', () => {
    const f = forwarder();
    loadTo(f, 0.85, 0);
    f.handle({ type: 'peer-load-report', report: peerReport('mh-b', 0.1, 900) }, 1000);
    f.handle({ type: 'peer-load-report', report: peerReport('mh-c', 0.3, 900) }, 1000);
    f.handle({ type: 'peer-load-report', report: peerReport('mh-b', 0.5, 900) }, 1000);
    expect(open(f, 1, ALICE, 1000)[0]).toMatchObject({ to: 'mh-c' });
  });

  it('keeps the newest report of each peer', () => {
    const f = forwarder();
    loadTo(f, 0.85, 0);
    f.handle({ type: 'peer-load-report', report: peerReport('mh-b', 0.1, 900) }, 1000);
    f.handle({ type: 'peer-load-report', report: peerReport('mh-c', 0.3, 900) }, 1000);
    f.handle({ type: 'peer-load-report', report: peerReport('mh-b', 0.9, 950) }, 1000);
    f.handle({ type: 'peer-load-report', report: peerReport('mh-b', 0.05, 500) }, 1000);
    expect(open(f, 1, ALICE, 1000)[0]).toMatchObject({ to: 'mh-c' });
  });

  it('rejects with a retry-after when no peer can take the participant, without spending the nonce', () => {
    const f = forwarder();
    loadTo(f, 0.85, 0);
    f.handle({ type: 'peer-load-report', report: peerReport('mh-b', 0.95, 900) }, 1000);
    expect(open(f, 1, ALICE, 1000, { nonce: 'retry' })).toEqual([
      { type: 'session-rejected', connection: 1, reason: 'capacity', retryAfterMs: 5_000 },
    ]);
    loadTo(f, 0.1, 1000);
    expect(open(f, 1, ALICE, 2000, { nonce: 'retry' })[0]).toMatchObject({
      type: 'session-accepted',
    });
  });

  it('forgets peer reports once they are stale', () => {
    const f = forwarder();
    f.handle({ type: 'peer-load-report', report: peerReport('mh-b', 0.1, 0) }, 0);
    for (let t = 0; t < 11_000; t += 1000) loadTo(f, 0.85, t);
    f.handle({ type: 'peer-load-report', report: peerReport('mh-c', 0.5, 11_000) }, 11_000);
    expect(open(f, 1, ALICE, 11_000)[0]).toMatchObject({ to: 'mh-c' });
  });
});

describe('memory', () => {
  it('forgets spent nonces after expiry plus skew, stale peer reports and old route ids', () => {
    const f = forwarder({ routeIdWindow: 1, routeIdRetentionMs: 1_000 });
    open(f, 1, ALICE, 0, { expiresAtMs: 2_000 }); // remembered until 7_000
    open(f, 2, BOB, 0, { expiresAtMs: 3_000 }); // until 8_000
    f.handle({ type: 'peer-load-report', report: peerReport('mh-b', 0.1, 0) }, 0);
    f.handle({ type: 'peer-load-report', report: peerReport('mh-c', 0.1, 1_000) }, 0);
    command(f, [], [], 0, 'a');
    command(f, [], [], 0, 'b'); // 'a' is outside the window but younger than the retention
    expect(f.remembered).toEqual({ nonces: 2, peerReports: 2, routeIds: 2 });
    for (let t = 1_000; t <= 7_000; t += 1_000) f.handleTimeout(t);
    drain(f);
    expect(f.remembered).toEqual({ nonces: 1, peerReports: 2, routeIds: 1 });
    for (let t = 8_000; t <= 11_000; t += 1_000) f.handleTimeout(t);
    drain(f);
    expect(f.remembered).toEqual({ nonces: 0, peerReports: 1, routeIds: 1 });
    f.handleTimeout(12_000);
    expect(f.remembered).toEqual({ nonces: 0, peerReports: 0, routeIds: 1 });
  });
});

describe('session-closed', () => {
  it('unbinds the session; unknown or peer connections are left alone', () => {
    const f = forwarder();
    open(f, 1, ALICE);
    f.handle({ type: 'peer-connected', handler: PEER, connection: 5 }, 0);
    f.handle({ type: 'session-closed', connection: 5 }, 0);
    f.handle({ type: 'session-closed', connection: 42 }, 0);
    expect(f.peerConnectionOf(PEER)).toBe(5);
    expect(f.sessionCount).toBe(1);
    f.handle({ type: 'session-closed', connection: 1 }, 0);
    expect(f.connectionOf(MEETING, ALICE)).toBeUndefined();
    expect(f.sessionCount).toBe(0);
    expect(drain(f)).toEqual([]);
  });
});

describe('peers', () => {
  it('binds a peer handler to a connection, rebinding on reconnect', () => {
    const f = forwarder();
    f.handle({ type: 'peer-connected', handler: PEER, connection: 5 }, 0);
    f.handle({ type: 'peer-connected', handler: PEER, connection: 5 }, 0);
    expect(f.peerConnectionOf(PEER)).toBe(5);
    f.handle({ type: 'peer-connected', handler: PEER, connection: 6 }, 0);
    expect(f.peerConnectionOf(PEER)).toBe(6);
    // The old key is free again.
    expect(open(f, 5, ALICE)[0]).toMatchObject({ type: 'session-accepted' });
    // A key in use by a session or another peer is not taken over; invalid keys are ignored.
    f.handle({ type: 'peer-connected', handler: PEER2, connection: 5 }, 0);
    f.handle({ type: 'peer-connected', handler: PEER2, connection: 6 }, 0);
    f.handle({ type: 'peer-connected', handler: PEER2, connection: -1 }, 0);
    f.handle({ type: 'peer-connected', handler: PEER2, connection: 2 ** 31 }, 0);
    expect(f.peerConnectionOf(PEER2)).toBeUndefined();
    expect(f.connectionOf(MEETING, ALICE)).toBe(5);
  });

  it('unbinds a peer on peer-disconnected; a client connection is left alone', () => {
    const f = forwarder();
    open(f, 1, ALICE);
    f.handle({ type: 'peer-connected', handler: PEER, connection: 5 }, 0);
    f.handle({ type: 'peer-disconnected', connection: 1 }, 0);
    f.handle({ type: 'peer-disconnected', connection: 77 }, 0);
    expect(f.connectionOf(MEETING, ALICE)).toBe(1);
    f.handle({ type: 'peer-disconnected', connection: 5 }, 0);
    expect(f.peerConnectionOf(PEER)).toBeUndefined();
  });
});

describe('load reports', () => {
  it('reports every interval with measured utilisation, band and quality', () => {
    const f = forwarder({ loadReportIntervalMs: 500 });
    expect(f.pollTimeout()).toBe(500);
    f.handle({ type: 'traffic', bytes: 25_000 }, 100); // 200 kbit in 0.5 s = 400 kbit/s = 50 %
    f.handleTimeout(499);
    expect(drain(f)).toEqual([]);
    f.handleTimeout(500);
    expect(drain(f)).toEqual([
      {
        type: 'load-report',
        report: { handlerId: ME, region: REGION, utilisation: 0.5, state: 'ok', reportedAt: 500 },
        quality: 'optimal',
        bitsPerSecond: 400_000,
        sessions: 0,
        streams: 0,
      },
    ]);
    expect(f.pollTimeout()).toBe(1000);
    expect(f.utilisation).toBe(0.5);
  });

  it('measures a late report over the time that really passed', () => {
    const f = forwarder();
    f.handle({ type: 'traffic', bytes: 100_000 }, 0);
    f.handleTimeout(2000);
    expect(drain(f)[0]).toMatchObject({ bitsPerSecond: 400_000 });
    expect(f.pollTimeout()).toBe(3000);
  });

  it('ignores negative and non-finite traffic', () => {
    const f = forwarder();
    f.handle({ type: 'traffic', bytes: -5 }, 0);
    f.handle({ type: 'traffic', bytes: Infinity }, 0);
    f.handle({ type: 'traffic', bytes: Number.NaN }, 0);
    expect(loadTo(f, 0, 0)[0]).toMatchObject({ bitsPerSecond: 0 });
  });

  it('starts the clock at the first event when no start is configured', () => {
    const f = new Forwarder({ handler: ME, region: REGION, capacityBps: CAPACITY_BPS });
    expect(f.pollTimeout()).toBeNull();
    f.handle({ type: 'traffic', bytes: 1 }, 250);
    expect(f.pollTimeout()).toBe(1250);
    const g = new Forwarder({ handler: ME, region: REGION, capacityBps: CAPACITY_BPS });
    g.handleTimeout(40);
    expect(g.pollTimeout()).toBe(1040);
    expect(drain(g)).toEqual([]);
  });

  it('emits band-changed with hysteresis and counts sessions and streams', () => {
    const f = forwarder();
    open(f, 1, ALICE);
    command(f, [publish(ALICE)]);
    expect(loadTo(f, 0.72, 0)).toEqual([
      { type: 'band-changed', from: 'ok', to: 'warning', utilisation: 0.72 },
      expect.objectContaining({ type: 'load-report', sessions: 1, streams: 1 }),
    ]);
    expect(loadTo(f, 0.66, 1000).map((o) => o.type)).toEqual(['load-report']);
    expect(loadTo(f, 0.64, 2000)[0]).toEqual({
      type: 'band-changed',
      from: 'warning',
      to: 'ok',
      utilisation: 0.64,
    });
    expect(loadTo(f, 0.8, 3000)[0]).toMatchObject({ from: 'ok', to: 'hard-limit' });
    expect(f.band).toBe('hard-limit');
  });

  it('follows quality samples through the stages and recovers after the dwell', () => {
    const f = forwarder();
    f.handle({ type: 'quality-sample', sample: { p99LatencyMs: 60, lossRatio: 0 } }, 100);
    expect(drain(f)).toEqual([{ type: 'quality-changed', from: 'optimal', to: 'warning' }]);
    f.handle({ type: 'quality-sample', sample: { p99LatencyMs: 60, lossRatio: 0 } }, 200);
    expect(drain(f)).toEqual([{ type: 'quality-changed', from: 'warning', to: 'degraded' }]);
    expect(f.qualityStage).toBe('degraded');
    f.handle({ type: 'quality-sample', sample: { p99LatencyMs: 5, lossRatio: 0 } }, 300);
    expect(drain(f)).toEqual([]);
    // Recovery deadline 300 + 5000 lies after several reports.
    expect(f.pollTimeout()).toBe(1000);
    for (let t = 1000; t <= 5000; t += 1000) {
      f.handleTimeout(t);
      expect(drain(f).map((o) => o.type)).toEqual(['load-report']);
    }
    expect(f.pollTimeout()).toBe(5300);
    f.handleTimeout(5300);
    expect(drain(f)).toEqual([{ type: 'quality-changed', from: 'degraded', to: 'warning' }]);
    f.handleTimeout(6000);
    expect(drain(f)[0]).toMatchObject({ type: 'load-report', quality: 'warning' });
  });
});

/** Alice publishes camera here; Bob and Carol subscribe here; it cascades to PEER. */
function topology(): Forwarder {
  const f = forwarder();
  open(f, 1, ALICE);
  open(f, 2, BOB);
  open(f, 3, CAROL);
  f.handle({ type: 'peer-connected', handler: PEER, connection: 10 }, 0);
  f.handle({ type: 'peer-connected', handler: PEER2, connection: 11 }, 0);
  command(f, [
    publish(ALICE),
    deliver(ALICE, BOB),
    deliver(ALICE, CAROL),
    cascade(ALICE, ME, PEER),
    cascade(BOB, PEER2, ME, 'screen'),
    deliver(BOB, CAROL, 'screen'),
    cascade(BOB, ME, PEER, 'screen'),
  ]);
  return f;
}

describe('forward', () => {
  it('sends a publisher datagram to local subscribers first, then to cascade peers', () => {
    const f = topology();
    const out = new Int32Array(8);
    const bytes = datagram(ALICE);
    expect(f.forward(1, bytes, out)).toBe(3);
    expect([...out.subarray(0, 2)].sort()).toEqual([2, 3]);
    expect(out[2]).toBe(10);
    expect(f.lastSubscriberCount).toBe(2);
    expect(bytes[2]).toBe(0);
    expect(f.counters).toMatchObject({
      datagramsIn: 1,
      bytesIn: 142,
      datagramsOut: 3,
      bytesOut: 426,
    });
  });

  it('counts forwarded bytes into the load report', () => {
    const f = topology();
    const out = new Int32Array(8);
    for (let i = 0; i < 1000; i++) f.forward(1, datagram(ALICE), out); // 1000 * 142 * 4 bytes
    f.handleTimeout(1000);
    expect(drain(f).find((o) => o.type === 'load-report')).toMatchObject({
      bitsPerSecond: 1000 * 142 * 4 * 8,
    });
  });

  it('accepts a cascaded datagram from its source peer and never cascades at hop 2', () => {
    const f = topology();
    expect(destinations(f, 11, datagram(BOB, 'screen', { hopCount: 1 }))).toEqual([3, 10]);
    expect(destinations(f, 11, datagram(BOB, 'screen', { hopCount: 2 }))).toEqual([3]);
    expect(f.counters.cascadeSuppressed).toBe(1);
    expect(f.lastSubscriberCount).toBe(1);
  });

  const header42 = () => datagram(ALICE);
  const drops: [string, () => Uint8Array, number, number][] = [
    ['short', () => header42().subarray(0, 41), 1, DROP_MALFORMED],
    ['header only', () => header42().subarray(0, 42), 1, DROP_MALFORMED],
    ['wrong version', () => patch(header42(), 0, 2), 1, DROP_MALFORMED],
    ['reserved flags', () => patch(header42(), 1, 0x01), 1, DROP_MALFORMED],
    ['payload length', () => patch(header42(), 41, 99), 1, DROP_MALFORMED],
    ['payload length high byte', () => patch(header42(), 40, 1), 1, DROP_MALFORMED],
    ['fragment index = count', () => patch(header42(), 29, 1), 1, DROP_MALFORMED],
    ['fragment index high byte', () => patch(header42(), 28, 1), 1, DROP_MALFORMED],
    ['hop 3', () => patch(header42(), 2, 3), 1, DROP_HOP_EXCEEDED],
    ['unknown connection', header42, 99, DROP_UNKNOWN_CONNECTION],
    ['unknown stream', () => datagram(ALICE, 'audio'), 1, DROP_UNKNOWN_STREAM],
    [
      'stream id low word',
      () => patch(header42(), 11, header42()[11]! ^ 1),
      1,
      DROP_UNKNOWN_STREAM,
    ],
    ['not the publisher connection', header42, 2, DROP_NOT_PUBLISHER],
    [
      'publisher id high word',
      () => patch(header42(), 12, header42()[12]! ^ 1),
      1,
      DROP_NOT_PUBLISHER,
    ],
    [
      'publisher id low word',
      () => patch(header42(), 19, header42()[19]! ^ 1),
      1,
      DROP_NOT_PUBLISHER,
    ],
    ['client sends hop 1', () => patch(header42(), 2, 1), 1, DROP_BAD_HOP],
    ['peer sends hop 0', () => datagram(BOB, 'screen'), 11, DROP_BAD_HOP],
    [
      'peer without a cascade leg',
      () => datagram(BOB, 'screen', { hopCount: 1 }),
      10,
      DROP_NOT_PUBLISHER,
    ],
    ['peer for a client-published stream', () => patch(header42(), 2, 1), 10, DROP_NOT_PUBLISHER],
  ];
  it.each(drops)('drops %s and counts it', (_name, make, from, code) => {
    const f = topology();
    const out = new Int32Array(8);
    expect(f.forward(from, make(), out)).toBe(code);
    expect(f.dropCount(code)).toBe(1);
    expect(f.counters.datagramsOut).toBe(0);
  });

  it('reads the 16-bit fragment fields whole', () => {
    const f = topology();
    const bytes = datagram(ALICE, 'camera', { fragmentIndex: 300, fragmentCount: 301 });
    expect(destinations(f, 1, bytes)).toEqual([2, 3, 10]);
    const big = datagram(ALICE, 'camera', {}, 300);
    expect(destinations(f, 1, big)).toEqual([2, 3, 10]);
  });

  it('drops when out is too small, writing nothing', () => {
    const f = topology();
    const out = new Int32Array(2).fill(-9);
    expect(f.forward(1, datagram(ALICE), out)).toBe(DROP_OUT_TOO_SMALL);
    expect([...out]).toEqual([-9, -9]);
    expect(f.dropCount(DROP_OUT_TOO_SMALL)).toBe(1);
    expect(f.forward(1, datagram(ALICE), new Int32Array(3))).toBe(3);
  });

  it('reports zero destinations for a publish leg nobody subscribes to', () => {
    const f = forwarder();
    open(f, 1, ALICE);
    command(f, [publish(ALICE, 'audio')]);
    expect(destinations(f, 1, datagram(ALICE, 'audio'))).toEqual([]);
  });

  it('does not accept a stream from its publisher without a publish leg here', () => {
    const f = forwarder();
    open(f, 1, ALICE);
    open(f, 2, BOB);
    command(f, [deliver(ALICE, BOB)]);
    expect(destinations(f, 1, datagram(ALICE))).toBe(DROP_NOT_PUBLISHER);
  });

  it('follows binding changes: sessions, reconnects and peers', () => {
    const f = topology();
    f.handle({ type: 'session-closed', connection: 2 }, 0);
    expect(destinations(f, 1, datagram(ALICE))).toEqual([3, 10]);
    open(f, 20, CAROL); // reconnect
    expect(destinations(f, 1, datagram(ALICE))).toEqual([10, 20]);
    f.handle({ type: 'peer-disconnected', connection: 10 }, 0);
    expect(destinations(f, 1, datagram(ALICE))).toEqual([20]);
    f.handle({ type: 'peer-connected', handler: PEER, connection: 30 }, 0);
    expect(destinations(f, 1, datagram(ALICE))).toEqual([20, 30]);
    f.handle({ type: 'session-closed', connection: 1 }, 0);
    expect(destinations(f, 1, datagram(ALICE))).toBe(DROP_UNKNOWN_CONNECTION);
    open(f, 1, ALICE);
    expect(destinations(f, 1, datagram(ALICE))).toEqual([20, 30]);
  });

  it('follows route changes', () => {
    const f = topology();
    command(f, [], [deliver(ALICE, BOB), cascade(ALICE, ME, PEER)]);
    expect(destinations(f, 1, datagram(ALICE))).toEqual([3]);
    command(f, [cascade(ALICE, ME, PEER2)]);
    expect(destinations(f, 1, datagram(ALICE))).toEqual([3, 11]);
    command(f, [], [publish(ALICE), deliver(ALICE, CAROL), cascade(ALICE, ME, PEER2)]);
    expect(destinations(f, 1, datagram(ALICE))).toBe(DROP_UNKNOWN_STREAM);
  });

  it('tells streams of the same publisher in different meetings apart', () => {
    const f = forwarder();
    const m2 = meetingId('m-2');
    open(f, 1, ALICE);
    open(f, 2, BOB);
    f.handle({ type: 'session-open', connection: 3, claims: claims(ALICE, { meeting: m2 }) }, 0);
    f.handle({ type: 'session-open', connection: 4, claims: claims(BOB, { meeting: m2 }) }, 0);
    command(f, [publish(ALICE), deliver(ALICE, BOB)]);
    command(f, [publish(ALICE)], [], 0, 'z', m2);
    expect(destinations(f, 1, datagram(ALICE))).toEqual([2]);
    expect(destinations(f, 3, datagram(ALICE, 'camera', {}, 100, m2))).toEqual([]);
    expect(destinations(f, 1, datagram(ALICE, 'camera', {}, 100, m2))).toBe(DROP_NOT_PUBLISHER);
  });

  it('finds every stream of a large table', () => {
    const f = forwarder();
    const n = 300;
    for (let i = 0; i < n; i++) open(f, i, participantId(`p${i}`));
    command(
      f,
      Array.from({ length: n }, (_, i) => publish(participantId(`p${i}`))),
    );
    for (let i = 0; i < n; i++) {
      expect(destinations(f, i, datagram(participantId(`p${i}`)))).toEqual([]);
    }
    expect(f.streamIdCollisions).toBe(0);
  });
});

describe('drop codes', () => {
  it('are named by DROP_REASONS', () => {
    expect(DROP_REASONS[-DROP_MALFORMED]).toBe('malformed');
    expect(DROP_REASONS[-DROP_HOP_EXCEEDED]).toBe('hop-exceeded');
    expect(DROP_REASONS[-DROP_BAD_HOP]).toBe('bad-hop');
    expect(DROP_REASONS[-DROP_UNKNOWN_CONNECTION]).toBe('unknown-connection');
    expect(DROP_REASONS[-DROP_UNKNOWN_STREAM]).toBe('unknown-stream');
    expect(DROP_REASONS[-DROP_NOT_PUBLISHER]).toBe('not-publisher');
    expect(DROP_REASONS[-DROP_OUT_TOO_SMALL]).toBe('out-too-small');
    expect(DROP_REASONS).toHaveLength(8);
    expect(forwarder().counters.drops).toHaveLength(8);
  });
});

describe('dispatch', () => {
  it('sends subscribers the datagram as received and peers with the hop count raised', () => {
    const f = topology();
    const sent: [number, number][] = [];
    const bytes = datagram(ALICE);
    const n = f.dispatch(1, bytes, new Int32Array(8), (c, d) => sent.push([c, d[2]!]));
    expect(n).toBe(3);
    expect(sent.sort((a, b) => a[0] - b[0])).toEqual([
      [2, 0],
      [3, 0],
      [10, 1],
    ]);
    const decoded = decodeDatagram(bytes);
    expect(decoded.ok && decoded.value.header.hopCount).toBe(1);
  });

  it('leaves the datagram alone when nothing is cascaded or it is dropped', () => {
    const f = topology();
    const sent: number[] = [];
    const bytes = datagram(BOB, 'screen', { hopCount: 2 });
    expect(f.dispatch(11, bytes, new Int32Array(8), (c) => sent.push(c))).toBe(1);
    expect(sent).toEqual([3]);
    expect(bytes[2]).toBe(2);
    const dropped = datagram(ALICE);
    expect(f.dispatch(2, dropped, new Int32Array(8), (c) => sent.push(c))).toBe(DROP_NOT_PUBLISHER);
    expect(sent).toEqual([3]);
  });
});

function patch(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  bytes[offset] = value;
  return bytes;
}
