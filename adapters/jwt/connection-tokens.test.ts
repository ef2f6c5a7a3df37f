import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ConnectionGrant } from '../../core/mh/claims.ts';
import { handlerId, meetingId, participantId } from '../../core/ids.ts';
import { ok } from '../../core/result.ts';
import {
  CONNECTION_TOKEN_TYPE,
  signConnectionToken,
  signConnectionTokenNow,
  verifyConnectionToken,
} from './connection-tokens.ts';
import type { PublicKeyLookup } from './tokens.ts';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const key = { kid: 'mc-key-1', privateKey };
/** The issuing controller's key set: one key, by kid. */
const keys: PublicKeyLookup = {
  find: (issuer, kid) =>
    Promise.resolve(
      issuer === 'mc-1' && kid === key.kid
        ? ok(publicKey)
        : { ok: false, error: { kind: 'unknown_kid' } },
    ) as ReturnType<PublicKeyLookup['find']>,
};
const grant: ConnectionGrant = {
  meeting: meetingId('m-1'),
  participant: participantId('p-1'),
  handler: handlerId('mh-1'),
  issuedAtMs: 1_000,
  expiresAtMs: 61_000,
};
const segment = (token: string, i: number) =>
  JSON.parse(Buffer.from(token.split('.')[i] as string, 'base64url').toString('utf8')) as unknown;

describe('connection tokens', () => {
  it('signs a token the handlers verify: EdDSA, the connection type, the key id, the claims', async () => {
    const token = signConnectionTokenNow(grant, 'mc-1', key, 'nonce-1');
    expect(segment(token, 0)).toEqual({ alg: 'EdDSA', typ: CONNECTION_TOKEN_TYPE, kid: key.kid });
    // The grant, the nonce and the issuer: nothing added (no iat).
    expect(segment(token, 1)).toEqual({ ...grant, nonce: 'nonce-1', iss: 'mc-1' });
    const verified = await verifyConnectionToken(token, keys, 2_000);
    expect(verified).toEqual(ok({ issuer: 'mc-1', claims: { ...grant, nonce: 'nonce-1' } }));
    // Another key's signature is refused.
    const other = generateKeyPairSync('ed25519').privateKey;
    const forged = signConnectionTokenNow(grant, 'mc-1', { kid: key.kid, privateKey: other });
    expect(await verifyConnectionToken(forged, keys, 2_000)).toEqual({
      ok: false,
      error: { kind: 'bad_signature' },
    });
  });

  it('answers within the caller’s turn: the token is there before any other event is handled', async () => {
    let signed: string | undefined;
    void signConnectionToken(grant, 'mc-1', key).then((token) => {
      signed = token;
    });
    // Two microtask turns, no macrotask: a signature on WebCrypto would not be back yet.
    await Promise.resolve();
    await Promise.resolve();
    expect(typeof signed).toBe('string');
    // A fresh nonce for each token.
    expect(segment(signed as string, 1)).not.toEqual(
      segment(await signConnectionToken(grant, 'mc-1', key), 1),
    );
  });
});
