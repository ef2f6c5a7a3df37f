import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { createLogger } from '../logging/logger.ts';
import { createHttpMetrics } from '../metrics/registry.ts';
import { createHttpServer } from './server.ts';

function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
        lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: createLogger('test-service', 'info', sink), lines };
}

describe('HTTP server', () => {
  it('logs JSON with the spec fields, taking trace_id from traceparent', async () => {
    const { logger, lines } = capturedLogger();
    const app = createHttpServer({
      logger,
      metrics: createHttpMetrics('t1'),
      bodyLimit: 1024,
      readiness: async () => ({ ready: true, components: {} }),
    });
    app.get('/meetings/:id', async (request) => {
      request.log.info({ meeting_id: 'm1', password: 'hunter2' }, 'looked up');
      return { ok: true };
    });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await app.inject({
      url: '/meetings/m1',
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    const line = lines.find((entry) => entry.message === 'looked up');
    expect(line).toMatchObject({
      level: 'info',
      component: 'test-service',
      trace_id: traceId,
      meeting_id: 'm1',
      password: '[redacted]',
    });
    expect(line?.span_id).toMatch(/^[0-9a-f]{16}$/);
    expect(Date.parse(String(line?.timestamp))).not.toBeNaN();
    await app.close();
  });

  it("builds a request's child logger only when the request writes a line", async () => {
    const { logger, lines } = capturedLogger();
    const child = vi.spyOn(logger, 'child');
    const app = createHttpServer({
      logger,
      metrics: createHttpMetrics('t3'),
      bodyLimit: 1024,
      readiness: async () => ({ ready: true, components: {} }),
    });
    app.get('/quiet', async (request) => {
      request.log.debug('below the level');
      return { ok: true };
    });
    app.get('/chatty', async (request) => {
      request.log.info('first');
      request.log.warn('second');
      return { ok: true };
    });
    await app.ready();
    child.mockClear(); // fastify's own loggers, made once at start
    for (let i = 0; i < 3; i++) expect((await app.inject({ url: '/quiet' })).statusCode).toBe(200);
    expect(child).not.toHaveBeenCalled();
    await app.inject({ url: '/chatty' });
    await app.inject({ url: '/chatty' });
    expect(child).toHaveBeenCalledTimes(2);
    const [first, second, third, fourth] = lines.filter(
      (line) => line.component === 'test-service',
    );
    expect(first).toMatchObject({ message: 'first', level: 'info' });
    expect(second).toMatchObject({ message: 'second', level: 'warn' });
    expect(second?.span_id).toBe(first?.span_id);
    expect(second?.trace_id).toBe(first?.trace_id);
    expect(third?.span_id).not.toBe(first?.span_id);
    expect(fourth?.span_id).toBe(third?.span_id);
    expect(lines.some((line) => line.message === 'below the level')).toBe(false);
    await app.close();
  });

  it('records request durations by route template, and unmatched requests apart', async () => {
    const metrics = createHttpMetrics('t4');
    const app = createHttpServer({
      logger: capturedLogger().logger,
      metrics,
      bodyLimit: 1024,
      readiness: async () => ({ ready: true, components: {} }),
    });
    app.get('/meetings/:id', async () => ({ ok: true }));
    await app.inject({ url: '/meetings/m1' });
    await app.inject({ url: '/meetings/m2' });
    await app.inject({ url: '/meetings/m3', method: 'HEAD' });
    await app.inject({ url: '/nowhere/m4' });
    const counts = (await metrics.registry.metrics())
      .split('\n')
      .filter((line) => line.startsWith('t4_http_request_duration_seconds_count'));
    expect(counts).toEqual([
      't4_http_request_duration_seconds_count{method="GET",route="/meetings/:id",status_code="200"} 2',
      't4_http_request_duration_seconds_count{method="HEAD",route="/meetings/:id",status_code="200"} 1',
      't4_http_request_duration_seconds_count{method="GET",route="unmatched",status_code="404"} 1',
    ]);
    await app.close();
  });

  it('answers /ready with 503 and the failing component', async () => {
    const app = createHttpServer({
      logger: capturedLogger().logger,
      metrics: createHttpMetrics('t2'),
      bodyLimit: 1024,
      readiness: async () => ({ ready: false, components: { database: 'unreachable' } }),
    });
    const response = await app.inject({ url: '/ready' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({ status: 'not_ready', database: 'unreachable' });
    await app.close();
  });
});
