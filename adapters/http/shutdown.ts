import type { Logger } from '../logging/logger.ts';

/** Something to close on shutdown, in order: servers first, then pools. */
export interface Closable {
  readonly name: string;
  close(): Promise<void>;
}

/**
 * Closes the parts in order: the HTTP server stops accepting and drains in-flight
 * requests, then pools and clients close. Errors are logged and do not stop later parts.
 */
export async function closeAll(parts: readonly Closable[], logger: Logger): Promise<void> {
  for (const part of parts) {
    try {
      await part.close();
      logger.info({ part: part.name }, 'closed');
    } catch (error) {
      logger.error({ err: error, part: part.name }, 'close failed');
    }
  }
}

/** Runs `shutdown` once on SIGTERM or SIGINT, then exits. */
export function onTerminationSignal(shutdown: () => Promise<void>, logger: Logger): void {
  let started = false;
  const handle = (signal: NodeJS.Signals) => {
    if (started) return;
    started = true;
    logger.info({ signal }, 'shutting down');
    shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', handle);
  process.once('SIGINT', handle);
}

/** The parts of a fastify instance a drain needs. */
interface DrainableServer {
  close(): PromiseLike<unknown>;
  readonly server: { closeIdleConnections(): void; closeAllConnections(): void };
}

/**
 * Stops accepting connections and waits for in-flight requests: keep-alive connections are
 * closed as soon as their request completes, and any still open after `graceMs` are cut.
 */
export async function drainHttp(app: DrainableServer, graceMs = 10_000): Promise<void> {
  const closing = app.close();
  const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
  const deadline = setTimeout(() => app.server.closeAllConnections(), graceMs);
  try {
    await closing;
  } finally {
    clearInterval(sweep);
    clearTimeout(deadline);
  }
}
