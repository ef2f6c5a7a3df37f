/**
 * The Media Handlers a QUIC load run drives: started by the run (each its own
 * `services/mh/main.ts` process on loopback, ephemeral ports, a self-signed certificate whose
 * hash the run pins, QUIC on), or given (`--target`, a handler of `npm run stack` or any other
 * on loopback). Either way the run mints connection tokens with the development controller's
 * key (services/mh/dev-controller.ts) and installs routes over each handler's route API with
 * a service token: for handlers it starts, one it signs with a stand-in AC key it publishes
 * itself; for given ones, MH_ROUTE_TOKEN.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTokenClaims } from '../../core/auth/claims.ts';
import { parseScopeList } from '../../core/auth/scopes.ts';
import { handlerId, meetingId, participantId } from '../../core/ids.ts';
import { unwrap } from '../../core/result.ts';
import { certificateSha256, selfSignedCertificate } from '../../adapters/quic/cert.ts';
import { signConnectionToken } from '../../adapters/jwt/connection-tokens.ts';
import { signClaims, type SigningKeyMaterial } from '../../adapters/jwt/tokens.ts';
import { connectMh, type MhClient } from '../../services/mh/grpc-client.ts';
import {
  DEV_CONTROLLER_ISSUER,
  devControllerKey,
  serveDevControllerJwks,
} from '../../services/mh/dev-controller.ts';

/** One handler as the run sees it. */
export interface LoadHandler {
  readonly id: string;
  /** `host:port` of its QUIC ingress and the SHA-256 of its certificate. */
  readonly quicHost: string;
  readonly quicPort: number;
  readonly certificateSha256: Uint8Array;
  readonly metricsUrl: string;
  readonly route: MhClient;
  /** The process, when the run started it (CPU time is read from /proc). */
  readonly pid: number | undefined;
  /** Band and quality changes the handler logged (handlers the run started only). */
  readonly logged: LoggedChange[];
  /** Kills the handler at once (SIGKILL), for failover runs. */
  kill(): void;
}

export interface LoggedChange {
  readonly at: number;
  readonly what: 'band' | 'quality';
  readonly from: string;
  readonly to: string;
  readonly utilisation?: number;
}

export interface HandlerSet {
  readonly handlers: LoadHandler[];
  /** A connection token for `participant` of `meeting` on handler `id`, valid 9 minutes. */
  token(meeting: string, participant: string, handler: string): Promise<string>;
  close(): Promise<void>;
}

/** Addresses must be on this machine: a load run never sends anywhere else. */
export function assertLoopback(host: string): void {
  const ok =
    host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
  if (!ok) throw new Error(`${host} is not a loopback address: load runs target this machine only`);
}

const LOOPBACK = '127.0.0.1';
const REPOSITORY = fileURLToPath(new URL('../..', import.meta.url));
// Generous: a service compiled by tsx on a busy two-core machine can take half a minute to listen.
const READY_TIMEOUT_MS = 90_000;

