import { describe, expect, it } from 'vitest';
import { handlerId, meetingId, participantId } from '../ids.ts';
import { checkConnectionClaims, type ConnectionTokenClaims } from './claims.ts';

const ME = handlerId('mh-a');
const base: ConnectionTokenClaims = {
  meeting: meetingId('m'),
  participant: participantId('p'),
  handler: ME,
  issuedAtMs: 1_000,
  expiresAtMs: 61_000,
  nonce: 'n',
};
const fresh = () => false;
const check = (
  claims: Partial<ConnectionTokenClaims>,
  now = 1_000,
  seen: (nonce: string) => boolean = fresh,
) => checkConnectionClaims({ ...base, ...claims }, ME, now, seen);

describe('checkConnectionClaims', () => {
  it('accepts claims for this handler within their lifetime and returns them', () => {
    expect(check({})).toEqual({ ok: true, value: base });
  });

  it('checks in the documented order', () => {
    // Wrong handler and expired: the handler is named first.
    expect(check({ handler: handlerId('x') }, 1e9)).toEqual({ ok: false, error: 'wrong-handler' });
    // Too long and not yet valid: the lifetime first.
    expect(check({ issuedAtMs: 1e9, expiresAtMs: 2e9 })).toEqual({
      ok: false,
      error: 'lifetime-too-long',
    });
    // Expired and replayed: expiry first.
    expect(check({}, 1e9, () => true)).toEqual({ ok: false, error: 'expired' });
    expect(check({}, 1_000, () => true)).toEqual({ ok: false, error: 'nonce-replayed' });
  });

  it('asks about the token nonce', () => {
    const asked: string[] = [];
    check({ nonce: 'abc' }, 1_000, (n) => {
      asked.push(n);
      return false;
    });
    expect(asked).toEqual(['abc']);
  });

  it('rejects claims that are not well-formed', () => {
    for (const bad of [
      { meeting: '' },
      { participant: '' },
      { handler: '' },
      { nonce: '' },
      { nonce: 5 },
      { issuedAtMs: '1' },
      { expiresAtMs: Number.NaN },
      { expiresAtMs: 1_000 },
      { expiresAtMs: 999 },
    ]) {
      expect(check(bad as never)).toEqual({ ok: false, error: 'invalid-claims' });
    }
  });

  it('applies the skew and lifetime of the policy given', () => {
    const policy = { clockSkewMs: 100, maxLifetimeMs: 1_000 };
    const run = (claims: Partial<ConnectionTokenClaims>, now: number) =>
      checkConnectionClaims({ ...base, ...claims }, ME, now, fresh, policy);
    expect(run({ issuedAtMs: 0, expiresAtMs: 1_000 }, 0).ok).toBe(true);
    expect(run({ issuedAtMs: 0, expiresAtMs: 1_001 }, 0)).toEqual({
      ok: false,
      error: 'lifetime-too-long',
    });
    expect(run({ issuedAtMs: 100, expiresAtMs: 500 }, 0).ok).toBe(true);
    expect(run({ issuedAtMs: 101, expiresAtMs: 500 }, 0)).toEqual({
      ok: false,
      error: 'not-yet-valid',
    });
    expect(run({ issuedAtMs: 0, expiresAtMs: 500 }, 599).ok).toBe(true);
    expect(run({ issuedAtMs: 0, expiresAtMs: 500 }, 600)).toEqual({ ok: false, error: 'expired' });
  });
});
