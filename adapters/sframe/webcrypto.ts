/**
 * The cryptographic operations of SFrame (RFC 9605) over WebCrypto (`crypto.subtle`), which
 * Node 20 and browsers both provide, so a browser client and Node clients share this code. No
 * `node:*` import. The byte layouts (labels, nonce, AAD, HMAC input, subkey split) are core's
 * (`core/protocol/sframe-crypto.ts`).
 *
 * - Key derivation (section 4.4.2) is HKDF-Extract with an empty salt, then HKDF-Expand with the
 *   key and salt labels. WebCrypto's HKDF is exactly Extract-then-Expand, so one imported HKDF
 *   key and two `deriveBits` calls give `sframe_key` and `sframe_salt`. `hkdfExtract` computes
 *   the intermediate `sframe_secret` on its own (HMAC keyed with the salt; RFC 5869 treats an
 *   empty salt as Nh zero bytes, which is also how HMAC pads a short key).
 * - AES-GCM suites: WebCrypto AES-GCM with a 128-bit tag.
 * - AES-CTR suites (section 4.5.1): AES-CTR from the nonce followed by a 32-bit zero counter,
 *   then HMAC over core's tag input, truncated to Nt bytes (encrypt-then-MAC); decryption checks
 *   the tag in constant time before decrypting anything.
 */
import {
  constantTimeEqual,
  sframeInitialCounterBlock,
  sframeKeyLabel,
  sframeSaltLabel,
  sframeSubkeys,
  sframeTagInput,
  type SFrameCipherSuite,
} from '../../core/protocol/sframe-crypto.ts';

export type Subtle = typeof globalThis.crypto.subtle;
export type WebCryptoKey = Awaited<ReturnType<Subtle['importKey']>>;

/** The platform's WebCrypto. */
export function defaultSubtle(): Subtle {
  return globalThis.crypto.subtle;
}

/** HKDF-Extract(salt, ikm) = HMAC-Hash(salt, ikm); an empty salt is Nh zero bytes. */
export async function hkdfExtract(
  subtle: Subtle,
  suite: SFrameCipherSuite,
  salt: Uint8Array,
  ikm: Uint8Array,
): Promise<Uint8Array> {
  const key = await subtle.importKey(
    'raw',
    salt.length === 0 ? new Uint8Array(suite.nh) : salt,
    { name: 'HMAC', hash: suite.hash },
    false,
    ['sign'],
  );
  return new Uint8Array(await subtle.sign('HMAC', key, ikm));
}

/** `sframe_key` (Nk bytes) and `sframe_salt` (Nn bytes) of one KID. */
export interface SFrameKeyMaterial {
  readonly key: Uint8Array;
  readonly salt: Uint8Array;
}

/** `derive_key_salt(KID, base_key)` of RFC 9605 section 4.4.2. */
export async function deriveSFrameKeyMaterial(
  subtle: Subtle,
  suite: SFrameCipherSuite,
  kid: bigint,
  baseKey: Uint8Array,
): Promise<SFrameKeyMaterial> {
  const hkdf = await subtle.importKey('raw', baseKey, 'HKDF', false, ['deriveBits']);
  const expand = async (info: Uint8Array, length: number) =>
    new Uint8Array(
      await subtle.deriveBits(
        { name: 'HKDF', hash: suite.hash, salt: new Uint8Array(0), info },
        hkdf,
        length * 8,
      ),
    );
  const [key, salt] = await Promise.all([
    expand(sframeKeyLabel(kid, suite.id), suite.nk),
    expand(sframeSaltLabel(kid, suite.id), suite.nn),
  ]);
  return { key, salt };
}

/** One imported AEAD key: `seal` appends the tag; `open` returns undefined if it is wrong. */
export interface SFrameAead {
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array>;
  open(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array | undefined>;
}

/**
 * Imports `key` (`sframe_key`, Nk bytes) for the suite's AEAD, non-extractable. Throws a
 * RangeError for a key of the wrong length (a programming error: derived keys always fit).
 */
export async function importSFrameAead(
  subtle: Subtle,
  suite: SFrameCipherSuite,
  key: Uint8Array,
): Promise<SFrameAead> {
  if (key.length !== suite.nk) {
    throw new RangeError(`${suite.name} keys are ${suite.nk} bytes, got ${key.length}`);
  }
  return suite.aead === 'aes-gcm' ? importGcm(subtle, key) : importCtrHmac(subtle, suite, key);
}

async function importGcm(subtle: Subtle, key: Uint8Array): Promise<SFrameAead> {
  const aesKey = await subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt']);
  return {
    async seal(nonce, aad, plaintext) {
      const params = { name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 };
      return new Uint8Array(await subtle.encrypt(params, aesKey, plaintext));
    },
    async open(nonce, aad, ciphertext) {
      const params = { name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 };
      try {
        return new Uint8Array(await subtle.decrypt(params, aesKey, ciphertext));
      } catch {
        // WebCrypto reports a wrong tag (and a ciphertext shorter than one) as an OperationError.
        return undefined;
      }
    },
  };
}

async function importCtrHmac(
  subtle: Subtle,
  suite: SFrameCipherSuite,
  key: Uint8Array,
): Promise<SFrameAead> {
  const subkeys = sframeSubkeys(suite, key);
  if (!subkeys.ok) throw new RangeError(`${suite.name}: ${subkeys.error.kind}`);
  const [encKey, authKey] = await Promise.all([
    subtle.importKey('raw', subkeys.value.encKey, 'AES-CTR', false, ['encrypt', 'decrypt']),
    subtle.importKey('raw', subkeys.value.authKey, { name: 'HMAC', hash: suite.hash }, false, [
      'sign',
    ]),
  ]);
  const ctr = (nonce: Uint8Array) => ({
    name: 'AES-CTR',
    counter: sframeInitialCounterBlock(nonce),
    length: 32,
  });
  const tag = async (nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array) => {
    const mac = await subtle.sign('HMAC', authKey, sframeTagInput(suite, nonce, aad, ciphertext));
    return new Uint8Array(mac, 0, suite.nt);
  };
  return {
    async seal(nonce, aad, plaintext) {
      const ciphertext = new Uint8Array(await subtle.encrypt(ctr(nonce), encKey, plaintext));
      const out = new Uint8Array(ciphertext.length + suite.nt);
      out.set(ciphertext);
      out.set(await tag(nonce, aad, ciphertext), ciphertext.length);
      return out;
    },
    async open(nonce, aad, ciphertext) {
      if (ciphertext.length < suite.nt) return undefined;
      const inner = ciphertext.subarray(0, ciphertext.length - suite.nt);
      const received = ciphertext.subarray(ciphertext.length - suite.nt);
      if (!constantTimeEqual(received, await tag(nonce, aad, inner))) return undefined;
      return new Uint8Array(await subtle.decrypt(ctr(nonce), encKey, inner));
    },
  };
}
