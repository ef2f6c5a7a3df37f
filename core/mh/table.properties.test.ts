import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { meetingId, participantId } from '../ids.ts';
import { ForwardingTable } from './table.ts';
import { streamIdWords } from './stream-id.ts';
import { ME } from './testing.ts';

const MEETINGS = [meetingId('m-1'), meetingId('m-2')];
const PUBLISHERS = Array.from({ length: 40 }, (_, i) => participantId(`p${i}`));

describe('ForwardingTable index', () => {
  it('finds exactly the streams installed after any sequence of additions, removals and meeting ends', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constantFrom('add', 'remove'),
        meeting: fc.nat(MEETINGS.length - 1),
        publisher: fc.nat(PUBLISHERS.length - 1),
      }),
      fc.record({
        kind: fc.constant('end'),
        meeting: fc.nat(MEETINGS.length - 1),
        publisher: fc.constant(0),
      }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 50, maxLength: 300 }), (ops) => {
        const table = new ForwardingTable(ME);
        const model = new Set<string>();
        for (const o of ops) {
          const meeting = MEETINGS[o.meeting]!;
          const publisher = PUBLISHERS[o.publisher]!;
          const leg = { type: 'publish', publisher, kind: 'camera', handler: ME } as const;
          if (o.kind === 'add') {
            table.apply(meeting, [leg], []);
            model.add(`${o.meeting}/${o.publisher}`);
          } else if (o.kind === 'remove') {
            table.apply(meeting, [], [leg]);
            model.delete(`${o.meeting}/${o.publisher}`);
          } else {
            table.dropMeeting(meeting);
            for (const key of [...model]) if (key.startsWith(`${o.meeting}/`)) model.delete(key);
          }
          expect(table.size).toBe(model.size);
          for (let m = 0; m < MEETINGS.length; m++) {
            for (let p = 0; p < PUBLISHERS.length; p++) {
              const id = streamIdWords(MEETINGS[m]!, PUBLISHERS[p]!, 'camera');
              const found = table.lookup(id.high, id.low);
              if (model.has(`${m}/${p}`)) {
                expect(found?.publisher).toBe(PUBLISHERS[p]);
                expect(found?.meeting).toBe(MEETINGS[m]);
              } else {
                expect(found).toBeNull();
              }
            }
          }
        }
        expect(table.collisions).toBe(0);
      }),
      { numRuns: 60 },
    );
  });
});
