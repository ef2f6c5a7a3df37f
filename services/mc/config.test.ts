import { describe, expect, it } from 'vitest';
import { parseEnvironment } from '../../adapters/config/env.ts';
import { mcEnvironment } from './config.ts';

const base = {
  MC_ID: 'mc-1',
  GC_GRPC_ADDRESS: 'gc:50051',
  GC_URL: 'http://gc:8080',
  MC_SERVICE_TOKEN: 'service-token',
  AC_INTERNAL_URL: 'http://ac:8082/',
  REDIS_URL: 'redis://127.0.0.1:6379',
};

describe('MC configuration', () => {
  it('applies the spec ports and derives the JWKS URL of AC', () => {
    const env = parseEnvironment(mcEnvironment, base);
    if (!env.ok) throw new Error(env.error.problems.join());
    expect(env.value.acJwksUrl).toBe('http://ac:8082/.well-known/jwks.json');
    expect(env.value.BIND_ADDRESS).toEqual({ host: '0.0.0.0', port: 8081 });
    expect(env.value.MC_SIGNALING_BIND_ADDRESS).toEqual({ host: '0.0.0.0', port: 4433 });
    expect(env.value.MC_MH_ROUTE_ADDRESSES.size).toBe(0);
    expect(env.value.MC_MH_ROUTE_PORT).toBe(50053);
  });

  it('reads handlers’ route API addresses', () => {
    const env = parseEnvironment(mcEnvironment, {
      ...base,
      MC_MH_ROUTE_ADDRESSES: 'mh-1=10.0.0.1:50053, mh-2=[::1]:6000',
    });
    if (!env.ok) throw new Error(env.error.problems.join());
    expect([...env.value.MC_MH_ROUTE_ADDRESSES]).toEqual([
      ['mh-1', '10.0.0.1:50053'],
      ['mh-2', '[::1]:6000'],
    ]);
  });

  it('names each bad or missing variable, never its value', () => {
    const env = parseEnvironment(mcEnvironment, {
      ...base,
      MC_ID: 'bad id',
      MC_SERVICE_TOKEN: '',
      MC_MH_ROUTE_ADDRESSES: 'mh-1=nowhere',
      MC_PUBLIC_URL: 'http://mc:4433',
    });
    expect(env.ok).toBe(false);
    const problems = env.ok ? '' : env.error.problems.join('\n');
    for (const name of ['MC_ID', 'MC_SERVICE_TOKEN', 'MC_MH_ROUTE_ADDRESSES', 'MC_PUBLIC_URL']) {
      expect(problems).toContain(name);
    }
    const { AC_INTERNAL_URL: _unused, ...withoutAc } = base;
    expect(parseEnvironment(mcEnvironment, withoutAc).ok).toBe(false);
  });

  it('takes client credentials or a fixed token, exactly one of the two', () => {
    const { MC_SERVICE_TOKEN: _token, ...withoutToken } = base;
    const credentials = { MC_AC_CLIENT_ID: 'mc-client', MC_AC_CLIENT_SECRET: 'secret-value' };
    const problems = (env: Record<string, string | undefined>) => {
      const parsed = parseEnvironment(mcEnvironment, env);
      return parsed.ok ? '' : parsed.error.problems.join('\n');
    };
    expect(problems({ ...withoutToken, ...credentials })).toBe('');
    expect(problems(withoutToken)).toContain('MC_SERVICE_TOKEN');
    expect(problems({ ...base, ...credentials })).toContain('one of the two');
    expect(problems({ ...withoutToken, MC_AC_CLIENT_ID: 'mc-client' })).toContain(
      'MC_AC_CLIENT_SECRET',
    );
    const { AC_INTERNAL_URL: _ac, ...withoutAc } = withoutToken;
    const noIssuer = problems({
      ...withoutAc,
      ...credentials,
      AC_JWKS_URL: 'http://ac:8082/.well-known/jwks.json',
    });
    expect(noIssuer).toContain('AC_INTERNAL_URL');
    expect(noIssuer).not.toContain('secret-value');
  });
});
