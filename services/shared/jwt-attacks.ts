// Forged and invalid tokens for the JWT attack suites of the AC and GC integration tests.
import { createHmac, randomUUID, type KeyObject } from 'node:crypto';
import { generateKeyPairSync } from 'node:crypto';
import { buildTokenClaims, type TokenClaims } from '../../core/auth/claims.ts';
import { parseScopeList, type Scope } from '../../core/auth/scopes.ts';
import { unwrap } from '../../core/result.ts';
import { signClaims, type SigningKeyMaterial } from '../../adapters/jwt/tokens.ts';

const base64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');

export interface AttackContext {
  /** AC's current signing key (in-process access, to forge tokens that differ in one way). */
  readonly key: SigningKeyMaterial;
  /** The same key's public JWK as published. */
  readonly publicJwk: Readonly<Record<string, string>>;
  readonly issuer: string;
  readonly audience: string;
  readonly now: number;
  /** Scopes a valid token carries, e.g. "user.read.gc user.write.gc". */
  readonly scopes: string;
  /** The organisation a valid token acts in; 'default' when not given. */
  readonly org?: string;
}

/** The expected rejection of an attack: HTTP status and error code. */
export interface Attack {
  readonly name: string;
  readonly token: string;
  readonly status: 401 | 403;
  readonly error: 'invalid_token' | 'insufficient_scope';
}

export function validClaims(
  context: AttackContext,
  overrides: Partial<TokenClaims> = {},
): TokenClaims {
  const scopes: readonly Scope[] = unwrap(parseScopeList(context.scopes));
  const claims = unwrap(
    buildTokenClaims({
      subject: 'attacker',
      kind: scopes[0]?.principal ?? 'user',
      scopes,
      org: context.org ?? 'default',
      issuer: context.issuer,
      audience: context.audience,
      now: context.now,
      jti: randomUUID(),
    }),
  );
  return { ...claims, ...overrides };
}

function unsigned(header: object, claims: object, signature = ''): string {
  return `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}.${signature}`;
}

function hs256WithPublicKey(context: AttackContext, claims: TokenClaims): string {
  const header = { alg: 'HS256', kid: context.key.kid, typ: 'JWT' };
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const secret = JSON.stringify(context.publicJwk);
  const signature = createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

function tamper(token: string): string {
  const [header, payload, signature = ''] = token.split('.');
  const flipped = signature.startsWith('A') ? `B${signature.slice(1)}` : `A${signature.slice(1)}`;
  return `${header}.${payload}.${flipped}`;
}

/** Signs with a key pair nobody published, under a kid nobody knows. */
function foreignKey(): { kid: string; privateKey: KeyObject } {
  return { kid: `forged-${randomUUID()}`, privateKey: generateKeyPairSync('ed25519').privateKey };
}

/** Every attack of the suite; `missingScopeClaims` lack the scope the endpoint requires. */
export async function jwtAttacks(
  context: AttackContext,
  insufficientScopes: string,
): Promise<Attack[]> {
  const valid = validClaims(context);
  const seconds = Math.floor(context.now / 1000);
  const sign = (claims: TokenClaims) => signClaims(claims, context.key);
  const invalid = (name: string, token: string): Attack => ({
    name,
    token,
    status: 401,
    error: 'invalid_token',
  });
  return [
    invalid('alg none', unsigned({ alg: 'none', typ: 'JWT' }, valid)),
    invalid('alg none with a kid', unsigned({ alg: 'none', kid: context.key.kid }, valid)),
    invalid('HS256 signed with the public key', hs256WithPublicKey(context, valid)),
    invalid(
      'expired',
      await sign({ ...valid, iat: seconds - 7_200, nbf: seconds - 7_200, exp: seconds - 3_600 }),
    ),
    invalid(
      'not yet valid',
      await sign({ ...valid, iat: seconds, nbf: seconds + 600, exp: seconds + 3_600 }),
    ),
    invalid('wrong issuer', await sign({ ...valid, iss: 'https://evil.example' })),
    invalid('wrong audience', await sign({ ...valid, aud: 'another-service' })),
    invalid('unknown kid', await signClaims(valid, foreignKey())),
    invalid('tampered signature', tamper(await sign(valid))),
    invalid(
      'tampered payload',
      (await sign(valid)).replace(
        /\.[^.]+\./,
        `.${base64url(JSON.stringify({ ...valid, sub: 'admin' }))}.`,
      ),
    ),
    invalid(
      'lifetime longer than allowed',
      await sign({ ...valid, exp: valid.iat + 30 * 24 * 3_600 }),
    ),
    invalid('not a JWT', 'not-a-token'),
    invalid('no organisation claim', await sign({ ...valid, org: undefined as never })),
    invalid('malformed organisation claim', await sign({ ...valid, org: 'Other.Org' })),
    {
      name: 'missing scope',
      token: await sign(validClaims({ ...context, scopes: insufficientScopes })),
      status: 403,
      error: 'insufficient_scope',
    },
  ];
}
