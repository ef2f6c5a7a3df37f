/**
 * One client-credentials request to AC's token endpoint (`POST /v1/auth/service/token`, RFC 6749
 * section 4.4, credentials in an `Authorization: Basic` header). Never throws: an answer that is
 * not a token is a typed failure, with AC's `Retry-After` when it sent one. The secret is never
 * put in an error message.
 */
import { err, ok, type Result } from '../../core/result.ts';

export interface ServiceCredentials {
  /** `<AC_INTERNAL_URL>/v1/auth/service/token`. */
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

export interface IssuedServiceToken {
  readonly token: string;
  /** AC's `expires_in`, in milliseconds. */
  readonly lifetimeMs: number;
}

export type ServiceTokenFailure =
  /** AC could not be reached or did not answer in time. */
  | { readonly kind: 'unreachable'; readonly detail: string }
  /** AC refused the credentials (400 or 401): retrying as they are will not help soon. */
  | { readonly kind: 'refused'; readonly status: number; readonly error: string }
  /** AC is limiting or unavailable (429, 5xx). */
  | { readonly kind: 'unavailable'; readonly status: number; readonly retryAfterMs?: number }
  /** A 200 answer without a usable token. */
  | { readonly kind: 'malformed'; readonly detail: string };

/** The token endpoint under an AC base URL. */
export const serviceTokenUrl = (acUrl: string) =>
  `${acUrl.replace(/\/$/, '')}/v1/auth/service/token`;

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** `Retry-After` in seconds as milliseconds, if it is a number. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null || !/^\d{1,6}$/.test(header.trim())) return undefined;
  return Number(header.trim()) * 1000;
}

export async function requestServiceToken(
  credentials: ServiceCredentials,
  timeoutMs = 5_000,
): Promise<Result<IssuedServiceToken, ServiceTokenFailure>> {
  let response: Response;
  try {
    response = await fetch(credentials.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(credentials.clientId, credentials.clientSecret),
      },
      body: 'grant_type=client_credentials',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const detail = error instanceof Error ? error.name : 'fetch failed';
    return err({ kind: 'unreachable', detail });
  }
  const body = (await response.json().catch(() => undefined)) as
    { access_token?: unknown; expires_in?: unknown; error?: unknown } | undefined;
  if (response.status === 400 || response.status === 401 || response.status === 403) {
    const error = typeof body?.error === 'string' ? body.error.slice(0, 64) : 'refused';
    return err({ kind: 'refused', status: response.status, error });
  }
  if (response.status !== 200) {
    const wait = retryAfterMs(response.headers.get('retry-after'));
    return err({
      kind: 'unavailable',
      status: response.status,
      ...(wait !== undefined ? { retryAfterMs: wait } : {}),
    });
  }
  const token = body?.access_token;
  const expiresIn = body?.expires_in;
  if (typeof token !== 'string' || token === '' || typeof expiresIn !== 'number') {
    return err({ kind: 'malformed', detail: 'no access_token or expires_in' });
  }
  if (!Number.isFinite(expiresIn) || expiresIn <= 0) {
    return err({ kind: 'malformed', detail: 'expires_in is not a positive number' });
  }
  return ok({ token, lifetimeMs: expiresIn * 1000 });
}
