// RFC 9605 Appendix C.2 and C.3 through WebCrypto: every intermediate value the appendix gives
// (sframe_secret, sframe_key, sframe_salt, nonce, AAD) and every ciphertext, both ways. The
// vectors are the RFC's, in core/protocol/testdata/rfc9605-appendix-c.ts.
import { describe, expect, it } from 'vitest';
import { unwrap } from '../../core/result.ts';
import { sframeCipherSuite, sframeNonce } from '../../core/protocol/sframe-crypto.ts';
import { C2_VECTORS, C3_VECTORS } from '../../core/protocol/testdata/rfc9605-appendix-c.ts';
import { SFrameContext } from './context.ts';
import {
  defaultSubtle,
  deriveSFrameKeyMaterial,
  hkdfExtract,
  importSFrameAead,
} from './webcrypto.ts';

const fromHex = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const subtle = defaultSubtle();

describe('RFC 9605 C.2: AES-CTR with HMAC', () => {
  it.each(C2_VECTORS.map((v) => [v.cipherSuite, v] as const))(
    'suite %i: AEAD.Encrypt(key, nonce, aad, pt) == ct and AEAD.Decrypt gives pt back',
    async (id, vector) => {
      const aead = await importSFrameAead(
        subtle,
        unwrap(sframeCipherSuite(id)),
        fromHex(vector.key),
      );
      const nonce = fromHex(vector.nonce);
      const aad = fromHex(vector.aad);
      expect(toHex(await aead.seal(nonce, aad, fromHex(vector.pt)))).toBe(vector.ct);
      const opened = await aead.open(nonce, aad, fromHex(vector.ct));
      expect(opened && toHex(opened)).toBe(vector.pt);
    },
  );

  it.each(C2_VECTORS.map((v) => [v.cipherSuite, v] as const))(
    'suite %i: a changed ciphertext, tag, nonce or aad does not open',
    async (id, vector) => {
      const aead = await importSFrameAead(
        subtle,
        unwrap(sframeCipherSuite(id)),
        fromHex(vector.key),
      );
      const ct = fromHex(vector.ct);
      for (const index of [0, ct.length - 1]) {
        const changed = Uint8Array.from(ct);
        changed[index] = (changed[index] ?? 0) ^ 0x01;
        expect(
          await aead.open(fromHex(vector.nonce), fromHex(vector.aad), changed),
        ).toBeUndefined();
      }
      const nonce = fromHex(vector.nonce);
      nonce[11] = (nonce[11] ?? 0) ^ 0x80;
      expect(await aead.open(nonce, fromHex(vector.aad), ct)).toBeUndefined();
      expect(await aead.open(fromHex(vector.nonce), fromHex('00'), ct)).toBeUndefined();
      expect(await aead.open(fromHex(vector.nonce), fromHex(vector.aad), ct.subarray(0, 3))).toBe(
        undefined,
      );
    },
  );
});

describe('RFC 9605 C.3: SFrame encryption and decryption', () => {
  it.each(C3_VECTORS.map((v) => [v.cipherSuite, v] as const))(
    'suite %i: sframe_secret, sframe_key and sframe_salt',
    async (id, vector) => {
      const suite = unwrap(sframeCipherSuite(id));
      const baseKey = fromHex(vector.baseKey);
      expect(toHex(await hkdfExtract(subtle, suite, new Uint8Array(0), baseKey))).toBe(
        vector.sframeSecret,
      );
      const material = await deriveSFrameKeyMaterial(subtle, suite, vector.kid, baseKey);
      expect(toHex(material.key)).toBe(vector.sframeKey);
      expect(toHex(material.salt)).toBe(vector.sframeSalt);
      expect(toHex(sframeNonce(material.salt, vector.ctr))).toBe(vector.nonce);
    },
  );

  it.each(C3_VECTORS.map((v) => [v.cipherSuite, v] as const))(
    'suite %i: the AEAD over the given key, nonce and aad gives ct',
    async (id, vector) => {
      const aead = await importSFrameAead(
        subtle,
        unwrap(sframeCipherSuite(id)),
        fromHex(vector.sframeKey),
      );
      const sealed = await aead.seal(
        fromHex(vector.nonce),
        fromHex(vector.aad),
        fromHex(vector.pt),
      );
      expect(vector.ct.endsWith(toHex(sealed))).toBe(true);
    },
  );

  it.each(C3_VECTORS.map((v) => [v.cipherSuite, v] as const))(
    'suite %i: encrypt(ctr, kid, metadata, pt) == ct and decrypt(metadata, ct) == pt',
    async (id, vector) => {
      const sender = unwrap(SFrameContext.create({ cipherSuite: id }));
      unwrap(sender.addSendKey(vector.kid, fromHex(vector.baseKey)));
      const metadata = fromHex(vector.metadata);
      const ct = unwrap(
        await sender.encrypt(vector.kid, fromHex(vector.pt), { ctr: vector.ctr, metadata }),
      );
      expect(toHex(ct)).toBe(vector.ct);

      const receiver = unwrap(SFrameContext.create({ cipherSuite: id }));
      unwrap(receiver.addReceiveKey(vector.kid, fromHex(vector.baseKey)));
      const decrypted = unwrap(await receiver.decrypt(fromHex(vector.ct), metadata));
      expect(decrypted.kid).toBe(vector.kid);
      expect(decrypted.ctr).toBe(vector.ctr);
      expect(toHex(decrypted.plaintext)).toBe(vector.pt);
    },
  );

  it.each(C3_VECTORS.map((v) => [v.cipherSuite, v] as const))(
    'suite %i: the ciphertext without its metadata, or with other metadata, is rejected',
    async (id, vector) => {
      const receiver = unwrap(SFrameContext.create({ cipherSuite: id, replayWindow: false }));
      unwrap(receiver.addReceiveKey(vector.kid, fromHex(vector.baseKey)));
      const failure = { kind: 'authentication-failed', kid: vector.kid, ctr: vector.ctr };
      expect(await receiver.decrypt(fromHex(vector.ct))).toEqual({ ok: false, error: failure });
      const other = fromHex(vector.metadata);
      other[0] = (other[0] ?? 0) ^ 0x20;
      expect(await receiver.decrypt(fromHex(vector.ct), other)).toEqual({
        ok: false,
        error: failure,
      });
    },
  );
});
