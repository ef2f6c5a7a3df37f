import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyFileError, loadOrCreateSigningKey, publicJwks } from './key-file.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dt-key-file-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('signing key file', () => {
  it('creates an Ed25519 key (mode 0600) once and reads the same key and kid back', async () => {
    const file = join(dir, 'nested', 'mc-1-signing-key.pem');
    const created = await loadOrCreateSigningKey(file, 'mc-1');
    expect(created.kid).toMatch(/^mc-1-[A-Za-z0-9_-]{43}$/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateSigningKey(file, 'mc-1');
    expect(again.kid).toBe(created.kid);
    expect(publicJwks([again])).toEqual(publicJwks([created]));
    expect(publicJwks([created]).keys[0]).toMatchObject({
      kty: 'OKP',
      crv: 'Ed25519',
      alg: 'EdDSA',
    });
    expect(JSON.stringify(publicJwks([created]))).not.toContain('"d"');
  });

  it('two starts at once end with one key', async () => {
    const file = join(dir, 'raced.pem');
    const [a, b] = await Promise.all([
      loadOrCreateSigningKey(file, 'mc'),
      loadOrCreateSigningKey(file, 'mc'),
    ]);
    expect(a.kid).toBe(b.kid);
    expect((await readFile(file, 'utf8')).match(/BEGIN PRIVATE KEY/g)).toHaveLength(1);
  });

  it('refuses a file that is not a PEM key, or not an Ed25519 one, without overwriting it', async () => {
    const garbage = join(dir, 'garbage.pem');
    await writeFile(garbage, 'not a key');
    await expect(loadOrCreateSigningKey(garbage, 'mc')).rejects.toBeInstanceOf(KeyFileError);
    expect(await readFile(garbage, 'utf8')).toBe('not a key');
    const rsa = join(dir, 'rsa.pem');
    const pem = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
      format: 'pem',
      type: 'pkcs8',
    });
    await writeFile(rsa, pem);
    await expect(loadOrCreateSigningKey(rsa, 'mc')).rejects.toThrow(/no Ed25519 key/);
  });
});
