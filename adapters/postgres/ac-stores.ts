import { err, ok, type Result } from '../../core/result.ts';
import type {
  AuditEvent,
  AuditEventType,
  AuditLog,
  DuplicateError,
  ServiceRecord,
  ServiceStore,
  SigningKeyStore,
  SigningKeyTransaction,
  StoredSigningKey,
  UserRecord,
  UserStore,
} from '../../ports/ac.ts';
import { inTransaction, type Pool, type PoolClient } from './pool.ts';

const UNIQUE_VIOLATION = '23505';
const isUniqueViolation = (error: unknown) =>
  (error as { code?: string }).code === UNIQUE_VIOLATION;

/** Users in `ac.users`. */
export class PgUserStore implements UserStore {
  constructor(private readonly pool: Pool) {}

  async create(user: UserRecord): Promise<Result<void, DuplicateError>> {
    try {
      await this.pool.query(
        `INSERT INTO ac.users (user_id, username, password_hash, scopes, org_id)
         VALUES ($1, $2, $3, $4, $5)`,
        [user.userId, user.username, user.passwordHash, user.scopes, user.orgId],
      );
      return ok(undefined);
    } catch (error) {
      if (isUniqueViolation(error)) return err({ kind: 'duplicate', key: user.username });
      throw error;
    }
  }

  async findByUsername(username: string): Promise<UserRecord | undefined> {
    const result = await this.pool.query<{
      user_id: string;
      username: string;
      password_hash: string;
      scopes: string[];
      org_id: string;
    }>(
      'SELECT user_id, username, password_hash, scopes, org_id FROM ac.users WHERE username = $1',
      [username],
    );
    const row = result.rows[0];
    return row
      ? {
          userId: row.user_id,
          username: row.username,
          passwordHash: row.password_hash,
          scopes: row.scopes,
          orgId: row.org_id,
        }
      : undefined;
  }

  async assignOrg(username: string, orgId: string): Promise<boolean> {
    const result = await this.pool.query('UPDATE ac.users SET org_id = $2 WHERE username = $1', [
      username,
      orgId,
    ]);
    return (result.rowCount ?? 0) > 0;
  }
}

/** Services in `ac.services`. */
export class PgServiceStore implements ServiceStore {
  constructor(private readonly pool: Pool) {}

  async register(service: ServiceRecord): Promise<Result<void, DuplicateError>> {
    try {
      await this.pool.query(
        `INSERT INTO ac.services (client_id, name, secret_hash, scopes, org_id)
         VALUES ($1, $2, $3, $4, $5)`,
        [service.clientId, service.name, service.secretHash, service.scopes, service.orgId],
      );
      return ok(undefined);
    } catch (error) {
      if (isUniqueViolation(error)) return err({ kind: 'duplicate', key: service.clientId });
      throw error;
    }
  }

  async findByClientId(clientId: string): Promise<ServiceRecord | undefined> {
    const result = await this.pool.query<{
      client_id: string;
      name: string;
      secret_hash: Buffer;
      scopes: string[];
      org_id: string;
    }>(
      'SELECT client_id, name, secret_hash, scopes, org_id FROM ac.services WHERE client_id = $1',
      [clientId],
    );
    const row = result.rows[0];
    return row
      ? {
          clientId: row.client_id,
          name: row.name,
          secretHash: row.secret_hash,
          scopes: row.scopes,
          orgId: row.org_id,
        }
      : undefined;
  }