/** Starts `count` handlers of `capacityBps` each, sharing one Redis prefix and region. */
export async function startHandlers(options: {
  readonly count: number;
  readonly capacityBps: number;
  readonly region: string;
  readonly redisUrl: string;
}): Promise<HandlerSet> {
  const dir = await mkdtemp(join(tmpdir(), 'dt-load-'));
  const controllerKey = await devControllerKey(dir);
  const controllerJwks = await serveDevControllerJwks(controllerKey, { host: LOOPBACK, port: 0 });
  // A stand-in AC: a key of its own for the route API's service token.
  const acKey: SigningKeyMaterial = {
    kid: `load-ac-${randomUUID()}`,
    privateKey: generateKeyPairSync('ed25519').privateKey,
  };
  const acJwks = await serveDevControllerJwks(acKey, { host: LOOPBACK, port: 0 });
  const routeToken = await signClaims(
    unwrap(
      buildTokenClaims({
        subject: DEV_CONTROLLER_ISSUER,
        kind: 'service',
        scopes: unwrap(parseScopeList('service.write.mh')),
        org: 'default',
        issuer: 'dark-tower-ac',
        audience: 'dark-tower',
        now: Date.now(),
        jti: randomUUID(),
      }),
    ),
    acKey,
  );
  const pair = await selfSignedCertificate();
  await writeFile(join(dir, 'cert.pem'), pair.certPem, { mode: 0o600 });
  await writeFile(join(dir, 'key.pem'), pair.keyPem, { mode: 0o600 });
  const hash = certificateSha256(pair.certPem);
  const prefix = `dt_load_${randomUUID().slice(0, 8)}:`;
  const children: ChildProcess[] = [];
  const handlers: LoadHandler[] = [];
  try {
    const started = await Promise.all(
      Array.from({ length: options.count }, (_, i) =>
        spawnService(`load-mh-${i + 1}`, 'services/mh/main.ts', 'mh-service listening', {
          MH_ID: `load-mh-${i + 1}`,
          MH_REGION: options.region,
          MH_CAPACITY_BPS: String(options.capacityBps),
          MH_WS_BIND_ADDRESS: `${LOOPBACK}:0`,
          MH_QUIC_BIND_ADDRESS: `${LOOPBACK}:0`,
          MH_QUIC_CERT_FILE: join(dir, 'cert.pem'),
          MH_QUIC_KEY_FILE: join(dir, 'key.pem'),
          BIND_ADDRESS: `${LOOPBACK}:0`,
          METRICS_BIND_ADDRESS: `${LOOPBACK}:0`,
          MH_GRPC_BIND_ADDRESS: `${LOOPBACK}:0`,
          MH_TRUSTED_ISSUERS: `${DEV_CONTROLLER_ISSUER}=${controllerJwks.url}`,
          AC_JWKS_URL: acJwks.url,
          REDIS_URL: options.redisUrl,
          MH_REDIS_KEY_PREFIX: prefix,
          MH_DRAIN_GRACE_MS: '0',
          // Info: the listening line and the band and quality changes are read from the log.
          LOG_LEVEL: 'info',
        }),
      ),
    );
    for (const { child, listening, logged, id } of started) {
      children.push(child);
      const [host, port] = splitHostPort(String(listening.quic));
      handlers.push({
        id,
        quicHost: host,
        quicPort: port,
        certificateSha256: hash,
        metricsUrl: String(listening.metrics_url),
        route: connectMh(String(listening.grpc), routeToken),
        pid: child.pid,
        logged,
        kill: () => void child.kill('SIGKILL'),
      });
    }
  } catch (error) {
    await Promise.all(children.map(stopChild));
    await Promise.all([controllerJwks.close(), acJwks.close(), rm(dir, { recursive: true })]);
    throw error;
  }
  return {
    handlers,
    token: (meeting, participant, handler) =>
      mintToken(controllerKey, meeting, participant, handler),
    async close() {
      for (const h of handlers) h.route.close();
      await Promise.all(children.map(stopChild));
      await Promise.all([
        controllerJwks.close(),
        acJwks.close(),
        rm(dir, { recursive: true, force: true }),
      ]);
    },
  };
}

/**
 * Handlers already running (`--target id=...,quic=host:port,sha256=hex,grpc=host:port,
 * metrics=http://host:port`). Tokens come from the development controller's key in
 * STACK_STATE_DIR (default ~/.dark-tower), which the stack's handlers trust.
 */
