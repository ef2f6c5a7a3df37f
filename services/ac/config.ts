import { z } from 'zod';
import { describeMasterKeyError, parseMasterKey } from '../../core/keys/master-key.ts';
import { DEFAULT_LOGIN_LIMIT, DEFAULT_TOKEN_ISSUANCE_LIMIT } from '../../core/auth/rate-limits.ts';
import { bindAddress, logLevel, trustedProxies, urlWithScheme } from '../../adapters/config/env.ts';
import type { MasterKeys } from '../../adapters/crypto/envelope.ts';

/** A master key: 32 random bytes as canonical base64 (core's parser; all-zero is refused). */
const base64Key = z.string().superRefine((value, context) => {
  const parsed = parseMasterKey(value);
  if (!parsed.ok)
    context.addIssue({ code: 'custom', message: describeMasterKeyError(parsed.error) });
});

/** `version:base64key` pairs separated by commas: master keys of earlier versions. */
const previousMasterKeys = z
  .string()
  .default('')
  .transform((value, context) => {
    const keys = new Map<number, Buffer>();
    for (const entry of value.split(',').filter((part) => part.trim() !== '')) {
      const [version, key, ...rest] = entry.trim().split(':');
      const parsed = parseMasterKey(key ?? '');
      if (!/^[1-9]\d*$/.test(version ?? '') || rest.length > 0 || !parsed.ok) {
        const detail = parsed.ok ? '' : ` (key ${describeMasterKeyError(parsed.error)})`;
        context.addIssue({
          code: 'custom',
          message: `expected version:base64key pairs (32-byte keys) separated by commas${detail}`,
        });
        return z.NEVER;
      }
      keys.set(Number(version), Buffer.from(parsed.value));
    }
    return keys;
  });

const positiveInt = z.coerce.number().int().positive();

/** AC's environment (spec 004 names, plus the AC-specific settings documented in docs/services.md). */
export const acEnvironment = z.object({
  DATABASE_URL: urlWithScheme('postgres', 'postgresql'),
  REDIS_URL: urlWithScheme('redis', 'rediss'),
  BIND_ADDRESS: bindAddress.default({ host: '0.0.0.0', port: 8082 }),
  METRICS_BIND_ADDRESS: bindAddress.default({ host: '127.0.0.1', port: 9082 }),
  AC_MASTER_KEY: base64Key,
  AC_MASTER_KEY_VERSION: positiveInt.default(1),
  AC_PREVIOUS_MASTER_KEYS: previousMasterKeys,
  AC_ISSUER: z.string().min(1).default('dark-tower-ac'),
  AC_TOKEN_AUDIENCE: z.string().min(1).default('dark-tower'),
  AC_KID_PREFIX: z
    .string()
    .regex(/^[a-z0-9-]{1,32}$/, 'lowercase letters, digits and dashes')
    .default('ac'),
  AC_BCRYPT_COST: z.coerce
    .number()
    .int()
    .min(12, 'bcrypt cost must be 12 or more')
    .max(16)
    .default(12),
  AC_LOGIN_BURST: positiveInt.default(DEFAULT_LOGIN_LIMIT.capacity),
  AC_LOGIN_REFILL_MS: positiveInt.default(DEFAULT_LOGIN_LIMIT.refillIntervalMs),
  AC_SERVICE_TOKEN_BURST: positiveInt.default(DEFAULT_TOKEN_ISSUANCE_LIMIT.capacity),
  AC_SERVICE_TOKEN_REFILL_MS: positiveInt.default(DEFAULT_TOKEN_ISSUANCE_LIMIT.refillIntervalMs),
  /** Lifetime of service tokens in seconds (spec 003: 2 hours); shorter for tests. */
  AC_SERVICE_TOKEN_LIFETIME_SECONDS: z.coerce.number().int().min(1).max(7_200).default(7_200),
  AC_TRUSTED_PROXIES: trustedProxies,
  AC_REDIS_KEY_PREFIX: z.string().default('dt:ac:'),
  LOG_LEVEL: logLevel,
});

export type AcEnvironment = z.infer<typeof acEnvironment>;

/** The master keys AC holds: the current version seals, every listed version opens. */
export function masterKeysOf(env: AcEnvironment): MasterKeys {
  const keys = new Map(env.AC_PREVIOUS_MASTER_KEYS);
  keys.set(env.AC_MASTER_KEY_VERSION, Buffer.from(env.AC_MASTER_KEY, 'base64'));
  return { currentVersion: env.AC_MASTER_KEY_VERSION, keys };
}
