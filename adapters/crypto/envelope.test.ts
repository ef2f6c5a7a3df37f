import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { open, seal, type MasterKeys } from './envelope.ts';

const keysV1: MasterKeys = { currentVersion: 1, keys: new Map([[1, randomBytes(32)]]) };

describe('AES-256-GCM envelope', () => {
  it('opens what it sealed, for any plaintext and context', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), fc.string(), (bytes, context) => {
        const sealed = seal(keysV1, Buffer.from(bytes), context);
        const opened = open(keysV1, sealed, context);
        expect(opened.ok && opened.value.equals(Buffer.from(bytes))).toBe(true);
      }),
    );
  });

  it('rejects a ciphertext opened under another context', () => {
    const sealed = seal(keysV1, Buffer.from('private key'), 'kid-a');
    expect(open(keysV1, sealed, 'kid-b')).toEqual({
      ok: false,
      error: { kind: 'authentication_failed' },
    });
  });

  it('rejects a tampered ciphertext', () => {
    const sealed = seal(keysV1, Buffer.from('private key'), 'kid');
    const tampered = Buffer.from(sealed.sealed);
    tampered[14] = (tampered[14] ?? 0) ^ 0x01;
    expect(open(keysV1, { ...sealed, sealed: tampered }, 'kid').ok).toBe(false);
  });

  it('opens old versions after the master key moves on, and names a missing version', () => {
    const sealedUnderV1 = seal(keysV1, Buffer.from('secret'), 'kid');
    const keysV2: MasterKeys = {
      currentVersion: 2,
      keys: new Map([...keysV1.keys, [2, randomBytes(32)]]),
    };
    expect(open(keysV2, sealedUnderV1, 'kid').ok).toBe(true);
    expect(seal(keysV2, Buffer.from('x'), 'kid').masterKeyVersion).toBe(2);
    const onlyV2: MasterKeys = { currentVersion: 2, keys: new Map([[2, randomBytes(32)]]) };
    expect(open(onlyV2, sealedUnderV1, 'kid')).toEqual({
      ok: false,
      error: { kind: 'unknown_master_key_version', version: 1 },
    });
  });
});
