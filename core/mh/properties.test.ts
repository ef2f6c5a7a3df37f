import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rawBandwidthState } from '../backpressure/bandwidth.ts';
import { handlerId, meetingId, participantId, type HandlerId, type MediaKind } from '../ids.ts';
import { MAX_HOP_COUNT } from '../protocol/datagram.ts';
import type { Route } from '../routing/types.ts';
import type { MhOutput, RouteCommand } from './types.ts';
import {
  CAPACITY_BPS,
  CONTROLLER,
  ME,
  MEETING,
  claims,
  datagram,
  drain,
  forwarder,
  peerReport,
} from './testing.ts';

/** Under Stryker every mutant reruns these; a tenth of the runs keeps mutation testing short. */
const mutating = process.env['STRYKER_MUTATOR_WORKER'] !== undefined;
const runs = (n: number) => ({ numRuns: mutating ? Math.ceil(n / 10) : n });

const PEOPLE = ['p0', 'p1', 'p2', 'p3'].map(participantId);
const HANDLERS = [ME, handlerId('h1'), handlerId('h2')];
const KINDS: MediaKind[] = ['camera', 'audio'];
const MEETINGS = [MEETING, meetingId('m-2')];

const person = fc.constantFrom(...PEOPLE);
const handler = fc.constantFrom(...HANDLERS);
const kind = fc.constantFrom(...KINDS);

/** Legs over a small universe, so commands often touch the same legs. */
const leg: fc.Arbitrary<Route> = fc.oneof(
  fc.record({ type: fc.constant('publish' as const), publisher: person, kind, handler }),
  fc.record({
    type: fc.constant('cascade' as const),
    publisher: person,
    kind,
    from: handler,
    to: handler,
  }),
  fc.record({
    type: fc.constant('deliver' as const),
    publisher: person,
    kind,
    handler,
    subscriber: person,
  }),
);

const commandBody = fc.record({
  meeting: fc.constantFrom(...MEETINGS),
  add: fc.array(leg, { maxLength: 6 }),
  remove: fc.array(leg, { maxLength: 6 }),
});

describe('route commands (property)', () => {
  it('retransmits and duplicates give the table of each distinct command applied once in order', () => {
    fc.assert(
      fc.property(
        fc.array(commandBody, { minLength: 1, maxLength: 25 }),
        // For each command, retransmits of earlier commands delivered right after it.
        fc.array(fc.array(fc.nat(), { maxLength: 3 }), { maxLength: 25 }),
        (bodies, retransmits) => {
          const commands: RouteCommand[] = bodies.map((b, i) => ({
            ...b,
            id: `c${i}`,
            controller: CONTROLLER,
          }));
          const delivered: RouteCommand[] = [];
          commands.forEach((c, i) => {
            delivered.push(c);
            for (const r of retransmits[i] ?? [])
              delivered.push(commands[r % (i + 1)] as RouteCommand);
          });
          const once = forwarder();
          commands.forEach((c, t) => once.handle({ type: 'route-command', ...c }, t));
          const noisy = forwarder();
          const seen = new Set<string>();
          delivered.forEach((c, t) => {
            noisy.handle({ type: 'route-command', ...c }, t);
            const acks = drain(noisy);
            expect(acks).toEqual([
              expect.objectContaining({
                type: 'route-ack',
                id: c.id,
                meeting: c.meeting,
                duplicate: seen.has(c.id),
              }),
            ]);
            seen.add(c.id);
          });
          expect(noisy.routes()).toEqual(once.routes());
        },
      ),
      runs(300),
    );
  });
});

/** Legs of the stream the forward property sends a datagram of (p0's camera). */
const streamLeg: fc.Arbitrary<Route> = leg.map((r) => ({
  ...r,
  publisher: PEOPLE[0]!,
  kind: 'camera' as const,
}));

