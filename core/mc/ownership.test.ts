import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { controllerId, meetingId } from '../ids.ts';
import { deterministicRandom } from '../random.ts';
import { DEFAULT_OWNERSHIP_POLICY, MeetingOwnership, type OwnershipOutput } from './ownership.ts';

const m1 = meetingId('m1');
const me = controllerId('mc-a');
const other = controllerId('mc-b');

function drainOwnership(machine: MeetingOwnership): OwnershipOutput[] {
  const out: OwnershipOutput[] = [];
  for (let o = machine.pollOutput(); o !== null; o = machine.pollOutput()) out.push(o);
  return out;
}

const fresh = (seed = 1) => new MeetingOwnership(me, deterministicRandom(seed));

describe('meeting ownership', () => {
  it('runs a meeting once its lease is taken, and renews every second', () => {
    const machine = fresh();
    machine.handle({ type: 'wanted', meeting: m1 }, 0);
    expect(drainOwnership(machine)).toEqual([{ type: 'acquire', meeting: m1 }]);
    expect(machine.owns(m1)).toBe(false);
    machine.handle({ type: 'acquired', meeting: m1 }, 5);
    expect(drainOwnership(machine)).toEqual([{ type: 'run', meeting: m1 }]);
    expect(machine.owns(m1)).toBe(true);
    expect(machine.pollTimeout()).toBe(5 + DEFAULT_OWNERSHIP_POLICY.renewEveryMs);
    machine.handleTimeout(1_005);
    expect(drainOwnership(machine)).toEqual([{ type: 'renew', meeting: m1 }]);
    expect(machine.pollTimeout()).toBe(2_005);
  });

  it('asks once, claims once, and retries a held lease with growing backoff', () => {
    const machine = fresh();
    machine.handle({ type: 'wanted', meeting: m1 }, 0);
    machine.handle({ type: 'wanted', meeting: m1 }, 1);
    expect(drainOwnership(machine)).toEqual([{ type: 'acquire', meeting: m1 }]);
    let now = 0;
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      machine.handle({ type: 'held', meeting: m1, holder: other }, now);
      const out = drainOwnership(machine);
      expect(out).toEqual(i === 0 ? [{ type: 'claim', meeting: m1 }] : []);
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
    const machine = fresh();
    machine.handle({ type: 'wanted', meeting: m1 }, 0);
    machine.handle({ type: 'held', meeting: m1, holder: other }, 1);
    drainOwnership(machine);
    machine.handle({ type: 'released', meeting: m1, by: other }, 2);
    expect(drainOwnership(machine)).toEqual([{ type: 'acquire', meeting: m1 }]);
    // A second announcement while that attempt is out asks nothing more.
    machine.handle({ type: 'released', meeting: m1, by: other }, 3);
    expect(drainOwnership(machine)).toEqual([]);
  });

  it('gives up at the backoff deadline with a retry hint', () => {
    const machine = fresh();
    machine.handle({ type: 'wanted', meeting: m1 }, 0);
    drainOwnership(machine);
    let outputs: OwnershipOutput[] = [];
    for (let now = 0, round = 0; round < 100; round++) {
      machine.handle({ type: 'acquire-failed', meeting: m1 }, now);
      outputs = drainOwnership(machine);
      const at = machine.pollTimeout();
      if (at === null) break;
      now = at;
      machine.handleTimeout(now);
      drainOwnership(machine);
    }
    expect(outputs).toEqual([{ type: 'give-up', meeting: m1, retryAfterMs: 3_200 }]);
    expect(machine.isAcquiring(m1)).toBe(false);
  });

  it('a lease found held by this controller itself is taken as its own', () => {
    const machine = fresh();
    machine.handle({ type: 'wanted', meeting: m1 }, 0);
    drainOwnership(machine);
    machine.handle({ type: 'held', meeting: m1, holder: me }, 1);
    expect(drainOwnership(machine)).toEqual([{ type: 'run', meeting: m1 }]);
  });

  it('lets a meeting go when another controller claims it, not on its own claim', () => {
    const machine = fresh();
    machine.handle({ type: 'wanted', meeting: m1 }, 0);
    machine.handle({ type: 'acquired', meeting: m1 }, 0);
    drainOwnership(machine);
    machine.handle({ type: 'claimed', meeting: m1, by: me }, 1);
    expect(drainOwnership(machine)).toEqual([]);
    machine.handle({ type: 'claimed', meeting: m1, by: other }, 2);
    expect(drainOwnership(machine)).toEqual([{ type: 'stop', meeting: m1, reason: 'claimed' }]);
    expect(machine.owns(m1)).toBe(false);
    expect(machine.pollTimeout()).toBeNull();
  });

  it('stops on a renewal another controller won, keeps the meeting when the store is silent', () => {
    const machine = fresh();
    machine.handle({ type: 'wanted', meeting: m1 }, 0);
    machine.handle({ type: 'acquired', meeting: m1 }, 0);
    drainOwnership(machine);
    machine.handle({ type: 'renewed', meeting: m1, held: true }, 1_000);
    expect(drainOwnership(machine)).toEqual([]);
    machine.handle({ type: 'renewed', meeting: m1, held: false }, 2_000);
    expect(drainOwnership(machine)).toEqual([{ type: 'stop', meeting: m1, reason: 'lost' }]);
  });

  it('property: a meeting is never both owned and sought, and never run twice without a stop', () => {
    const inputs = fc.array(
      fc.oneof(
        fc.constant('wanted' as const),
        fc.constant('acquired' as const),
        fc.constant('held' as const),
        fc.constant('acquire-failed' as const),
        fc.constant('released' as const),
        fc.constant('claimed' as const),
        fc.constant('lost' as const),
        fc.constant('tick' as const),
      ),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(inputs, fc.integer({ min: 1, max: 1000 }), (steps, seed) => {
        const machine = fresh(seed);
        let now = 0;
        let running = false;
        for (const step of steps) {
          now += 100;
          if (step === 'tick') machine.handleTimeout(now);
          else if (step === 'held')
            machine.handle({ type: 'held', meeting: m1, holder: other }, now);
          else if (step === 'released')
            machine.handle({ type: 'released', meeting: m1, by: other }, now);
          else if (step === 'claimed')
            machine.handle({ type: 'claimed', meeting: m1, by: other }, now);
          else if (step === 'lost')
            machine.handle({ type: 'renewed', meeting: m1, held: false }, now);
          else machine.handle({ type: step, meeting: m1 }, now);
          for (const out of drainOwnership(machine)) {
            if (out.type === 'run') {
              expect(running).toBe(false);
              running = true;
            }
            if (out.type === 'stop') {
              expect(running).toBe(true);
              running = false;
            }
          }
          expect(machine.owns(m1) && machine.isAcquiring(m1)).toBe(false);
          expect(machine.owns(m1)).toBe(running);
        }
      }),
      { numRuns: 300 },
    );
  });
});
