/**
 * A service's own access token from AC, kept fresh: the driver of core's `TokenRefresh`
 * (core/auth/token-refresh.ts decides when to refresh and how to back off). It asks AC when the
 * machine says `fetch` (adapters/http/service-token.ts), reports the answer and arms one timer
 * at `pollTimeout`. Callers read `current()` for each call they make. The secret and the
 * tokens are never logged.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { TokenRefresh, type TokenRefreshPolicy } from '../../core/auth/token-refresh.ts';
import type { RandomSource } from '../../core/random.ts';
import { requestServiceToken, type ServiceCredentials } from '../../adapters/http/service-token.ts';
import type { Logger } from '../../adapters/logging/logger.ts';
import type { Clock } from './clock.ts';

const systemRandom: RandomSource = {
  next: () => randomInt(2 ** 47) / 2 ** 47,
  bytes: (length) => new Uint8Array(randomBytes(length)),
};

/** Where a service's token comes from: a fixed one, or AC with client credentials. */
export interface ServiceTokenProvider {
  /** The token to send now; undefined while none is held. */
  current(): string | undefined;
  /** Resolves true once a token is held, false after `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean>;
  stop(): void;
}

/** A token given in configuration (it is not refreshed: it works until it expires). */
export function fixedServiceToken(token: string): ServiceTokenProvider {
  return { current: () => token, ready: async () => true, stop: () => undefined };
}

export interface RefreshingTokenOptions {
  readonly credentials: ServiceCredentials;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly policy?: TokenRefreshPolicy;
  readonly random?: RandomSource;
  /** How long one request to AC may take. */
  readonly requestTimeoutMs?: number;
}

export class RefreshingServiceToken implements ServiceTokenProvider {
  private readonly machine: TokenRefresh;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private waiters: (() => void)[] = [];
  /** Tokens AC issued, and fetches that failed, since the start. */
  readonly counts = { issued: 0, failed: 0 };

  constructor(private readonly options: RefreshingTokenOptions) {
    this.machine = new TokenRefresh(
      options.clock.now(),
      options.random ?? systemRandom,
      options.policy,
    );
  }

  /** Asks AC for the first token at once. */
  start(): this {
    this.wake();
    return this;
  }

  current(): string | undefined {
    return this.machine.token(this.options.clock.now());
  }

  async ready(timeoutMs: number): Promise<boolean> {
    if (this.current() !== undefined) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.current() !== undefined), timeoutMs);
      timer.unref();
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private wake(): void {
    if (this.stopped) return;
    this.machine.handleTimeout(this.options.clock.now());
    this.flush();
  }

  private flush(): void {
    for (let output = this.machine.pollOutput(); output !== null;) {
      if (output.type === 'fetch') void this.fetch();
      else {
        this.options.logger.warn(
          {
            failures: output.failures,
            retry_in_ms: Math.round(output.at - this.options.clock.now()),
          },
          'service token not renewed; retrying',
        );
      }
      output = this.machine.pollOutput();
    }
    this.arm();
  }

  private arm(): void {
    if (this.stopped) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const at = this.machine.pollTimeout();
    if (at === null) return;
    // Node's timers hold at most about 24.8 days; the machine is woken early if need be.
    const delay = Math.min(Math.max(0, at - this.options.clock.now()), 2 ** 31 - 1);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.wake();
    }, delay);
    this.timer.unref();
  }

  private async fetch(): Promise<void> {
    const answer = await requestServiceToken(
      this.options.credentials,
      this.options.requestTimeoutMs,
    );
    if (this.stopped) return;
    const now = this.options.clock.now();
    if (answer.ok) {
      this.counts.issued++;
      this.machine.handle(
        { type: 'issued', token: answer.value.token, lifetimeMs: answer.value.lifetimeMs },
        now,
      );
      this.options.logger.debug(
        { expires_in_ms: answer.value.lifetimeMs, client_id: this.options.credentials.clientId },
        'service token renewed',
      );
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    } else {
      this.counts.failed++;
      const failure = answer.error;
      this.options.logger.warn(
        { failure: failure.kind, status: 'status' in failure ? failure.status : undefined },
        'service token request failed',
      );
      this.machine.handle(
        {
          type: 'failed',
          ...(failure.kind === 'unavailable' && failure.retryAfterMs !== undefined
            ? { retryAfterMs: failure.retryAfterMs }
            : {}),
        },
        now,
      );
    }
    this.flush();
  }
}