describe('forward (property)', () => {
  it('sends to the bound deliver and cascade legs of the stream, never cascading at hop 2', () => {
    fc.assert(
      fc.property(
        fc.array(leg, { maxLength: 20 }),
        fc.array(streamLeg, { maxLength: 12 }),
        fc.subarray(PEOPLE),
        fc.subarray(HANDLERS.slice(1)),
        fc.integer({ min: 0, max: MAX_HOP_COUNT }),
        fc.nat(),
        (otherLegs, ownLegs, connected, peers, hop, pick) => {
          const legs = [...otherLegs, ...ownLegs];
          const publisher = PEOPLE[0]!;
          const k: MediaKind = 'camera';
          const f = forwarder();
          const connection = new Map<string, number>();
          connected.forEach((p, i) => {
            f.handle({ type: 'session-open', connection: i, claims: claims(p) }, 0);
            connection.set(p, i);
          });
          peers.forEach((h, i) => {
            f.handle({ type: 'peer-connected', handler: h, connection: 100 + i }, 0);
            connection.set(h, 100 + i);
          });
          f.handle(
            {
              type: 'route-command',
              id: 'x',
              meeting: MEETING,
              controller: CONTROLLER,
              add: legs,
              remove: [],
            },
            0,
          );
          drain(f);
          const table = f
            .routes()
            .map((r) => r.route)
            .filter((r) => r.publisher === publisher && r.kind === k);
          // A legitimate sender: the publisher (hop 0) or a peer cascading to this handler.
          const senders: number[] = [];
          if (hop === 0 && table.some((r) => r.type === 'publish')) {
            const c = connection.get(publisher);
            if (c !== undefined) senders.push(c);
          }
          if (hop > 0) {
            for (const r of table) {
              if (r.type === 'cascade' && r.to === ME) {
                const c = connection.get(r.from);
                if (c !== undefined) senders.push(c);
              }
            }
          }
          const from = senders.length > 0 ? (senders[pick % senders.length] as number) : 0;
          const out = new Int32Array(16);
          const n = f.forward(from, datagram(publisher, k, { hopCount: hop as 0 | 1 | 2 }), out);
          if (senders.length === 0) {
            expect(n).toBeLessThan(0);
            return;
          }
          const subscribers = table
            .flatMap((r) => (r.type === 'deliver' ? [connection.get(r.subscriber)] : []))
            .filter((c): c is number => c !== undefined);
          const cascades = table
            .flatMap((r) => (r.type === 'cascade' && r.from === ME ? [connection.get(r.to)] : []))
            .filter((c): c is number => c !== undefined);
          const expected = hop >= MAX_HOP_COUNT ? subscribers : [...subscribers, ...cascades];
          expect(n).toBe(expected.length);
          expect([...out.subarray(0, n)].sort((a, b) => a - b)).toEqual(
            expected.sort((a, b) => a - b),
          );
          expect(f.lastSubscriberCount).toBe(subscribers.length);
          if (hop >= MAX_HOP_COUNT) {
            const peerKeys = new Set(peers.map((h: HandlerId) => connection.get(h)));
            expect([...out.subarray(0, n)].some((c) => peerKeys.has(c))).toBe(false);
          }
        },
      ),
      runs(500),
    );
  });
});

/** Utilisation in basis points, so traffic bytes and the measured figure are exact. */
const basisPoints = (min: number, max: number) => fc.integer({ min, max });
const bytesFor = (bp: number) => (bp * CAPACITY_BPS) / 8 / 10_000;

type Step =
  | { kind: 'interval'; bp: number }
  | { kind: 'join'; who: number }
  | { kind: 'peer'; bp: number; age: number };

