/**
 * Whether an error means a dependency (PostgreSQL, Redis, a peer service) could not be reached
 * or stopped answering, as opposed to a bug or a rejected request. Such a failure is answered
 * 503 `temporarily_unavailable` with `Retry-After` (gRPC: UNAVAILABLE), never 500.
 */
export function isDependencyUnavailable(error: unknown): boolean {
  if (error instanceof DependencyUnavailableError) return true;
  return causes(error).some(isUnavailableCause);
}

/** Thrown by an adapter that knows, without asking, that its dependency is not connected. */
export class DependencyUnavailableError extends Error {
  constructor(readonly dependency: string) {
    super(`${dependency} is not connected`);
    this.name = 'DependencyUnavailableError';
  }
}

/** SQLSTATEs of a lost or refused PostgreSQL connection (class 08, shutdown, overload). */
const PG_UNAVAILABLE = /^(08...|57P01|57P02|57P03|53300)$/;
const NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
/** Messages of node-postgres and ioredis for a lost, refused or silent connection. */
const MESSAGES = [
  /^Connection terminated/, // pg: the server went away (mid-query or while connecting)
  /^timeout exceeded when trying to connect$/, // pg pool: connectionTimeoutMillis
  /^Query read timeout$/, // pg: query_timeout
  /^Client has encountered a connection error and is not queryable$/,
  /^Stream isn't writeable and enableOfflineQueue options is false$/, // ioredis
  /^Command timed out$/, // ioredis: commandTimeout
  /^Connection is closed\.?$/, // ioredis
  /^Reached the max retries per request limit/, // ioredis: maxRetriesPerRequest
];

function isUnavailableCause(error: object): boolean {
  const candidate = error as { name?: unknown; code?: unknown; message?: unknown };
  if (candidate.name === 'MaxRetriesPerRequestError') return true;
  if (typeof candidate.code === 'string') {
    if (NODE_CODES.has(candidate.code)) return true;
    // pg errors carry a SQLSTATE; pg's own client errors have no code.
    if ('severity' in error && PG_UNAVAILABLE.test(candidate.code)) return true;
  }
  const message = typeof candidate.message === 'string' ? candidate.message : '';
  return MESSAGES.some((pattern) => pattern.test(message));
}

/** The error, its `cause` chain and the members of an AggregateError (bounded). */
function causes(error: unknown): object[] {
  const found: object[] = [];
  const pending: unknown[] = [error];
  while (pending.length > 0 && found.length < 16) {
    const next = pending.shift();
    if (typeof next !== 'object' || next === null) continue;
    found.push(next);
    const { cause, errors } = next as { cause?: unknown; errors?: unknown };
    if (cause !== undefined) pending.push(cause);
    if (Array.isArray(errors)) pending.push(...(errors as unknown[]));
  }
  return found;
}

/** Seconds a client is told to wait before retrying after a dependency failure. */
export const RETRY_AFTER_SECONDS = 2;
