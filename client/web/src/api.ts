/**
 * AC and GC over HTTP (spec 003, join flow steps 2 and 3). By default the page reaches them on
 * its own origin under `/ac` and `/gc` (the web server forwards those), so neither needs CORS;
 * `?ac=` and `?gc=` name other base URLs.
 */
export interface Endpoints {
  readonly ac: string;
  readonly gc: string;
}

/** One WebTransport signaling endpoint of a controller, as GC names it. */
export interface WebTransportEndpointInfo {
  readonly url: string;
  /** `h3`: HTTP/3 (native WebTransport); `h2`: HTTP/2. */
  readonly carrier: string;
  /** The certificate's SHA-256 in hex (empty: a CA-trusted certificate). */
  readonly certSha256: string;
}

/** Where the meeting's controller is reached. */
export interface ControllerInfo {
  readonly id: string;
  /** Its WebSocket signaling URL. */
  readonly url: string;
  /** Its WebTransport signaling endpoints, best first (none from an older GC). */
  readonly webTransport: readonly WebTransportEndpointInfo[];
}

export interface MeetingInfo {
  readonly meetingId: string;
  readonly title: string;
  readonly controller: ControllerInfo | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function call(url: string, init: RequestInit): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new ApiError(0, 'unreachable', `${url}: ${(error as Error).message}`);
  }
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) {
    throw new ApiError(
      response.status,
      String(body.error ?? 'http_error'),
      String(body.error_description ?? `HTTP ${response.status}`),
    );
  }
  return body;
}

/** Step 2: a user token from AC. */
export async function login(
  endpoints: Endpoints,
  username: string,
  password: string,
): Promise<string> {
  const body = await call(`${endpoints.ac}/v1/auth/user/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  return String(body.access_token);
}

function meetingOf(body: Record<string, unknown>): MeetingInfo {
  const controller = body.meeting_controller as {
    id: string;
    url: string;
    webtransport?: unknown;
  } | null;
  const endpoints = Array.isArray(controller?.webtransport)
    ? (controller.webtransport as Record<string, unknown>[])
    : [];
  return {
    meetingId: String(body.meeting_id),
    title: String(body.title ?? ''),
    controller:
      controller === null
        ? null
        : {
            id: controller.id,
            url: controller.url,
            webTransport: endpoints
              .filter((e) => typeof e?.url === 'string')
              .map((e) => ({
                url: String(e.url),
                carrier: String(e.carrier ?? ''),
                certSha256: String(e.cert_sha256 ?? ''),
              })),
          },
  };
}

/** Step 3: the meeting and its controller from GC. */
export async function lookUpMeeting(
  endpoints: Endpoints,
  token: string,
  code: string,
): Promise<MeetingInfo> {
  return meetingOf(
    await call(`${endpoints.gc}/v1/meetings/${encodeURIComponent(code)}`, {
      headers: { authorization: `Bearer ${token}` },
    }),
  );
}

/** Creates a meeting at GC (scope `user.write.gc`). */
export async function createMeeting(
  endpoints: Endpoints,
  token: string,
  title: string,
): Promise<MeetingInfo> {
  return meetingOf(
    await call(`${endpoints.gc}/v1/meetings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title }),
    }),
  );
}