describe('admission (property)', () => {
  it('never accepts a new participant at or over the hard limit', () => {
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({ kind: fc.constant('interval' as const), bp: basisPoints(0, 12_000) }),
      fc.record({ kind: fc.constant('join' as const), who: fc.nat({ max: 30 }) }),
      fc.record({
        kind: fc.constant('peer' as const),
        bp: basisPoints(0, 12_000),
        age: fc.nat({ max: 20_000 }),
      }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const f = forwarder();
        let now = 0;
        let connection = 0;
        let lastReport: (MhOutput & { type: 'load-report' }) | null = null;
        let refusedByClaims = 0;
        for (const s of steps) {
          if (s.kind === 'interval') {
            f.handle({ type: 'traffic', bytes: bytesFor(s.bp) }, now);
            now += 1000;
            f.handleTimeout(now);
          } else if (s.kind === 'peer') {
            f.handle(
              { type: 'peer-load-report', report: peerReport('h1', s.bp / 10_000, now - s.age) },
              now,
            );
          } else {
            f.handle(
              {
                type: 'session-open',
                connection: connection++,
                claims: claims(participantId(`u${s.who}`), {
                  expiresAtMs: now + 60_000,
                  issuedAtMs: now,
                }),
              },
              now,
            );
          }
          for (const o of drain(f)) {
            if (o.type === 'load-report') lastReport = o;
            if (o.type === 'session-rejected' && o.reason !== 'capacity') refusedByClaims++;
            if (o.type === 'session-accepted' && !o.reconnect) {
              const utilisation = lastReport?.report.utilisation ?? 0;
              expect(utilisation).toBeLessThan(0.8);
              expect(lastReport?.report.state ?? 'ok').not.toBe('hard-limit');
              expect(f.band).not.toBe('hard-limit');
            }
          }
        }
        // Every join passes the claims check: admission alone decides.
        expect(refusedByClaims).toBe(0);
      }),
      runs(300),
    );
  });
});

describe('load-report bands (property)', () => {
  it('do not flap while utilisation oscillates inside a hysteresis gap', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(7_000, 8_000),
        fc.array(fc.nat({ max: 499 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.nat({ max: 499 }), { minLength: 1, maxLength: 40 }),
        (threshold, below, above) => {
          const f = forwarder();
          let now = 0;
          const interval = (bp: number): MhOutput[] => {
            f.handle({ type: 'traffic', bytes: bytesFor(bp) }, now);
            now += 1000;
            f.handleTimeout(now);
            return drain(f);
          };
          const entered = interval(threshold).filter((o) => o.type === 'band-changed');
          expect(entered).toHaveLength(1);
          const band = f.band;
          // Alternate between [threshold - 5 %, threshold) and [threshold, threshold + 5 %).
          for (let i = 0; i < Math.max(below.length, above.length); i++) {
            const low = threshold - 500 + (below[i % below.length] as number);
            const high = Math.min(threshold + (above[i % above.length] as number), 8_499);
            for (const bp of [low, high]) {
              const outputs = interval(bp);
              expect(outputs.filter((o) => o.type === 'band-changed')).toEqual([]);
              expect(f.band).toBe(band);
            }
          }
        },
      ),
      runs(200),
    );
  });

  it('report the raw band whenever utilisation is outside the hysteresis gaps', () => {
    const outsideGaps = fc.oneof(
      basisPoints(0, 6_499),
      basisPoints(7_000, 7_499),
      basisPoints(8_000, 12_000),
    );
    fc.assert(
      fc.property(
        fc.array(fc.oneof(outsideGaps, basisPoints(0, 12_000)), { maxLength: 50 }),
        (series) => {
          const f = forwarder();
          let now = 0;
          let changes = 0;
          for (const bp of series) {
            f.handle({ type: 'traffic', bytes: bytesFor(bp) }, now);
            now += 1000;
            f.handleTimeout(now);
            const outputs = drain(f);
            const report = outputs.find((o) => o.type === 'load-report');
            expect(report?.type === 'load-report' && report.report.state).toBe(f.band);
            changes += outputs.filter((o) => o.type === 'band-changed').length;
            const u = bp / 10_000;
            const inGap = (u >= 0.65 && u < 0.7) || (u >= 0.75 && u < 0.8);
            if (!inGap) expect(f.band).toBe(rawBandwidthState(u));
          }
          expect(changes).toBeLessThanOrEqual(series.length);
        },
      ),
      runs(300),
    );
  });
});