  async assignOrg(clientId: string, orgId: string): Promise<boolean> {
    const result = await this.pool.query(
      'UPDATE ac.services SET org_id = $2 WHERE client_id = $1',
      [clientId, orgId],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async count(): Promise<number> {
    const result = await this.pool.query<{ n: string }>('SELECT count(*) AS n FROM ac.services');
    return Number(result.rows[0]?.n ?? 0);
  }
}

type SigningKeyRow = {
  kid: string;
  public_jwk: Record<string, string>;
  private_key_sealed: Buffer;
  master_key_version: number;
  created_at_ms: string;
  active_from_ms: string;
  expires_at_ms: string;
};

const toStoredKey = (row: SigningKeyRow): StoredSigningKey => ({
  kid: row.kid,
  publicJwk: row.public_jwk,
  privateKeySealed: row.private_key_sealed,
  masterKeyVersion: row.master_key_version,
  createdAtMs: Number(row.created_at_ms),
  activeFromMs: Number(row.active_from_ms),
  expiresAtMs: Number(row.expires_at_ms),
});

const SELECT_KEYS =
  'SELECT kid, public_jwk, private_key_sealed, master_key_version, created_at_ms, active_from_ms, expires_at_ms FROM ac.signing_keys ORDER BY active_from_ms, kid';

/** Advisory-lock key for signing-key rotation, shared by every AC replica. */
const ROTATION_LOCK = 7_311_002;

/** Signing keys in `ac.signing_keys`; the rotation lock is a transaction-scoped advisory lock. */
export class PgSigningKeyStore implements SigningKeyStore {
  constructor(private readonly pool: Pool) {}

  async list(): Promise<StoredSigningKey[]> {
    const result = await this.pool.query<SigningKeyRow>(SELECT_KEYS);
    return result.rows.map(toStoredKey);
  }

  withRotationLock<T>(work: (keys: SigningKeyTransaction) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [ROTATION_LOCK]);
      return work(this.transaction(client));
    });
  }

  private transaction(client: PoolClient): SigningKeyTransaction {
    return {
      list: async () => (await client.query<SigningKeyRow>(SELECT_KEYS)).rows.map(toStoredKey),
      insert: async (key) => {
        await client.query(
          `INSERT INTO ac.signing_keys
             (kid, public_jwk, private_key_sealed, master_key_version,
              created_at_ms, active_from_ms, expires_at_ms)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [
            key.kid,
            key.publicJwk,
            key.privateKeySealed,
            key.masterKeyVersion,
            key.createdAtMs,
            key.activeFromMs,
            key.expiresAtMs,
          ],
        );
      },
      remove: async (kid) => {
        await client.query('DELETE FROM ac.signing_keys WHERE kid = $1', [kid]);
      },
      reseal: async (kid, privateKeySealed, masterKeyVersion) => {
        await client.query(
          'UPDATE ac.signing_keys SET private_key_sealed = $2, master_key_version = $3 WHERE kid = $1',
          [kid, privateKeySealed, masterKeyVersion],
        );
      },
    };
  }
}

/** An audit event waiting for its batch, with the callbacks of its `record` promise. */
interface PendingAudit {
  readonly event: AuditEvent;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Audit events in `ac.audit_log`, written by group commit: while one INSERT is running, new
 * events queue up and go together in the next multi-row INSERT. No timer adds latency: an
 * idle log writes at once. `record` resolves when its event's INSERT has committed.
 */
export class PgAuditLog implements AuditLog {
  private queue: PendingAudit[] = [];
  private writing = false;

  constructor(private readonly pool: Pool) {}

  record(event: AuditEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ event, resolve, reject });
      if (!this.writing) void this.writeQueued();
    });
  }

  private async writeQueued(): Promise<void> {
    this.writing = true;
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        await this.insert(batch.map((pending) => pending.event));
        for (const pending of batch) pending.resolve();
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
    this.writing = false;
  }

  private async insert(events: readonly AuditEvent[]): Promise<void> {
    const values: (string | null)[] = [];
    const rows = events.map((event, index) => {
      values.push(
        event.type,
        event.outcome,
        event.subject ?? null,
        event.reason ?? null,
        event.sourceIp ?? null,
      );
      const base = index * 5;
      return `($${base + 1}, $${base + 2}, $${base + 3}, $${base + 4}, $${base + 5})`;
    });
    await this.pool.query(
      `INSERT INTO ac.audit_log (event_type, outcome, subject, reason, source_ip) VALUES ${rows.join(', ')}`,
      values,
    );
  }

  async recent(limit: number): Promise<AuditEvent[]> {
    const result = await this.pool.query<{
      event_type: AuditEventType;
      outcome: 'success' | 'failure';
      subject: string | null;
      reason: string | null;
      source_ip: string | null;
    }>(
      'SELECT event_type, outcome, subject, reason, source_ip FROM ac.audit_log ORDER BY event_id DESC LIMIT $1',
      [limit],
    );
    return result.rows.map((row) => ({
      type: row.event_type,
      outcome: row.outcome,
      ...(row.subject === null ? {} : { subject: row.subject }),
      ...(row.reason === null ? {} : { reason: row.reason }),
      ...(row.source_ip === null ? {} : { sourceIp: row.source_ip }),
    }));
  }
}
