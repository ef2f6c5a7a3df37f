import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { planRewrap } from '../../core/keys/master-key.ts';
import {
  SigningKeyRing,
  type KeySchedule,
  type SigningKey,
  type SigningKeyPolicy,
  type SigningRingEffect,
  type SigningRingEvent,
} from '../../core/keys/signing-ring.ts';
import { open, seal, type MasterKeys } from '../../adapters/crypto/envelope.ts';
import type { SigningKeyMaterial } from '../../adapters/jwt/tokens.ts';
import type { Logger } from '../../adapters/logging/logger.ts';
import type { Clock } from '../shared/clock.ts';
import type { AuditLog, SigningKeyStore, StoredSigningKey } from '../../ports/ac.ts';

/** A key's usable halves: the private key signs, the JWK is published. */
export interface KeyMaterial {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicJwk: Readonly<Record<string, string>>;
}

/** The public half as JWKS publishes it. */
function publicJwkOf(kid: string, privateKey: KeyObject): Record<string, string> {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as Record<string, string>;
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x ?? '', kid, alg: 'EdDSA', use: 'sig' };
}

/** The JWK fields a published key must have; anything else in a stored JWK is ignored. */
const JWK_FIELDS = ['kty', 'crv', 'x', 'kid', 'alg', 'use'] as const;

/**
 * The public JWK to publish for a stored key: derived from its decrypted private key, never
 * taken from the row. The row's `public_jwk` is not covered by the private key's encryption,
 * so a row whose stored JWK differs from the derived one has been altered (or corrupted):
 * that stops the service rather than publish, or quietly repair, it.
 */
export function checkedPublicJwk(
  stored: Pick<StoredSigningKey, 'kid' | 'publicJwk'>,
  privateKey: KeyObject,
): Record<string, string> {
  const derived = publicJwkOf(stored.kid, privateKey);
  const differing = JWK_FIELDS.filter((field) => stored.publicJwk[field] !== derived[field]);
  if (differing.length > 0) {
    throw new Error(
      `signing key ${stored.kid}: the stored public key does not match its private key ` +
        `(${differing.join(', ')} differ); the row in ac.signing_keys was altered, so AC refuses ` +
        'to publish it. Delete the row (AC creates a new key) or restore it from a backup.',
    );
  }
  return derived;
}

/** Opens a stored key with the master keys; a key that will not open stops the service. */
function unsealKey(stored: StoredSigningKey, masterKeys: MasterKeys): SigningKey<KeyMaterial> {
  const opened = open(
    masterKeys,
    { sealed: stored.privateKeySealed, masterKeyVersion: stored.masterKeyVersion },
    stored.kid,
  );
  if (!opened.ok) {
    throw new Error(
      `cannot open signing key ${stored.kid}: ${opened.error.kind} (check AC_MASTER_KEY and AC_PREVIOUS_MASTER_KEYS)`,
    );
  }
  const privateKey = createPrivateKey({ key: opened.value, format: 'der', type: 'pkcs8' });
  return {
    kid: stored.kid,
    createdAt: stored.createdAtMs,
    activeFrom: stored.activeFromMs,
    expiresAt: stored.expiresAtMs,
    material: {
      privateKey,
      publicKey: createPublicKey(privateKey),
      publicJwk: checkedPublicJwk(stored, privateKey),
    },
  };
}

/** Generates and seals the key for a slot. */
function generateKey(schedule: KeySchedule, masterKeys: MasterKeys, now: number): StoredSigningKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  const sealed = seal(masterKeys, der, schedule.kid);
  return {
    kid: schedule.kid,
    publicJwk: publicJwkOf(schedule.kid, privateKey),
    privateKeySealed: sealed.sealed,
    masterKeyVersion: sealed.masterKeyVersion,
    createdAtMs: now,
    activeFromMs: schedule.activeFrom,
    expiresAtMs: schedule.expiresAt,
  };
}

/**
 * Moves every stored key to the current master-key version, under the rotation lock so
 * replicas starting together do it once; steps follow core's ordered, idempotent plan. Keys
 * under a master key that is not loaded stop the start with a message naming them.
 */
async function rewrapUnderCurrentMasterKey(options: SigningKeyServiceOptions): Promise<void> {
  const { masterKeys } = options;
  await options.store.withRotationLock(async (keys) => {
    const stored = await keys.list();
    const plan = planRewrap(
      stored.map((key) => ({ id: key.kid, masterKeyVersion: key.masterKeyVersion })),
      { current: masterKeys.currentVersion, loaded: new Set(masterKeys.keys.keys()) },
    );
    if (!plan.ok) throw new Error(`master keys are misconfigured: ${plan.error.kind}`);
    if (plan.value.unreadable.length > 0) {
      const names = plan.value.unreadable.map((r) => `${r.id} (v${r.masterKeyVersion})`).join(', ');
      throw new Error(`signing keys sealed under master keys that are not loaded: ${names}`);
    }
    for (const step of plan.value.steps) {
      const key = stored.find((candidate) => candidate.kid === step.id);
      if (!key || key.masterKeyVersion !== step.fromVersion) continue;
      const opened = open(
        masterKeys,
        { sealed: key.privateKeySealed, masterKeyVersion: step.fromVersion },
        key.kid,
      );
      if (!opened.ok) throw new Error(`cannot open signing key ${key.kid}: ${opened.error.kind}`);
      const resealed = seal(masterKeys, opened.value, key.kid);
      await keys.reseal(key.kid, resealed.sealed, resealed.masterKeyVersion);
      options.logger.info(
        { kid: key.kid, from: step.fromVersion, to: step.toVersion },
        'signing key re-wrapped',
      );
    }
  });
}

