import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildTokenClaims, checkClaims, readTokenClaims, validateClaims } from './claims.ts';
import type { NewTokenRequest, TokenClaims, ValidationPolicy } from './claims.ts';
import { parseScope } from './scopes.ts';
import type { Scope } from './scopes.ts';
import { unwrap } from '../result.ts';

const scope = (text: string): Scope => unwrap(parseScope(text));
const HOUR_MS = 3_600_000;
const LEEWAY_MS = 30_000;
const T0 = 1_800_000_000_000; // an instant on a whole second

const userRequest: NewTokenRequest = {
  subject: 'alice',
  kind: 'user',
  scopes: [scope('user.read.gc'), scope('user.write.mc')],
  org: 'acme',
  issuer: 'https://ac.us-west-1',
  audience: 'dark-tower',
  now: T0,
  jti: 'token-1',
};

const policy: ValidationPolicy = {
  trustedIssuers: new Set(['https://ac.us-west-1', 'https://ac.eu-west-1']),
  audience: 'dark-tower',
  requiredScopes: [scope('user.read.gc')],
  leewayMs: LEEWAY_MS,
};

const userClaims: TokenClaims = unwrap(buildTokenClaims(userRequest));
const rejection = (payload: unknown, now: number, p: ValidationPolicy = policy) => {
  const result = validateClaims(payload, p, now);
  return result.ok ? undefined : result.error;
};

describe('buildTokenClaims', () => {
  it('gives user tokens one hour and service tokens two hours, in NumericDate seconds', () => {
    expect(userClaims).toMatchObject({ iat: T0 / 1000, nbf: T0 / 1000, exp: T0 / 1000 + 3600 });
    expect(userClaims.scope).toBe('user.read.gc user.write.mc');
    const service = unwrap(
      buildTokenClaims({ ...userRequest, kind: 'service', scopes: [scope('service.read.mh')] }),
    );
    expect(service.exp - service.iat).toBe(7200);
    expect(service.token_type).toBe('service');
  });

  it('gives a shorter lifetime when asked, in whole seconds up to the kind’s', () => {
    const short = unwrap(buildTokenClaims({ ...userRequest, lifetimeMs: 5_000 }));
    expect(short.exp - short.iat).toBe(5);
    expect(validateClaims(short, policy, T0 + 4_000).ok).toBe(true);
    for (const lifetimeMs of [0, 999, 1_500, HOUR_MS + 1_000, -1_000, Number.NaN]) {
      expect(buildTokenClaims({ ...userRequest, lifetimeMs })).toEqual({
        ok: false,
        error: { kind: 'bad_lifetime', lifetimeMs, maxMs: HOUR_MS },
      });
    }
    expect(unwrap(buildTokenClaims({ ...userRequest, lifetimeMs: HOUR_MS })).exp).toBe(
      userClaims.exp,
    );
  });

  it('rounds the issue time down to the second', () => {
    const claims = unwrap(buildTokenClaims({ ...userRequest, now: T0 + 999 }));
    expect(claims.iat).toBe(T0 / 1000);
  });

  it('refuses empty fields, no scopes and scopes of the other principal', () => {
    expect(buildTokenClaims({ ...userRequest, subject: '' })).toEqual({
      ok: false,
      error: { kind: 'empty_field', field: 'subject' },
    });
    expect(buildTokenClaims({ ...userRequest, scopes: [] })).toEqual({
      ok: false,
      error: { kind: 'no_scopes' },
    });
    expect(buildTokenClaims({ ...userRequest, scopes: [scope('service.read.gc')] })).toEqual({
      ok: false,
      error: { kind: 'scope_principal_mismatch', tokenKind: 'user', scope: 'service.read.gc' },
    });
  });

  it('carries the organisation in claim org and refuses a malformed one', () => {
    expect(userClaims.org).toBe('acme');
    for (const org of ['', 'Acme', '-acme', 'acme-', 'a.b', 'a'.repeat(64), 'acme\u0000']) {
      expect(buildTokenClaims({ ...userRequest, org })).toEqual({
        ok: false,
        error: { kind: 'malformed_org', org },
      });
    }
    expect(unwrap(buildTokenClaims({ ...userRequest, org: 'a'.repeat(63) })).org).toHaveLength(63);
  });
});

