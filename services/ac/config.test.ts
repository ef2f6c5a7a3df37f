import { describe, expect, it } from 'vitest';
import { parseEnvironment } from '../../adapters/config/env.ts';
import { acEnvironment, masterKeysOf } from './config.ts';

const key = (byte: number) => Buffer.alloc(32, byte).toString('base64');
const valid = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/dt',
  REDIS_URL: 'redis://127.0.0.1:6379',
  AC_MASTER_KEY: key(1),
};

describe('AC configuration', () => {
  it('applies the documented defaults', () => {
    const env = parseEnvironment(acEnvironment, valid);
    expect(env.ok && env.value.BIND_ADDRESS).toEqual({ host: '0.0.0.0', port: 8082 });
    expect(env.ok && env.value.AC_BCRYPT_COST).toBe(12);
  });

  it('names every offending variable', () => {
    const env = parseEnvironment(acEnvironment, {
      DATABASE_URL: 'mysql://nope',
      AC_MASTER_KEY: 'short',
      BIND_ADDRESS: 'localhost',
      AC_BCRYPT_COST: '10',
    });
    expect(env.ok).toBe(false);
    const problems = env.ok ? [] : env.error.problems.map((line) => line.split(':')[0]);
    expect(problems).toEqual(
      expect.arrayContaining([
        'DATABASE_URL',
        'REDIS_URL',
        'AC_MASTER_KEY',
        'BIND_ADDRESS',
        'AC_BCRYPT_COST',
      ]),
    );
  });

  it('loads previous master keys by version next to the current one', () => {
    const env = parseEnvironment(acEnvironment, {
      ...valid,
      AC_MASTER_KEY_VERSION: '3',
      AC_PREVIOUS_MASTER_KEYS: `1:${key(7)},2:${key(8)}`,
    });
    if (!env.ok) throw new Error(env.error.problems.join());
    const keys = masterKeysOf(env.value);
    expect(keys.currentVersion).toBe(3);
    expect([...keys.keys.keys()].sort()).toEqual([1, 2, 3]);
    expect(keys.keys.get(2)?.equals(Buffer.alloc(32, 8))).toBe(true);
    expect(parseEnvironment(acEnvironment, { ...valid, AC_PREVIOUS_MASTER_KEYS: 'x:y' }).ok).toBe(
      false,
    );
  });

  it("refuses junk characters and an all-zero master key with core's reason", () => {
    const problems = (value: string, variable = 'AC_MASTER_KEY') => {
      const env = parseEnvironment(acEnvironment, { ...valid, [variable]: value });
      return env.ok ? [] : env.error.problems;
    };
    expect(problems(`${key(1).slice(0, 43)}!`)).toEqual([
      'AC_MASTER_KEY: must be 32 bytes, base64-encoded: character 44 is not base64',
    ]);
    expect(problems(` ${key(1)}`)).toHaveLength(1);
    expect(problems(key(0))).toEqual([
      'AC_MASTER_KEY: must be a random key, not all zeros (openssl rand -base64 32)',
    ]);
    expect(problems(`1:${key(0)}`, 'AC_PREVIOUS_MASTER_KEYS')).toEqual([
      'AC_PREVIOUS_MASTER_KEYS: expected version:base64key pairs (32-byte keys) separated by commas (key must be a random key, not all zeros (openssl rand -base64 32))',
    ]);
    expect(problems(`1:${key(2)}#`, 'AC_PREVIOUS_MASTER_KEYS')).toHaveLength(1);
  });
});
