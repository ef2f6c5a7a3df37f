import { buildTokenClaims, validateClaims, type TokenClaims } from '../../core/auth/claims.ts';
import { parseScope, type Scope } from '../../core/auth/scopes.ts';
import { unwrap } from '../../core/result.ts';
import {
  SigningKeyRing,
  type SigningKeyPolicy,
  DEFAULT_SIGNING_KEY_POLICY,
} from '../../core/keys/signing-ring.ts';
import {
  emptyJwksCache,
  fetchFailed,
  fetchSucceeded,
  jwksCachePolicy,
  resolveKey,
  type JwksCachePolicy,
  type JwksCacheState,
} from '../../core/keys/jwks-cache.ts';
import type { Simulation } from '../engine/simulation.ts';
import type { NetworkNode } from '../net/network.ts';

/** A signed token as the simulation carries it: the claims and the kid that signed them. */
export interface SimToken {
  readonly claims: TokenClaims;
  readonly kid: string;
}

/** Scopes a user token carries (spec 003 join flow step 2). */
export const USER_SCOPES: readonly Scope[] = ['user.read.gc', 'user.write.mc', 'user.write.mh'].map(
  (s) => unwrap(parseScope(s)),
);

const KEY_GENERATION_MS = 50;

/**
 * A simulated Auth Controller: drives core's signing-key ring state machine (generate on
 * request, retire at expiry) and issues user tokens with core's claim rules. Times given to core
 * are epoch milliseconds: the simulation's start instant plus virtual time.
 */
export class AuthController {
  readonly node: NetworkNode;
  readonly ring: SigningKeyRing<string>;
  readonly issuer: string;
  private nextJti = 0;
  private lastSigningKid: string | undefined;
  /** Times the signing key changed between two issued tokens. */
  rotations = 0;

  constructor(
    private readonly sim: Simulation,
    readonly region: string,
    readonly policy: SigningKeyPolicy,
    private readonly epochMs: () => number,
  ) {
    this.node = { id: `ac/${region}`, region, isClient: false };
    this.issuer = `ac.${region}`;
    this.ring = new SigningKeyRing<string>(policy);
  }

  /**
   * Starts the ring: the first tick requests the current (and maybe next) key. `running`: the
   * platform was already up before the run (a warm start), so the keys that first tick asks
   * for exist at once instead of `KEY_GENERATION_MS` later (a client arriving in the first
   * milliseconds is not refused a token by the simulation's own start).
   */
  start(running = false): void {
    this.apply(this.ring.handle({ type: 'tick' }, this.epochMs()), running);
  }

  /** Issues a user token for `subject`, or undefined while no key can sign. */
  issue(subject: string): SimToken | undefined {
    const now = this.epochMs();
    const key = this.ring.signingKey(now);
    if (key === undefined) return undefined;
    if (this.lastSigningKid !== undefined && this.lastSigningKid !== key.kid) this.rotations++;
    this.lastSigningKid = key.kid;
    const claims = buildTokenClaims({
      subject,
      kind: 'user',
      scopes: USER_SCOPES,
      org: 'default',
      issuer: this.issuer,
      audience: 'dark-tower',
      now,
      jti: `${this.region}-${this.nextJti++}`,
    });
    return claims.ok ? { claims: claims.value, kid: key.kid } : undefined;
  }

  /** Kids of the keys the JWKS endpoint publishes now. */
  publishedKids(): string[] {
    return this.ring.publishedKeys(this.epochMs()).map((key) => key.kid);
  }

  private tick(): void {
    this.apply(this.ring.handle({ type: 'tick' }, this.epochMs()));
  }

