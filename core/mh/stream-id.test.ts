import { describe, expect, it } from 'vitest';
import { meetingId, participantId } from '../ids.ts';
import { murmur3 } from '../placement/hash.ts';
import {
  mediaPublisherId,
  mediaStreamId,
  publisherIdWords,
  streamIdWords,
  wordsToId,
} from './stream-id.ts';

const M = meetingId('m-1');
const P = participantId('alice');

describe('media stream ids', () => {
  it('follow the documented derivation (docs/protocol.md, "Media stream ids")', () => {
    const streamKey = 'm-1\u0000alice\u0000camera';
    expect(streamIdWords(M, P, 'camera')).toEqual({
      high: murmur3(streamKey, 0x6d680001),
      low: murmur3(streamKey, 0x6d680002),
    });
    expect(mediaStreamId(M, P, 'camera')).toBe(
      (BigInt(murmur3(streamKey, 0x6d680001)) << 32n) | BigInt(murmur3(streamKey, 0x6d680002)),
    );
    const publisherKey = 'm-1\u0000alice';
    expect(publisherIdWords(M, P)).toEqual({
      high: murmur3(publisherKey, 0x6d680001),
      low: murmur3(publisherKey, 0x6d680002),
    });
    expect(mediaPublisherId(M, P)).toBe(
      (BigInt(murmur3(publisherKey, 0x6d680001)) << 32n) |
        BigInt(murmur3(publisherKey, 0x6d680002)),
    );
  });

  it('tell kinds, participants and meetings apart', () => {
    const ids = new Set([
      mediaStreamId(M, P, 'camera'),
      mediaStreamId(M, P, 'screen'),
      mediaStreamId(M, P, 'audio'),
      mediaStreamId(M, participantId('bob'), 'camera'),
      mediaStreamId(meetingId('m-2'), P, 'camera'),
      mediaPublisherId(M, P),
      mediaPublisherId(meetingId('m-2'), P),
    ]);
    expect(ids.size).toBe(7);
  });

  it('join two unsigned words into a uint64', () => {
    expect(wordsToId({ high: 0xffff_ffff, low: 0xffff_ffff })).toBe(0xffff_ffff_ffff_ffffn);
    expect(wordsToId({ high: 1, low: 2 })).toBe(0x1_0000_0002n);
    expect(wordsToId({ high: 0, low: 0 })).toBe(0n);
  });
});
