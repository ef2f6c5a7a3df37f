import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { controllerId, meetingId, type MeetingId } from '../ids.ts';
import { deterministicRandom } from '../random.ts';
import {
  DEFAULT_OWNERSHIP_POLICY,
  MeetingOwnership,
  type Holder,
  type OwnershipOutput,
} from './ownership.ts';

const m1 = meetingId('m1');
const m2 = meetingId('m2');
const me: Holder = { controller: controllerId('mc-a'), token: 't-a' };
const other: Holder = { controller: controllerId('mc-b'), token: 't-b' };
const myLastStart: Holder = { controller: me.controller, token: 't-a-before' };
const policy = DEFAULT_OWNERSHIP_POLICY;

function drainOwnership(machine: MeetingOwnership): OwnershipOutput[] {
  const out: OwnershipOutput[] = [];
  for (let o = machine.pollOutput(); o !== null; o = machine.pollOutput()) out.push(o);
  return out;
}

const fresh = (seed = 1, withPolicy = policy) =>
  new MeetingOwnership(me, deterministicRandom(seed), withPolicy);

/** A machine whose controller lease is established at `now`. */
function leased(seed = 1, now = 0, withPolicy = policy): MeetingOwnership {
  const machine = fresh(seed, withPolicy);
  machine.start(now);
  expect(drainOwnership(machine)).toEqual([{ type: 'renew-lease' }]);
  machine.handleLease({ previous: null }, now);
  expect(machine.leaseEstablished).toBe(true);
  return machine;
}

/** A machine running `meeting` since `now`. */
function running(meeting: MeetingId = m1, now = 0): MeetingOwnership {
  const machine = leased(1, now);
  machine.handle({ type: 'wanted', meeting }, now);
  expect(drainOwnership(machine)).toEqual([{ type: 'acquire', meeting }]);
  machine.handle({ type: 'acquired', meeting }, now);
  expect(drainOwnership(machine)).toEqual([{ type: 'run', meeting }]);
  return machine;
}