export interface SigningKeyServiceOptions {
  readonly store: SigningKeyStore;
  readonly masterKeys: MasterKeys;
  readonly policy: SigningKeyPolicy;
  readonly clock: Clock;
  readonly audit: AuditLog;
  readonly logger: Logger;
}

/** Longest wait between two ticks, so a replica notices keys created elsewhere in time. */
const MAX_TICK_INTERVAL_MS = 60_000;

/**
 * Drives core's signing-key ring with real time and PostgreSQL. The ring decides which key
 * signs, which keys are published and when to create or retire one; this service carries
 * out those effects under the store's rotation lock, so with several replicas a slot's key
 * is generated exactly once (a replica that comes second finds the stored key and uses it).
 * State lives in the store, so a restart resumes with the same keys.
 */
export class SigningKeyService {
  private ring: SigningKeyRing<KeyMaterial>;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();

  private constructor(private readonly options: SigningKeyServiceOptions) {
    this.ring = new SigningKeyRing(options.policy);
  }

  /**
   * Re-wraps stored keys under the current master key (core's re-wrap plan), loads them and
   * brings the ring up to date (creating a key if none signs).
   */
  static async start(options: SigningKeyServiceOptions): Promise<SigningKeyService> {
    const service = new SigningKeyService(options);
    await rewrapUnderCurrentMasterKey(options);
    const stored = await options.store.list();
    service.ring = new SigningKeyRing(
      options.policy,
      stored.map((key) => unsealKey(key, options.masterKeys)),
    );
    await service.tick();
    return service;
  }

  /**
   * Runs the ring at the clock's current time and carries out its effects. A failed tick
   * rejects its caller only; the next tick runs (the ring retries what did not arrive).
   */
  tick(): Promise<void> {
    const run = this.ticking.then(() => this.runTick());
    this.ticking = run.catch(() => undefined);
    return run;
  }

  /** Ticks on the ring's own deadlines (at least once a minute) until `stop`. */
  schedule(): void {
    const deadline = this.ring.nextDeadline() ?? this.options.clock.now();
    const delay = Math.min(MAX_TICK_INTERVAL_MS, Math.max(0, deadline - this.options.clock.now()));
    this.timer = setTimeout(() => {
      this.tick().then(
        () => this.schedule(),
        (error: unknown) => {
          this.options.logger.error({ err: error }, 'signing-key tick failed');
          this.schedule();
        },
      );
    }, delay);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The key that signs now, or undefined when none is usable (the service is not ready). */
  signingKey(): SigningKeyMaterial | undefined {
    const key = this.ring.signingKey(this.options.clock.now());
    return key && { kid: key.kid, privateKey: key.material.privateKey };
  }

  /** The JWKS document: every published key (next, current, previous in overlap). */
  jwks(): { keys: Readonly<Record<string, string>>[] } {
    return {
      keys: this.ring.publishedKeys(this.options.clock.now()).map((key) => key.material.publicJwk),
    };
  }

  /** The public key of a published key, for verifying AC's own tokens (admin calls). */
  publicKey(kid: string): KeyObject | undefined {
    return this.ring.publishedKeys(this.options.clock.now()).find((key) => key.kid === kid)
      ?.material.publicKey;
  }

  /** Seconds since the signing key became active, or undefined when none signs. */
  signingKeyAgeSeconds(): number | undefined {
    const now = this.options.clock.now();
    const key = this.ring.signingKey(now);
    return key && (now - key.activeFrom) / 1000;
  }

  private async runTick(): Promise<void> {
    const now = this.options.clock.now();
    let effects = this.ring.handle({ type: 'tick' }, now);
    while (effects.length > 0) {
      const events: SigningRingEvent<KeyMaterial>[] = [];
      for (const effect of effects) {
        const event = await this.carryOut(effect, now);
        if (event) events.push(event);
      }
      effects = events.flatMap((event) => this.ring.handle(event, now));
    }
  }

  private async carryOut(
    effect: SigningRingEffect,
    now: number,
  ): Promise<SigningRingEvent<KeyMaterial> | undefined> {
    if (effect.type === 'retire_key') {
      await this.options.store.withRotationLock((keys) => keys.remove(effect.kid));
      this.options.logger.info({ kid: effect.kid }, 'signing key retired');
      return undefined;
    }
    const stored = await this.findOrCreate(effect.schedule, now);
    const key = unsealKey(stored, this.options.masterKeys);
    return {
      type: 'key_generated',
      kid: key.kid,
      material: key.material,
      createdAt: key.createdAt,
    };
  }

  /** Under the rotation lock: the slot's stored key if another replica made it, else a new one. */
  private async findOrCreate(schedule: KeySchedule, now: number): Promise<StoredSigningKey> {
    const { key, created } = await this.options.store.withRotationLock(async (keys) => {
      const existing = (await keys.list()).find((stored) => stored.kid === schedule.kid);
      if (existing) return { key: existing, created: false };
      const fresh = generateKey(schedule, this.options.masterKeys, now);
      await keys.insert(fresh);
      return { key: fresh, created: true };
    });
    if (created) {
      this.options.logger.info(
        { kid: key.kid, active_from: key.activeFromMs },
        'signing key created',
      );
      await this.options.audit.record({
        type: 'signing_key_rotated',
        outcome: 'success',
        subject: key.kid,
      });
    }
    return key;
  }
}
