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

/**
 * Trusted connection-token issuers (Meeting Controllers): `issuer=jwksUrl` pairs separated by
 * commas, e.g. `mc-1=http://mc-1:8081/.well-known/jwks.json,mc-2=...`.
 */
const trustedIssuers = z
  .string()
  .min(1, 'expected issuer=jwksUrl pairs separated by commas')
  .transform((value, context) => {
    const issuers = new Map<string, string>();
    for (const part of value.split(',').map((entry) => entry.trim())) {
      const separator = part.indexOf('=');
      const issuer = part.slice(0, separator);
      const url = part.slice(separator + 1);
      if (separator <= 0 || !URL.canParse(url) || !/^https?:\/\//.test(url)) {
        context.addIssue({
          code: 'custom',
          message: `"${part}": expected issuer=http(s) JWKS URL`,
        });
        return z.NEVER;
      }
      issuers.set(issuer, url);
    }
    return issuers;
  });

/** The Media Handler's environment (docs/services.md, "Media Handler"). */
export const mhEnvironment = z
  .object({
    MH_ID: z.string().regex(ID, '1-128 letters, digits, dot, dash or underscore'),
    MH_REGION: z
      .string()
      .regex(/^[a-z0-9-]{1,32}$/, 'lowercase letters, digits and dashes')
      .default('local'),
    /** Network capacity in bits per second (10 Gbps: the spec scales out past 8 Gbps). */
    MH_CAPACITY_BPS: z.coerce.number().positive().finite().default(10_000_000_000),
    /** WebSocket media ingress (`ws://host:port/v1/media`). */
    MH_WS_BIND_ADDRESS: bindAddress.default({ host: '0.0.0.0', port: 4434 }),
    /** The WebSocket URL clients are redirected to; default made from the bound address. */
    MH_PUBLIC_WS_URL: urlWithScheme('ws', 'wss').optional(),
    /** QUIC media ingress (DATAGRAM frames; clients and peer handlers); off unless set. */
    MH_QUIC_BIND_ADDRESS: bindAddress.optional(),
    /** The QUIC `host:port` put in load reports; default made from the bound address. */
    MH_PUBLIC_QUIC_ADDRESS: z
      .string()
      .regex(/^[^:\s[\]]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected host:port')
      .optional(),
    /** QUIC certificate chain and key (PEM files), both or neither; default self-signed. */
    MH_QUIC_CERT_FILE: z.string().min(1).optional(),
    MH_QUIC_KEY_FILE: z.string().min(1).optional(),
    /**
     * This handler's AC service account (client credentials, scope service.write.mh, registered
     * under the handler's id) for the tokens of the peer links it dials; both or neither.
     */
    MH_AC_CLIENT_ID: z.string().min(1).optional(),
    MH_AC_CLIENT_SECRET: z.string().min(1).optional(),
    /** Plain UDP ingress, benchmark mode only; off unless set. */
    MH_UDP_BIND_ADDRESS: bindAddress.optional(),
    /** `/health` and `/ready`. */
    BIND_ADDRESS: bindAddress.default({ host: '0.0.0.0', port: 8084 }),
    METRICS_BIND_ADDRESS: bindAddress.default({ host: '127.0.0.1', port: 9084 }),
    /** The internal route API (gRPC) Meeting Controllers call. */
    MH_GRPC_BIND_ADDRESS: bindAddress.default({ host: '0.0.0.0', port: 50053 }),
    MH_TRUSTED_ISSUERS: trustedIssuers,
    /** AC's keys, for the service tokens on the route API. */
    AC_INTERNAL_URL: urlWithScheme('http', 'https').optional(),
    AC_JWKS_URL: urlWithScheme('http', 'https').optional(),
    MH_SERVICE_TOKEN_ISSUER: z.string().min(1).default('dark-tower-ac'),
    MH_TOKEN_AUDIENCE: z.string().min(1).default('dark-tower'),
    REDIS_URL: urlWithScheme('redis', 'rediss'),
    MH_REDIS_KEY_PREFIX: z.string().default('dt:mh:'),
    MH_MAX_DATAGRAM_BYTES: z.coerce.number().int().min(43).max(65_535).default(1_200),
    /** How long sessions may continue after SIGTERM before they are closed. */
    MH_DRAIN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(30_000),
    /** How long a connection may stay without a hello. */
    MH_HELLO_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
    LOG_LEVEL: logLevel,
  })
  .refine(hasAcKeySource, AC_KEY_SOURCE_MISSING)
  .refine((env) => (env.MH_QUIC_CERT_FILE === undefined) === (env.MH_QUIC_KEY_FILE === undefined), {
    message: 'set both MH_QUIC_CERT_FILE and MH_QUIC_KEY_FILE, or neither (self-signed)',
    path: ['MH_QUIC_KEY_FILE'],
  })
  .refine(
    (env) => (env.MH_AC_CLIENT_ID === undefined) === (env.MH_AC_CLIENT_SECRET === undefined),
    {
      message: 'set both MH_AC_CLIENT_ID and MH_AC_CLIENT_SECRET, or neither',
      path: ['MH_AC_CLIENT_SECRET'],
    },
  )
  .refine((env) => env.MH_AC_CLIENT_ID === undefined || env.AC_INTERNAL_URL !== undefined, {
    message: 'MH_AC_CLIENT_ID needs AC_INTERNAL_URL (where service tokens are issued)',
    path: ['AC_INTERNAL_URL'],
  })
  .transform((env) => ({
    ...env,
    acJwksUrl: acJwksUrl(env),
  }));

export type MhEnvironment = z.infer<typeof mhEnvironment>;