  /** Carries out the ring's effects; `atOnce`: keys it asks for exist now (see `start`). */
  private apply(effects: ReturnType<SigningKeyRing<string>['handle']>, atOnce = false): void {
    for (const effect of effects) {
      if (effect.type === 'generate_key') {
        const kid = effect.schedule.kid;
        const generated = () =>
          this.apply(
            this.ring.handle(
              { type: 'key_generated', kid, material: kid, createdAt: this.epochMs() },
              this.epochMs(),
            ),
            atOnce,
          );
        if (atOnce) generated();
        else this.sim.after(KEY_GENERATION_MS * 1000, 'ac.key-generated', this.node.id, generated);
      }
    }
    const deadline = this.ring.nextDeadline();
    if (deadline !== undefined && Number.isFinite(deadline)) this.scheduleTick(deadline);
  }

  private scheduledTick: number | undefined;

  private scheduleTick(deadlineMs: number): void {
    if (this.scheduledTick !== undefined && this.scheduledTick <= deadlineMs) return;
    this.scheduledTick = deadlineMs;
    const at = Math.max(this.sim.now, (deadlineMs - this.epochMs()) * 1000 + this.sim.now);
    this.sim.at(at, 'ac.ring-tick', this.node.id, () => {
      if (this.scheduledTick !== deadlineMs) return;
      this.scheduledTick = undefined;
      this.tick();
    });
  }
}

/** Why a validator refused a token: a JWKS rejection or a claim rejection kind. */
export interface TokenRefusal {
  readonly kind: string;
}

/**
 * A service's token validation: core's JWKS cache over every federated Auth Controller (fresh
 * for an hour, refreshed on an unknown kid, rate-limited) and core's claim rules. A fetch the
 * cache asks for is answered at once from the Auth Controller's published keys: the simulator
 * does not model JWKS fetch latency.
 */
export class TokenValidator {
  private cache: JwksCacheState<string> = emptyJwksCache();
  private readonly policy: JwksCachePolicy;

  constructor(
    private readonly authControllers: readonly AuthController[],
    private readonly audience: string,
    private readonly requiredScopes: readonly Scope[],
    private readonly epochMs: () => number,
  ) {
    this.policy = jwksCachePolicy(authControllers.map((ac) => ac.issuer));
  }

  /** Verifies a token now; returns undefined when it is good. */
  verify(token: SimToken): TokenRefusal | undefined {
    const now = this.epochMs();
    for (let attempt = 0; attempt < 2; attempt++) {
      const resolution = resolveKey(this.cache, this.policy, token.claims.iss, token.kid, now);
      this.cache = resolution.state;
      const decision = resolution.decision;
      if (decision.kind === 'reject') return { kind: decision.reason };
      if (decision.kind === 'use_key') {
        if (decision.refreshInBackground) this.fetch(token.claims.iss, now);
        return this.checkClaims(token, now);
      }
      this.fetch(decision.issuer, now);
    }
    return { kind: 'keys_unavailable' };
  }

  private checkClaims(token: SimToken, now: number): TokenRefusal | undefined {
    const verdict = validateClaims(
      token.claims,
      {
        trustedIssuers: this.policy.trustedIssuers,
        audience: this.audience,
        requiredScopes: this.requiredScopes,
      },
      now,
    );
    return verdict.ok ? undefined : verdict.error;
  }

  private fetch(issuer: string, now: number): void {
    const ac = this.authControllers.find((candidate) => candidate.issuer === issuer);
    if (ac === undefined) {
      this.cache = fetchFailed(this.cache, issuer);
      return;
    }
    const keys = Object.fromEntries(ac.publishedKids().map((kid) => [kid, kid]));
    this.cache = fetchSucceeded(this.cache, issuer, keys, now);
  }
}

/** The signing-key policy of a scenario, in core's milliseconds. */
export function signingPolicy(
  rotationSeconds: number,
  overlapSeconds: number,
  region: string,
): SigningKeyPolicy {
  return {
    ...DEFAULT_SIGNING_KEY_POLICY,
    rotationPeriodMs: rotationSeconds * 1000,
    overlapMs: overlapSeconds * 1000,
    prePublishLeadMs: Math.min(
      DEFAULT_SIGNING_KEY_POLICY.prePublishLeadMs,
      (rotationSeconds * 1000) / 2,
    ),
    kidPrefix: `ac-${region}`,
  };
}
