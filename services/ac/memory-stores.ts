import { isOrgId } from '../../core/auth/claims.ts';
import { takeFromAll, type TokenBucketState } from '../../core/auth/token-bucket.ts';
import { err, ok, type Result } from '../../core/result.ts';
import type {
  AuditEvent,
  AuditLog,
  BucketCharge,
  DuplicateError,
  ServiceRecord,
  ServiceStore,
  SigningKeyStore,
  SigningKeyTransaction,
  StoredSigningKey,
  TokenBuckets,
  UserRecord,
  UserStore,
} from '../../ports/ac.ts';

/** Refuses a malformed organisation id, as the database's CHECK constraint does. */
function requireOrgId(orgId: string): void {
  if (!isOrgId(orgId)) throw new Error(`malformed organisation id ${JSON.stringify(orgId)}`);
}

/** In-memory users, for the simulator and tests. */
export class MemoryUserStore implements UserStore {
  private readonly byUsername = new Map<string, UserRecord>();

  async create(user: UserRecord): Promise<Result<void, DuplicateError>> {
    requireOrgId(user.orgId);
    if (this.byUsername.has(user.username)) return err({ kind: 'duplicate', key: user.username });
    this.byUsername.set(user.username, user);
    return ok(undefined);
  }

  async findByUsername(username: string): Promise<UserRecord | undefined> {
    return this.byUsername.get(username);
  }

  async assignOrg(username: string, orgId: string): Promise<boolean> {
    requireOrgId(orgId);
    const user = this.byUsername.get(username);
    if (!user) return false;
    this.byUsername.set(username, { ...user, orgId });
    return true;
  }
}

/** In-memory services, for the simulator and tests. */
export class MemoryServiceStore implements ServiceStore {
  private readonly byClientId = new Map<string, ServiceRecord>();

  async register(service: ServiceRecord): Promise<Result<void, DuplicateError>> {
    requireOrgId(service.orgId);
    if (this.byClientId.has(service.clientId)) {
      return err({ kind: 'duplicate', key: service.clientId });
    }
    this.byClientId.set(service.clientId, service);
    return ok(undefined);
  }

  async findByClientId(clientId: string): Promise<ServiceRecord | undefined> {
    return this.byClientId.get(clientId);
  }

  async assignOrg(clientId: string, orgId: string): Promise<boolean> {
    requireOrgId(orgId);
    const service = this.byClientId.get(clientId);
    if (!service) return false;
    this.byClientId.set(clientId, { ...service, orgId });
    return true;
  }

  async count(): Promise<number> {
    return this.byClientId.size;
  }
}

/**
 * In-memory signing keys. The rotation lock is a promise chain; work inside it edits a
 * copy that replaces the key set only when the work succeeds, as a transaction would.
 */
export class MemorySigningKeyStore implements SigningKeyStore {
  private keys = new Map<string, StoredSigningKey>();
  private lock: Promise<unknown> = Promise.resolve();

  async list(): Promise<StoredSigningKey[]> {
    return sortedByCreation(this.keys);
  }

  withRotationLock<T>(work: (keys: SigningKeyTransaction) => Promise<T>): Promise<T> {
    const run = this.lock.then(async () => {
      const staged = new Map(this.keys);
      const result = await work(stagedTransaction(staged));
      this.keys = staged;
      return result;
    });
    this.lock = run.catch(() => undefined);
    return run;
  }
}

const sortedByCreation = (keys: ReadonlyMap<string, StoredSigningKey>) =>
  [...keys.values()].sort((a, b) => a.activeFromMs - b.activeFromMs);

function stagedTransaction(staged: Map<string, StoredSigningKey>): SigningKeyTransaction {
  return {
    list: async () => sortedByCreation(staged),
    insert: async (key) => {
      if (staged.has(key.kid)) throw new Error(`signing key ${key.kid} already exists`);
      staged.set(key.kid, key);
    },
    remove: async (kid) => {
      staged.delete(kid);
    },
    reseal: async (kid, privateKeySealed, masterKeyVersion) => {
      const key = staged.get(kid);
      if (key) staged.set(kid, { ...key, privateKeySealed, masterKeyVersion });
    },
  };
}

/** In-memory audit log. */
export class MemoryAuditLog implements AuditLog {
  private readonly events: AuditEvent[] = [];

  async record(event: AuditEvent): Promise<void> {
    this.events.push(event);
  }

  async recent(limit: number): Promise<AuditEvent[]> {
    return this.events.slice(-limit).reverse();
  }
}

/** In-memory token buckets for one process. */
export class MemoryTokenBuckets implements TokenBuckets {
  private readonly states = new Map<string, TokenBucketState>();

  async takeFromAll(buckets: readonly BucketCharge[], now: number) {
    const decision = takeFromAll(
      buckets.map((bucket) => ({
        state: this.states.get(bucket.key),
        config: bucket.config,
        take: bucket.take,
      })),
      now,
    );
    if (decision.allowed) {
      buckets.forEach((bucket, index) => {
        const state = decision.states[index];
        if (state) this.states.set(bucket.key, state);
      });
    }
    return { allowed: decision.allowed, retryAfterMs: decision.retryAfterMs };
  }
}
