// Reading GC's `meeting_controller` (the client library and the page share it).
import { describe, expect, it } from 'vitest';
import { controllerOf } from './http.ts';

describe('controllerOf', () => {
  it('reads the controller with its WebTransport endpoints, best first', () => {
    expect(
      controllerOf({
        id: 'mc-1',
        url: 'ws://127.0.0.1:4433/v1/signaling',
        webtransport: [
          {
            url: 'https://127.0.0.1:4435/v1/signaling',
            carrier: 'h3',
            cert_sha256: 'ab'.repeat(32),
          },
          { url: 'https://127.0.0.1:4436/v1/signaling', carrier: 'h2' },
        ],
      }),
    ).toEqual({
      id: 'mc-1',
      url: 'ws://127.0.0.1:4433/v1/signaling',
      webTransport: [
        { url: 'https://127.0.0.1:4435/v1/signaling', carrier: 'h3', certSha256: 'ab'.repeat(32) },
        { url: 'https://127.0.0.1:4436/v1/signaling', carrier: 'h2', certSha256: '' },
      ],
    });
  });

  it('leaves out endpoints without a URL and reads an older GC as having none', () => {
    const base = { id: 'mc-1', url: 'ws://mc' };
    expect(
      controllerOf({ ...base, webtransport: [null, { carrier: 'h3' }, 7] })?.webTransport,
    ).toEqual([]);
    expect(controllerOf(base)?.webTransport).toEqual([]);
    expect(controllerOf({ ...base, webtransport: 'h3' })?.webTransport).toEqual([]);
  });

  it('is null when GC names no controller, or one without id or url', () => {
    expect(controllerOf(null)).toBeNull();
    expect(controllerOf(undefined)).toBeNull();
    expect(controllerOf({ id: 'mc-1' })).toBeNull();
    expect(controllerOf({ url: 'ws://mc', id: 7 })).toBeNull();
  });
});
