import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from '../logging/logger.ts';
import type { HttpMetrics } from '../metrics/registry.ts';
import { toErrorResponse } from './errors.ts';
import { RequestLogger } from './request-logger.ts';
import { TraceIdSource } from './trace-ids.ts';

/** One dependency's state in a `/ready` answer. */
export type ComponentStatus = string;

/** What a service's readiness check reports: per-component status and the overall verdict. */
export interface ReadinessReport {
  readonly ready: boolean;
  /** Ready, but serving in a documented reduced mode (answered 200 `degraded`). */
  readonly degraded?: boolean;
  readonly components: Record<string, ComponentStatus>;
}

export interface HttpServerOptions {
  readonly logger: Logger;
  readonly metrics: HttpMetrics;
  readonly readiness: () => Promise<ReadinessReport>;
  /** Largest accepted request body, in bytes. */
  readonly bodyLimit: number;
  /**
   * Proxies (addresses or CIDRs) whose `X-Forwarded-For` is believed: the client address is
   * the nearest address in the header that is not one of them. Empty or absent: the header
   * is ignored and the client address is the connection's peer.
   */
  readonly trustedProxies?: readonly string[];
}

/**
 * Headers on every answer: no MIME sniffing, and a CSP that lets a JSON (or text) answer
 * load, run or frame nothing should a browser render it.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
};

/** Strict-Transport-Security, sent on answers served over TLS (RFC 6797: never over http). */
export const HSTS = 'max-age=31536000; includeSubDomains';

/** Node's own answers to requests it could not parse, in the API's error shape. */
const CLIENT_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    code: 'request_header_fields_too_large',
    message: 'request headers are too large',
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    code: 'request_timeout',
    message: 'the request took too long to arrive',
  },
};

/**
 * Answers a request Node's parser rejected (malformed, headers too large, too slow) with the
 * API's JSON error shape, and logs it without the error's raw request bytes (`rawPacket`
 * holds the request as received: passwords and bearer tokens included).
 */
function answerClientError(
  logger: FastifyBaseLogger,
  error: Error & { code?: string },
  socket: Socket,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const known = (error.code && CLIENT_ERRORS[error.code]) || {
    status: 400,
    code: 'invalid_request',
    message: 'the HTTP request is malformed',
  };
  logger.trace({ err: { code: error.code, message: error.message } }, 'client error');
  if (socket.writable) {
    const body = JSON.stringify({ error: known.code, error_description: known.message });
    const headers = {
      ...SECURITY_HEADERS,
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      connection: 'close',
    };
    const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
    socket.write(
      `HTTP/1.1 ${known.status} ${STATUS_CODES[known.status]}\r\n${lines.join('')}\r\n${body}`,
    );
  }
  socket.destroy();
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** Takes the trace id from a W3C `traceparent` header, or starts a new trace. */
function traceIdFor(traceparent: string | string[] | undefined, ids: TraceIdSource): string {
  const match = typeof traceparent === 'string' ? TRACEPARENT.exec(traceparent) : null;
  return match?.[1] ?? ids.traceId();
}

/**
 * A fastify server with the standard operational endpoints `/health` and `/ready`
 * (`/metrics` has a listener of its own: metrics-listener.ts), request metrics by route template, per-request `trace_id`/`span_id` log
 * bindings, JSON-only bodies (plus whatever a route scope adds) and JSON errors.
 */
export function createHttpServer(options: HttpServerOptions) {
  const { metrics } = options;
  const ids = new TraceIdSource();
  // Typed as fastify's logger interface: request loggers are built lazily (RequestLogger).
  const logger: FastifyBaseLogger = options.logger;
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({
      disableRequestLogging: true,
      requestIdLogLabel: 'trace_id',
    }),
    bodyLimit: options.bodyLimit,
    trustProxy: options.trustedProxies?.length ? [...options.trustedProxies] : false,
    genReqId: (request) => traceIdFor(request.headers.traceparent, ids),
    // One child logger per request that logs, carrying both its trace and its own span. The
    // parent is the pino logger given above (or a pino child fastify made of it).
    childLoggerFactory: (parent, bindings, childOptions) =>
      new RequestLogger(parent as Logger, bindings, childOptions, () => ids.spanId()),
    forceCloseConnections: 'idle',
    // Requests arriving while the server drains get the API's 503 (below), not fastify's.
    return503OnClosing: false,
    clientErrorHandler(error, socket) {
      answerClientError(logger, error, socket);
    },
    frameworkErrors: (error, _request, reply) => {
      const { status, body } = toErrorResponse(error);
      void (reply as unknown as FastifyReply).code(status).send(body);
    },
  });
  app.removeContentTypeParser('text/plain');

  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  // Security headers on every answer (errors and 404s included), HSTS over TLS; while the
  // server drains, new requests are answered 503 so a load balancer retries elsewhere.
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(SECURITY_HEADERS);
    if (request.protocol === 'https') reply.header('strict-transport-security', HSTS);
    if (!closing) return done();
    void reply
      .code(503)
      .headers({ connection: 'close', 'retry-after': '1' })
      .send({ error: 'temporarily_unavailable', error_description: 'the server is shutting down' });
  });

  /** Records a finished request under its route template (callback hook: no promise). */
  const recordUnder =
    (route: string) => (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      const status = reply.statusCode;
      metrics.requestDuration.observe(
        { method: request.method, route, status_code: String(status) },
        reply.elapsedTime / 1000,
      );
      request.log.debug(
        { route, status_code: status, duration_ms: reply.elapsedTime },
        'request completed',
      );
      done();
    };
  // Each route records under its own template, known when it is added, so no request has
  // to look its route up; requests that matched no route record under `unmatched`.
  app.addHook('onRoute', (route) => {
    const existing = route.onResponse === undefined ? [] : [route.onResponse].flat();
    route.onResponse = [...existing, recordUnder(route.url)];
  });
  const recordUnmatched = recordUnder('unmatched');
  app.addHook('onResponse', (request, reply, done) => {
    if (request.is404) recordUnmatched(request, reply, done);
    else done();
  });

  app.setErrorHandler(async (error, request, reply) => {
    const { status, body, headers } = toErrorResponse(error);
    if (status === 503) request.log.warn({ err: error }, 'request failed: dependency unavailable');
    else if (status >= 500) request.log.error({ err: error }, 'request failed');
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
    return reply.code(report.ready ? 200 : 503).send({
      status: !report.ready ? 'not_ready' : report.degraded ? 'degraded' : 'ready',
      ...report.components,
    });
  });

  return app;
}

/** The server `createHttpServer` builds. */
export type HttpServer = ReturnType<typeof createHttpServer>;
