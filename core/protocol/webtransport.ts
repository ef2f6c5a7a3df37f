/**
 * Which WebTransport session requests a server accepts (docs/protocol.md, "WebTransport"): an
 * extended CONNECT (RFC 9220) with `:protocol webtransport`, `:scheme https`, an authority,
 * and a path the server serves. The answer is the status the server sends: 200 opens the
 * session; anything else refuses it and names why.
 */
import { err, ok, type Result } from '../result.ts';
import type { Field } from './qpack.ts';

export type WebTransportRequestRefusal =
  /** Not a CONNECT with `:protocol` (a plain request, or pseudo-headers missing or repeated). */
  | { readonly kind: 'malformed-request' }
  /** An extended CONNECT for another protocol. */
  | { readonly kind: 'not-webtransport'; readonly protocol: string }
  /** A path this server does not serve. */
  | { readonly kind: 'unknown-path'; readonly path: string };

export interface WebTransportRequest {
  readonly authority: string;
  /** The path without its query. */
  readonly path: string;
  /** The query, without `?`; empty when none. */
  readonly query: string;
  /** The `origin` header of a browser's request, if any. */
  readonly origin: string | undefined;
}

const PSEUDO = [':method', ':protocol', ':scheme', ':authority', ':path'] as const;

/** Checks a decoded request's fields against the paths the server serves. */
export function checkWebTransportRequest(
  fields: readonly Field[],
  paths: ReadonlySet<string>,
): Result<WebTransportRequest, WebTransportRequestRefusal> {
  const pseudo = new Map<string, string>();
  let origin: string | undefined;
  let regular = false;
  for (const [name, value] of fields) {
    if (name.startsWith(':')) {
      // Pseudo-headers come first, once each, and only the known ones (RFC 9114 4.3).
      if (regular || pseudo.has(name) || !(PSEUDO as readonly string[]).includes(name)) {
        return err({ kind: 'malformed-request' });
      }
      pseudo.set(name, value);
    } else {
      regular = true;
      if (name !== name.toLowerCase()) return err({ kind: 'malformed-request' });
      if (name === 'origin') origin = value;
    }
  }
  const method = pseudo.get(':method');
  const protocol = pseudo.get(':protocol');
  const scheme = pseudo.get(':scheme');
  const authority = pseudo.get(':authority');
  const target = pseudo.get(':path');
  if (
    method !== 'CONNECT' ||
    protocol === undefined ||
    scheme !== 'https' ||
    authority === undefined ||
    authority === '' ||
    target === undefined ||
    !target.startsWith('/')
  ) {
    return err({ kind: 'malformed-request' });
  }
  if (protocol !== 'webtransport') return err({ kind: 'not-webtransport', protocol });
  const mark = target.indexOf('?');
  const path = mark < 0 ? target : target.slice(0, mark);
  const query = mark < 0 ? '' : target.slice(mark + 1);
  if (!paths.has(path)) return err({ kind: 'unknown-path', path });
  return ok({ authority, path, query, origin });
}

/** The status a refused request is answered with. */
export function refusalStatus(refusal: WebTransportRequestRefusal): 400 | 404 | 501 {
  switch (refusal.kind) {
    case 'malformed-request':
      return 400;
    case 'not-webtransport':
      return 501;
    case 'unknown-path':
      return 404;
  }
}
