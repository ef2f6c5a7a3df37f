/**
 * Where a client's SFrame base keys come from. The media path asks a `KeySource` for the key of
 * the epoch it sends in and for the key of each epoch it receives in; it never knows how the
 * keys were agreed. The spec's source is MLS (RFC 9605 section 5.2: the MLS exporter's
 * "SFrame 1.0 Base Key" per epoch, adapters/mls): it plugs in here once the controller's
 * signaling carries MLS messages.
 *
 * Until then `DevelopmentKeySource` is the only implementation, and it is NOT end-to-end: it
 * derives each epoch's key from the meeting id and the epoch number, which the controller, the
 * handlers and anyone who learns the meeting id also know. It exercises the whole SFrame path
 * (per-sender KIDs, epochs, replay windows, authentication) and says what it is wherever a key
 * status is shown.
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';

/** One epoch's base key. */
export interface KeyEpoch {
  readonly epoch: number;
  readonly baseKey: Uint8Array;
}

export interface KeySource {
  /** What the keys are, in words a status line can show. */
  readonly description: string;
  /** True only when no server can derive the keys (MLS). */
  readonly endToEnd: boolean;
  /** The epoch to send in; undefined until the first one is known. */
  current(): KeyEpoch | undefined;
  /** The base key of a received epoch, when this client holds it. */
  key(epoch: number): Uint8Array | undefined;
  /** Told whenever the current epoch changes. */
  onChange: ((epoch: KeyEpoch) => void) | null;
}

const SALT = new TextEncoder().encode('dark-tower development media key v1');
const BASE_KEY_BYTES = 16;

/** Derives the development base key of `epoch` for `meeting` (anyone can: not end-to-end). */
export function developmentBaseKey(meeting: string, epoch: number): Uint8Array {
  const info = new Uint8Array(4);
  new DataView(info.buffer).setUint32(0, epoch >>> 0);
  return hkdf(sha256, new TextEncoder().encode(meeting), SALT, info, BASE_KEY_BYTES);
}

/**
 * Development keys following the controller's epoch numbers (its `KeyMaterial` carries only
 * the number today). Not end-to-end: see the module comment.
 */
export class DevelopmentKeySource implements KeySource {
  readonly description = 'development key from the meeting id (not end-to-end)';
  readonly endToEnd = false;
  onChange: ((epoch: KeyEpoch) => void) | null = null;
  private epoch: KeyEpoch | undefined;

  constructor(private readonly meeting: string) {}

  /** The controller announced `epoch` (its join answer or a `KeyMaterial`). */
  announce(epoch: number): void {
    if (this.epoch !== undefined && this.epoch.epoch === epoch) return;
    this.epoch = { epoch, baseKey: developmentBaseKey(this.meeting, epoch) };
    this.onChange?.(this.epoch);
  }

  current(): KeyEpoch | undefined {
    return this.epoch;
  }

  key(epoch: number): Uint8Array | undefined {
    if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) return undefined;
    return developmentBaseKey(this.meeting, epoch);
  }
}
