import { isDependencyUnavailable, RETRY_AFTER_SECONDS } from '../resilience/dependency-errors.ts';

/**
 * The JSON error body every endpoint returns, in the shape RFC 6749 section 5.2 uses for
 * OAuth errors, so OAuth clients and plain API clients read the same fields.
 */
export interface ErrorBody {
  readonly error: string;
  readonly error_description: string;
}

/** An HTTP error a handler returns: a status, a stable machine code and a readable message. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }

  toBody(): ErrorBody {
    return { error: this.code, error_description: this.message };
  }
}

export const badRequest = (message: string) => new HttpError(400, 'invalid_request', message);
export const notFound = (message: string) => new HttpError(404, 'not_found', message);

/** 503 `temporarily_unavailable` with `Retry-After`: a dependency is down; retry later. */
export const temporarilyUnavailable = (message: string) =>
  new HttpError(503, 'temporarily_unavailable', message, {
    'retry-after': String(RETRY_AFTER_SECONDS),
  });

/** Fastify's own error codes mapped to our stable codes and statuses. */
const FRAMEWORK_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'unsupported_media_type',
    message: 'unsupported Content-Type',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 413,
    code: 'payload_too_large',
    message: 'request body is too large',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    status: 400,
    code: 'invalid_request',
    message: 'request body is empty',
  },
  FST_ERR_CTP_INVALID_JSON_BODY: {
    status: 400,
    code: 'invalid_request',
    message: 'request body is not valid JSON',
  },
  FST_ERR_MAX_PARAM_LENGTH: {
    status: 414,
    code: 'uri_too_long',
    message: 'a path parameter is too long',
  },
  FST_ERR_BAD_URL: {
    status: 400,
    code: 'invalid_request',
    message: 'the URL is malformed',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    code: 'invalid_request',
    message: 'Content-Length does not match the body',
  },
};

/** Turns any error thrown inside a request into a status and a JSON error body. */
export function toErrorResponse(error: unknown): {
  status: number;
  body: ErrorBody;
  headers?: Readonly<Record<string, string>>;
} {
  if (error instanceof HttpError) {
    return { status: error.statusCode, body: error.toBody(), headers: error.headers };
  }
  const candidate = error as { code?: string; statusCode?: number; name?: string };
  const known = candidate.code ? FRAMEWORK_ERRORS[candidate.code] : undefined;
  if (known) {
    return { status: known.status, body: { error: known.code, error_description: known.message } };
  }
  if (candidate.name === 'SyntaxError' && candidate.statusCode === 400) {
    return {
      status: 400,
      body: { error: 'invalid_request', error_description: 'request body is not valid JSON' },
    };
  }
  if (typeof candidate.statusCode === 'number' && candidate.statusCode < 500) {
    return {
      status: candidate.statusCode,
      body: { error: 'invalid_request', error_description: 'the request could not be processed' },
    };
  }
  if (isDependencyUnavailable(error)) {
    return toErrorResponse(
      temporarilyUnavailable('a service this request needs is unavailable; retry later'),
    );
  }
  return {
    status: 500,
    body: { error: 'server_error', error_description: 'internal error' },
  };
}
