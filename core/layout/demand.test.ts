import { describe, expect, it } from 'vitest';
import { participantId } from '../ids.ts';
import { changedSlots, layoutDemand, type LayoutAssignment, type Slot } from './index.ts';

const ann = participantId('Ann');
const ben = participantId('Ben');

function gridOf(...slots: Slot[]): LayoutAssignment {
  return { type: 'grid', slots };
}

const before = gridOf(
  { streamId: 1, shows: { participant: ann, kind: 'camera' }, reason: 'pinned' },
  { streamId: 2, shows: { participant: ben, kind: 'camera' }, reason: 'join-order' },
  { streamId: 3, shows: null },
);

describe('layoutDemand', () => {
  it('lists the shown sources in slot order and nothing for empty slots', () => {
    expect(layoutDemand(before)).toEqual([
      { participant: ann, kind: 'camera' },
      { participant: ben, kind: 'camera' },
    ]);
    expect(layoutDemand(gridOf({ streamId: 9, shows: null }))).toEqual([]);
  });
});

describe('changedSlots', () => {
  it('reports nothing for an unchanged assignment, even if the reasons differ', () => {
    const sameContent = gridOf(
      { streamId: 1, shows: { participant: ann, kind: 'camera' }, reason: 'active-speaker' },
      { streamId: 2, shows: { participant: ben, kind: 'camera' }, reason: 'join-order' },
      { streamId: 3, shows: null },
    );
    expect(changedSlots(before, sameContent)).toEqual([]);
  });

  it('reports slots whose participant or kind changed, or that emptied or filled', () => {
    const slots: Slot[] = [
      { streamId: 1, shows: { participant: ann, kind: 'screen' }, reason: 'screen-share' },
      { streamId: 2, shows: null },
      { streamId: 3, shows: { participant: ben, kind: 'camera' }, reason: 'join-order' },
    ];
    expect(changedSlots(before, gridOf(...slots))).toEqual(slots);
  });

  it('treats stream ids new to the request, and a missing previous assignment, as empty before', () => {
    const fresh = gridOf(
      { streamId: 7, shows: { participant: ann, kind: 'camera' }, reason: 'pinned' },
      { streamId: 8, shows: null },
    );
    expect(changedSlots(before, fresh).map((slot) => slot.streamId)).toEqual([7]);
    expect(changedSlots(undefined, fresh).map((slot) => slot.streamId)).toEqual([7]);
  });
});
