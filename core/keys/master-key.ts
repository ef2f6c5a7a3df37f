/**
 * Master-key envelope policy (spec 000 round 2: AC_MASTER_KEY rotation; DESIGN: private
 * signing keys encrypted at rest with AES-256-GCM under a versioned master key).
 *
 * Every wrapped record carries the master-key version it is wrapped under. When the current
 * version changes, core plans the re-wrap; the adapter opens each record with its old version
 * and seals it under the new one.
 *
 * The plan is
 * - ordered: oldest master version first (those are the keys an operator wants to remove
 *   soonest), then by record id, so every replica computes the same plan;
 * - idempotent: a step names the version it expects to find, and the adapter applies it as a
 *   compare-and-set (`UPDATE ... WHERE id = $id AND master_key_version = $from`); a step
 *   applied twice, or racing another replica, changes nothing the second time;
 * - resumable: it is a function of the records' current versions, so after a crash the same
 *   call yields exactly the steps still to do.
 *
 * Records wrapped under a version newer than the current one are left alone (a rolling
 * deploy where some replicas already run with the newer master key). Records under a version
 * that is not loaded cannot be opened: they are reported, never guessed at.
 */
import { err, ok } from '../result.ts';
import type { Result } from '../result.ts';

/** A record sealed under a master key: its id and the master-key version. */
export interface WrappedRecord {
  readonly id: string;
  readonly masterKeyVersion: number;
}

/** The master keys a process holds: the current version seals, every loaded version opens. */
export interface MasterKeyVersions {
  readonly current: number;
  readonly loaded: ReadonlySet<number>;
}

/** Re-wrap one record from `fromVersion` to `toVersion`, if it is still under `fromVersion`. */
export interface RewrapStep {
  readonly id: string;
  readonly fromVersion: number;
  readonly toVersion: number;
}

export interface RewrapPlan {
  readonly targetVersion: number;
  /** Steps in the order to apply them. Empty when every readable record is current. */
  readonly steps: readonly RewrapStep[];
  /** Records under a version that is not loaded: they cannot be opened or re-wrapped. */
  readonly unreadable: readonly WrappedRecord[];
  /** Records under a version newer than the current one; left as they are. */
  readonly ahead: readonly WrappedRecord[];
}

export type MasterKeyPolicyError =
  | { readonly kind: 'invalid_version'; readonly version: number }
  | { readonly kind: 'current_version_not_loaded'; readonly version: number };

const isValidVersion = (version: number) => Number.isSafeInteger(version) && version > 0;

function checkVersions(versions: MasterKeyVersions): Result<void, MasterKeyPolicyError> {
  for (const version of [versions.current, ...versions.loaded]) {
    if (!isValidVersion(version)) return err({ kind: 'invalid_version', version });
  }
  if (!versions.loaded.has(versions.current)) {
    return err({ kind: 'current_version_not_loaded', version: versions.current });
  }
  return ok(undefined);
}

const byVersionThenId = (a: WrappedRecord, b: WrappedRecord) =>
  a.masterKeyVersion - b.masterKeyVersion || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Plans the re-wrap of `records` under the current master-key version. */
export function planRewrap(
  records: readonly WrappedRecord[],
  versions: MasterKeyVersions,
): Result<RewrapPlan, MasterKeyPolicyError> {
  const valid = checkVersions(versions);
  if (!valid.ok) return valid;
  const target = versions.current;
  const sorted = [...records].sort(byVersionThenId);
  const unreadable = sorted.filter((r) => !versions.loaded.has(r.masterKeyVersion));
  const readable = sorted.filter((r) => versions.loaded.has(r.masterKeyVersion));
  return ok({
    targetVersion: target,
    steps: readable
      .filter((r) => r.masterKeyVersion < target)
      .map((r) => ({ id: r.id, fromVersion: r.masterKeyVersion, toVersion: target })),
    unreadable,
    ahead: readable.filter((r) => r.masterKeyVersion > target),
  });
}

/**
 * Applies one step to a record as the adapter's compare-and-set does: the record moves to
 * the target version only if it is the step's record and still under the step's old version.
 */
