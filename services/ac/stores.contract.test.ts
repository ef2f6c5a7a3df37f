import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PgAuditLog,
  PgServiceStore,
  PgSigningKeyStore,
  PgUserStore,
} from '../../adapters/postgres/ac-stores.ts';
import { createPool, type Pool } from '../../adapters/postgres/pool.ts';
import { createTestDatabase, type TestDatabase } from '../../adapters/postgres/test-database.ts';
import { migrateSchemas } from '../shared/schema.ts';
import {
  MemoryAuditLog,
  MemoryServiceStore,
  MemorySigningKeyStore,
  MemoryUserStore,
} from './memory-stores.ts';
import type {
  AuditLog,
  ServiceStore,
  SigningKeyStore,
  StoredSigningKey,
  UserStore,
} from '../../ports/ac.ts';

interface Stores {
  users: UserStore;
  services: ServiceStore;
  keys: SigningKeyStore;
  audit: AuditLog;
}

let database: TestDatabase;
let pool: Pool;

beforeAll(async () => {
  database = await createTestDatabase();
  pool = createPool(database.url, 4);
  await migrateSchemas(pool, ['ac']);
});

afterAll(async () => {
  await pool.end();
  await database.drop();
});

const implementations: [string, () => Stores][] = [
  [
    'in-memory',
    () => ({
      users: new MemoryUserStore(),
      services: new MemoryServiceStore(),
      keys: new MemorySigningKeyStore(),
      audit: new MemoryAuditLog(),
    }),
  ],
  [
    'PostgreSQL',
    () => ({
      users: new PgUserStore(pool),
      services: new PgServiceStore(pool),
      keys: new PgSigningKeyStore(pool),
      audit: new PgAuditLog(pool),
    }),
  ],
];

const aKey = (activeFromMs: number): StoredSigningKey => ({
  kid: `kid-${randomUUID()}`,
  publicJwk: { kty: 'OKP', crv: 'Ed25519', x: randomBytes(32).toString('base64url') },
  privateKeySealed: randomBytes(60),
  masterKeyVersion: 1,
  createdAtMs: activeFromMs - 1_000,
  activeFromMs,
  expiresAtMs: activeFromMs + 1_209_600_000,
});

