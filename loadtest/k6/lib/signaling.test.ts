// The join storm's hand-written signaling frames against the controller's ts-proto codecs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ClientMessage,
  ErrorKind,
  RejectReason,
  ServerMessage,
} from '../../../services/generated/darktower/mc/v1/signaling.ts';
import { fromUtf8, heartbeatBytes, joinBytes, leaveBytes, readServerMessage } from './signaling.ts';

const encode = (message: Record<string, unknown>) =>
  ServerMessage.encode(ServerMessage.fromPartial(message as never)).finish();

describe('k6 signaling frames', () => {
  it('encode every JoinRequest as the controller decodes it', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 900 }),
        fc.string({ maxLength: 64 }),
        fc.constantFrom('', 'grid', 'speaker', 'grid3x3'),
        fc.string({ maxLength: 20, unit: 'grapheme' }),
        (accessToken, meetingId, layout, region) => {
          const decoded = ClientMessage.decode(
            new Uint8Array(joinBytes({ accessToken, meetingId, layout, region })),
          );
          // k6 clients bring no MLS key package: the field decodes empty.
          expect(decoded.join).toEqual({
            accessToken,
            meetingId,
            layout,
            region,
            keyPackage: Buffer.alloc(0),
          });
        },
      ),
    );
  });

  it('encode Leave and Heartbeat', () => {
    expect(ClientMessage.decode(new Uint8Array(leaveBytes())).leave).toEqual({});
    expect(ClientMessage.decode(new Uint8Array(heartbeatBytes())).heartbeat).toEqual({});
  });

  it('read a JoinResponse: participant and handler', () => {
    const bytes = encode({
      joinResponse: {
        participantId: 'user-ü-1',
        participants: ['a', 'b'],
        mediaHandler: {
          id: 'mh-2',
          websocketUrl: 'ws://x',
          quicAddress: '',
          certHash: Buffer.alloc(0),
        },
        connectionToken: 't'.repeat(500),
        keyEpoch: 3,
        reconnect: true,
      },
    });
    expect(readServerMessage(bytes)).toEqual({
      kind: 'join-response',
      participantId: 'user-ü-1',
      handler: 'mh-2',
    });
  });

  it('read JoinRejected and Error with their codes and retry-after', () => {
    expect(
      readServerMessage(
        encode({
          joinRejected: { reason: RejectReason.REJECT_REASON_NO_CAPACITY, retryAfterMs: 5_000 },
        }),
      ),
    ).toEqual({ kind: 'join-rejected', code: 1, retryAfterMs: 5_000 });
    expect(
      readServerMessage(
        encode({
          error: { kind: ErrorKind.ERROR_KIND_UNAVAILABLE, message: 'gc', retryAfterMs: 1_000 },
        }),
      ),
    ).toEqual({ kind: 'error', code: 7, retryAfterMs: 1_000 });
  });

  it('name the other kinds, and unknown for bytes that are none', () => {
    expect(readServerMessage(encode({ participants: { participants: ['a'] } })).kind).toBe(
      'participants',
    );
    expect(readServerMessage(encode({ keyMaterial: { epoch: 2 } })).kind).toBe('key-material');
    expect(readServerMessage(new Uint8Array([0xff, 0xff])).kind).toBe('unknown');
    expect(readServerMessage(new Uint8Array([0x0a, 0x7f])).kind).toBe('unknown');
  });

  it('decode UTF-8 as Node does', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (text) => {
        expect(fromUtf8(Buffer.from(text, 'utf8'))).toBe(text);
      }),
    );
  });
});
