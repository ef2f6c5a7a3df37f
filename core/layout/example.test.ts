import { describe, expect, it } from 'vitest';
import { participantId } from '../ids.ts';
import { unwrap } from '../result.ts';
import { assignLayout, layoutDemand } from './index.ts';
import { ids, member, rosterOf } from './testing.ts';

// The spec's "Example: 3x3 Grid" (003, Layout System): 15 participants, Alice and Bob pinned,
// Charlie excluded, David sharing his screen, Eve the active speaker, the rest in join order.
const names = [
  'Alice',
  'Bob',
  'Charlie',
  'David',
  'Eve',
  'Frank',
  'Grace',
  'Heidi',
  'Ivan',
  'Judy',
  'Mallory',
  'Niaj',
  'Olivia',
  'Peggy',
  'Subscriber',
];
const roster = rosterOf(
  names.map((name, order) =>
    member(name, order, name === 'David' ? ['camera', 'screen', 'audio'] : ['camera', 'audio']),
  ),
  ['Eve'],
);
const streamIds = [0x001, 0x002, 0x003, 0x004, 0x005, 0x006, 0x007, 0x008, 0x009];

describe('the spec 3x3 example', () => {
  const assignment = unwrap(
    assignLayout({
      roster,
      subscriber: participantId('Subscriber'),
      request: {
        type: 'grid',
        rows: 3,
        columns: 3,
        streamIds,
        pinnedUsers: ids('Alice', 'Bob'),
        excludedUsers: ids('Charlie'),
        preferVideoOverAudio: true,
        includeSelf: false,
      },
    }),
  );

  it('assigns every slot as the spec lists it', () => {
    expect(assignment.slots).toEqual([
      { streamId: 0x001, shows: { participant: 'Alice', kind: 'camera' }, reason: 'pinned' },
      { streamId: 0x002, shows: { participant: 'Bob', kind: 'camera' }, reason: 'pinned' },
      { streamId: 0x003, shows: { participant: 'David', kind: 'screen' }, reason: 'screen-share' },
      { streamId: 0x004, shows: { participant: 'Eve', kind: 'camera' }, reason: 'active-speaker' },
      { streamId: 0x005, shows: { participant: 'Frank', kind: 'camera' }, reason: 'join-order' },
      { streamId: 0x006, shows: { participant: 'Grace', kind: 'camera' }, reason: 'join-order' },
      { streamId: 0x007, shows: { participant: 'Heidi', kind: 'camera' }, reason: 'join-order' },
      { streamId: 0x008, shows: { participant: 'Ivan', kind: 'camera' }, reason: 'join-order' },
      { streamId: 0x009, shows: { participant: 'Judy', kind: 'camera' }, reason: 'join-order' },
    ]);
  });

  it('leaves out Charlie and the five without room, and demands only what is shown', () => {
    const demanded = layoutDemand(assignment).map((source) => source.participant);
    const notShown = names.filter((name) => !demanded.includes(participantId(name)));
    expect(notShown).toEqual(['Charlie', 'Mallory', 'Niaj', 'Olivia', 'Peggy', 'Subscriber']);
    expect(layoutDemand(assignment)).toContainEqual({ participant: 'David', kind: 'screen' });
    expect(layoutDemand(assignment)).not.toContainEqual({ participant: 'David', kind: 'camera' });
  });
});