describe('validateClaims', () => {
  it('accepts a fresh token and returns its parsed scopes', () => {
    const result = unwrap(validateClaims(userClaims, policy, T0 + 1000));
    expect(result.subject).toBe('alice');
    expect(result.kind).toBe('user');
    expect(result.scopes).toEqual(userRequest.scopes);
    expect(result.org).toBe('acme');
  });

  it('accepts a token built at any instant for its whole lifetime and rejects it after', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: T0, max: T0 + 365 * 24 * HOUR_MS }),
        fc.constantFrom('user' as const, 'service' as const),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (now, kind, fraction) => {
          const claims = unwrap(
            buildTokenClaims({
              ...userRequest,
              now,
              kind,
              scopes: [scope(`${kind}.admin.gc`)],
            }),
          );
          const p = { ...policy, requiredScopes: [scope(`${kind}.read.gc`)] };
          const lifetimeMs = (claims.exp - claims.iat) * 1000;
          const inside = claims.iat * 1000 + Math.floor(fraction * (lifetimeMs - 1));
          expect(validateClaims(claims, p, inside).ok).toBe(true);
          expect(rejection(claims, claims.exp * 1000 + LEEWAY_MS, p)?.kind).toBe('expired');
        },
      ),
    );
  });

  it('expired: exact leeway boundary', () => {
    const expMs = userClaims.exp * 1000;
    expect(validateClaims(userClaims, policy, expMs + LEEWAY_MS - 1).ok).toBe(true);
    expect(rejection(userClaims, expMs + LEEWAY_MS)).toEqual({
      kind: 'expired',
      expiredAtMs: expMs,
    });
  });

  it('not_yet_valid: exact leeway boundary', () => {
    const claims = { ...userClaims, nbf: userClaims.iat + 600 };
    const nbfMs = claims.nbf * 1000;
    expect(validateClaims(claims, policy, nbfMs - LEEWAY_MS).ok).toBe(true);
    expect(rejection(claims, nbfMs - LEEWAY_MS - 1)).toEqual({
      kind: 'not_yet_valid',
      validFromMs: nbfMs,
    });
  });

  it('issued_in_future: exact leeway boundary', () => {
    // nbf is in the past so only iat is in the future.
    const claims = { ...userClaims, nbf: userClaims.iat - 60 };
    const iatMs = claims.iat * 1000;
    expect(validateClaims(claims, policy, iatMs - LEEWAY_MS).ok).toBe(true);
    expect(rejection(claims, iatMs - LEEWAY_MS - 1)).toEqual({
      kind: 'issued_in_future',
      issuedAtMs: iatMs,
    });
  });

  it('lifetime_too_long: one second over the kind limit', () => {
    const atLimit = { ...userClaims, exp: userClaims.iat + 3600 };
    expect(validateClaims(atLimit, policy, T0).ok).toBe(true);
    expect(rejection({ ...userClaims, exp: userClaims.iat + 3601 }, T0)).toEqual({
      kind: 'lifetime_too_long',
      lifetimeMs: 3_601_000,
      maxMs: HOUR_MS,
    });
    // A service lifetime is too long for a user token even though service tokens may have it.
    expect(rejection({ ...userClaims, exp: userClaims.iat + 7200 }, T0)?.kind).toBe(
      'lifetime_too_long',
    );
  });

  it('wrong_issuer', () => {
    expect(rejection({ ...userClaims, iss: 'https://evil' }, T0)).toEqual({
      kind: 'wrong_issuer',
      issuer: 'https://evil',
    });
  });

  it('accepts every trusted (federated) issuer', () => {
    expect(validateClaims({ ...userClaims, iss: 'https://ac.eu-west-1' }, policy, T0).ok).toBe(
      true,
    );
  });

  it('wrong_audience, with audience as a string or an array', () => {
    expect(rejection({ ...userClaims, aud: 'other' }, T0)).toEqual({
      kind: 'wrong_audience',
      audience: ['other'],
    });
    expect(rejection({ ...userClaims, aud: ['a', 'b'] }, T0)?.kind).toBe('wrong_audience');
    expect(validateClaims({ ...userClaims, aud: ['a', 'dark-tower'] }, policy, T0).ok).toBe(true);
  });

  it('missing_scope lists what is missing; admin satisfies read', () => {
    const needsAdmin = { ...policy, requiredScopes: [scope('user.admin.mc')] };
    expect(rejection(userClaims, T0, needsAdmin)).toEqual({
      kind: 'missing_scope',
      missing: [scope('user.admin.mc')],
    });
    const admin = { ...userClaims, scope: 'user.admin.gc' };
    expect(validateClaims(admin, policy, T0).ok).toBe(true);
  });

  it('malformed_claims names the offending field', () => {
    const cases: [unknown, string][] = [
      [null, 'payload'],
      [[], 'payload'],
      ['token', 'payload'],
      [{ ...userClaims, iss: 7 }, 'iss'],
      [{ ...userClaims, sub: '' }, 'sub'],
      [{ ...userClaims, sub: undefined }, 'sub'],
      [{ ...userClaims, aud: [] }, 'aud'],
      [{ ...userClaims, aud: [1] }, 'aud'],
      [{ ...userClaims, iat: '1' }, 'iat'],
      [{ ...userClaims, nbf: Number.NaN }, 'nbf'],
      [{ ...userClaims, exp: -1 }, 'exp'],
      [{ ...userClaims, exp: userClaims.iat }, 'exp'],
      [{ ...userClaims, token_type: 'robot' }, 'token_type'],
      [{ ...userClaims, scope: 'user.read' }, 'scope'],
      [{ ...userClaims, scope: '' }, 'scope'],
      [{ ...userClaims, scope: 'service.read.gc' }, 'scope'],
      [{ ...userClaims, scope: ['user.read.gc'] }, 'scope'],
      [{ ...userClaims, jti: 5 }, 'jti'],
      [{ ...userClaims, org: undefined }, 'org'],
      [{ ...userClaims, org: '' }, 'org'],
      [{ ...userClaims, org: 'ACME' }, 'org'],
      [{ ...userClaims, org: ['acme'] }, 'org'],
      [{ ...userClaims, org: 'acme.evil' }, 'org'],
    ];
    for (const [payload, field] of cases) {
      expect(rejection(payload, T0)).toMatchObject({ kind: 'malformed_claims', field });
    }
  });

  it('never throws on arbitrary payloads', () => {
    fc.assert(
      fc.property(fc.anything(), (payload) => {
        expect(validateClaims(payload, policy, T0).ok).toBe(false);
      }),
    );
  });
});

describe('readTokenClaims and checkClaims', () => {
  it('judge claims read once afresh against every policy and time, as validateClaims does', () => {
    const read = readTokenClaims(userClaims);
    const fresh = checkClaims(read, policy, T0 + 1000);
    expect(fresh).toEqual(validateClaims(userClaims, policy, T0 + 1000));
    expect(checkClaims(read, policy, T0 + 2000)).toBe(fresh);
    const expired = T0 + HOUR_MS + LEEWAY_MS;
    expect(checkClaims(read, policy, expired)).toEqual(validateClaims(userClaims, policy, expired));
    const writer = { ...policy, requiredScopes: [scope('user.write.gc')] };
    expect(checkClaims(read, writer, T0)).toMatchObject({
      ok: false,
      error: { kind: 'missing_scope' },
    });
    const other = { ...policy, trustedIssuers: new Set(['https://ac.elsewhere']) };
    expect(checkClaims(read, other, T0)).toMatchObject({
      ok: false,
      error: { kind: 'wrong_issuer' },
    });
    const malformed = readTokenClaims({ ...userClaims, scope: 42 });
    expect(checkClaims(malformed, policy, T0)).toEqual(
      validateClaims({ ...userClaims, scope: 42 }, policy, T0),
    );
  });
});