describe.each(implementations)('AC stores contract: %s', (_name, make) => {
  it('stores a user once and finds it by username, exactly', async () => {
    const { users } = make();
    const username = `alice-${randomUUID()}`;
    const user = {
      userId: randomUUID(),
      username,
      passwordHash: '$2b$12$x',
      scopes: ['user.read.gc'],
      orgId: 'acme',
    };
    expect((await users.create(user)).ok).toBe(true);
    expect(await users.findByUsername(username)).toEqual(user);
    expect(await users.create({ ...user, userId: randomUUID() })).toEqual({
      ok: false,
      error: { kind: 'duplicate', key: username },
    });
    expect(await users.findByUsername(username.toUpperCase())).toBeUndefined();
    expect(await users.findByUsername(`' OR '1'='1`)).toBeUndefined();
  });

  it('registers a service once and finds it by client id', async () => {
    const { services } = make();
    const before = await services.count();
    const service = {
      clientId: `svc-${randomUUID()}`,
      name: 'meeting-controller',
      secretHash: randomBytes(32),
      scopes: ['service.write.gc'],
      orgId: 'acme',
    };
    expect((await services.register(service)).ok).toBe(true);
    expect(await services.findByClientId(service.clientId)).toEqual(service);
    expect((await services.register(service)).ok).toBe(false);
    expect(await services.count()).toBe(before + 1);
    expect(await services.findByClientId('nobody')).toBeUndefined();
  });

  it('keeps each account in one organisation, moves it on assignment, refuses malformed ones', async () => {
    const { users, services } = make();
    const username = `bob-${randomUUID()}`;
    const user = {
      userId: randomUUID(),
      username,
      passwordHash: '$2b$12$x',
      scopes: ['user.read.gc'],
      orgId: 'acme',
    };
    await users.create(user);
    expect(await users.assignOrg(username, 'globex')).toBe(true);
    expect(await users.findByUsername(username)).toEqual({ ...user, orgId: 'globex' });
    expect(await users.assignOrg(`nobody-${randomUUID()}`, 'globex')).toBe(false);
    await expect(users.assignOrg(username, 'Not.An.Org')).rejects.toThrow();
    await expect(
      users.create({ ...user, userId: randomUUID(), username: `${username}-2`, orgId: '' }),
    ).rejects.toThrow();
    expect((await users.findByUsername(username))?.orgId).toBe('globex');

    const service = {
      clientId: `svc-${randomUUID()}`,
      name: 'meeting-controller',
      secretHash: randomBytes(32),
      scopes: ['service.write.gc'],
      orgId: 'acme',
    };
    await services.register(service);
    expect(await services.assignOrg(service.clientId, 'globex')).toBe(true);
    expect(await services.findByClientId(service.clientId)).toEqual({
      ...service,
      orgId: 'globex',
    });
    expect(await services.assignOrg('nobody', 'globex')).toBe(false);
    await expect(services.assignOrg(service.clientId, 'UPPER')).rejects.toThrow();
    await expect(
      services.register({ ...service, clientId: `svc-${randomUUID()}`, orgId: 'a_b' }),
    ).rejects.toThrow();
  });

  it('keeps signing keys in activation order and applies changes made under the lock', async () => {
    const { keys } = make();
    const existing = (await keys.list()).length;
    const older = aKey(1_000);
    const newer = aKey(2_000);
    await keys.withRotationLock(async (tx) => {
      await tx.insert(newer);
      await tx.insert(older);
    });
    const mine = (await keys.list()).filter((k) => k.kid === older.kid || k.kid === newer.kid);
    expect(mine).toEqual([older, newer]);
    const resealed = randomBytes(60);
    await keys.withRotationLock(async (tx) => {
      await tx.reseal(older.kid, resealed, 2);
      await tx.remove(newer.kid);
    });
    const after = await keys.list();
    expect(after).toHaveLength(existing + 1);
    expect(after.find((k) => k.kid === older.kid)).toEqual({
      ...older,
      privateKeySealed: resealed,
      masterKeyVersion: 2,
    });
    await keys.withRotationLock((tx) => tx.remove(older.kid));
  });

  it('serialises concurrent holders of the rotation lock', async () => {
    const { keys } = make();
    const inside: string[] = [];
    const hold = (name: string) =>
      keys.withRotationLock(async (tx) => {
        inside.push(`${name}:enter`);
        await tx.list();
        await new Promise((resolve) => setTimeout(resolve, 20));
        inside.push(`${name}:leave`);
      });
    await Promise.all([hold('a'), hold('b'), hold('c')]);
    for (let i = 0; i < inside.length; i += 2) {
      expect(inside[i]?.replace(':enter', '')).toBe(inside[i + 1]?.replace(':leave', ''));
    }
  });

  it('discards the changes of failed work and releases the lock', async () => {
    const { keys } = make();
    const key = aKey(3_000);
    const failing = keys.withRotationLock(async (tx) => {
      await tx.insert(key);
      throw new Error('boom');
    });
    await expect(failing).rejects.toThrow('boom');
    expect((await keys.list()).some((k) => k.kid === key.kid)).toBe(false);
    await keys.withRotationLock((tx) => tx.insert(key));
    expect((await keys.list()).some((k) => k.kid === key.kid)).toBe(true);
  });

  it('records audit events newest first', async () => {
    const { audit } = make();
    const subject = `user-${randomUUID()}`;
    await audit.record({
      type: 'user_login_failed',
      outcome: 'failure',
      subject,
      reason: 'bad_password',
      sourceIp: '127.0.0.1',
    });
    await audit.record({ type: 'user_token_issued', outcome: 'success', subject });
    expect(await audit.recent(2)).toEqual([
      { type: 'user_token_issued', outcome: 'success', subject },
      {
        type: 'user_login_failed',
        outcome: 'failure',
        subject,
        reason: 'bad_password',
        sourceIp: '127.0.0.1',
      },
    ]);
  });

  it('keeps every one of many concurrent audit events, in the order they were recorded', async () => {
    const { audit } = make();
    const subject = `burst-${randomUUID()}`;
    const reasons = Array.from({ length: 30 }, (_, i) => `r${i}`);
    await Promise.all(
      reasons.map((reason) =>
        audit.record({ type: 'service_auth_failed', outcome: 'failure', subject, reason }),
      ),
    );
    const recent = await audit.recent(30);
    expect(recent.map((event) => event.reason).reverse()).toEqual(reasons);
  });
});
