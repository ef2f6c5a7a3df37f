import Fastify, { LogController, type FastifyReply } from 'fastify';
import type { Logger } from '../logging/logger.ts';
import type { HttpMetrics } from '../metrics/registry.ts';
import { toErrorResponse } from './errors.ts';
import { TraceIdSource } from './trace-ids.ts';

/** One dependency's state in a `/ready` answer. */
export type ComponentStatus = string;

/** What a service's readiness check reports: per-component status and the overall verdict. */
export interface ReadinessReport {
  readonly ready: boolean;
  readonly components: Record<string, ComponentStatus>;
}

export interface HttpServerOptions {
  readonly logger: Logger;
  readonly metrics: HttpMetrics;
  readonly readiness: () => Promise<ReadinessReport>;
  /** Largest accepted request body, in bytes. */
  readonly bodyLimit: number;
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** Takes the trace id from a W3C `traceparent` header, or starts a new trace. */
function traceIdFor(traceparent: string | string[] | undefined, ids: TraceIdSource): string {
  const match = typeof traceparent === 'string' ? TRACEPARENT.exec(traceparent) : null;
  return match?.[1] ?? ids.traceId();
}

/**
 * A fastify server with the standard operational endpoints (`/health`, `/ready`,
 * `/metrics`), request metrics by route template, per-request `trace_id`/`span_id` log
 * bindings, JSON-only bodies (plus whatever a route scope adds) and JSON errors.
 */
export function createHttpServer(options: HttpServerOptions) {
  const { metrics } = options;
  const ids = new TraceIdSource();
  const app = Fastify({
    loggerInstance: options.logger,
    logController: new LogController({
      disableRequestLogging: true,
      requestIdLogLabel: 'trace_id',
    }),
    bodyLimit: options.bodyLimit,
    genReqId: (request) => traceIdFor(request.headers.traceparent, ids),
    // One child logger per request, carrying both its trace and its own span.
    childLoggerFactory: (logger, bindings, options) =>
      logger.child({ ...bindings, span_id: ids.spanId() }, options),
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    frameworkErrors: (error, _request, reply) => {
      const { status, body } = toErrorResponse(error);
      void (reply as unknown as FastifyReply).code(status).send(body);
    },
  });
  app.removeContentTypeParser('text/plain');

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.requestDuration.observe(
      { method: request.method, route, status_code: String(reply.statusCode) },
      seconds,
    );
    request.log.debug(
      { route, status_code: reply.statusCode, duration_ms: reply.elapsedTime },
      'request completed',
    );
  });

  app.setErrorHandler(async (error, request, reply) => {
    const { status, body, headers } = toErrorResponse(error);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    return reply
      .code(status)
      .headers(headers ?? {})
      .send(body);
  });

  app.setNotFoundHandler(async (_request, reply) =>
    reply.code(404).send({ error: 'not_found', error_description: 'no such endpoint' }),
  );

  app.get('/health', async (_request, reply) => reply.type('text/plain').send('OK'));

  app.get('/ready', async (_request, reply) => {
    const report = await options.readiness();
    return reply
      .code(report.ready ? 200 : 503)
      .send({ status: report.ready ? 'ready' : 'not_ready', ...report.components });
  });

  app.get('/metrics', async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  return app;
}

/** The server `createHttpServer` builds. */
export type HttpServer = ReturnType<typeof createHttpServer>;
