/**
 * OAuth 2.0 scopes of the form `{principal}.{operation}.{component}` (spec 003, "1. Auth
 * Controller"), e.g. `user.write.gc` or `service.read.mh`.
 *
 * The grammar is strict: exactly three dot-separated lowercase segments, no whitespace, no
 * other characters. A token's `scope` claim carries its scopes separated by single spaces
 * (RFC 6749 section 3.3).
 *
 * Implication (the spec is silent, so this is a project decision): for the same principal
 * and component, `admin` implies `write` and `write` implies `read`. Principals never imply
 * each other: a `service.*` scope never satisfies a `user.*` requirement and vice versa, and
 * components never imply each other.
 */
import { err, ok } from '../result.ts';
import type { Result } from '../result.ts';

export const PRINCIPALS = ['user', 'service'] as const;
export const OPERATIONS = ['read', 'write', 'admin'] as const;
export const COMPONENTS = ['ac', 'gc', 'mc', 'mh'] as const;

export type Principal = (typeof PRINCIPALS)[number];
export type Operation = (typeof OPERATIONS)[number];
export type Component = (typeof COMPONENTS)[number];

export interface Scope {
  readonly principal: Principal;
  readonly operation: Operation;
  readonly component: Component;
}

export type ScopeError =
  | { readonly kind: 'wrong_segment_count'; readonly input: string; readonly segments: number }
  | { readonly kind: 'unknown_principal'; readonly input: string; readonly principal: string }
  | { readonly kind: 'unknown_operation'; readonly input: string; readonly operation: string }
  | { readonly kind: 'unknown_component'; readonly input: string; readonly component: string }
  | { readonly kind: 'empty_scope_list' };

const isOneOf = <T extends string>(values: readonly T[], candidate: string): candidate is T =>
  (values as readonly string[]).includes(candidate);

/** Parses one scope string such as `user.write.gc`. */
export function parseScope(input: string): Result<Scope, ScopeError> {
  const segments = input.split('.');
  if (segments.length !== 3) {
    return err({ kind: 'wrong_segment_count', input, segments: segments.length });
  }
  const [principal = '', operation = '', component = ''] = segments;
  if (!isOneOf(PRINCIPALS, principal)) return err({ kind: 'unknown_principal', input, principal });
  if (!isOneOf(OPERATIONS, operation)) return err({ kind: 'unknown_operation', input, operation });
  if (!isOneOf(COMPONENTS, component)) return err({ kind: 'unknown_component', input, component });
  return ok({ principal, operation, component });
}

/** Formats a scope as `{principal}.{operation}.{component}`. */
export function formatScope(scope: Scope): string {
  return `${scope.principal}.${scope.operation}.${scope.component}`;
}

/**
 * Parses a space-separated scope list (a token's `scope` claim). Every entry must be a
 * well-formed scope, separated by exactly one space; the list may not be empty.
 */
export function parseScopeList(input: string): Result<readonly Scope[], ScopeError> {
  if (input === '') return err({ kind: 'empty_scope_list' });
  const scopes: Scope[] = [];
  for (const entry of input.split(' ')) {
    const parsed = parseScope(entry);
    if (!parsed.ok) return parsed;
    scopes.push(parsed.value);
  }
  return ok(scopes);
}

/** Formats scopes as a space-separated list, the form of a token's `scope` claim. */
export function formatScopeList(scopes: readonly Scope[]): string {
  return scopes.map(formatScope).join(' ');
}

const OPERATION_RANK: Readonly<Record<Operation, number>> = { read: 0, write: 1, admin: 2 };

/** True when `granted` satisfies `required`: same principal and component, equal or higher operation. */
export function scopeSatisfies(granted: Scope, required: Scope): boolean {
  return (
    granted.principal === required.principal &&
    granted.component === required.component &&
    OPERATION_RANK[granted.operation] >= OPERATION_RANK[required.operation]
  );
}

/** The required scopes that no granted scope satisfies (empty when access is allowed). */
export function missingScopes(granted: readonly Scope[], required: readonly Scope[]): Scope[] {
  return required.filter((needed) => !granted.some((held) => scopeSatisfies(held, needed)));
}

/** Whether the granted scopes satisfy every required scope. */
export function hasScopes(granted: readonly Scope[], required: readonly Scope[]): boolean {
  return missingScopes(granted, required).length === 0;
}