export async function targetHandlers(specs: readonly string[]): Promise<HandlerSet> {
  const routeToken = process.env.MH_ROUTE_TOKEN;
  if (routeToken === undefined || routeToken === '') {
    throw new Error('set MH_ROUTE_TOKEN to an AC service token with scope service.write.mh');
  }
  const key = await devControllerKey(process.env.STACK_STATE_DIR ?? join(homedir(), '.dark-tower'));
  const handlers = specs.map((spec) => {
    const fields = new Map(
      spec.split(',').map((part) => {
        const at = part.indexOf('=');
        return [part.slice(0, at), part.slice(at + 1)] as const;
      }),
    );
    const need = (name: string) => {
      const value = fields.get(name);
      if (value === undefined || value === '')
        throw new Error(`--target ${spec}: ${name}= missing`);
      return value;
    };
    const [host, port] = splitHostPort(need('quic'));
    const grpc = need('grpc');
    const metrics = new URL(need('metrics'));
    for (const h of [host, splitHostPort(grpc)[0], metrics.hostname]) assertLoopback(h);
    const sha = need('sha256');
    if (!/^[0-9a-f]{64}$/i.test(sha)) throw new Error(`--target ${spec}: sha256= is 64 hex digits`);
    return {
      id: need('id'),
      quicHost: host,
      quicPort: port,
      certificateSha256: new Uint8Array(Buffer.from(sha, 'hex')),
      metricsUrl: metrics.origin,
      route: connectMh(grpc, routeToken),
      pid: undefined,
      logged: [],
      kill: () => {
        throw new Error('a given handler is not killed by the load run');
      },
    } satisfies LoadHandler;
  });
  return {
    handlers,
    token: (meeting, participant, handler) => mintToken(key, meeting, participant, handler),
    close: async () => {
      for (const h of handlers) h.route.close();
    },
  };
}

function mintToken(
  key: SigningKeyMaterial,
  meeting: string,
  participant: string,
  handler: string,
): Promise<string> {
  const now = Date.now();
  return signConnectionToken(
    {
      meeting: meetingId(meeting),
      participant: participantId(participant),
      handler: handlerId(handler),
      issuedAtMs: now,
      expiresAtMs: now + 9 * 60_000,
    },
    DEV_CONTROLLER_ISSUER,
    key,
  );
}

function splitHostPort(address: string): [string, number] {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  if (match === null) throw new Error(`${address}: expected host:port`);
  const host = (match[1] ?? match[2]) as string;
  assertLoopback(host);
  return [host, Number(match[3])];
}

/** A service's listening log line (its addresses: `url`, `metrics_url`, `grpc`, `quic`...). */
export type Listening = Readonly<Record<string, unknown>>;

/**
 * Spawns a service (`script`, e.g. services/mh/main.ts) and waits for its `ready` log line
 * (it logs at info at least); a handler's band and quality changes are collected.
 */
export async function spawnService(
  id: string,
  script: string,
  ready: string,
  env: Record<string, string>,
): Promise<{ id: string; child: ChildProcess; listening: Listening; logged: LoggedChange[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: REPOSITORY,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logged: LoggedChange[] = [];
  let buffer = '';
  let tail = '';
  const listening = await new Promise<Listening>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${id} did not start within ${READY_TIMEOUT_MS} ms: ${tail.slice(-400)}`));
    }, READY_TIMEOUT_MS);
    const onLine = (line: string) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      const at = Date.parse(String(entry.timestamp));
      if (entry.message === ready) {
        clearTimeout(timer);
        resolve(entry);
      } else if (entry.message === 'bandwidth band changed') {
        logged.push({
          at,
          what: 'band',
          from: String(entry.from),
          to: String(entry.to),
          utilisation: Number(entry.utilisation),
        });
      } else if (entry.message === 'quality stage changed') {
        logged.push({ at, what: 'quality', from: String(entry.from), to: String(entry.to) });
      }
    };
    const onData = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-2_000);
      buffer += chunk.toString();
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        onLine(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${id} exited (${code}) before listening: ${tail.slice(-400)}`));
    });
  });
  return { id, child, listening, logged };
}

/** SIGTERM, then SIGKILL after 5 s; resolves when the process has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** CPU seconds (user + system) a process has used, from /proc; null where unreadable. */
export async function processCpuSeconds(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** USER_HZ: 100 on Linux x86-64. */
const CLOCK_TICKS = 100;
