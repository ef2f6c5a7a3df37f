import type { Result } from '../core/result.ts';
import type { TokenBucketConfig } from '../core/auth/token-bucket.ts';

/** A user who logs in with a username and password. */
export interface UserRecord {
  readonly userId: string;
  readonly username: string;
  /** bcrypt hash (cost 12 or more). */
  readonly passwordHash: string;
  readonly scopes: readonly string[];
  /** The organisation the user belongs to (claim `org` of its tokens). */
  readonly orgId: string;
}

/** A service that authenticates with OAuth 2.0 client credentials. */
export interface ServiceRecord {
  readonly clientId: string;
  readonly name: string;
  /** SHA-256 of the random 256-bit client secret. */
  readonly secretHash: Buffer;
  readonly scopes: readonly string[];
  /** The organisation the service belongs to (claim `org` of its tokens). */
  readonly orgId: string;
}

/** A signing key as persisted: public JWK in the clear, private key sealed. */
export interface StoredSigningKey {
  readonly kid: string;
  readonly publicJwk: Readonly<Record<string, string>>;
  readonly privateKeySealed: Buffer;
  readonly masterKeyVersion: number;
  /** When the key was generated, when it starts signing, when it is retired (ms since epoch). */
  readonly createdAtMs: number;
  readonly activeFromMs: number;
  readonly expiresAtMs: number;
}

export type DuplicateError = { readonly kind: 'duplicate'; readonly key: string };

export interface UserStore {
  /** Stores a new user; fails when the username is taken. */
  create(user: UserRecord): Promise<Result<void, DuplicateError>>;
  findByUsername(username: string): Promise<UserRecord | undefined>;
  /** Moves a user to another organisation; false when the username is unknown. */
  assignOrg(username: string, orgId: string): Promise<boolean>;
}

export interface ServiceStore {
  /** Stores a new service; fails when the client id is taken. */
  register(service: ServiceRecord): Promise<Result<void, DuplicateError>>;
  findByClientId(clientId: string): Promise<ServiceRecord | undefined>;
  /** Moves a service to another organisation; false when the client id is unknown. */
  assignOrg(clientId: string, orgId: string): Promise<boolean>;
  /** Number of registered services (used to decide whether to seed a first admin). */
  count(): Promise<number>;
}

/** Changes to the key set, made while holding the rotation lock. */
export interface SigningKeyTransaction {
  list(): Promise<StoredSigningKey[]>;
  insert(key: StoredSigningKey): Promise<void>;
  remove(kid: string): Promise<void>;
  /** Replaces a key's sealed private key (re-wrap under a newer master key). */
  reseal(kid: string, privateKeySealed: Buffer, masterKeyVersion: number): Promise<void>;
}

export interface SigningKeyStore {
  list(): Promise<StoredSigningKey[]>;
  /**
   * Runs `work` holding the cluster-wide rotation lock: across all replicas, one
   * transaction at a time, so a rotation decided inside is made exactly once.
   */
  withRotationLock<T>(work: (keys: SigningKeyTransaction) => Promise<T>): Promise<T>;
}

/** The kinds of events the audit log records. */
export type AuditEventType =
  | 'user_token_issued'
  | 'user_login_failed'
  | 'service_token_issued'
  | 'service_auth_failed'
  | 'service_registered'
  | 'user_created'
  | 'org_assigned'
  | 'signing_key_rotated'
  | 'login_rate_limited';

/** One audit record: who, what, outcome. Never a password, secret or token. */
export interface AuditEvent {
  readonly type: AuditEventType;
  readonly outcome: 'success' | 'failure';
  readonly subject?: string;
  readonly reason?: string;
  readonly sourceIp?: string;
}

export interface AuditLog {
  record(event: AuditEvent): Promise<void>;
  /** The most recent events, newest first. */
  recent(limit: number): Promise<AuditEvent[]>;
}

/** One bucket to charge: its storage key and its configuration. */
export interface BucketCharge {
  readonly key: string;
  readonly config: TokenBucketConfig;
  /** False: the bucket must hold a token but is not charged (default true). */
  readonly take?: boolean;
}

/** Shared token buckets: charges one token from every bucket atomically, or none (core's `takeFromAll`). */
export interface TokenBuckets {
  takeFromAll(
    buckets: readonly BucketCharge[],
    now: number,
  ): Promise<{ readonly allowed: boolean; readonly retryAfterMs: number }>;
}
