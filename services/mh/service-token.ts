/**
 * This handler's service token from AC (client credentials), for the peer links it dials:
 * fetched when first needed and again once half its lifetime has passed. A failure is thrown
 * to the caller (the dial fails and core schedules the next one); the secret is never logged.
 */
import type { Clock } from '../shared/clock.ts';

export class ServiceTokenError extends Error {
  override readonly name = 'ServiceTokenError';
}

export class ServiceTokenSource {
  private cached: { token: string; refreshAt: number } | undefined;
  private inFlight: Promise<string> | undefined;

  constructor(
    private readonly options: {
      /** AC's token endpoint, `<AC_INTERNAL_URL>/v1/auth/service/token`. */
      readonly url: string;
      readonly clientId: string;
      readonly clientSecret: string;
      readonly clock: Clock;
      /** Give up on AC after this long; default 5 s. */
      readonly timeoutMs?: number;
    },
  ) {}

  token(): Promise<string> {
    const now = this.options.clock.now();
    if (this.cached !== undefined && now < this.cached.refreshAt) {
      return Promise.resolve(this.cached.token);
    }
    this.inFlight ??= this.fetch().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async fetch(): Promise<string> {
    const started = this.options.clock.now();
    const response = await fetch(this.options.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        grant_type: 'client_credentials',
        client_id: this.options.clientId,
        client_secret: this.options.clientSecret,
      }),
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 5_000),
    });
    if (response.status !== 200) {
      throw new ServiceTokenError(`AC answered ${response.status} to the token request`);
    }
    const body = (await response.json()) as { access_token?: unknown; expires_in?: unknown };
    if (typeof body.access_token !== 'string' || typeof body.expires_in !== 'number') {
      throw new ServiceTokenError('AC token answer without access_token or expires_in');
    }
    this.cached = {
      token: body.access_token,
      refreshAt: started + (body.expires_in * 1000) / 2,
    };
    return body.access_token;
  }
}
