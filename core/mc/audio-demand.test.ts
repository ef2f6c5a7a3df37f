import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { MediaKind, ParticipantId } from '../ids.ts';
import type { StreamDemand } from '../routing/types.ts';
import { withAudioDemand } from './audio-demand.ts';
import type { Member } from './roster.ts';
import { drain, grid, joinSettled, newMeeting, p } from './testing.ts';
import { regionId } from '../ids.ts';

const audioPairs = (demand: readonly StreamDemand[]) =>
  demand
    .filter((d) => d.kind === 'audio')
    .map((d) => `${d.subscriber}<-${d.publisher}`)
    .sort();

function member(id: string, publishes: MediaKind[]): Member {
  return {
    id: p(id),
    region: regionId('us-west-1'),
    joinOrder: 0,
    publishes,
    layout: grid(),
    connectedHandler: undefined,
    movingTo: undefined,
  };
}

describe('withAudioDemand', () => {
  it('gives every member the audio of every other member who publishes it, after the layouts’ pairs', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 0, maxLength: 8 }), (speaks) => {
        const members = new Map<ParticipantId, Member>(
          speaks.map((s, i) => [p(`m${i}`), member(`m${i}`, s ? ['camera', 'audio'] : ['camera'])]),
        );
        const layout: StreamDemand[] = [
          { subscriber: p('m0'), publisher: p('m1'), kind: 'camera' },
        ];
        const demand = withAudioDemand(members, layout);
        expect(demand.slice(0, 1)).toEqual(layout);
        const expected: string[] = [];
        speaks.forEach((_, s) =>
          speaks.forEach((speaking, q) => {
            if (speaking && q !== s && speaks.length > 1) expected.push(`m${s}<-m${q}`);
          }),
        );
        expect(audioPairs(demand)).toEqual(expected.sort());
      }),
    );
  });
});

describe('MeetingMachine forwardAudio', () => {
  for (const forwardAudio of [true, false]) {
    it(`${forwardAudio ? 'routes' : 'does not route'} each member's audio to the others when forwardAudio is ${forwardAudio}`, () => {
      const { machine } = newMeeting(['h1'], { forwardAudio });
      joinSettled(machine, ['a', 'b', 'c'], 0);
      machine.handle({ type: 'speaker', participant: p('a') }, 5);
      drain(machine);
      const delivered = (machine.plan?.deliveries ?? [])
        .filter((d) => d.kind === 'audio')
        .map((d) => `${d.subscriber}<-${d.publisher}`)
        .sort();
      expect(delivered).toEqual(
        forwardAudio ? ['a<-b', 'a<-c', 'b<-a', 'b<-c', 'c<-a', 'c<-b'] : [],
      );
    });
  }
});
