/**
 * The byte-level rules of SFrame encryption (RFC 9605, sections 4.4 and 4.5), as pure functions:
 * the cipher suites, the HKDF labels for a KID's key and salt, the nonce, the AAD, the split of
 * an AES-CTR suite's key into encryption and authentication keys, and the data that suite's
 * HMAC covers. The cryptographic operations themselves (HKDF, AES, HMAC) are the caller's
 * (`adapters/sframe`); everything here works on bytes and never throws on bad input.
 */
import { err, ok, type Result } from '../result.ts';
import { MAX_SFRAME_VALUE } from './sframe.ts';

/** Cipher suite ids of the IANA "SFrame Cipher Suites" registry (RFC 9605, section 8.1). */
export const SFRAME_AES_128_CTR_HMAC_SHA256_80 = 0x0001;
export const SFRAME_AES_128_CTR_HMAC_SHA256_64 = 0x0002;
export const SFRAME_AES_128_CTR_HMAC_SHA256_32 = 0x0003;
export const SFRAME_AES_128_GCM_SHA256_128 = 0x0004;
export const SFRAME_AES_256_GCM_SHA512_128 = 0x0005;

export type SFrameCipherSuiteId =
  | typeof SFRAME_AES_128_CTR_HMAC_SHA256_80
  | typeof SFRAME_AES_128_CTR_HMAC_SHA256_64
  | typeof SFRAME_AES_128_CTR_HMAC_SHA256_32
  | typeof SFRAME_AES_128_GCM_SHA256_128
  | typeof SFRAME_AES_256_GCM_SHA512_128;

/**
 * One cipher suite (RFC 9605, table 1). Sizes are in bytes: `nh` the hash output, `nk` the AEAD
 * key, `nn` the nonce, `nt` the tag; `nka` the AES key inside an AES-CTR suite's key (whose
 * remaining `nh` bytes are the HMAC key), absent for GCM.
 */
export interface SFrameCipherSuite {
  readonly id: SFrameCipherSuiteId;
  readonly name: string;
  readonly aead: 'aes-ctr-hmac' | 'aes-gcm';
  /** The hash for HKDF and, in AES-CTR suites, for HMAC (a WebCrypto hash name). */
  readonly hash: 'SHA-256' | 'SHA-512';
  readonly nh: number;
  readonly nka: number | undefined;
  readonly nk: number;
  readonly nn: number;
  readonly nt: number;
}

const ctrHmac = (id: SFrameCipherSuiteId, name: string, nt: number): SFrameCipherSuite => ({
  id,
  name,
  aead: 'aes-ctr-hmac',
  hash: 'SHA-256',
  nh: 32,
  nka: 16,
  nk: 48,
  nn: 12,
  nt,
});

/** Every cipher suite RFC 9605 defines, by id. */
export const SFRAME_CIPHER_SUITES: ReadonlyMap<SFrameCipherSuiteId, SFrameCipherSuite> = new Map<
  SFrameCipherSuiteId,
  SFrameCipherSuite
>([
  [
    SFRAME_AES_128_CTR_HMAC_SHA256_80,
    ctrHmac(SFRAME_AES_128_CTR_HMAC_SHA256_80, 'AES_128_CTR_HMAC_SHA256_80', 10),
  ],
  [
    SFRAME_AES_128_CTR_HMAC_SHA256_64,
    ctrHmac(SFRAME_AES_128_CTR_HMAC_SHA256_64, 'AES_128_CTR_HMAC_SHA256_64', 8),
  ],
  [
    SFRAME_AES_128_CTR_HMAC_SHA256_32,
    ctrHmac(SFRAME_AES_128_CTR_HMAC_SHA256_32, 'AES_128_CTR_HMAC_SHA256_32', 4),
  ],
  [
    SFRAME_AES_128_GCM_SHA256_128,
    {
      id: SFRAME_AES_128_GCM_SHA256_128,
      name: 'AES_128_GCM_SHA256_128',
      aead: 'aes-gcm',
      hash: 'SHA-256',
      nh: 32,
      nka: undefined,
      nk: 16,
      nn: 12,
      nt: 16,
    },
  ],
  [
    SFRAME_AES_256_GCM_SHA512_128,
    {
      id: SFRAME_AES_256_GCM_SHA512_128,
      name: 'AES_256_GCM_SHA512_128',
      aead: 'aes-gcm',
      hash: 'SHA-512',
      nh: 64,
      nka: undefined,
      nk: 32,
      nn: 12,
      nt: 16,
    },
  ],
]);

export type SFrameSuiteError = { readonly kind: 'unknown-cipher-suite'; readonly id: number };

/** The suite with this registry id; 0x0000 (reserved), private-use and unassigned ids fail. */
export function sframeCipherSuite(id: number): Result<SFrameCipherSuite, SFrameSuiteError> {
  const suite = SFRAME_CIPHER_SUITES.get(id as SFrameCipherSuiteId);
  return suite === undefined ? err({ kind: 'unknown-cipher-suite', id }) : ok(suite);
}

