import { createPublicKey, type KeyObject } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import {
  emptyJwksCache,
  fetchFailed,
  fetchSucceeded,
  resolveKey,
  startDueRefreshes,
  type JwksCachePolicy,
  type JwksCacheState,
} from '../../core/keys/jwks-cache.ts';
import { err, ok, type Result } from '../../core/result.ts';
import type { Logger } from '../logging/logger.ts';
import type { KeyLookupRejection, PublicKeyLookup } from './tokens.ts';

const jwksDocument = z.object({
  keys: z.array(z.object({ kty: z.string(), kid: z.string().optional() }).passthrough()).max(100),
});

/** Imports the Ed25519 keys of a JWKS document by kid; other key types are ignored. */
function importKeys(document: unknown): Record<string, KeyObject> {
  const parsed = jwksDocument.parse(document);
  const keys: Record<string, KeyObject> = {};
  for (const jwk of parsed.keys) {
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.kid !== 'string') continue;
    keys[jwk.kid] = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: String(jwk.x) },
      format: 'jwk',
    });
  }
  return keys;
}

export interface JwksClientOptions {
  readonly policy: JwksCachePolicy;
  /** Where each trusted issuer publishes its JWKS. */
  readonly jwksUrls: ReadonlyMap<string, string>;
  readonly now: () => number;
  readonly logger: Logger;
  readonly fetch?: typeof fetch;
}

/**
 * Validators' JWKS cache: core's `jwks-cache` policy decides when to use a cached key,
 * fetch, wait for a fetch under way, or reject; this client does the HTTP. One fetch per
 * issuer at a time; concurrent requests wait for it.
 */
export class JwksClient implements PublicKeyLookup {
  private state: JwksCacheState<KeyObject> = emptyJwksCache();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: JwksClientOptions) {
    this.fetchImpl = options.fetch ?? fetch;
  }

  async find(
    issuer: string,
    kid: string,
    now: number,
  ): Promise<Result<KeyObject, KeyLookupRejection>> {
    for (let round = 0; round < 3; round++) {
      const resolution = resolveKey(this.state, this.options.policy, issuer, kid, now);
      this.state = resolution.state;
      const decision = resolution.decision;
      switch (decision.kind) {
        case 'use_key':
          if (decision.refreshInBackground) void this.fetchKeys(issuer);
          return ok(decision.key);
        case 'fetch_then_retry':
          await this.fetchKeys(issuer);
          break;
        case 'await_fetch':
          await this.inFlight.get(issuer);
          break;
        case 'reject':
          return err(
            decision.reason === 'untrusted_issuer'
              ? { kind: 'untrusted_issuer', issuer }
              : decision.reason === 'unknown_kid'
                ? { kind: 'unknown_kid', kid }
                : { kind: 'keys_unavailable' },
          );
      }
    }
    return err({ kind: 'unknown_kid', kid });
  }

  /**
   * The key {@link find} would answer at once: the cached key when core's policy lets it be
   * used now (starting a background refresh if one is due). Undefined when an answer needs a
   * fetch, or is a rejection; {@link find} then gives it.
   */
  findNow(issuer: string, kid: string, now: number): KeyObject | undefined {
    const resolution = resolveKey(this.state, this.options.policy, issuer, kid, now);
    const decision = resolution.decision;
    if (decision.kind !== 'use_key') return undefined;
    this.state = resolution.state;
    if (decision.refreshInBackground) void this.fetchKeys(issuer);
    return decision.key;
  }

  /** Fetches every key set that is missing or stale and allowed (start-up warm-up). */
  async refreshDue(): Promise<void> {
    const due = startDueRefreshes(this.state, this.options.policy, this.options.now());
    this.state = due.state;
    await Promise.all(due.fetch.map((issuer) => this.fetchKeys(issuer)));
  }

  /**
   * Whether this client holds, for every trusted issuer, a key set core's policy still lets be
   * used at `now` (fresh, or stale within the grace). A validator is ready while it does,
   * whether or not the issuer answers at this moment.
   */
  holdsUsableKeys(now: number): boolean {
    return [...this.options.policy.trustedIssuers].every((issuer) => this.holdsKeysOf(issuer, now));
  }

  /**
   * Start-up: fetches every trusted issuer's key set not yet held, retrying with a short
   * backoff (100 ms doubling to `maxDelayMs`) outside the policy's refresh limit, until all are
   * held (true) or `signal` aborts (false). A validator started before its issuer thus has keys
   * as soon as the issuer answers, instead of after the policy's 30 s between fetches.
   */
  async fetchUntilHeld(signal: AbortSignal, maxDelayMs = 1_000): Promise<boolean> {
    let delayMs = Math.min(100, maxDelayMs);
    for (;;) {
      const missing = [...this.options.policy.trustedIssuers].filter(
        (issuer) => !this.holdsKeysOf(issuer, this.options.now()),
      );
      if (missing.length === 0) return true;
      if (signal.aborted) return false;
      await Promise.all(missing.map((issuer) => this.fetchKeys(issuer)));
      if (this.holdsUsableKeys(this.options.now())) return true;
      try {
        await sleep(delayMs, undefined, { signal });
      } catch {
        return false;
      }
      delayMs = Math.min(delayMs * 2, maxDelayMs);
    }
  }

  private holdsKeysOf(issuer: string, now: number): boolean {
    const { ttlMs, staleGraceMs } = this.options.policy;
    const entry = this.state[issuer];
    return (
      entry?.fetchedAt !== undefined &&
      Object.keys(entry.keys).length > 0 &&
      now < entry.fetchedAt + ttlMs + staleGraceMs
    );
  }

  /** Whether every trusted issuer's JWKS endpoint answers now (readiness), without caching. */
  async reachable(): Promise<boolean> {
    const answers = await Promise.all(
      [...this.options.jwksUrls.values()].map(async (url) => {
        try {
          const response = await this.fetchImpl(url, { signal: AbortSignal.timeout(2_000) });
          await response.body?.cancel();
          return response.ok;
        } catch {
          return false;
        }
      }),
    );
    return answers.every(Boolean);
  }

  private fetchKeys(issuer: string): Promise<void> {
    const running = this.inFlight.get(issuer);
    if (running) return running;
    const fetching = this.download(issuer).finally(() => this.inFlight.delete(issuer));
    this.inFlight.set(issuer, fetching);
    return fetching;
  }

  private async download(issuer: string): Promise<void> {
    const url = this.options.jwksUrls.get(issuer);
    try {
      if (url === undefined) throw new Error(`no JWKS URL for issuer ${issuer}`);
      const response = await this.fetchImpl(url, {
        signal: AbortSignal.timeout(this.options.policy.fetchTimeoutMs),
      });
      if (!response.ok) throw new Error(`JWKS answered ${response.status}`);
      const keys = importKeys(await response.json());
      this.state = fetchSucceeded(this.state, issuer, keys, this.options.now());
    } catch (error) {
      this.state = fetchFailed(this.state, issuer);
      this.options.logger.warn({ err: error, issuer }, 'JWKS fetch failed');
    }
  }
}
