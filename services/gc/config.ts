import { z } from 'zod';
import {
  bindAddress,
  logLevel,
  urlWithScheme,
  AC_KEY_SOURCE_MISSING,
  acJwksUrl,
  hasAcKeySource,
} from '../../adapters/config/env.ts';

/** GC's environment (spec 004 names, plus the GC settings documented in docs/services.md). */
export const gcEnvironment = z
  .object({
    DATABASE_URL: urlWithScheme('postgres', 'postgresql'),
    REDIS_URL: urlWithScheme('redis', 'rediss'),
    BIND_ADDRESS: bindAddress.default({ host: '0.0.0.0', port: 8080 }),
    METRICS_BIND_ADDRESS: bindAddress.default({ host: '127.0.0.1', port: 9080 }),
    GC_GRPC_BIND_ADDRESS: bindAddress.default({ host: '0.0.0.0', port: 50051 }),
    GC_REGION: z
      .string()
      .regex(/^[a-z0-9-]{1,32}$/, 'lowercase letters, digits and dashes')
      .default('local'),
    AC_INTERNAL_URL: urlWithScheme('http', 'https').optional(),
    AC_JWKS_URL: urlWithScheme('http', 'https').optional(),
    GC_TRUSTED_ISSUER: z.string().min(1).default('dark-tower-ac'),
    GC_TOKEN_AUDIENCE: z.string().min(1).default('dark-tower'),
    GC_DEFAULT_ORG: z.string().min(1).default('default'),
    GC_TENANT_DOMAIN: z.string().min(1).optional(),
    GC_HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(100).max(5_000).default(2_000),
    GC_REDIS_KEY_PREFIX: z.string().default('dt:gc:'),
    /** Development only: accept plain http/ws MC public URLs on loopback hosts. */
    GC_ALLOW_PLAIN_LOOPBACK_MC_URLS: z
      .enum(['true', 'false'], { message: 'expected true or false' })
      .default('false')
      .transform((value) => value === 'true'),
    LOG_LEVEL: logLevel,
  })
  .refine(hasAcKeySource, AC_KEY_SOURCE_MISSING)
  .transform((env) => ({
    ...env,
    jwksUrl: acJwksUrl(env),
  }));

export type GcEnvironment = z.infer<typeof gcEnvironment>;
