import { generateKeyPairSync } from 'node:crypto';
import { CompactSign } from 'jose';
import { describe, expect, it } from 'vitest';
import { VerifiedSignatureCache } from './verified-cache.ts';

const pair = () => generateKeyPairSync('ed25519');
const sign = (payload: string, privateKey: ReturnType<typeof pair>['privateKey']) =>
  new CompactSign(new TextEncoder().encode(payload))
    .setProtectedHeader({ alg: 'EdDSA' })
    .sign(privateKey);

describe('verified-signature cache', () => {
  it('returns the payload of a token it verified, and still rejects it under another key', async () => {
    const signer = pair();
    const other = pair();
    const cache = new VerifiedSignatureCache(10, 60_000);
    const token = await sign('{"sub":"a"}', signer.privateKey);
    const payload = await cache.payloadOf(token, signer.publicKey, 'EdDSA', 0);
    expect(new TextDecoder().decode(payload)).toBe('{"sub":"a"}');
    expect(await cache.payloadOf(token, signer.publicKey, 'EdDSA', 1_000)).toBe(payload);
    await expect(cache.payloadOf(token, other.publicKey, 'EdDSA', 1_000)).rejects.toThrow();
  });

  it('verifies again after the entry ages out, and never caches a failure', async () => {
    const signer = pair();
    const cache = new VerifiedSignatureCache(10, 1_000);
    const token = await sign('{}', signer.privateKey);
    const first = await cache.payloadOf(token, signer.publicKey, 'EdDSA', 0);
    expect(await cache.payloadOf(token, signer.publicKey, 'EdDSA', 2_000)).not.toBe(first);
    // Change the signature's first character: all six of its bits are signature bits.
    const [header, payload, signature = ''] = token.split('.');
    const forged = `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    await expect(cache.payloadOf(forged, signer.publicKey, 'EdDSA', 0)).rejects.toThrow();
    await expect(cache.payloadOf(forged, signer.publicKey, 'EdDSA', 0)).rejects.toThrow();
  });

  it('keeps at most its capacity, evicting the oldest', async () => {
    const signer = pair();
    const cache = new VerifiedSignatureCache(2, 60_000);
    const tokens = await Promise.all(['1', '2', '3'].map((n) => sign(n, signer.privateKey)));
    const payloads = [];
    for (const token of tokens)
      payloads.push(await cache.payloadOf(token, signer.publicKey, 'EdDSA', 0));
    expect(await cache.payloadOf(tokens[2]!, signer.publicKey, 'EdDSA', 0)).toBe(payloads[2]);
    expect(await cache.payloadOf(tokens[0]!, signer.publicKey, 'EdDSA', 0)).not.toBe(payloads[0]);
  });
});
