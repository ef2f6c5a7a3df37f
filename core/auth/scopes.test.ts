import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  COMPONENTS,
  OPERATIONS,
  PRINCIPALS,
  formatScope,
  formatScopeList,
  hasScopes,
  missingScopes,
  parseScope,
  parseScopeList,
  scopeSatisfies,
} from './scopes.ts';
import type { Scope } from './scopes.ts';
import { unwrap } from '../result.ts';

const scopeArb: fc.Arbitrary<Scope> = fc.record({
  principal: fc.constantFrom(...PRINCIPALS),
  operation: fc.constantFrom(...OPERATIONS),
  component: fc.constantFrom(...COMPONENTS),
});

/** Every valid scope string, written out by hand from the spec's lists. */
const VALID_SCOPE_STRINGS = new Set(
  ['user', 'service'].flatMap((p) =>
    ['read', 'write', 'admin'].flatMap((o) =>
      ['ac', 'gc', 'mc', 'mh'].map((c) => `${p}.${o}.${c}`),
    ),
  ),
);

describe('scope grammar', () => {
  it('parses the spec examples', () => {
    expect(unwrap(parseScope('user.write.gc'))).toEqual({
      principal: 'user',
      operation: 'write',
      component: 'gc',
    });
    expect(unwrap(parseScope('service.read.mh'))).toEqual({
      principal: 'service',
      operation: 'read',
      component: 'mh',
    });
  });

  it('round-trips format then parse', () => {
    fc.assert(
      fc.property(scopeArb, (scope) => {
        expect(unwrap(parseScope(formatScope(scope)))).toEqual(scope);
      }),
    );
  });

  it('round-trips scope lists', () => {
    fc.assert(
      fc.property(fc.array(scopeArb, { minLength: 1, maxLength: 6 }), (scopes) => {
        expect(unwrap(parseScopeList(formatScopeList(scopes)))).toEqual(scopes);
      }),
    );
  });

  it('accepts exactly the 24 valid strings and rejects every other string', () => {
    const candidate = fc.oneof(
      fc.string(),
      fc.string({ unit: fc.constantFrom('u', 's', 'e', 'r', '.', 'a', 'd', 'm', 'g', 'c', ' ') }),
      fc
        .tuple(fc.constantFrom(...VALID_SCOPE_STRINGS), fc.string({ maxLength: 3 }), fc.nat(20))
        .map(([valid, noise, at]) => valid.slice(0, at) + noise + valid.slice(at)),
    );
    fc.assert(
      fc.property(candidate, (input) => {
        expect(parseScope(input).ok).toBe(VALID_SCOPE_STRINGS.has(input));
      }),
      { numRuns: 2000 },
    );
  });

  it('gives typed reasons for malformed scopes', () => {
    expect(parseScope('user.write')).toEqual({
      ok: false,
      error: { kind: 'wrong_segment_count', input: 'user.write', segments: 2 },
    });
    expect(parseScope('robot.read.gc')).toMatchObject({
      ok: false,
      error: { kind: 'unknown_principal', principal: 'robot' },
    });
    expect(parseScope('user.delete.gc')).toMatchObject({
      ok: false,
      error: { kind: 'unknown_operation', operation: 'delete' },
    });
    expect(parseScope('user.read.db')).toMatchObject({
      ok: false,
      error: { kind: 'unknown_component', component: 'db' },
    });
    expect(parseScope('User.read.gc').ok).toBe(false);
    expect(parseScope(' user.read.gc').ok).toBe(false);
    expect(parseScope('user.read.gc.').ok).toBe(false);
  });

  it('rejects empty lists and lists with doubled or trailing spaces', () => {
    expect(parseScopeList('')).toEqual({ ok: false, error: { kind: 'empty_scope_list' } });
    expect(parseScopeList('user.read.gc  user.write.mc').ok).toBe(false);
    expect(parseScopeList('user.read.gc ').ok).toBe(false);
  });
});

describe('scope checks', () => {
  const s = (text: string): Scope => unwrap(parseScope(text));

  it('admin implies write implies read, within one principal and component', () => {
    expect(scopeSatisfies(s('user.admin.gc'), s('user.write.gc'))).toBe(true);
    expect(scopeSatisfies(s('user.admin.gc'), s('user.read.gc'))).toBe(true);
    expect(scopeSatisfies(s('user.write.gc'), s('user.read.gc'))).toBe(true);
    expect(scopeSatisfies(s('user.read.gc'), s('user.write.gc'))).toBe(false);
    expect(scopeSatisfies(s('user.write.gc'), s('user.admin.gc'))).toBe(false);
  });

  it('never crosses principals or components', () => {
    fc.assert(
      fc.property(scopeArb, scopeArb, (granted, required) => {
        if (granted.principal !== required.principal || granted.component !== required.component) {
          expect(scopeSatisfies(granted, required)).toBe(false);
        }
      }),
    );
  });

  it('every scope satisfies itself', () => {
    fc.assert(fc.property(scopeArb, (scope) => scopeSatisfies(scope, scope)));
  });

  it('lists the missing scopes', () => {
    const granted = [s('user.write.mc'), s('user.read.gc')];
    expect(missingScopes(granted, [s('user.read.mc'), s('user.write.gc')])).toEqual([
      s('user.write.gc'),
    ]);
    expect(hasScopes(granted, [s('user.read.mc'), s('user.read.gc')])).toBe(true);
    expect(hasScopes(granted, [s('service.read.mc')])).toBe(false);
    expect(hasScopes([], [])).toBe(true);
  });
});