describe('meeting ownership', () => {
  it('renews one controller lease every second, however many meetings it runs', () => {
    const machine = running(m1);
    machine.handle({ type: 'wanted', meeting: m2 }, 0);
    machine.handle({ type: 'acquired', meeting: m2 }, 0);
    drainOwnership(machine);
    expect(machine.pollTimeout()).toBe(policy.renewEveryMs);
    for (let now = 1_000; now <= 5_000; now += 1_000) {
      machine.handleTimeout(now - 1);
      expect(drainOwnership(machine)).toEqual([]);
      machine.handleTimeout(now);
      expect(drainOwnership(machine)).toEqual([{ type: 'renew-lease' }]);
      machine.handleLease({ previous: me.token }, now);
      expect(drainOwnership(machine)).toEqual([]);
      expect(machine.pollTimeout()).toBe(now + policy.renewEveryMs);
    }
  });

  it('refreshes each meeting record once a keep period, the first ones spread out', () => {
    const machine = leased();
    const meetings = Array.from({ length: 100 }, (_, i) => meetingId(`k${i}`));
    for (const meeting of meetings) {
      machine.handle({ type: 'wanted', meeting }, 0);
      machine.handle({ type: 'acquired', meeting }, 0);
    }
    drainOwnership(machine);
    const keptAt = new Map<MeetingId, number[]>();
    for (let now = 1_000; now <= 4 * policy.keepEveryMs; now += 1_000) {
      machine.handleTimeout(now);
      for (const out of drainOwnership(machine)) {
        if (out.type !== 'keep') continue;
        keptAt.set(out.meeting, [...(keptAt.get(out.meeting) ?? []), now]);
      }
    }
    const firsts = meetings.map((m) => keptAt.get(m)?.[0] ?? NaN);
    for (const meeting of meetings) {
      const times = keptAt.get(meeting) ?? [];
      // The first within half a period to a period (and a tick), then every period.
      expect(times[0]).toBeGreaterThanOrEqual(policy.keepEveryMs / 2);
      expect(times[0]).toBeLessThanOrEqual(policy.keepEveryMs + policy.renewEveryMs);
      for (let i = 1; i < times.length; i++)
        expect((times[i] as number) - (times[i - 1] as number)).toBe(policy.keepEveryMs);
    }
    // Spread: no second of the first period refreshes more than a tenth of them.
    const perSecond = new Map<number, number>();
    for (const at of firsts) perSecond.set(at, (perSecond.get(at) ?? 0) + 1);
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(10);
  });

  it('takes no meeting before its controller lease is established', () => {
    const machine = fresh();
    machine.start(0);
    drainOwnership(machine);
    machine.handle({ type: 'wanted', meeting: m1 }, 1);
    expect(drainOwnership(machine)).toEqual([]);
    // A stray answer changes nothing: no attempt is out.
    machine.handle({ type: 'acquired', meeting: m1 }, 2);
    expect(drainOwnership(machine)).toEqual([]);
    expect(machine.owns(m1)).toBe(false);
    machine.handleLease({ previous: null }, 3);
    expect(drainOwnership(machine)).toEqual([{ type: 'acquire', meeting: m1 }]);
  });

  it('gives up on a meeting when its lease cannot be established in time', () => {
    const machine = fresh();
    machine.start(0);
    machine.handle({ type: 'wanted', meeting: m1 }, 0);
    let outputs: OwnershipOutput[] = [];
    for (let round = 0; round < 100; round++) {
      const at = machine.pollTimeout();
      if (at === null) break;
      machine.handleTimeout(at);
      outputs = drainOwnership(machine).filter((o) => o.type !== 'renew-lease');
      if (outputs.length > 0) break;
    }
    expect(outputs).toEqual([{ type: 'give-up', meeting: m1, retryAfterMs: 3_200 }]);
    expect(machine.isAcquiring(m1)).toBe(false);
  });

  it('takes a meeting from a holder whose lease lapsed, from that holder only, then claims it', () => {
    const machine = leased();
    machine.handle({ type: 'wanted', meeting: m1 }, 0);
    expect(drainOwnership(machine)).toEqual([{ type: 'acquire', meeting: m1 }]);
    machine.handle({ type: 'held', meeting: m1, holder: other }, 1);
    expect(drainOwnership(machine)).toEqual([{ type: 'check-holder', meeting: m1, holder: other }]);
    machine.handle({ type: 'holder-checked', meeting: m1, holder: other, alive: false }, 2);
    expect(drainOwnership(machine)).toEqual([{ type: 'acquire', meeting: m1, lapsed: other }]);
    machine.handle({ type: 'acquired', meeting: m1 }, 3);
    // A holder alive after all hears the claim and lets go.
    expect(drainOwnership(machine)).toEqual([
      { type: 'run', meeting: m1 },
      { type: 'claim', meeting: m1 },
    ]);
  });

  it('takes a meeting its own previous start held (its lease now carries another token)', () => {
    const machine = leased();
    machine.handle({ type: 'wanted', meeting: m1 }, 0);
    drainOwnership(machine);
    machine.handle({ type: 'held', meeting: m1, holder: myLastStart }, 1);
    expect(drainOwnership(machine)).toEqual([
      { type: 'check-holder', meeting: m1, holder: myLastStart },
    ]);
    machine.handle({ type: 'holder-checked', meeting: m1, holder: myLastStart, alive: false }, 2);
    expect(drainOwnership(machine)).toEqual([
      { type: 'acquire', meeting: m1, lapsed: myLastStart },
    ]);
  });

  it('a record found naming this very holder is its own', () => {
    const machine = leased();
    machine.handle({ type: 'wanted', meeting: m1 }, 0);
    drainOwnership(machine);
    machine.handle({ type: 'held', meeting: m1, holder: me }, 1);
    expect(drainOwnership(machine)).toEqual([{ type: 'run', meeting: m1 }]);
  });

  it('asks once, claims once, and retries a live holder with growing backoff', () => {
    // Renewals a minute apart, so that the next deadline is the retry's.
    const machine = leased(1, 0, { ...policy, leaseMs: 180_000, renewEveryMs: 60_000 });
    machine.handle({ type: 'wanted', meeting: m1 }, 0);
    machine.handle({ type: 'wanted', meeting: m1 }, 1);
    expect(drainOwnership(machine)).toEqual([{ type: 'acquire', meeting: m1 }]);
    let now = 0;
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      machine.handle({ type: 'held', meeting: m1, holder: other }, now);
      expect(drainOwnership(machine)).toEqual([
        { type: 'check-holder', meeting: m1, holder: other },
      ]);
      machine.handle({ type: 'holder-checked', meeting: m1, holder: other, alive: true }, now);
      expect(drainOwnership(machine)).toEqual(i === 0 ? [{ type: 'claim', meeting: m1 }] : []);
      const at = machine.pollTimeout();
      if (at === null) throw new Error('no retry');
      delays.push(at - now);
      machine.handleTimeout(at - 1);
      expect(drainOwnership(machine)).toEqual([]);
      machine.handleTimeout(at);
      expect(drainOwnership(machine)).toEqual([{ type: 'acquire', meeting: m1 }]);
      now = at;
    }
    // 50 ms doubling, equal jitter: each within [c/2, c].
    delays.forEach((delay, i) => {
      const ceiling = 50 * 2 ** i;
      expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
      expect(delay).toBeLessThanOrEqual(ceiling);
    });
  });

  it('tries again at once when the holder announces the release', () => {
    const machine = leased();
    machine.handle({ type: 'wanted', meeting: m1 }, 0);
    machine.handle({ type: 'held', meeting: m1, holder: other }, 1);
    machine.handle({ type: 'holder-checked', meeting: m1, holder: other, alive: true }, 1);
    drainOwnership(machine);
    machine.handle({ type: 'released', meeting: m1, by: other.controller }, 2);
    expect(drainOwnership(machine)).toEqual([{ type: 'acquire', meeting: m1 }]);
    // A second announcement while that attempt is out asks nothing more.
    machine.handle({ type: 'released', meeting: m1, by: other.controller }, 3);
    expect(drainOwnership(machine)).toEqual([]);
  });

  it('gives up at the backoff deadline with a retry hint', () => {
    const machine = leased();
    machine.handle({ type: 'wanted', meeting: m1 }, 0);
    drainOwnership(machine);
    let outputs: OwnershipOutput[] = [];
    for (let now = 0, round = 0; round < 100; round++) {
      machine.handle({ type: 'acquire-failed', meeting: m1 }, now);
      outputs = drainOwnership(machine);
      const at = machine.pollTimeout();
      if (at === null || !machine.isAcquiring(m1)) break;
      now = Math.min(at, now + policy.renewEveryMs);
      machine.handleTimeout(now);
      drainOwnership(machine);
    }
    expect(outputs).toEqual([{ type: 'give-up', meeting: m1, retryAfterMs: 3_200 }]);
    expect(machine.isAcquiring(m1)).toBe(false);
  });

  it('lets a meeting go when another controller claims it, not on its own claim', () => {
    const machine = running(m1);
    machine.handle({ type: 'claimed', meeting: m1, by: me.controller }, 1);
    expect(drainOwnership(machine)).toEqual([]);
    machine.handle({ type: 'claimed', meeting: m1, by: other.controller }, 2);
    expect(drainOwnership(machine)).toEqual([{ type: 'stop', meeting: m1, reason: 'claimed' }]);
    expect(machine.owns(m1)).toBe(false);
  });

  it('stops a meeting whose refresh or write found another holder', () => {
    const machine = running(m1);
    machine.handle({ type: 'kept', meeting: m1, held: true }, 1_000);
    expect(drainOwnership(machine)).toEqual([]);
    machine.handle({ type: 'kept', meeting: m1, held: false }, 2_000);
    expect(drainOwnership(machine)).toEqual([{ type: 'stop', meeting: m1, reason: 'lost' }]);
  });

  it('after its lease lapsed, refreshes every meeting at once (and stops those taken)', () => {
    const machine = running(m1);
    machine.handle({ type: 'wanted', meeting: m2 }, 0);
    machine.handle({ type: 'acquired', meeting: m2 }, 0);
    drainOwnership(machine);
    machine.handleTimeout(1_000);
    drainOwnership(machine);
    machine.handleLease({ previous: null }, 1_000);
    expect(drainOwnership(machine)).toEqual([
      { type: 'keep', meeting: m1 },
      { type: 'keep', meeting: m2 },
    ]);
    machine.handle({ type: 'kept', meeting: m2, held: false }, 1_001);
    expect(drainOwnership(machine)).toEqual([{ type: 'stop', meeting: m2, reason: 'lost' }]);
    expect(machine.owns(m1)).toBe(true);
  });

  it('a store that does not answer the renewal changes nothing', () => {
    const machine = running(m1);
    // No answer to the renewals at 1 s to 5 s: still running, still renewing on time.
    for (let now = 1_000; now <= 5_000; now += 1_000) {
      machine.handleTimeout(now);
      expect(drainOwnership(machine)).toEqual([{ type: 'renew-lease' }]);
    }
    expect(machine.owns(m1)).toBe(true);
  });

  it('stops every meeting when another process took its lease', () => {
    const machine = running(m1);
    machine.handleLease({ previous: 'someone-else' }, 1_000);
    expect(drainOwnership(machine)).toEqual([{ type: 'stop', meeting: m1, reason: 'lost' }]);
    expect(machine.ownedCount).toBe(0);
  });

  it('property: no meeting run before the lease, never both owned and sought, never run twice without a stop, a lapsed holder taken only after it was checked', () => {
    const step = fc.oneof(
      ...(
        [
          'wanted',
          'acquired',
          'held-other',
          'held-me',
          'alive',
          'lapsed',
          'acquire-failed',
          'released',
          'claimed',
          'lost',
          'lease-mine',
          'lease-lapsed',
          'lease-other',
          'tick',
          'dropped',
        ] as const
      ).map((s) => fc.constant(s)),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(step, fc.constantFrom(m1, m2)), { maxLength: 60 }),
        fc.integer({ min: 1, max: 1000 }),
        (steps, seed) => {
          const machine = fresh(seed);
          machine.start(0);
          let now = 0;
          let leaseAnswered = false;
          const runningHere = new Set<MeetingId>();
          /** Per meeting, the holder last reported lapsed (and not yet acted on). */
          const foundLapsed = new Map<MeetingId, Holder>();
          /** Per meeting, when its record was last refreshed (or taken). */
          const keptAt = new Map<MeetingId, number>();
          let lastRenewAt = 0;
          for (const [kind, meeting] of steps) {
            now += 250;
            switch (kind) {
              case 'tick':
                machine.handleTimeout(now);
                break;
              case 'held-other':
                machine.handle({ type: 'held', meeting, holder: other }, now);
                break;
              case 'held-me':
                machine.handle({ type: 'held', meeting, holder: me }, now);
                break;
              case 'alive':
              case 'lapsed':
                if (kind === 'lapsed') foundLapsed.set(meeting, other);
                machine.handle(
                  { type: 'holder-checked', meeting, holder: other, alive: kind === 'alive' },
                  now,
                );
                break;
              case 'released':
                machine.handle({ type: 'released', meeting, by: other.controller }, now);
                break;
              case 'claimed':
                machine.handle({ type: 'claimed', meeting, by: other.controller }, now);
                break;
              case 'lost':
                machine.handle({ type: 'kept', meeting, held: false }, now);
                break;
              case 'lease-mine':
              case 'lease-lapsed':
              case 'lease-other':
                leaseAnswered = true;
                machine.handleLease(
                  {
                    previous:
                      kind === 'lease-mine' ? me.token : kind === 'lease-lapsed' ? null : 'x',
                  },
                  now,
                );
                break;
              default:
                machine.handle({ type: kind, meeting }, now);
            }
            for (const out of drainOwnership(machine)) {
              if (out.type === 'renew-lease') {
                lastRenewAt = now;
                continue;
              }
              if (out.type === 'run') {
                expect(leaseAnswered).toBe(true);
                expect(runningHere.has(out.meeting)).toBe(false);
                runningHere.add(out.meeting);
                keptAt.set(out.meeting, now);
              }
              if (out.type === 'keep') keptAt.set(out.meeting, now);
              if (out.type === 'stop') {
                expect(runningHere.has(out.meeting)).toBe(true);
                runningHere.delete(out.meeting);
              }
              if (out.type === 'acquire') {
                expect(leaseAnswered).toBe(true);
                if (out.lapsed !== undefined) {
                  expect(foundLapsed.get(out.meeting)).toEqual(out.lapsed);
                  foundLapsed.delete(out.meeting);
                }
              }
            }
            if (kind === 'dropped') runningHere.delete(meeting);
            for (const m of [m1, m2]) {
              expect(machine.owns(m) && machine.isAcquiring(m)).toBe(false);
              expect(machine.owns(m)).toBe(runningHere.has(m));
            }
            // The lease is renewed on time whenever the timer is driven.
            const next = machine.pollTimeout();
            expect(next).not.toBeNull();
            expect((next as number) - lastRenewAt).toBeLessThanOrEqual(policy.renewEveryMs);
            // Every meeting run here is refreshed within a keep period of the last tick.
            if (kind === 'tick')
              for (const m of runningHere)
                expect(now - (keptAt.get(m) as number)).toBeLessThan(policy.keepEveryMs);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
