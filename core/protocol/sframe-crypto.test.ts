import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../result.ts';
import { MAX_SFRAME_VALUE } from './sframe.ts';
import {
  SFRAME_CIPHER_SUITES,
  constantTimeEqual,
  isSFrameValue,
  sframeAad,
  sframeCipherSuite,
  sframeInitialCounterBlock,
  sframeKeyLabel,
  sframeNonce,
  sframeSaltLabel,
  sframeSubkeys,
  sframeTagInput,
} from './sframe-crypto.ts';

const ascii = (text: string) => Array.from(text, (c) => c.charCodeAt(0));
const readUint = (bytes: Uint8Array, offset: number, length: number) => {
  let value = 0n;
  for (let i = 0; i < length; i++) value = (value << 8n) | BigInt(bytes[offset + i] ?? 0);
  return value;
};
const u64 = fc.bigInt({ min: 0n, max: MAX_SFRAME_VALUE });
const suiteId = fc.constantFrom(...SFRAME_CIPHER_SUITES.keys());

describe('SFrame cipher suites (RFC 9605 sections 4.5 and 8.1)', () => {
  it('lists the five suites with the sizes of table 1', () => {
    const rows = [...SFRAME_CIPHER_SUITES.values()].map((s) => [
      s.id,
      s.name,
      s.hash,
      s.nh,
      s.nka,
      s.nk,
      s.nn,
      s.nt,
    ]);
    expect(rows).toEqual([
      [1, 'AES_128_CTR_HMAC_SHA256_80', 'SHA-256', 32, 16, 48, 12, 10],
      [2, 'AES_128_CTR_HMAC_SHA256_64', 'SHA-256', 32, 16, 48, 12, 8],
      [3, 'AES_128_CTR_HMAC_SHA256_32', 'SHA-256', 32, 16, 48, 12, 4],
      [4, 'AES_128_GCM_SHA256_128', 'SHA-256', 32, undefined, 16, 12, 16],
      [5, 'AES_256_GCM_SHA512_128', 'SHA-512', 64, undefined, 32, 12, 16],
    ]);
    for (const suite of SFRAME_CIPHER_SUITES.values()) {
      expect(suite.aead).toBe(suite.nka === undefined ? 'aes-gcm' : 'aes-ctr-hmac');
      // An AES-CTR suite's key is its AES key and its HMAC key (section 4.5.1).
      if (suite.nka !== undefined) expect(suite.nk).toBe(suite.nka + suite.nh);
    }
  });

  it.each([0x0000, 0x0006, 0xf000, 0xffff, -1, 1.5])('rejects suite id %s', (id) => {
    expect(sframeCipherSuite(id)).toEqual({
      ok: false,
      error: { kind: 'unknown-cipher-suite', id },
    });
  });
});

describe('key and salt labels (section 4.4.2)', () => {
  it('are the ASCII prefix, the KID in 8 bytes and the suite in 2 bytes, big-endian', () => {
    fc.assert(
      fc.property(u64, suiteId, (kid, suite) => {
        for (const [make, prefix] of [
          [sframeKeyLabel, 'SFrame 1.0 Secret key '],
          [sframeSaltLabel, 'SFrame 1.0 Secret salt '],
        ] as const) {
          const label = make(kid, suite);
          expect(label.length).toBe(prefix.length + 10);
          expect(Array.from(label.subarray(0, prefix.length))).toEqual(ascii(prefix));
          expect(readUint(label, prefix.length, 8)).toBe(kid);
          expect(readUint(label, prefix.length + 8, 2)).toBe(BigInt(suite));
        }
      }),
    );
  });
});

