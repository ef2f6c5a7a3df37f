/**
 * `npm run web`: serves the built browser client (client/web/dist) and forwards `/ac/...` to
 * the Auth Controller and `/gc/...` to the Global Controller, so the page calls both on its own
 * origin and neither needs CORS. Signaling and media go from the browser straight to the
 * controller and handler URLs the services hand out (WebSockets are not subject to CORS).
 *
 *   WEB_BIND_ADDRESS  host:port to listen on (default 127.0.0.1:5173)
 *   WEB_AC_URL        the AC the page logs in at (default http://127.0.0.1:8082)
 *   WEB_GC_URL        the GC the page looks meetings up at (default http://127.0.0.1:8080)
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

export interface WebServerOptions {
  readonly host: string;
  readonly port: number;
  readonly acUrl: string;
  readonly gcUrl: string;
  /** The built client (default client/web/dist). */
  readonly root?: string;
}

export interface RunningWebServer {
  readonly url: string;
  close(): Promise<void>;
}

const DEFAULT_ROOT = fileURLToPath(new URL('./dist', import.meta.url));
const MAX_BODY_BYTES = 64 * 1024;

export async function startWebServer(options: WebServerOptions): Promise<RunningWebServer> {
  const root = resolve(options.root ?? DEFAULT_ROOT);
  const upstreams: [string, URL][] = [
    ['/ac/', new URL(options.acUrl)],
    ['/gc/', new URL(options.gcUrl)],
  ];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local');
    const upstream = upstreams.find(([prefix]) => url.pathname.startsWith(prefix));
    if (upstream !== undefined) {
      const [prefix, base] = upstream;
      // The upstream's own base path, if it has one, then the path after the prefix.
      const basePath = base.pathname.replace(/\/$/, '');
      const target = new URL(basePath + url.pathname.slice(prefix.length - 1) + url.search, base);
      const headers = { ...req.headers, host: target.host };
      delete headers.origin;
      delete headers.referer;
      let size = 0;
      const forward = httpRequest(
        target,
        { method: req.method, headers, timeout: 10_000 },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('timeout', () => forward.destroy(new Error('upstream timeout')));
      forward.on('error', () => {
        if (res.writableEnded) return;
        if (!res.headersSent) {
          res.writeHead(502, { 'content-type': 'application/json', 'retry-after': '1' });
        }
        res.end(
          JSON.stringify({ error: 'bad_gateway', error_description: 'upstream unreachable' }),
        );
      });
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_BODY_BYTES || res.writableEnded) return;
        // Too large: answer now, stop forwarding and read the rest to nowhere.
        req.unpipe(forward);
        forward.destroy();
        if (!res.headersSent) res.writeHead(413, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ error: 'payload_too_large', error_description: 'body too large' }),
        );
        req.resume();
      });
      req.pipe(forward);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    void serveFile(root, url.pathname, res);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port, options.host, () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}`,
    close: () =>
      new Promise((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

async function serveFile(root: string, pathname: string, res: ServerResponse) {
  let relative: string;
  try {
    relative = normalize(decodeURIComponent(pathname)).replace(/^([/\\])+/, '');
  } catch {
    res.writeHead(400).end();
    return;
  }
  // The path was absolute before normalising, so it cannot climb above the root; this check is a
  // second guard only.
  let file = join(root, relative === '' ? 'index.html' : relative);
  if (file !== root && !file.startsWith(root + sep)) {
    res.writeHead(404).end();
    return;
  }
  try {
    if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
    await stat(file);
  } catch {
    // Any other path is the single page itself (a meeting link).
    file = join(root, 'index.html');
    try {
      await stat(file);
    } catch {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' });
      res.end('the client is not built: npm run web:build');
      return;
    }
  }
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'cache-control': 'no-cache',
  });
  createReadStream(file).pipe(res);
}

function hostPort(value: string): { host: string; port: number } {
  const match = /^(.+):(\d{1,5})$/.exec(value);
  if (match === null) throw new Error(`WEB_BIND_ADDRESS must be host:port, not ${value}`);
  return { host: match[1] as string, port: Number(match[2]) };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const bind = hostPort(process.env.WEB_BIND_ADDRESS ?? '127.0.0.1:5173');
  const running = await startWebServer({
    ...bind,
    acUrl: process.env.WEB_AC_URL ?? 'http://127.0.0.1:8082',
    gcUrl: process.env.WEB_GC_URL ?? 'http://127.0.0.1:8080',
  });
  console.log(`Dark Tower web client at ${running.url}/`);
  const stop = () => void running.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
