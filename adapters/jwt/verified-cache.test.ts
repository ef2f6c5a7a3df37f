import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  buildTokenClaims,
  readTokenClaims,
  type ValidationPolicy,
} from '../../core/auth/claims.ts';
import { parseScope } from '../../core/auth/scopes.ts';
import { err, ok, unwrap } from '../../core/result.ts';
import { signClaims, verifyRememberedToken, verifyToken, type PublicKeyLookup } from './tokens.ts';
import { VerifiedTokenCache, type VerifiedToken } from './verified-cache.ts';

const ISSUER = 'https://ac.test';
const T0 = 1_800_000_000_000;
const HOUR_MS = 3_600_000;
const readGc = unwrap(parseScope('user.read.gc'));
const policy: ValidationPolicy = {
  trustedIssuers: new Set([ISSUER]),
  audience: 'dark-tower',
  requiredScopes: [readGc],
};

const pair = () => generateKeyPairSync('ed25519');

/** A key lookup whose kid -> key table the test can change, counting lookups. */
function keyTable(entries: Record<string, KeyObject>): PublicKeyLookup & { table: typeof entries } {
  const table = { ...entries };
  return {
    table,
    find: async (_issuer, kid) => {
      const key = table[kid];
      return key === undefined ? err({ kind: 'unknown_kid', kid }) : ok(key);
    },
  };
}

const claimsOf = (subject: string) =>
  unwrap(
    buildTokenClaims({
      subject,
      kind: 'user',
      scopes: [readGc],
      org: 'default',
      issuer: ISSUER,
      audience: 'dark-tower',
      now: T0,
      jti: `jti-${subject}`,
    }),
  );

const tokenSignedBy = (privateKey: KeyObject, kid: string, subject = 'alice') =>
  signClaims(claimsOf(subject), { kid, privateKey });

/** The subject a remembered token's claims were read with. */
const subjectOf = (token: VerifiedToken | undefined) =>
  token?.claims.ok ? token.claims.accepted.value.subject : undefined;

const entry = (key: KeyObject, subject: string): VerifiedToken => ({
  issuer: ISSUER,
  kid: 'k1',
  key,
  claims: readTokenClaims(claimsOf(subject)),
});

describe('VerifiedTokenCache', () => {
  it('recalls a remembered token until it ages out', () => {
    const cache = new VerifiedTokenCache(10, 1_000);
    const remembered = entry(pair().publicKey, 'a');
    cache.remember('t', remembered, 0);
    expect(cache.recall('t', 999)).toBe(remembered);
    expect(cache.recall('t', 1_000)).toBeUndefined();
    expect(cache.recall('t', 0)).toBeUndefined();
  });

  it('recalls only the very token remembered, not another with the same signature', () => {
    const cache = new VerifiedTokenCache(10, 1_000);
    const signature = 's'.repeat(86);
    cache.remember(`header.payload.${signature}`, entry(pair().publicKey, 'a'), 0);
    expect(subjectOf(cache.recall(`header.payload.${signature}`, 0))).toBe('a');
    expect(cache.recall(`header.other-payload.${signature}`, 0)).toBeUndefined();
    expect(cache.recall(signature, 0)).toBeUndefined();
    cache.remember('short.token', entry(pair().publicKey, 'b'), 0);
    expect(subjectOf(cache.recall('short.token', 0))).toBe('b');
    expect(subjectOf(cache.recall(`header.payload.${signature}`, 0))).toBe('a');
  });

  it('keeps at most its capacity, evicting the oldest', () => {
    const cache = new VerifiedTokenCache(2, 60_000);
    const key = pair().publicKey;
    for (const name of ['1', '2', '3']) cache.remember(name, entry(key, name), 0);
    expect(cache.recall('1', 0)).toBeUndefined();
    expect(subjectOf(cache.recall('2', 0))).toBe('2');
    expect(subjectOf(cache.recall('3', 0))).toBe('3');
  });
});

