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
});
