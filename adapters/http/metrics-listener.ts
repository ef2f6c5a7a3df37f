import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { SECURITY_HEADERS } from './server.ts';

/** A running `/metrics` listener. */
export interface MetricsListener {
  /** Base URL, e.g. `http://127.0.0.1:9082`. */
  readonly url: string;
  close(): Promise<void>;
}

const json = { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8' };
const notFound = JSON.stringify({ error: 'not_found', error_description: 'no such endpoint' });
const failed = JSON.stringify({ error: 'server_error', error_description: 'metrics unavailable' });

/**
 * Serves `GET /metrics` (Prometheus text) on a listener of its own, so the metrics can be
 * bound to an internal address (by default loopback) while the API listens publicly.
 * Anything else answers a JSON 404.
 */
export async function listenMetrics(
  registry: Registry,
  address: { readonly host: string; readonly port: number },
): Promise<MetricsListener> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (request.method !== 'GET' || path !== '/metrics') {
      response.writeHead(404, json).end(notFound);
      return;
    }
    registry.metrics().then(
      (text) =>
        response
          .writeHead(200, { ...SECURITY_HEADERS, 'content-type': registry.contentType })
          .end(text),
      () => response.writeHead(500, json).end(failed),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new Error(`cannot listen for /metrics on ${address.host}:${address.port}`, {
          cause: error,
        }),
      ),
    );
    server.listen(address.port, address.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
