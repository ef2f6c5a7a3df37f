import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LocalLayout } from './layout.ts';

const mainOf = (layout: LocalLayout) => layout.view().tiles.find((t) => t.main);

/** Members m0..m(n-1) in join order, a viewer among them and a speaker history over them. */
const meeting = fc.integer({ min: 2, max: 8 }).chain((n) => {
  const members = Array.from({ length: n }, (_, i) => `m${i}`);
  return fc.record({
    members: fc.constant(members),
    self: fc.constantFrom(...members),
    speakers: fc.uniqueArray(fc.constantFrom(...members), { maxLength: n }),
  });
});

describe('LocalLayout and the controller’s speaker order', () => {
  it('speaker view’s main tile is the latest speaker other than the viewer, else join order', () => {
    fc.assert(
      fc.property(meeting, ({ members, self, speakers }) => {
        const layout = new LocalLayout(self);
        layout.setName('speaker');
        layout.setMembers(members, [], speakers);
        const latest = speakers.find((p) => p !== self);
        expect(mainOf(layout)).toMatchObject(
          latest === undefined
            ? { participant: members.find((p) => p !== self), reason: 'join-order' }
            : { participant: latest, reason: 'active-speaker', kind: 'camera' },
        );
      }),
    );
  });

  it('follows each new order, over pins, and ignores speakers who are not members', () => {
    const layout = new LocalLayout('alice');
    layout.setName('speaker');
    layout.setMembers(['alice', 'bob', 'carol', 'dave']);
    layout.togglePin('dave');
    expect(mainOf(layout)).toMatchObject({ participant: 'dave', reason: 'pinned' });
    layout.setMembers(['alice', 'bob', 'carol', 'dave'], [], ['bob']);
    expect(mainOf(layout)).toMatchObject({ participant: 'bob', reason: 'active-speaker' });
    layout.setMembers(['alice', 'bob', 'carol', 'dave'], [], ['carol', 'bob']);
    expect(mainOf(layout)).toMatchObject({ participant: 'carol', reason: 'active-speaker' });
    // The pinned participant and the previous speaker are in the thumbnails.
    expect(
      layout
        .view()
        .tiles.filter((t) => !t.main)
        .map((t) => [t.participant, t.reason]),
    ).toEqual(
      expect.arrayContaining([
        ['dave', 'pinned'],
        ['bob', 'active-speaker'],
      ]),
    );
    // Carol left (the controller's order may name her until its next message): bob again.
    layout.setMembers(['alice', 'bob', 'dave'], [], ['carol', 'bob']);
    expect(mainOf(layout)).toMatchObject({ participant: 'bob', reason: 'active-speaker' });
    // The grid has no main tile whoever speaks.
    layout.setName('grid');
    expect(mainOf(layout)).toBeUndefined();
  });
});
