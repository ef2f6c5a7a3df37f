/**
 * AC and GC over HTTP (spec 003, join flow steps 2 and 3). By default the page reaches them on
 * its own origin under `/ac` and `/gc` (the web server forwards those), so neither needs CORS;
 * `?ac=` and `?gc=` name other base URLs.
 */
import { controllerOf, type MeetingController } from '../../meeting/http.ts';

export interface Endpoints {
  readonly ac: string;
  readonly gc: string;
}

/** Where the meeting's controller is reached (the client library's reading of GC's answer). */
export type ControllerInfo = MeetingController;

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
  return {
    meetingId: String(body.meeting_id),
    title: String(body.title ?? ''),
    controller: controllerOf(body.meeting_controller),
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
