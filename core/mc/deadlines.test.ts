import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeadlineHeap } from './endpoint.ts';
import type { MeetingMachine } from './meeting.ts';

/** Stand-ins: the heap only keys on the machine objects' identity. */
const machines = Array.from({ length: 24 }, (_, i) => ({ id: i }) as unknown as MeetingMachine);

type Op =
  | { type: 'set'; machine: number; at: number | null }
  | { type: 'forget'; machine: number }
  | { type: 'pop'; now: number }
  | { type: 'reset'; now: number; next: number | null };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      type: fc.constant('set' as const),
      machine: fc.nat(23),
      at: fc.option(fc.nat(10), { freq: 8 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ type: fc.constant('forget' as const), machine: fc.nat(23) }),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('pop' as const), now: fc.nat(12) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('reset' as const),
      now: fc.nat(12),
      next: fc.option(fc.nat(14), { freq: 6 }),
    }),
  },
);

describe('the endpoint deadline heap', () => {
  it('pops (or hands out and refiles) what a sorted list of (deadline, last set) would, and peeks its earliest', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 20, maxLength: 300, size: 'max' }), (ops) => {
        const heap = new DeadlineHeap();
        // The model: each machine's deadline and the order of its last change.
        const model = new Map<MeetingMachine, { at: number; seq: number }>();
        let seq = 0;
        const earliest = (): [MeetingMachine, { at: number; seq: number }] | undefined =>
          [...model].sort((a, b) => a[1].at - b[1].at || a[1].seq - b[1].seq)[0];
        for (const o of ops) {
          if (o.type === 'set') {
            const machine = machines[o.machine] as MeetingMachine;
            heap.set(machine, o.at);
            if (o.at === null) model.delete(machine);
            else if (model.get(machine)?.at !== o.at) model.set(machine, { at: o.at, seq: seq++ });
          } else if (o.type === 'forget') {
            const machine = machines[o.machine] as MeetingMachine;
            heap.forget(machine);
            model.delete(machine);
          } else if (o.type === 'reset') {
            // The endpoint's timeout: the due machine, handled in place and filed again, as if
            // popped and set afresh (even at the deadline it had).
            const first = earliest();
            const expected = first !== undefined && first[1].at <= o.now ? first[0] : undefined;
            const due = heap.due(o.now);
            expect(due).toBe(expected);
            if (due !== undefined) {
              heap.reset(due, o.next);
              if (o.next === null) model.delete(due);
              else model.set(due, { at: o.next, seq: seq++ });
            }
          } else {
            const first = earliest();
            const expected = first !== undefined && first[1].at <= o.now ? first[0] : undefined;
            expect(heap.popDue(o.now)).toBe(expected);
            if (expected !== undefined) model.delete(expected);
          }
          expect(heap.peek()).toBe(earliest()?.[1].at ?? null);
        }
      }),
      { numRuns: 150 },
    );
  });
});
