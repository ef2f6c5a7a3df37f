import { describe, expect, it } from 'vitest';
import { parseEnvironment } from '../../adapters/config/env.ts';
import { gcEnvironment } from './config.ts';

const base = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/dt',
  REDIS_URL: 'redis://127.0.0.1:6379',
};

describe('GC configuration', () => {
  it('derives the JWKS URL from AC_INTERNAL_URL and applies the spec ports', () => {
    const env = parseEnvironment(gcEnvironment, {
      ...base,
      AC_INTERNAL_URL: 'http://ac-service.dark-tower:8082/',
    });
    if (!env.ok) throw new Error(env.error.problems.join());
    expect(env.value.jwksUrl).toBe('http://ac-service.dark-tower:8082/.well-known/jwks.json');
    expect(env.value.BIND_ADDRESS).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(env.value.GC_GRPC_BIND_ADDRESS).toEqual({ host: '0.0.0.0', port: 50051 });
  });

  it('prefers AC_JWKS_URL when both are set', () => {
    const env = parseEnvironment(gcEnvironment, {
      ...base,
      AC_INTERNAL_URL: 'http://ac:8082',
      AC_JWKS_URL: 'http://keys.example/jwks.json',
    });
    expect(env.ok && env.value.jwksUrl).toBe('http://keys.example/jwks.json');
  });

  it('says which variables are wrong', () => {
    const env = parseEnvironment(gcEnvironment, {
      ...base,
      GC_REGION: 'US West',
      GC_GRPC_BIND_ADDRESS: ':50051',
    });
    const problems = env.ok ? [] : env.error.problems.map((line) => line.split(':')[0]);
    expect(problems).toEqual(expect.arrayContaining(['GC_REGION', 'GC_GRPC_BIND_ADDRESS']));
    const noAc = parseEnvironment(gcEnvironment, base);
    expect(noAc.ok ? [] : noAc.error.problems).toEqual([
      'AC_JWKS_URL: set AC_JWKS_URL or AC_INTERNAL_URL (the JWKS is then AC_INTERNAL_URL/.well-known/jwks.json)',
    ]);
  });

  it('accepts plain loopback MC URLs only when GC_ALLOW_PLAIN_LOOPBACK_MC_URLS is true', () => {
    const parse = (value?: string) =>
      parseEnvironment(gcEnvironment, {
        ...base,
        AC_INTERNAL_URL: 'http://ac:8082',
        ...(value === undefined ? {} : { GC_ALLOW_PLAIN_LOOPBACK_MC_URLS: value }),
      });
    const flag = (value?: string) => {
      const env = parse(value);
      return env.ok ? env.value.GC_ALLOW_PLAIN_LOOPBACK_MC_URLS : env.error.problems;
    };
    expect(flag()).toBe(false);
    expect(flag('false')).toBe(false);
    expect(flag('true')).toBe(true);
    expect(flag('yes')).toEqual(['GC_ALLOW_PLAIN_LOOPBACK_MC_URLS: expected true or false']);
  });
});
