/**
 * TLS material for the QUIC media transport: a self-signed EC P-256 certificate made at start
 * (pure JavaScript, WebCrypto), and the SHA-256 hash of a certificate's DER bytes, which
 * browsers pin through WebTransport's `serverCertificateHashes` (they accept such a
 * certificate only when it is valid for 14 days or less).
 */
import 'reflect-metadata';
import { createHash, X509Certificate as NodeX509Certificate, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/** The longest validity browsers accept for a certificate pinned by hash. */
export const MAX_PINNED_CERTIFICATE_DAYS = 14;

const DAY_MS = 86_400_000;

export interface CertificatePair {
  /** PEM certificate (a chain, leaf first, when one is passed in). */
  readonly certPem: string;
  /** PEM private key (PKCS#8). */
  readonly keyPem: string;
}

export interface SelfSignedOptions {
  /** DNS names and IP addresses the certificate names; default `localhost` and `127.0.0.1`. */
  readonly names?: readonly string[];
  /** Validity in days, at most 14; default 13. */
  readonly validDays?: number;
  /** The clock, for tests; default `Date.now()`. */
  readonly nowMs?: number;
}

export class CertificateError extends Error {
  override readonly name = 'CertificateError';
}

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** Makes a self-signed EC P-256 certificate valid from one minute ago for `validDays` days. */
export async function selfSignedCertificate(
  options: SelfSignedOptions = {},
): Promise<CertificatePair> {
  const validDays = options.validDays ?? MAX_PINNED_CERTIFICATE_DAYS - 1;
  if (!(validDays > 0 && validDays <= MAX_PINNED_CERTIFICATE_DAYS)) {
    throw new CertificateError(
      `validDays must be in (0, ${MAX_PINNED_CERTIFICATE_DAYS}], got ${validDays}`,
    );
  }
  const names = options.names ?? ['localhost', '127.0.0.1'];
  const notBefore = new Date((options.nowMs ?? Date.now()) - 60_000);
  const notAfter = new Date(notBefore.getTime() + validDays * DAY_MS);
  const keys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${names[0] ?? 'localhost'}`,
    keys: keys as unknown as x509.X509CertificateCreateSelfSignedParams['keys'],
    signingAlgorithm: EC_P256,
    notBefore,
    notAfter,
    extensions: [
      // Its own trust anchor: a client that verifies against it as a CA (rather than by
      // hash) needs the CA bit, as with any self-signed root.
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        names.map((value) => ({ type: isIpAddress(value) ? 'ip' : 'dns', value })),
      ),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    certPem: cert.toString('pem'),
    keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'),
  };
}

/** SHA-256 of the DER bytes of the first (leaf) certificate in `certPem`. */
export function certificateSha256(certPem: string): Uint8Array {
  let der: Buffer;
  try {
    der = new NodeX509Certificate(certPem).raw;
  } catch (cause) {
    throw new CertificateError('not a PEM certificate', { cause });
  }
  return sha256(der);
}

/** SHA-256 of DER certificate bytes. */
export function sha256(der: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(der).digest());
}

function isIpAddress(value: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(value) || value.includes(':');
}
