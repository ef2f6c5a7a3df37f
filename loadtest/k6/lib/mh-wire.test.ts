// The k6 script's hand-written wire code against the real codecs.
import { describe, expect, it } from 'vitest';
import { decodeDatagram } from '../../core/protocol/datagram.ts';
import { helloMessage } from '../../client/media/index.ts';
import { HandlerControl } from '../../services/generated/darktower/mh/v1/control.ts';
import { controlKind, datagramBytes, helloBytes } from './mh-wire.js';
import { headerTemplate } from './templates.ts';

describe('k6 wire helpers', () => {
  it('build the same hello as the client library, for short and long tokens', () => {
    for (const token of ['a.b.c', 'x'.repeat(449), 'y'.repeat(70_000)]) {
      expect(Buffer.from(helloBytes(token)).toString('base64')).toBe(helloMessage(token));
    }
  });

  it('build datagrams the handler decodes, from a prepared header template', () => {
    const template = headerTemplate('k6-m', 'p-1', 'camera');
    const bytes = new Uint8Array(datagramBytes(template.hex, 4_000_000_000, 7, 1_000));
    const decoded = decodeDatagram(bytes);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value.header).toMatchObject({
      streamId: template.streamId,
      publisherId: template.publisherId,
      sequence: 4_000_000_000,
      frameId: 7,
      fragmentIndex: 0,
      fragmentCount: 1,
      hopCount: 0,
    });
    expect(decoded.value.payload.length).toBe(1_000);
  });

  it('tell the handler control messages apart', () => {
    const encode = (message: Parameters<typeof HandlerControl.encode>[0]) =>
      HandlerControl.encode(message).finish();
    const long = 'p'.repeat(300); // an answer longer than 127 bytes: two-byte length
    expect(
      controlKind(
        encode({
          helloAnswer: { accepted: { participant: long, meeting: 'm', reconnect: false } },
        }),
      ),
    ).toBe('accepted');
    expect(
      controlKind(encode({ helloAnswer: { redirected: { handler: 'mh-2', address: '' } } })),
    ).toBe('redirected');
    expect(
      controlKind(encode({ helloAnswer: { rejected: { reason: 'expired', retryAfterMs: 0 } } })),
    ).toBe('rejected');
    expect(controlKind(encode({ sessionClosed: { reason: 'draining' } }))).toBe('session-closed');
    expect(controlKind(new Uint8Array([0xff]))).toBe('unknown');
  });
});
