/**
 * The Auth Controller's signing-key ring (spec 003: "Key rotation management (weekly with
 * 1-week overlap)"). Core decides; the caller generates, stores and deletes keys.
 *
 * Time is cut into rotation slots of `rotationPeriodMs` (a week) starting at `anchorMs`.
 * Slot n's key has
 * - `activeFrom` = anchor + n * period: it signs from then until the next key is active;
 * - `expiresAt` = activeFrom + period + overlap: it stays published through the overlap so
 *   every token it signed still verifies, then it is retired (deleted);
 * - kid = `${kidPrefix}-${activeFrom}`: deterministic, so replicas that race to create the
 *   same slot's key agree on its id and the store can keep the first one.
 *
 * The next slot's key is requested `prePublishLeadMs` (a day) before it becomes active and is
 * published from then on, so validators whose JWKS cache (1 h) refreshes in that window have
 * it before the first token it signs. A key is only used to sign while every token it signs
 * (up to `maxTokenLifetimeMs`) expires before the key does.
 *
 * All times are milliseconds since the Unix epoch. Key material `M` is opaque to core.
 */

export interface SigningKeyPolicy {
  /** Length of a rotation slot (ms): a new key becomes active this often. */
  readonly rotationPeriodMs: number;
  /** How long a key stays published after it stops signing (ms). */
  readonly overlapMs: number;
  /** How long before its activation a key is generated and published (ms). */
  readonly prePublishLeadMs: number;
  /** The longest token lifetime any key signs (ms). */
  readonly maxTokenLifetimeMs: number;
  /** Origin of the slot grid (ms since the epoch). */
  readonly anchorMs: number;
  /** Kid prefix, e.g. the cluster name, so kids stay unique across a federation. */
  readonly kidPrefix: string;
  /** A requested key that has not arrived is requested again after this long (ms). */
  readonly generationRetryMs: number;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const WEEK_MS = 7 * DAY_MS;

/**
 * Weekly rotation, one-week overlap, next key published a day ahead (well over the 1 h JWKS
 * cache), 2 h maximum token lifetime (service tokens), slots aligned to the epoch.
 */
export const DEFAULT_SIGNING_KEY_POLICY: SigningKeyPolicy = {
  rotationPeriodMs: WEEK_MS,
  overlapMs: WEEK_MS,
  prePublishLeadMs: DAY_MS,
  maxTokenLifetimeMs: 2 * HOUR_MS,
  anchorMs: 0,
  kidPrefix: 'ac',
  generationRetryMs: 60_000,
};

export interface SigningKey<M> {
  readonly kid: string;
  /** When the key material was generated (ms). */
  readonly createdAt: number;
  /** When the key starts signing (ms). */
  readonly activeFrom: number;
  /** When the key is retired and stops being published (ms). */
  readonly expiresAt: number;
  readonly material: M;
}

/** The schedule of the key for one slot, before it exists. */
export interface KeySchedule {
  readonly kid: string;
  readonly activeFrom: number;
  readonly expiresAt: number;
}

export type SigningRingEvent<M> =
  /** Time passed: retire, and request keys that are due. */
  | { readonly type: 'tick' }
  /** The caller generated (or found in the store) the key it was asked for. */
  | {
      readonly type: 'key_generated';
      readonly kid: string;
      readonly material: M;
      readonly createdAt: number;
    };

export type SigningRingEffect =
  /** Generate an Ed25519 key pair with this kid and schedule, store it, and feed it back. */
  | { readonly type: 'generate_key'; readonly schedule: KeySchedule }
  /** Delete this key: it is past its overlap and no unexpired token uses it. */
  | { readonly type: 'retire_key'; readonly kid: string };

/** The schedule of the key for the slot that contains `instant`, plus `slotOffset` slots. */
export function keyScheduleAt(
  policy: SigningKeyPolicy,
  instant: number,
  slotOffset = 0,
): KeySchedule {
  const slot = Math.floor((instant - policy.anchorMs) / policy.rotationPeriodMs) + slotOffset;
  const activeFrom = policy.anchorMs + slot * policy.rotationPeriodMs;
  return {
    kid: `${policy.kidPrefix}-${activeFrom}`,
    activeFrom,
    expiresAt: activeFrom + policy.rotationPeriodMs + policy.overlapMs,
  };
}

/** The signing-key ring state machine. */
export class SigningKeyRing<M> {
  private readonly keysByKid = new Map<string, SigningKey<M>>();
  /** Requested keys that have not arrived yet, with the instant of the last request. */
  private readonly pending = new Map<string, { schedule: KeySchedule; requestedAt: number }>();
  private lastNow: number | undefined;

