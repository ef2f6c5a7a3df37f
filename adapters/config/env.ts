import { isIP } from 'node:net';
import { z } from 'zod';
import { err, ok, type Result } from '../../core/result.ts';

/** Why a service's environment was rejected, one line per offending variable. */
export type ConfigError = { readonly kind: 'invalid_environment'; readonly problems: string[] };

/**
 * Validates process environment variables against a zod schema. Every problem is reported
 * with the variable's name, so a misconfigured deployment fails at start-up with a message
 * that says what to fix.
 */
export function parseEnvironment<S extends z.ZodType>(
  schema: S,
  env: Record<string, string | undefined>,
): Result<z.infer<S>, ConfigError> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return ok(parsed.data);
  const problems = parsed.error.issues.map((issue) => {
    const variable = issue.path.join('.') || '(environment)';
    return `${variable}: ${issue.message}`;
  });
  return err({ kind: 'invalid_environment', problems });
}

/** Formats a rejected environment for a start-up error message. */
export function describeConfigError(component: string, error: ConfigError): string {
  return [`${component}: invalid configuration`, ...error.problems.map((p) => `  - ${p}`)].join(
    '\n',
  );
}

/** `host:port`, as the spec's BIND_ADDRESS variables are written (`0.0.0.0:8080`). */
export const bindAddress = z
  .string()
  .regex(/^[^:\s]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected host:port, e.g. 0.0.0.0:8080')
  .transform((value) => {
    const separator = value.lastIndexOf(':');
    const host = value.slice(0, separator).replace(/^\[|\]$/g, '');
    const port = Number(value.slice(separator + 1));
    return { host, port };
  })
  .refine((address) => address.port <= 65535, 'port must be at most 65535');

/** A URL with one of the given schemes. */
export const urlWithScheme = (...schemes: string[]) =>
  z
    .string()
    .url('expected a URL')
    .refine(
      (value) => schemes.some((scheme) => value.startsWith(`${scheme}://`)),
      `expected a ${schemes.join(' or ')} URL`,
    );

/** The log level names pino understands. */
export const logLevel = z
  .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  .default('info');

/** An IP address, or a CIDR block `address/prefix`. */
function isAddressOrCidr(value: string): boolean {
  const [address = '', prefix, ...rest] = value.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * Trusted proxies: addresses or CIDR blocks separated by commas (`10.0.0.0/8,127.0.0.1`).
 * Empty (the default) trusts none: X-Forwarded-For is ignored.
 */
export const trustedProxies = z
  .string()
  .default('')
  .transform((value) =>
    value
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part !== ''),
  )
  .refine(
    (entries) => entries.every(isAddressOrCidr),
    'expected IP addresses or CIDR blocks separated by commas, e.g. 10.0.0.0/8,127.0.0.1',
  );

/** Where a service finds AC's keys: `AC_JWKS_URL`, or else AC_INTERNAL_URL's well-known path. */
interface AcKeySource {
  readonly AC_JWKS_URL?: string | undefined;
  readonly AC_INTERNAL_URL?: string | undefined;
}

/** For a schema's `.refine`: one of `AC_JWKS_URL` and `AC_INTERNAL_URL` is set. */
export const hasAcKeySource = (env: AcKeySource): boolean =>
  env.AC_JWKS_URL !== undefined || env.AC_INTERNAL_URL !== undefined;

export const AC_KEY_SOURCE_MISSING = {
  message:
    'set AC_JWKS_URL or AC_INTERNAL_URL (the JWKS is then AC_INTERNAL_URL/.well-known/jwks.json)',
  path: ['AC_JWKS_URL'],
};

/** AC's JWKS URL from a checked environment (see {@link hasAcKeySource}). */
export const acJwksUrl = (env: AcKeySource): string =>
  env.AC_JWKS_URL ?? `${env.AC_INTERNAL_URL?.replace(/\/$/, '')}/.well-known/jwks.json`;
