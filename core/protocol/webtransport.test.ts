import { describe, expect, it } from 'vitest';
import { unwrap } from '../result.ts';
import type { Field } from './qpack.ts';
import { checkWebTransportRequest, refusalStatus } from './webtransport.ts';

const paths = new Set(['/v1/media']);
const request = (overrides: Record<string, string | undefined> = {}, extra: Field[] = []) => {
  const base: Record<string, string | undefined> = {
    ':method': 'CONNECT',
    ':protocol': 'webtransport',
    ':scheme': 'https',
    ':authority': '127.0.0.1:4433',
    ':path': '/v1/media',
    ...overrides,
  };
  const fields: Field[] = Object.entries(base)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => [name, value]);
  return [...fields, ...extra];
};

describe('WebTransport session requests', () => {
  it('accepts an extended CONNECT for a served path, query and origin apart', () => {
    const accepted = unwrap(checkWebTransportRequest(request({ ':path': '/v1/media?x=1' }), paths));
    expect(accepted).toEqual({
      authority: '127.0.0.1:4433',
      path: '/v1/media',
      query: 'x=1',
      origin: undefined,
    });
    const withOrigin = unwrap(
      checkWebTransportRequest(request({}, [['origin', 'http://localhost']]), paths),
    );
    expect(withOrigin.origin).toBe('http://localhost');
  });

  it('answers 404 for another path', () => {
    const refused = checkWebTransportRequest(request({ ':path': '/v1/other' }), paths);
    expect(refused).toEqual({ ok: false, error: { kind: 'unknown-path', path: '/v1/other' } });
    if (!refused.ok) expect(refusalStatus(refused.error)).toBe(404);
  });

  it('answers 501 for another protocol and 400 for anything malformed', () => {
    const other = checkWebTransportRequest(request({ ':protocol': 'websocket' }), paths);
    expect(other.ok || refusalStatus(other.error)).toBe(501);
    const malformed: Field[][] = [
      request({ ':method': 'GET' }),
      request({ ':protocol': undefined }),
      request({ ':scheme': 'http' }),
      request({ ':authority': '' }),
      request({ ':path': 'v1/media' }),
      [...request(), [':path', '/v1/media']],
      [['user-agent', 'x'], ...request()],
      [...request(), [':unknown', 'x']],
      request({}, [['Origin', 'x']]),
    ];
    for (const fields of malformed) {
      const result = checkWebTransportRequest(fields, paths);
      expect(result).toEqual({ ok: false, error: { kind: 'malformed-request' } });
      if (!result.ok) expect(refusalStatus(result.error)).toBe(400);
    }
  });
});
