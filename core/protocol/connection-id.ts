/**
 * The 20-byte connection id: an 8-byte big-endian creation time in milliseconds since the
 * Unix epoch, then 12 random bytes. The timestamp lets operators age connections; the random
 * part makes ids unguessable when the injected source is cryptographic.
 */
import type { Brand } from '../ids.ts';
import type { RandomSource } from '../random.ts';
import { err, ok, type Result } from '../result.ts';

export const CONNECTION_ID_LENGTH = 20;
export const CONNECTION_ID_TIMESTAMP_LENGTH = 8;
export const CONNECTION_ID_RANDOM_LENGTH = 12;

const TWO_POW_32 = 0x1_0000_0000;

/** Twenty bytes known to have the connection-id length. */
export type ConnectionId = Brand<Uint8Array, 'ConnectionId'>;

/** The two parts of a connection id. */
export interface ConnectionIdParts {
  readonly timestampMs: number;
  readonly random: Uint8Array;
}

export type ConnectionIdError =
  | { readonly kind: 'wrong-length'; readonly length: number; readonly expected: number }
  | { readonly kind: 'timestamp-out-of-range'; readonly timestampMs: number | bigint }
  | { readonly kind: 'random-source-short'; readonly length: number; readonly expected: number };

/**
 * Creates a connection id from `nowMs` (milliseconds since the Unix epoch, a non-negative safe
 * integer) and 12 bytes drawn from `random`.
 */
export function createConnectionId(
  nowMs: number,
  random: RandomSource,
): Result<ConnectionId, ConnectionIdError> {
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) {
    return err({ kind: 'timestamp-out-of-range', timestampMs: nowMs });
  }
  const randomBytes = random.bytes(CONNECTION_ID_RANDOM_LENGTH);
  if (randomBytes.length < CONNECTION_ID_RANDOM_LENGTH) {
    return err({
      kind: 'random-source-short',
      length: randomBytes.length,
      expected: CONNECTION_ID_RANDOM_LENGTH,
    });
  }
  const id = new Uint8Array(CONNECTION_ID_LENGTH);
  const view = new DataView(id.buffer);
  view.setUint32(0, Math.floor(nowMs / TWO_POW_32));
  view.setUint32(4, nowMs % TWO_POW_32);
  id.set(randomBytes.subarray(0, CONNECTION_ID_RANDOM_LENGTH), CONNECTION_ID_TIMESTAMP_LENGTH);
  return ok(id as ConnectionId);
}

/**
 * Splits a connection id into its timestamp and (copied) random part. Rejects any length other
 * than 20 and timestamps beyond the safe-integer range.
 */
export function parseConnectionId(bytes: Uint8Array): Result<ConnectionIdParts, ConnectionIdError> {
  if (bytes.length !== CONNECTION_ID_LENGTH) {
    return err({ kind: 'wrong-length', length: bytes.length, expected: CONNECTION_ID_LENGTH });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const timestamp = view.getBigUint64(0);
  if (timestamp > BigInt(Number.MAX_SAFE_INTEGER)) {
    return err({ kind: 'timestamp-out-of-range', timestampMs: timestamp });
  }
  return ok({
    timestampMs: Number(timestamp),
    random: bytes.slice(CONNECTION_ID_TIMESTAMP_LENGTH),
  });
}
