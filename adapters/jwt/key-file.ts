/**
 * An Ed25519 signing key kept in a PEM file (PKCS #8, mode 0600), created on first use, so a
 * restarted process signs with the same key and tokens it issued before stay valid. Its kid is
 * `<prefix>-<RFC 7638 thumbprint>`: the same key always has the same kid.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { SigningKeyMaterial } from './tokens.ts';

export class KeyFileError extends Error {
  override readonly name = 'KeyFileError';
}

/** Reads the key in `file`, or creates one there when the file does not exist. */
export async function loadOrCreateSigningKey(
  file: string,
  kidPrefix: string,
): Promise<SigningKeyMaterial> {
  let privateKey: KeyObject;
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw new KeyFileError(`cannot read the signing key file ${file}: ${error.code ?? 'error'}`);
  });
  if (text === undefined) {
    privateKey = generateKeyPairSync('ed25519').privateKey;
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    // `wx`: two processes starting at once do not overwrite each other's key.
    await writeFile(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), {
      mode: 0o600,
      flag: 'wx',
    }).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
      privateKey = createPrivateKey(await readFile(file, 'utf8'));
    });
  } else {
    try {
      privateKey = createPrivateKey(text);
    } catch {
      throw new KeyFileError(`the signing key file ${file} holds no PEM private key`);
    }
    if (privateKey.asymmetricKeyType !== 'ed25519') {
      throw new KeyFileError(`the signing key file ${file} holds no Ed25519 key`);
    }
  }
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  return { kid: `${kidPrefix}-${await calculateJwkThumbprint(jwk)}`, privateKey };
}

/** The public half of `key` as a JWKS document (`use: sig`, `alg: EdDSA`). */
export function publicJwks(keys: readonly SigningKeyMaterial[]): { keys: JWK[] } {
  return {
    keys: keys.map((key) => ({
      ...(createPublicKey(key.privateKey).export({ format: 'jwk' }) as JWK),
      kid: key.kid,
      alg: 'EdDSA',
      use: 'sig',
    })),
  };
}
