// Development only: a stand-in Meeting Controller identity for `STACK_MEETING_CONTROLLERS=0
// npm run stack` (handlers without controllers, for clients that connect to them directly). Its
// Ed25519 key lives in the stack's state directory; the stack publishes its JWKS on loopback,
// the handlers trust it, and `services/mh/dev-token.ts` signs connection tokens with it.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { loadOrCreateSigningKey, publicJwks } from '../../adapters/jwt/key-file.ts';
import type { SigningKeyMaterial } from '../../adapters/jwt/tokens.ts';

/** The issuer name of the development controller. */
export const DEV_CONTROLLER_ISSUER = 'stack-dev-controller';
const KEY_FILE = 'dev-controller-key.pem';

/** The development controller's key, created in `stateDir` on first use (mode 0600). */
export function devControllerKey(stateDir: string): Promise<SigningKeyMaterial> {
  return loadOrCreateSigningKey(join(stateDir, KEY_FILE), 'dev');
}

/** Serves the key's JWKS at `http://host:port/.well-known/jwks.json`. */
export async function serveDevControllerJwks(
  key: SigningKeyMaterial,
  address: { host: string; port: number },
): Promise<{ url: string; close(): Promise<void> }> {
  const body = JSON.stringify(publicJwks([key]));
  const server = createServer((request, response) => {
    if (request.url !== '/.well-known/jwks.json') return void response.writeHead(404).end();
    response.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${address.host}:${port}/.well-known/jwks.json`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
