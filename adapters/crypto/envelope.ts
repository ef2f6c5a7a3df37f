import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { err, ok, type Result } from '../../core/result.ts';

/** A secret sealed with AES-256-GCM under one version of the master key. */
export interface SealedSecret {
  /** 12-byte IV, then the ciphertext, then the 16-byte tag. */
  readonly sealed: Buffer;
  readonly masterKeyVersion: number;
}

/** The master keys a process holds: the current one seals, all of them open. */
export interface MasterKeys {
  readonly currentVersion: number;
  readonly keys: ReadonlyMap<number, Buffer>;
}

export type OpenError =
  | { readonly kind: 'unknown_master_key_version'; readonly version: number }
  | { readonly kind: 'authentication_failed' };

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Seals `plaintext` under the current master key. `context` (for example a key id) is
 * authenticated but not stored: opening with another context fails, so a ciphertext cannot
 * be moved to another row.
 */
export function seal(keys: MasterKeys, plaintext: Buffer, context: string): SealedSecret {
  const key = keys.keys.get(keys.currentVersion);
  if (!key) throw new Error(`master key version ${keys.currentVersion} is not loaded`);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return {
    sealed: Buffer.concat([iv, body, cipher.getAuthTag()]),
    masterKeyVersion: keys.currentVersion,
  };
}

/** Opens a sealed secret with the master key version it names. */
export function open(
  keys: MasterKeys,
  secret: SealedSecret,
  context: string,
): Result<Buffer, OpenError> {
  const key = keys.keys.get(secret.masterKeyVersion);
  if (!key) return err({ kind: 'unknown_master_key_version', version: secret.masterKeyVersion });
  const iv = secret.sealed.subarray(0, IV_BYTES);
  const tag = secret.sealed.subarray(secret.sealed.length - TAG_BYTES);
  const body = secret.sealed.subarray(IV_BYTES, secret.sealed.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(tag);
    return ok(Buffer.concat([decipher.update(body), decipher.final()]));
  } catch {
    return err({ kind: 'authentication_failed' });
  }
}
