import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
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