/** ASCII bytes of the label prefixes (RFC 9605, section 4.4.2; the trailing space is theirs). */
const KEY_LABEL = asciiBytes('SFrame 1.0 Secret key ');
const SALT_LABEL = asciiBytes('SFrame 1.0 Secret salt ');

/**
 * The HKDF-Expand info for a KID's `sframe_key`: "SFrame 1.0 Secret key ", the KID as 8 bytes
 * big-endian (not the header's compact form), the cipher suite id as 2 bytes big-endian.
 * `kid` must be within 0..2^64-1 (the caller checks, as for a header).
 */
export function sframeKeyLabel(kid: bigint, suite: SFrameCipherSuiteId): Uint8Array {
  return label(KEY_LABEL, kid, suite);
}

/** The HKDF-Expand info for a KID's `sframe_salt`: as the key label, with "Secret salt ". */
export function sframeSaltLabel(kid: bigint, suite: SFrameCipherSuiteId): Uint8Array {
  return label(SALT_LABEL, kid, suite);
}

function label(prefix: Uint8Array, kid: bigint, suite: SFrameCipherSuiteId): Uint8Array {
  const out = new Uint8Array(prefix.length + 10);
  out.set(prefix);
  writeUint(out, prefix.length, 8, kid);
  writeUint(out, prefix.length + 8, 2, BigInt(suite));
  return out;
}

/**
 * The AEAD nonce for a counter (RFC 9605, section 4.4.3): `sframe_salt` XOR the CTR encoded
 * big-endian in as many bytes as the salt (AEAD.Nn). A CTR is at most 8 bytes, so only the
 * salt's last 8 bytes change.
 */
export function sframeNonce(salt: Uint8Array, ctr: bigint): Uint8Array {
  const nonce = Uint8Array.from(salt);
  let rest = ctr;
  for (let i = nonce.length - 1; i >= 0 && rest > 0n; i--) {
    nonce[i] = (nonce[i] ?? 0) ^ Number(rest & 0xffn);
    rest >>= 8n;
  }
  return nonce;
}

/** The AAD of one frame: its encoded SFrame header, then the application's metadata. */
export function sframeAad(header: Uint8Array, metadata: Uint8Array): Uint8Array {
  return concatBytes(header, metadata);
}

/** An AES-CTR suite's `sframe_key` split into the AES key and the HMAC key (section 4.5.1). */
export interface SFrameSubkeys {
  readonly encKey: Uint8Array;
  readonly authKey: Uint8Array;
}

export type SFrameKeyLengthError = {
  readonly kind: 'wrong-key-length';
  readonly length: number;
  readonly expected: number;
};

/** `derive_subkeys`: the first Nka bytes encrypt, the remaining Nh bytes authenticate. */
export function sframeSubkeys(
  suite: SFrameCipherSuite,
  key: Uint8Array,
): Result<SFrameSubkeys, SFrameKeyLengthError | SFrameSuiteError> {
  if (suite.nka === undefined) return err({ kind: 'unknown-cipher-suite', id: suite.id });
  if (key.length !== suite.nk) {
    return err({ kind: 'wrong-key-length', length: key.length, expected: suite.nk });
  }
  return ok({ encKey: key.slice(0, suite.nka), authKey: key.slice(suite.nka) });
}

/**
 * What an AES-CTR suite's HMAC covers (`compute_tag`, section 4.5.1): the AAD length, the
 * ciphertext length and the tag length Nt, each 8 bytes big-endian, then the nonce, the AAD and
 * the ciphertext (without its tag).
 */
export function sframeTagInput(
  suite: SFrameCipherSuite,
  nonce: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(24 + nonce.length + aad.length + ciphertext.length);
  writeUint(out, 0, 8, BigInt(aad.length));
  writeUint(out, 8, 8, BigInt(ciphertext.length));
  writeUint(out, 16, 8, BigInt(suite.nt));
  out.set(nonce, 24);
  out.set(aad, 24 + nonce.length);
  out.set(ciphertext, 24 + nonce.length + aad.length);
  return out;
}

/** AES-CTR's first counter block in an AES-CTR suite: the nonce, then four zero bytes. */
export function sframeInitialCounterBlock(nonce: Uint8Array): Uint8Array {
  const block = new Uint8Array(nonce.length + 4);
  block.set(nonce);
  return block;
}

/**
 * Compares two byte strings in time that depends only on their lengths (never on where they
 * first differ), as a tag check must.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return difference === 0;
}

/** Whether `value` can be a KID or CTR (an unsigned 64-bit integer). */
export function isSFrameValue(value: bigint): boolean {
  return value >= 0n && value <= MAX_SFRAME_VALUE;
}

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function asciiBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function writeUint(out: Uint8Array, offset: number, length: number, value: bigint): void {
  let rest = value;
  for (let i = length - 1; i >= 0; i--) {
    out[offset + i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
}