describe('verifyToken with a verified-token cache', () => {
  it('accepts a token again from the cache, and still judges its claims every time', async () => {
    const signer = pair();
    const keys = keyTable({ k1: signer.publicKey });
    const cache = new VerifiedTokenCache();
    const token = await tokenSignedBy(signer.privateKey, 'k1');
    expect((await verifyToken(token, keys, policy, T0, cache)).ok).toBe(true);
    expect(subjectOf(cache.recall(token, T0))).toBe('alice');
    expect((await verifyToken(token, keys, policy, T0 + 1_000, cache)).ok).toBe(true);
    const expired = await verifyToken(token, keys, policy, T0 + 2 * HOUR_MS, cache);
    expect(expired).toMatchObject({ ok: false, error: { kind: 'expired' } });
    const writer = { ...policy, requiredScopes: [unwrap(parseScope('user.write.gc'))] };
    const unscoped = await verifyToken(token, keys, writer, T0 + 1_000, cache);
    expect(unscoped).toMatchObject({ ok: false, error: { kind: 'missing_scope' } });
    const elsewhere = { ...policy, audience: 'another-service' };
    const misaddressed = await verifyToken(token, keys, elsewhere, T0 + 1_000, cache);
    expect(misaddressed).toMatchObject({ ok: false, error: { kind: 'wrong_audience' } });
  });

  it('verifies again when the kid now resolves to another key, and rejects a forgery', async () => {
    const signer = pair();
    const impostor = pair();
    const keys = keyTable({ k1: signer.publicKey });
    const cache = new VerifiedTokenCache();
    const token = await tokenSignedBy(signer.privateKey, 'k1');
    expect((await verifyToken(token, keys, policy, T0, cache)).ok).toBe(true);
    keys.table.k1 = impostor.publicKey;
    const replaced = await verifyToken(token, keys, policy, T0, cache);
    expect(replaced).toMatchObject({ ok: false, error: { kind: 'bad_signature' } });
    delete keys.table.k1;
    const dropped = await verifyToken(token, keys, policy, T0, cache);
    expect(dropped).toMatchObject({ ok: false, error: { kind: 'unknown_kid' } });
  });

  it('rejects a tampered payload under a remembered signature, and still accepts the token', async () => {
    const signer = pair();
    const keys = keyTable({ k1: signer.publicKey });
    const cache = new VerifiedTokenCache();
    const token = await tokenSignedBy(signer.privateKey, 'k1');
    expect((await verifyToken(token, keys, policy, T0, cache)).ok).toBe(true);
    const [header, , signature] = token.split('.');
    const other = (await tokenSignedBy(signer.privateKey, 'k1', 'mallory')).split('.')[1];
    const tampered = `${header}.${other}.${signature}`;
    const result = await verifyToken(tampered, keys, policy, T0, cache);
    expect(result).toMatchObject({ ok: false, error: { kind: 'bad_signature' } });
    expect(await verifyToken(token, keys, policy, T0, cache)).toMatchObject({
      ok: true,
      value: { subject: 'alice' },
    });
  });

  it('answers a remembered token at once only while its key resolves without waiting', async () => {
    const signer = pair();
    const table = keyTable({ k1: signer.publicKey });
    let cachedKey: KeyObject | undefined = signer.publicKey;
    const keys: PublicKeyLookup = { find: table.find, findNow: () => cachedKey };
    const cache = new VerifiedTokenCache();
    const token = await tokenSignedBy(signer.privateKey, 'k1');
    expect(verifyRememberedToken(token, keys, policy, T0, cache)).toBeUndefined();
    expect((await verifyToken(token, keys, policy, T0, cache)).ok).toBe(true);
    expect(verifyRememberedToken(token, keys, policy, T0 + 1_000, cache)).toMatchObject({
      ok: true,
      value: { subject: 'alice' },
    });
    const elsewhere = { ...policy, audience: 'another-service' };
    expect(verifyRememberedToken(token, keys, elsewhere, T0 + 1_000, cache)).toMatchObject({
      ok: false,
      error: { kind: 'wrong_audience' },
    });
    // Remembered for a minute at most.
    expect(verifyRememberedToken(token, keys, policy, T0 + 60_000, cache)).toBeUndefined();
    expect((await verifyToken(token, keys, policy, T0, cache)).ok).toBe(true);
    cachedKey = pair().publicKey;
    expect(verifyRememberedToken(token, keys, policy, T0, cache)).toBeUndefined();
    cachedKey = undefined;
    expect(verifyRememberedToken(token, keys, policy, T0, cache)).toBeUndefined();
    expect((await verifyToken(token, keys, policy, T0, cache)).ok).toBe(true);
    expect(verifyRememberedToken(token, table, policy, T0, cache)).toBeUndefined();
  });

  it('never remembers a token whose signature failed', async () => {
    const signer = pair();
    const keys = keyTable({ k1: signer.publicKey });
    const cache = new VerifiedTokenCache();
    const token = await tokenSignedBy(signer.privateKey, 'k1');
    // Change the signature's first character: all six of its bits are signature bits.
    const [header, payload, signature = ''] = token.split('.');
    const forged = `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      const result = await verifyToken(forged, keys, policy, T0, cache);
      expect(result).toMatchObject({ ok: false, error: { kind: 'bad_signature' } });
    }
    expect(cache.recall(forged, T0)).toBeUndefined();
  });
});
