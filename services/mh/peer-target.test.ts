import { describe, expect, it } from 'vitest';
import { parseHostPort } from './driver.ts';

describe('a peer QUIC address from a load report', () => {
  it('reads host:port and [v6]:port; refuses anything else', () => {
    expect(parseHostPort('127.0.0.1:4433')).toEqual({ host: '127.0.0.1', port: 4433 });
    expect(parseHostPort('mh-2.internal:1')).toEqual({ host: 'mh-2.internal', port: 1 });
    expect(parseHostPort('[::1]:65535')).toEqual({ host: '::1', port: 65535 });
    for (const bad of ['', '127.0.0.1', ':4433', '::1:4433', 'h:0', 'h:65536', 'h:12a', '[::1]']) {
      expect(parseHostPort(bad)).toBeUndefined();
    }
  });
});
