import { randomUUID } from 'node:crypto';
import { parseScope } from '../../core/auth/scopes.ts';
import type { Principal } from '../../core/auth/scopes.ts';
import { err, ok, type Result } from '../../core/result.ts';
import { hashPassword, newClientId, newClientSecret } from './credentials.ts';
import type { AuditLog, ServiceStore, UserStore } from './ports.ts';

export type InvalidScope = {
  readonly kind: 'invalid_scope';
  readonly scope: string;
  readonly detail: string;
};

export type AccountError = InvalidScope | { readonly kind: 'duplicate'; readonly key: string };

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
  input: { username: string; password: string; scopes: readonly string[] },
): Promise<Result<{ userId: string }, AccountError>> {
  const scopes = checkScopes(input.scopes, 'user');
  if (!scopes.ok) return scopes;
  const userId = randomUUID();
  const passwordHash = await hashPassword(input.password, deps.bcryptCost);
  const created = await deps.users.create({
    userId,
    username: input.username,
    passwordHash,
    scopes: scopes.value,
  });
  if (!created.ok) return created;
  await deps.audit.record({ type: 'user_created', outcome: 'success', subject: userId });
  return ok({ userId });
}

/** Registers a service and returns its client id and its one-time client secret. */
export async function registerService(
  deps: { services: ServiceStore; audit: AuditLog },
  input: { name: string; scopes: readonly string[] },
): Promise<Result<{ clientId: string; clientSecret: string }, AccountError>> {
  const scopes = checkScopes(input.scopes, 'service');
  if (!scopes.ok) return scopes;
  const clientId = newClientId(input.name);
  const { secret, hash } = newClientSecret();
  const registered = await deps.services.register({
    clientId,
    name: input.name,
    secretHash: hash,
    scopes: scopes.value,
  });
  if (!registered.ok) return registered;
  await deps.audit.record({ type: 'service_registered', outcome: 'success', subject: clientId });
  return ok({ clientId, clientSecret: secret });
}
