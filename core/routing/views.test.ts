import { describe, expect, it } from 'vitest';
import { meetingId, regionId } from '../ids.ts';
import { unwrap } from '../result.ts';
import { planRouting } from './planner.ts';
import { makeHandler, makeParticipant, wants } from './testing.ts';
import { clientConnections, forwardingTables } from './views.ts';

const us = regionId('us-west-1');
const eu = regionId('eu-west-1');

// Alice and Bob are homed on MH1 in their region, Charlie on MH2 in his.
const plan = unwrap(
  planRouting({
    meeting: meetingId('m'),
    participants: [
      makeParticipant('alice', 0),
      makeParticipant('bob', 1),
      makeParticipant('charlie', 2, { region: eu }),
    ],
    handlers: [makeHandler('MH1', { region: us }), makeHandler('MH2', { region: eu })],
    demand: [
      wants('bob', 'alice', 'camera'),
      wants('alice', 'bob', 'camera'),
      wants('charlie', 'alice', 'camera'),
      wants('alice', 'charlie', 'camera'),
    ],
    latencyMs: { [us]: { [eu]: 140 }, [eu]: { [us]: 140 } },
  }),
);

describe('plan views', () => {
  it('lists what each handler forwards to handlers and to subscribers', () => {
    expect(plan.homes.map((h) => `${h.participant}@${h.handler}`)).toEqual([
      'alice@MH1',
      'bob@MH1',
      'charlie@MH2',
    ]);
    expect(forwardingTables(plan)).toEqual([
      {
        handler: 'MH1',
        entries: [
          {
            stream: { publisher: 'alice', kind: 'camera' },
            toHandlers: ['MH2'],
            toSubscribers: ['bob'],
          },
          {
            stream: { publisher: 'bob', kind: 'camera' },
            toHandlers: [],
            toSubscribers: ['alice'],
          },
          {
            stream: { publisher: 'charlie', kind: 'camera' },
            toHandlers: [],
            toSubscribers: ['alice'],
          },
        ],
      },
      {
        handler: 'MH2',
        entries: [
          {
            stream: { publisher: 'alice', kind: 'camera' },
            toHandlers: [],
            toSubscribers: ['charlie'],
          },
        ],
      },
    ]);
  });

  it('lists each client home and the other handlers it publishes to', () => {
    expect(clientConnections(plan)).toEqual([
      { participant: 'alice', home: 'MH1', alsoPublishesTo: [] },
      { participant: 'bob', home: 'MH1', alsoPublishesTo: [] },
      { participant: 'charlie', home: 'MH2', alsoPublishesTo: ['MH1'] },
    ]);
  });
});