export function applyRewrapStep(record: WrappedRecord, step: RewrapStep): WrappedRecord {
  if (record.id !== step.id || record.masterKeyVersion !== step.fromVersion) return record;
  return { ...record, masterKeyVersion: step.toVersion };
}

/**
 * Loaded versions older than the current one that no record uses any more: the operator may
 * unload them (finish an AC_MASTER_KEY rotation). Ascending.
 */
export function retirableMasterVersions(
  records: readonly WrappedRecord[],
  versions: MasterKeyVersions,
): number[] {
  const inUse = new Set(records.map((r) => r.masterKeyVersion));
  return [...versions.loaded]
    .filter((v) => v < versions.current && !inUse.has(v))
    .sort((a, b) => a - b);
}

/** Length of a master key: AES-256 takes 32 bytes. */
export const MASTER_KEY_BYTES = 32;

export type MasterKeyParseError =
  /** A character outside the base64 alphabet (or `=` before the end); `index` from 0. */
  | { readonly kind: 'invalid_character'; readonly index: number }
  /** Not canonical base64: length not a multiple of 4, or bits set past the last byte. */
  | { readonly kind: 'invalid_padding' }
  | { readonly kind: 'wrong_length'; readonly bytes: number }
  /** Every byte zero: a placeholder, not a key. */
  | { readonly kind: 'all_zero' };

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Where the trailing `=` padding starts (the first `=`), or the length if there is none. */
function padStartOf(text: string): number {
  const firstPad = text.indexOf('=');
  return firstPad === -1 ? text.length : firstPad;
}

/** The index of the first character that cannot appear at its place in padded base64. */
function firstInvalidCharacter(text: string, padStart: number): number | undefined {
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    const valid = i < padStart ? BASE64_ALPHABET.includes(c) : c === '=';
    if (!valid) return i;
  }
  return text.length - padStart > 2 ? padStart : undefined;
}

/**
 * Parses a master key written as standard, padded, canonical base64 (RFC 4648 section 4), as
 * `openssl rand -base64 32` prints it: 44 characters for 32 bytes. Whitespace, the URL-safe
 * alphabet, missing padding, stray bits and anything else is refused rather than skipped, as
 * is a key of another length or of all-zero bytes.
 */
export function parseMasterKey(text: string): Result<Uint8Array, MasterKeyParseError> {
  const padStart = padStartOf(text);
  const invalid = firstInvalidCharacter(text, padStart);
  if (invalid !== undefined) return err({ kind: 'invalid_character', index: invalid });
  if (text.length % 4 !== 0) return err({ kind: 'invalid_padding' });
  const digits = text.slice(0, padStart);
  const bytes = new Uint8Array(Math.floor((digits.length * 6) / 8));
  let buffer = 0;
  let bits = 0;
  let written = 0;
  for (const c of digits) {
    // Only the low 14 bits are ever read: older bits may overflow harmlessly.
    buffer = (buffer << 6) | BASE64_ALPHABET.indexOf(c);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[written++] = (buffer >> bits) & 0xff;
    }
  }
  if ((buffer & ((1 << bits) - 1)) !== 0) return err({ kind: 'invalid_padding' });
  if (bytes.length !== MASTER_KEY_BYTES) return err({ kind: 'wrong_length', bytes: bytes.length });
  if (bytes.every((byte) => byte === 0)) return err({ kind: 'all_zero' });
  return ok(bytes);
}

/** A parse error as a sentence for a configuration message. */
export function describeMasterKeyError(error: MasterKeyParseError): string {
  switch (error.kind) {
    case 'invalid_character':
      return `must be 32 bytes, base64-encoded: character ${error.index + 1} is not base64`;
    case 'invalid_padding':
      return 'must be 32 bytes, base64-encoded: the padding is wrong';
    case 'wrong_length':
      return `must be 32 bytes, base64-encoded: it decodes to ${error.bytes} bytes`;
    case 'all_zero':
      return 'must be a random key, not all zeros (openssl rand -base64 32)';
  }
}
