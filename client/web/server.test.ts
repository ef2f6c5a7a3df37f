// The web server: static files of the built client, the page itself for any other path, and
// /ac/ and /gc/ forwarded to their upstreams (here a plain HTTP server that echoes what it got).
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebServer, type RunningWebServer } from './server.ts';

let root: string;
let upstream: Server;
let upstreamUrl: string;
let web: RunningWebServer;
let unbuilt: RunningWebServer;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'dt-web-'));
  mkdirSync(join(root, 'assets'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>page</title>');
  writeFileSync(join(root, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(join(root, '..', 'outside-dt-web.txt'), 'secret');
  upstream = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      res.writeHead(201, { 'content-type': 'application/json', 'x-upstream': 'yes' });
      res.end(
        JSON.stringify({
          method: req.method,
          url: req.url,
          host: req.headers.host,
          origin: req.headers.origin ?? null,
          authorization: req.headers.authorization ?? null,
          body,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', () => resolve()));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  web = await startWebServer({
    host: '127.0.0.1',
    port: 0,
    acUrl: upstreamUrl,
    gcUrl: `${upstreamUrl}/gc-base`,
    root,
  });
  unbuilt = await startWebServer({
    host: '127.0.0.1',
    port: 0,
    acUrl: upstreamUrl,
    gcUrl: upstreamUrl,
    root: join(root, 'missing'),
  });
});

afterAll(async () => {
  await web?.close();
  await unbuilt?.close();
  await new Promise((resolve) => upstream?.close(resolve));
  rmSync(root, { recursive: true, force: true });
  rmSync(join(root, '..', 'outside-dt-web.txt'), { force: true });
});

describe('web server', () => {
  it('serves the built files, and the page for any other path', async () => {
    const page = await fetch(`${web.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('<title>page</title>');
    const script = await fetch(`${web.url}/assets/app.js`);
    expect(script.headers.get('content-type')).toContain('text/javascript');
    expect(await script.text()).toBe('console.log(1)');
    expect(await (await fetch(`${web.url}/meeting/abc`)).text()).toContain('<title>page</title>');
  });

  it('never serves a file outside its root', async () => {
    for (const path of [
      '/../outside-dt-web.txt',
      '/%2e%2e/outside-dt-web.txt',
      '/assets/..%2f..%2foutside-dt-web.txt',
    ]) {
      const answer = await fetch(`${web.url}${path}`);
      expect(await answer.text()).not.toContain('secret');
    }
    expect((await fetch(`${web.url}/%E0%A4%A`)).status).toBe(400);
    expect((await fetch(`${web.url}/`, { method: 'POST' })).status).toBe(405);
  });

  it('forwards /ac/ and /gc/ to their upstreams with method, path, query, headers and body', async () => {
    const answer = await fetch(`${web.url}/ac/v1/auth/user/token?x=1`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        origin: 'http://elsewhere',
        authorization: 'Bearer t',
      },
      body: '{"username":"u"}',
    });
    expect(answer.status).toBe(201);
    expect(answer.headers.get('x-upstream')).toBe('yes');
    expect(await answer.json()).toEqual({
      method: 'POST',
      url: '/v1/auth/user/token?x=1',
      host: new URL(upstreamUrl).host,
      origin: null,
      authorization: 'Bearer t',
      body: '{"username":"u"}',
    });
    const gc = (await (await fetch(`${web.url}/gc/v1/meetings/m1`)).json()) as { url: string };
    expect(gc.url).toBe('/gc-base/v1/meetings/m1');
  });

  it('answers 413 for a body over 64 KiB, and 502 with Retry-After when an upstream is down', async () => {
    const large = await fetch(`${web.url}/ac/v1/auth/user/token`, {
      method: 'POST',
      body: 'x'.repeat(70 * 1024),
    });
    expect(large.status).toBe(413);
    expect(await large.json()).toMatchObject({ error: 'payload_too_large' });
    const down = await startWebServer({
      host: '127.0.0.1',
      port: 0,
      acUrl: 'http://127.0.0.1:1',
      gcUrl: 'http://127.0.0.1:1',
      root,
    });
    try {
      const answer = await fetch(`${down.url}/ac/v1/auth/user/token`, {
        method: 'POST',
        body: '{}',
      });
      expect(answer.status).toBe(502);
      expect(answer.headers.get('retry-after')).toBe('1');
      expect(await answer.json()).toMatchObject({ error: 'bad_gateway' });
    } finally {
      await down.close();
    }
  });

  it('answers 503 with Retry-After while the client is not built', async () => {
    const answer = await fetch(`${unbuilt.url}/`);
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('5');
  });
});
