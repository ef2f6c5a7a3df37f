import { randomUUID } from 'node:crypto';
import { isOrgId } from '../../core/auth/claims.ts';
import { parseScope } from '../../core/auth/scopes.ts';
import type { Principal } from '../../core/auth/scopes.ts';
import { err, ok, type Result } from '../../core/result.ts';
import { hashPassword, newClientId, newClientSecret } from './credentials.ts';
import type { AuditLog, ServiceStore, UserStore } from '../../ports/ac.ts';

export type InvalidScope = {
  readonly kind: 'invalid_scope';
  readonly scope: string;
  readonly detail: string;
};

export type InvalidOrg = { readonly kind: 'invalid_org'; readonly org: string };

export type AccountError =
  | InvalidScope
  | InvalidOrg
  | { readonly kind: 'duplicate'; readonly key: string }
  | { readonly kind: 'unknown_account'; readonly key: string };

/** Checks that an organisation id is well formed (a lower-case DNS label, as in claim `org`). */
export function checkOrg(org: string): Result<string, InvalidOrg> {
  return isOrgId(org) ? ok(org) : err({ kind: 'invalid_org', org });
}

/** Checks that every scope is well formed and belongs to `principal`. */
export function checkScopes(
  scopes: readonly string[],
  principal: Principal,
): Result<readonly string[], InvalidScope> {
  for (const scope of scopes) {
    const parsed = parseScope(scope);
    if (!parsed.ok) return err({ kind: 'invalid_scope', scope, detail: parsed.error.kind });
    if (parsed.value.principal !== principal) {
      return err({ kind: 'invalid_scope', scope, detail: `must be a ${principal}.* scope` });
    }
  }
  return ok(scopes);
}

/** Creates a user with a bcrypt-hashed password. */
export async function createUser(
  deps: { users: UserStore; audit: AuditLog; bcryptCost: number },
  input: { username: string; password: string; scopes: readonly string[]; org: string },
): Promise<Result<{ userId: string }, AccountError>> {
  const scopes = checkScopes(input.scopes, 'user');
  if (!scopes.ok) return scopes;
  const org = checkOrg(input.org);
  if (!org.ok) return org;
  const userId = randomUUID();
  const passwordHash = await hashPassword(input.password, deps.bcryptCost);
  const created = await deps.users.create({
    userId,
    username: input.username,
    passwordHash,
    scopes: scopes.value,
    orgId: org.value,
  });
  if (!created.ok) return created;
  await deps.audit.record({ type: 'user_created', outcome: 'success', subject: userId });
  return ok({ userId });
}

/** Registers a service and returns its client id and its one-time client secret. */
export async function registerService(
  deps: { services: ServiceStore; audit: AuditLog },
  input: { name: string; scopes: readonly string[]; org: string },
): Promise<Result<{ clientId: string; clientSecret: string }, AccountError>> {
  const scopes = checkScopes(input.scopes, 'service');
  if (!scopes.ok) return scopes;
  const org = checkOrg(input.org);
  if (!org.ok) return org;
  const clientId = newClientId(input.name);
  const { secret, hash } = newClientSecret();
  const registered = await deps.services.register({
    clientId,
    name: input.name,
    secretHash: hash,
    scopes: scopes.value,
    orgId: org.value,
  });
  if (!registered.ok) return registered;
  await deps.audit.record({ type: 'service_registered', outcome: 'success', subject: clientId });
  return ok({ clientId, clientSecret: secret });
}

/** Moves a user (by username) or a service (by client id) to another organisation. */
export async function assignOrg(
  deps: { users: UserStore; services: ServiceStore; audit: AuditLog },
  input: { account: { username: string } | { clientId: string }; org: string },
): Promise<Result<void, AccountError>> {
  const org = checkOrg(input.org);
  if (!org.ok) return org;
  const { account } = input;
  const [key, assigned] =
    'username' in account
      ? [account.username, await deps.users.assignOrg(account.username, org.value)]
      : [account.clientId, await deps.services.assignOrg(account.clientId, org.value)];
  if (!assigned) return err({ kind: 'unknown_account', key });
  await deps.audit.record({
    type: 'org_assigned',
    outcome: 'success',
    subject: key,
    reason: `org ${org.value}`,
  });
  return ok(undefined);
}
