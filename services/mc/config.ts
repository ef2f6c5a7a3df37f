import { z } from 'zod';
import {
  bindAddress,
  logLevel,
  urlWithScheme,
  AC_KEY_SOURCE_MISSING,
  acJwksUrl,
  hasAcKeySource,
} from '../../adapters/config/env.ts';

const ID = /^[A-Za-z0-9._-]{1,128}$/;
const HOST_PORT = /^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/;

/** `handler=host:port` pairs separated by commas: each handler's route API (gRPC). */
const routeAddresses = z
  .string()
  .default('')
  .transform((value, context) => {
    const addresses = new Map<string, string>();
    for (const part of value.split(',').map((entry) => entry.trim())) {
      if (part === '') continue;
      const separator = part.indexOf('=');
      const handler = part.slice(0, separator);
      const address = part.slice(separator + 1);
      if (separator <= 0 || !ID.test(handler) || !HOST_PORT.test(address)) {
        context.addIssue({ code: 'custom', message: `"${part}": expected handler=host:port` });
        return z.NEVER;
      }
      addresses.set(handler, address);
    }
    return addresses;
  });

/** The Meeting Controller's environment (docs/services.md, "Meeting Controller"). */
export const mcEnvironment = z
  .object({
    /** Stable id of this controller (GC tracks it, handlers trust it as an issuer). */
    MC_ID: z.string().regex(ID, '1-128 letters, digits, dot, dash or underscore'),
    MC_REGION: z
      .string()
      .regex(/^[a-z0-9-]{1,32}$/, 'lowercase letters, digits and dashes')
      .default('local'),
    /** WebSocket signaling (`ws://host:port/v1/signaling`). */
    MC_SIGNALING_BIND_ADDRESS: bindAddress.default({ host: '0.0.0.0', port: 4433 }),
    /** WebTransport signaling (`https://host:port/v1/signaling`, HTTP/3 over UDP); off unless set. */
    MC_WEBTRANSPORT_BIND_ADDRESS: bindAddress.optional(),
    /** WebTransport signaling over HTTP/2 (TCP, same path), for browsers without HTTP/3. */
    MC_WEBTRANSPORT_H2_BIND_ADDRESS: bindAddress.optional(),
    /** The signaling URL clients are sent by GC; default made from the bound address. */
    MC_PUBLIC_URL: urlWithScheme('ws', 'wss').optional(),
    /** `/health`, `/ready` and the controller's JWKS (`/.well-known/jwks.json`). */
    BIND_ADDRESS: bindAddress.default({ host: '0.0.0.0', port: 8081 }),
    METRICS_BIND_ADDRESS: bindAddress.default({ host: '127.0.0.1', port: 9081 }),
    /** The JWKS URL handlers are given; default made from the bound address. */
    MC_PUBLIC_JWKS_URL: urlWithScheme('http', 'https').optional(),
    /** GC's gRPC API (registration and heartbeats), `host:port`. */
    GC_GRPC_ADDRESS: z.string().regex(HOST_PORT, 'expected host:port'),
    /** GC's HTTP API: the meeting a join names is looked up there with the user's token. */
    GC_URL: urlWithScheme('http', 'https'),
    /**
     * This controller's AC service account (client credentials, scopes service.write.gc and
     * service.write.mh): its token is fetched from AC_INTERNAL_URL and refreshed before expiry.
     * Both or neither.
     */
    MC_AC_CLIENT_ID: z.string().min(1).optional(),
    MC_AC_CLIENT_SECRET: z.string().min(1).optional(),
    /** Instead of the account: a fixed service token with those scopes (used until it expires). */
    MC_SERVICE_TOKEN: z.string().min(1).optional(),
    /**
     * The Ed25519 key connection tokens are signed with (PEM, PKCS #8), created there on first
     * start; unset: a new key each start (tokens from before a restart stop verifying).
     */
    MC_SIGNING_KEY_FILE: z.string().min(1).optional(),
    AC_INTERNAL_URL: urlWithScheme('http', 'https').optional(),
    AC_JWKS_URL: urlWithScheme('http', 'https').optional(),
    MC_TRUSTED_ISSUER: z.string().min(1).default('dark-tower-ac'),
    MC_TOKEN_AUDIENCE: z.string().min(1).default('dark-tower'),
    REDIS_URL: urlWithScheme('redis', 'rediss'),
    /** Prefix of this controller's own keys (participant sessions). */
    MC_REDIS_KEY_PREFIX: z.string().default('dt:mc:'),
    /** Prefix under which the handlers publish their load reports (their MH_REDIS_KEY_PREFIX). */
    MC_MH_REDIS_KEY_PREFIX: z.string().default('dt:mh:'),
    /** Route API addresses of handlers, `mh-1=host:port,...`; others use MC_MH_ROUTE_PORT. */
    MC_MH_ROUTE_ADDRESSES: routeAddresses,
    /** A handler not listed is reached at its WebSocket URL's host on this port. */
    MC_MH_ROUTE_PORT: z.coerce.number().int().min(1).max(65_535).default(50053),
    MC_MAX_MEETINGS: z.coerce.number().int().min(1).max(100_000).default(800),
    MC_MAX_PARTICIPANTS: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
    /** Per-stream bitrate the planner budgets (bits per second). */
    MC_STREAM_BITRATE_BPS: z.coerce.number().positive().finite().default(1_500_000),
    /**
     * Forward every member's audio to every other member (core's `forwardAudio`). Off by
     * default, as in the simulator: the planner budgets an audio leg like a video stream, so it
     * costs capacity for members who publish none. `npm run stack` and the browser suite turn
     * it on (the browser client sends Opus).
     */
    MC_FORWARD_AUDIO: z
      .enum(['true', 'false'], { message: 'expected true or false' })
      .default('false')
      .transform((value) => value === 'true'),
    /** Largest signaling message accepted (bytes). */
    MC_MAX_MESSAGE_BYTES: z.coerce.number().int().min(256).max(1_048_576).default(16_384),
    /** How long a connection may stay without a join. */
    MC_JOIN_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
    LOG_LEVEL: logLevel,
  })
  .refine(hasAcKeySource, AC_KEY_SOURCE_MISSING)
  .refine(
    (env) => (env.MC_AC_CLIENT_ID === undefined) === (env.MC_AC_CLIENT_SECRET === undefined),
    {
      message: 'set both MC_AC_CLIENT_ID and MC_AC_CLIENT_SECRET, or neither',
      path: ['MC_AC_CLIENT_SECRET'],
    },
  )
  .refine((env) => (env.MC_AC_CLIENT_ID === undefined) !== (env.MC_SERVICE_TOKEN === undefined), {
    message: 'set MC_AC_CLIENT_ID and MC_AC_CLIENT_SECRET, or MC_SERVICE_TOKEN (one of the two)',
    path: ['MC_SERVICE_TOKEN'],
  })
  .refine((env) => env.MC_AC_CLIENT_ID === undefined || env.AC_INTERNAL_URL !== undefined, {
    message: 'MC_AC_CLIENT_ID needs AC_INTERNAL_URL (where service tokens are issued)',
    path: ['AC_INTERNAL_URL'],
  })
  .transform((env) => ({
    ...env,
    acJwksUrl: acJwksUrl(env),
  }));

export type McEnvironment = z.infer<typeof mcEnvironment>;