describe('nonce (section 4.4.3)', () => {
  it('is the salt XOR the CTR, big-endian in Nn bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 12, maxLength: 12 }), u64, (salt, ctr) => {
        const nonce = sframeNonce(salt, ctr);
        expect(nonce.length).toBe(12);
        const xored = nonce.map((b, i) => b ^ (salt[i] ?? 0));
        expect(readUint(xored, 0, 12)).toBe(ctr);
        expect(salt).not.toBe(nonce);
      }),
    );
  });

  it('is the salt itself for CTR 0 and differs for every other CTR', () => {
    const salt = Uint8Array.from({ length: 12 }, (_, i) => i * 17);
    expect(sframeNonce(salt, 0n)).toEqual(salt);
    fc.assert(
      fc.property(u64, u64, (a, b) => {
        fc.pre(a !== b);
        expect(sframeNonce(salt, a)).not.toEqual(sframeNonce(salt, b));
      }),
    );
  });
});

describe('AAD (section 4.4.3)', () => {
  it('is the header followed by the metadata', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 17 }), fc.uint8Array({ maxLength: 40 }), (h, m) => {
        expect(Array.from(sframeAad(h, m))).toEqual([...h, ...m]);
      }),
    );
  });
});

describe('AES-CTR with HMAC layout (section 4.5.1)', () => {
  const ctrSuite = unwrap(sframeCipherSuite(0x0002));

  it('splits the key at Nka and refuses other lengths and GCM suites', () => {
    const key = Uint8Array.from({ length: 48 }, (_, i) => i);
    const subkeys = unwrap(sframeSubkeys(ctrSuite, key));
    expect(Array.from(subkeys.encKey)).toEqual(Array.from(key.subarray(0, 16)));
    expect(Array.from(subkeys.authKey)).toEqual(Array.from(key.subarray(16)));
    expect(sframeSubkeys(ctrSuite, key.subarray(0, 47))).toEqual({
      ok: false,
      error: { kind: 'wrong-key-length', length: 47, expected: 48 },
    });
    expect(sframeSubkeys(unwrap(sframeCipherSuite(4)), key.subarray(0, 16)).ok).toBe(false);
  });

  it('authenticates the three lengths, then nonce, AAD and ciphertext', () => {
    fc.assert(
      fc.property(
        suiteId,
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.uint8Array({ maxLength: 30 }),
        fc.uint8Array({ maxLength: 60 }),
        (id, nonce, aad, ct) => {
          const suite = unwrap(sframeCipherSuite(id));
          const input = sframeTagInput(suite, nonce, aad, ct);
          expect(readUint(input, 0, 8)).toBe(BigInt(aad.length));
          expect(readUint(input, 8, 8)).toBe(BigInt(ct.length));
          expect(readUint(input, 16, 8)).toBe(BigInt(suite.nt));
          expect(Array.from(input.subarray(24))).toEqual([...nonce, ...aad, ...ct]);
        },
      ),
    );
  });

  it('starts AES-CTR at the nonce followed by four zero bytes', () => {
    const nonce = Uint8Array.from({ length: 12 }, (_, i) => 0xf0 + i);
    expect(Array.from(sframeInitialCounterBlock(nonce))).toEqual([...nonce, 0, 0, 0, 0]);
  });
});

describe('constantTimeEqual', () => {
  it('agrees with element-wise equality', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 16 }), fc.uint8Array({ maxLength: 16 }), (a, b) => {
        expect(constantTimeEqual(a, b)).toBe(
          a.length === b.length && a.every((x, i) => x === b[i]),
        );
        expect(constantTimeEqual(a, Uint8Array.from(a))).toBe(true);
      }),
    );
  });

  it('notices a difference in any single byte', () => {
    const a = new Uint8Array(10).fill(7);
    for (let i = 0; i < a.length; i++) {
      const b = Uint8Array.from(a);
      b[i] = 6;
      expect(constantTimeEqual(a, b)).toBe(false);
    }
  });
});

describe('isSFrameValue', () => {
  it.each([
    [0n, true],
    [MAX_SFRAME_VALUE, true],
    [-1n, false],
    [MAX_SFRAME_VALUE + 1n, false],
  ])('%s -> %s', (value, expected) => {
    expect(isSFrameValue(value)).toBe(expected);
  });
});
