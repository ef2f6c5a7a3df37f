// RFC 9605 Appendix C, the parts that need no cryptography: C.1 (header encoding), and from
// C.2 and C.3 the subkey split, the key and salt labels, the nonce and the AAD. The AEAD and
// HKDF results of C.2 and C.3 are checked in adapters/sframe/rfc9605.test.ts.
import { describe, expect, it } from 'vitest';
import { unwrap } from '../result.ts';
import { parseSFrameHeader, serializeSFrameHeader } from './sframe.ts';
import {
  sframeAad,
  sframeCipherSuite,
  sframeKeyLabel,
  sframeNonce,
  sframeSaltLabel,
  sframeSubkeys,
  type SFrameCipherSuiteId,
} from './sframe-crypto.ts';
import { C1_HEADERS, C1_VALUES, C2_VECTORS, C3_VECTORS } from './testdata/rfc9605-appendix-c.ts';

const fromHex = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** Every C.1 case as (kid, ctr, header), built when the test runs. */
function c1Cases(): { kid: bigint; ctr: bigint; header: string }[] {
  return C1_VALUES.flatMap((kid, k) =>
    C1_VALUES.map((ctr, c) => ({ kid, ctr, header: C1_HEADERS[k]?.[c] ?? 'missing' })),
  );
}

describe('RFC 9605 C.1: header encoding and decoding', () => {
  it('has all 289 cases', () => {
    expect(c1Cases()).toHaveLength(289);
    expect(c1Cases().filter((c) => c.header === 'missing')).toEqual([]);
  });

  it('encodes every KID and CTR to the RFC header', () => {
    for (const { kid, ctr, header } of c1Cases()) {
      expect(toHex(unwrap(serializeSFrameHeader({ kid, ctr }))), `kid ${kid} ctr ${ctr}`).toBe(
        header,
      );
    }
  });

  it('decodes every RFC header to its KID and CTR, consuming all of it', () => {
    for (const { kid, ctr, header } of c1Cases()) {
      const parsed = unwrap(parseSFrameHeader(fromHex(header)));
      expect(parsed.header, header).toEqual({ kid, ctr });
      expect(parsed.headerLength).toBe(header.length / 2);
    }
  });
});

describe('RFC 9605 C.2: AES-CTR with HMAC subkeys', () => {
  it.each(C2_VECTORS.map((v) => [v.cipherSuite, v] as const))(
    'splits suite %i key into enc_key and auth_key',
    (id, vector) => {
      const suite = unwrap(sframeCipherSuite(id));
      const subkeys = unwrap(sframeSubkeys(suite, fromHex(vector.key)));
      expect(toHex(subkeys.encKey)).toBe(vector.encKey);
      expect(toHex(subkeys.authKey)).toBe(vector.authKey);
    },
  );
});

describe('RFC 9605 C.3: labels, nonce and AAD', () => {
  it.each(C3_VECTORS.map((v) => [v.cipherSuite, v] as const))(
    'suite %i: sframe_key_label, sframe_salt_label, nonce, aad',
    (id, vector) => {
      const suite = id as SFrameCipherSuiteId;
      expect(toHex(sframeKeyLabel(vector.kid, suite))).toBe(vector.sframeKeyLabel);
      expect(toHex(sframeSaltLabel(vector.kid, suite))).toBe(vector.sframeSaltLabel);
      expect(toHex(sframeNonce(fromHex(vector.sframeSalt), vector.ctr))).toBe(vector.nonce);
      const header = unwrap(serializeSFrameHeader({ kid: vector.kid, ctr: vector.ctr }));
      expect(toHex(sframeAad(header, fromHex(vector.metadata)))).toBe(vector.aad);
      // The ciphertext starts with that header.
      expect(vector.ct.startsWith(toHex(header))).toBe(true);
    },
  );
});