  /** `keys` are the keys already stored (e.g. loaded at start-up). */
  constructor(
    private readonly policy: SigningKeyPolicy = DEFAULT_SIGNING_KEY_POLICY,
    keys: readonly SigningKey<M>[] = [],
  ) {
    for (const key of keys) this.keysByKid.set(key.kid, key);
  }

  /** Advances the ring to `now` (ms) and applies `event`; returns what the caller must do. */
  handle(event: SigningRingEvent<M>, now: number): SigningRingEffect[] {
    this.lastNow = now;
    if (event.type === 'key_generated') this.acceptKey(event.kid, event.material, event.createdAt);
    return [...this.retireExpired(now), ...this.requestDueKeys(now)];
  }

  /** The key that signs at `now`: the most recently activated key that outlives its tokens. */
  signingKey(now: number): SigningKey<M> | undefined {
    let best: SigningKey<M> | undefined;
    for (const key of this.keysByKid.values()) {
      const canSign =
        key.activeFrom <= now && now + this.policy.maxTokenLifetimeMs <= key.expiresAt;
      if (canSign && (best === undefined || key.activeFrom > best.activeFrom)) best = key;
    }
    return best;
  }

  /**
   * The keys the JWKS publishes at `now`: every key from `prePublishLeadMs` before its
   * activation until its expiry (current, previous in overlap, next), oldest first.
   */
  publishedKeys(now: number): SigningKey<M>[] {
    return [...this.keysByKid.values()]
      .filter((key) => key.activeFrom - this.policy.prePublishLeadMs <= now && now < key.expiresAt)
      .sort((a, b) => a.activeFrom - b.activeFrom);
  }

  /** Every key the ring holds, oldest first (for persistence and inspection). */
  keys(): SigningKey<M>[] {
    return [...this.keysByKid.values()].sort((a, b) => a.activeFrom - b.activeFrom);
  }

  /**
   * The next instant (ms) at which `tick` has something to do: a retirement, a key to
   * request, or a request to retry. Undefined before the first event.
   */
  nextDeadline(): number | undefined {
    if (this.lastNow === undefined) return undefined;
    const retirements = [...this.keysByKid.values()].map((key) => key.expiresAt);
    const retries = [...this.pending.values()].map(
      (p) => p.requestedAt + this.policy.generationRetryMs,
    );
    return Math.min(...retirements, ...retries, this.nextRequestTime(this.lastNow));
  }

  private acceptKey(kid: string, material: M, createdAt: number): void {
    const request = this.pending.get(kid);
    if (request === undefined || this.keysByKid.has(kid)) return;
    this.pending.delete(kid);
    this.keysByKid.set(kid, { ...request.schedule, createdAt, material });
  }

  private retireExpired(now: number): SigningRingEffect[] {
    const effects: SigningRingEffect[] = [];
    for (const key of this.keys()) {
      if (key.expiresAt <= now) {
        this.keysByKid.delete(key.kid);
        effects.push({ type: 'retire_key', kid: key.kid });
      }
    }
    return effects;
  }

  /** Slots whose key must exist at `now`: the current slot, and the next once in its lead. */
  private dueSchedules(now: number): KeySchedule[] {
    const current = keyScheduleAt(this.policy, now);
    const next = keyScheduleAt(this.policy, now, 1);
    const nextIsDue = now >= next.activeFrom - this.policy.prePublishLeadMs;
    return nextIsDue ? [current, next] : [current];
  }

  private requestDueKeys(now: number): SigningRingEffect[] {
    const due = this.dueSchedules(now);
    this.dropRequestsNoLongerDue(due);
    const effects: SigningRingEffect[] = [];
    for (const schedule of due) {
      if (this.keysByKid.has(schedule.kid)) continue;
      const request = this.pending.get(schedule.kid);
      if (request && now < request.requestedAt + this.policy.generationRetryMs) continue;
      this.pending.set(schedule.kid, { schedule, requestedAt: now });
      effects.push({ type: 'generate_key', schedule });
    }
    return effects;
  }

  /** A request for a slot that has passed is abandoned; its key would never sign. */
  private dropRequestsNoLongerDue(due: readonly KeySchedule[]): void {
    for (const kid of this.pending.keys()) {
      if (!due.some((schedule) => schedule.kid === kid)) this.pending.delete(kid);
    }
  }

  /** When the first slot after `now` without a key or request enters its pre-publish lead. */
  private nextRequestTime(now: number): number {
    for (let offset = 1; ; offset++) {
      const schedule = keyScheduleAt(this.policy, now, offset);
      if (!this.keysByKid.has(schedule.kid) && !this.pending.has(schedule.kid)) {
        return schedule.activeFrom - this.policy.prePublishLeadMs;
      }
    }
  }
}
