import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { jwksCachePolicy } from '../../core/keys/jwks-cache.ts';
import { createLogger } from '../logging/logger.ts';
import { JwksClient } from './jwks-client.ts';

const ISSUER = 'https://ac.test';
const HOUR_MS = 3_600_000;

function client() {
  let now = 1_000_000;
  let fetches = 0;
  const jwk = { ...generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }), kid: 'k1' };
  const jwks = new JwksClient({
    policy: jwksCachePolicy([ISSUER]),
    jwksUrls: new Map([[ISSUER, 'http://ac.test/.well-known/jwks.json']]),
    now: () => now,
    logger: createLogger('test', 'silent'),
    fetch: (async () => {
      fetches++;
      return new Response(JSON.stringify({ keys: [jwk] }));
    }) as typeof fetch,
  });
  return { jwks, fetches: () => fetches, advance: (ms: number) => (now += ms), now: () => now };
}

describe('JwksClient.findNow', () => {
  it('answers only what find would answer without waiting for a fetch', async () => {
    const { jwks, fetches, advance, now } = client();
    expect(jwks.findNow(ISSUER, 'k1', now())).toBeUndefined();
    expect(fetches()).toBe(0);
    const found = await jwks.find(ISSUER, 'k1', now());
    expect(found.ok).toBe(true);
    expect(jwks.findNow(ISSUER, 'k1', now())).toBe(found.ok ? found.value : undefined);
    expect(jwks.findNow(ISSUER, 'k2', now())).toBeUndefined();
    expect(jwks.findNow('https://elsewhere.test', 'k1', now())).toBeUndefined();
    expect(fetches()).toBe(1);
    // Past the hour the set is stale but usable, and a refresh starts in the background.
    advance(HOUR_MS + 1);
    expect(jwks.findNow(ISSUER, 'k1', now())).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(fetches()).toBe(2);
  });
});

describe('JwksClient start-up and readiness', () => {
  it('fetches keys as soon as the issuer answers, not after the 30 s refresh limit', async () => {
    let now = 1_000_000;
    let answering = false;
    let fetches = 0;
    const jwk = {
      ...generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }),
      kid: 'k1',
    };
    const jwks = new JwksClient({
      policy: jwksCachePolicy([ISSUER]),
      jwksUrls: new Map([[ISSUER, 'http://ac.test/.well-known/jwks.json']]),
      now: () => now,
      logger: createLogger('test', 'silent'),
      fetch: (async () => {
        fetches++;
        if (!answering) throw new TypeError('fetch failed');
        return new Response(JSON.stringify({ keys: [jwk] }));
      }) as typeof fetch,
    });
    // A request's lookup while the issuer is down starts the policy's 30 s limit.
    expect(await jwks.find(ISSUER, 'k1', now)).toMatchObject({ ok: false });
    expect(jwks.holdsUsableKeys(now)).toBe(false);
    const abort = new AbortController();
    const held = jwks.fetchUntilHeld(abort.signal, 20);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(fetches).toBeGreaterThan(2);
    answering = true;
    expect(await held).toBe(true);
    expect(jwks.holdsUsableKeys(now)).toBe(true);
    expect((await jwks.find(ISSUER, 'k1', now)).ok).toBe(true);
    // Held keys stay usable while the issuer is down, for the TTL plus the stale grace.
    answering = false;
    now += 2 * HOUR_MS - 1;
    expect(jwks.holdsUsableKeys(now)).toBe(true);
    now += 1;
    expect(jwks.holdsUsableKeys(now)).toBe(false);
  });

  it('stops retrying when aborted', async () => {
    const jwks = new JwksClient({
      policy: jwksCachePolicy([ISSUER]),
      jwksUrls: new Map([[ISSUER, 'http://ac.test/.well-known/jwks.json']]),
      now: () => 0,
      logger: createLogger('test', 'silent'),
      fetch: (async () => {
        throw new TypeError('fetch failed');
      }) as typeof fetch,
    });
    const abort = new AbortController();
    const held = jwks.fetchUntilHeld(abort.signal, 20);
    abort.abort();
    expect(await held).toBe(false);
  });
});
