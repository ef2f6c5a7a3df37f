/**
 * The HTTP calls a client makes before it joins (docs/services.md, "HTTP API"): log in at AC as
 * a user, create or look up a meeting at GC. Browser and Node: only the global `fetch` (or the
 * one given). Every failure is a {@link ClientError} naming what went wrong; the password and
 * tokens are never put in one.
 */

export type ClientErrorKind =
  /** The server could not be reached or did not answer in time. */
  | 'unreachable'
  /** Wrong username or password, or a token the server refused. */
  | 'unauthorized'
  /** The token lacks a scope. */
  | 'forbidden'
  | 'not_found'
  /** Limited or unavailable: retry after `retryAfterMs`. */
  | 'unavailable'
  /** An answer that does not have the expected shape. */
  | 'malformed'
  /** Anything else the server refused (its `error` code is in the message). */
  | 'refused';

export class ClientError extends Error {
  override readonly name = 'ClientError';
  constructor(
    readonly kind: ClientErrorKind,
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export type Fetch = typeof fetch;

export interface HttpOptions {
  readonly fetch?: Fetch;
  /** Per-request timeout (default 10 s). */
  readonly timeoutMs?: number;
}

const base = (url: string) => url.replace(/\/+$/, '');

async function call(
  what: string,
  url: string,
  init: RequestInit,
  options: HttpOptions,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const doFetch = options.fetch ?? globalThis.fetch;
  let response: Response;
  try {
    response = await doFetch(url, {
      ...init,
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'fetch failed';
    throw new ClientError('unreachable', `${what}: ${new URL(url).origin} unreachable (${reason})`);
  }
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (response.ok) return { status: response.status, body };
  const code = typeof body.error === 'string' ? body.error : `HTTP ${response.status}`;
  const detail = typeof body.error_description === 'string' ? `: ${body.error_description}` : '';
  const message = `${what} refused (${code}${detail})`;
  const retry = Number(response.headers.get('retry-after'));
  switch (response.status) {
    case 401:
      throw new ClientError('unauthorized', message, 401);
    case 403:
      throw new ClientError('forbidden', message, 403);
    case 404:
      throw new ClientError('not_found', message, 404);
    case 429:
    case 502:
    case 503:
    case 504:
      throw new ClientError(
        'unavailable',
        message,
        response.status,
        Number.isFinite(retry) && retry > 0 ? retry * 1000 : undefined,
      );
    default:
      throw new ClientError('refused', message, response.status);
  }
}

/** A user's access token from AC. */
export interface UserToken {
  readonly accessToken: string;
  readonly expiresInMs: number;
  readonly scopes: readonly string[];
}

/** Logs in at AC (`POST /v1/auth/user/token`, username and password). */
export async function login(
  acUrl: string,
  credentials: { readonly username: string; readonly password: string },
  options: HttpOptions = {},
): Promise<UserToken> {
  const { body } = await call(
    'login',
    `${base(acUrl)}/v1/auth/user/token`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: credentials.username, password: credentials.password }),
    },
    options,
  );
  if (typeof body.access_token !== 'string' || typeof body.expires_in !== 'number') {
    throw new ClientError('malformed', 'login: AC answered without access_token or expires_in');
  }
  return {
    accessToken: body.access_token,
    expiresInMs: body.expires_in * 1000,
    scopes: typeof body.scope === 'string' ? body.scope.split(' ').filter(Boolean) : [],
  };
}

/** A meeting as GC answers it. */
export interface Meeting {
  readonly meetingId: string;
  readonly title: string;
  readonly status: string;
  /** The controller that runs it; null while GC has placed it on none. */
  readonly controller: MeetingController | null;
}

/** One WebTransport signaling endpoint of a controller, as GC names it. */
export interface WebTransportEndpoint {
  readonly url: string;
  /** `h3`: HTTP/3 (native WebTransport); `h2`: HTTP/2. */
  readonly carrier: string;
  /** The certificate's SHA-256 in hex (empty: a CA-trusted certificate). */
  readonly certSha256: string;
}

/** Where a meeting's controller is reached. */
export interface MeetingController {
  readonly id: string;
  /** Its WebSocket signaling URL. */
  readonly url: string;
  /** Its WebTransport signaling endpoints, best first (none from an older GC). */
  readonly webTransport: readonly WebTransportEndpoint[];
}

/** GC's `meeting_controller`, or null when it names none (or names it without id and url). */
export function controllerOf(value: unknown): MeetingController | null {
  const controller = value as { id?: unknown; url?: unknown; webtransport?: unknown } | null;
  if (!controller || typeof controller.id !== 'string' || typeof controller.url !== 'string') {
    return null;
  }
  const endpoints = Array.isArray(controller.webtransport)
    ? (controller.webtransport as (Record<string, unknown> | null)[])
    : [];
  return {
    id: controller.id,
    url: controller.url,
    webTransport: endpoints
      .filter((e) => typeof e?.url === 'string')
      .map((e) => ({
        url: String(e?.url),
        carrier: typeof e?.carrier === 'string' ? e.carrier : '',
        certSha256: typeof e?.cert_sha256 === 'string' ? e.cert_sha256 : '',
      })),
  };
}

function meetingOf(what: string, body: Record<string, unknown>): Meeting {
  if (typeof body.meeting_id !== 'string' || typeof body.status !== 'string') {
    throw new ClientError('malformed', `${what}: GC answered without meeting_id or status`);
  }
  return {
    meetingId: body.meeting_id,
    title: typeof body.title === 'string' ? body.title : '',
    status: body.status,
    controller: controllerOf(body.meeting_controller),
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Creates a meeting at GC (`POST /v1/meetings`; scope user.write.gc). */
export async function createMeeting(
  gcUrl: string,
  token: string,
  title: string,
  options: HttpOptions = {},
): Promise<Meeting> {
  const { body } = await call(
    'create meeting',
    `${base(gcUrl)}/v1/meetings`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(token) },
      body: JSON.stringify({ title }),
    },
    options,
  );
  return meetingOf('create meeting', body);
}

/** Looks a meeting up at GC (`GET /v1/meetings/:id`; scope user.read.gc). */
export async function lookupMeeting(
  gcUrl: string,
  token: string,
  meetingId: string,
  options: HttpOptions = {},
): Promise<Meeting> {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(meetingId)) {
    throw new ClientError(
      'not_found',
      `meeting lookup: "${meetingId.slice(0, 70)}" is no meeting id`,
    );
  }
  const { body } = await call(
    'meeting lookup',
    `${base(gcUrl)}/v1/meetings/${meetingId}`,
    { headers: bearer(token) },
    options,
  );
  return meetingOf('meeting lookup', body);
}
