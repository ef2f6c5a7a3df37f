// Bad bytes from an HTTP/3 peer: random stream contents on a request stream, on the peer's
// control stream and on a unidirectional stream of a random type. Nothing may throw out of the
// layer; the server closes the stream or the connection (with an HTTP/3 code), and the next
// client still gets a session.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, encodeVarint, H3_FRAME } from '../../core/protocol/h3.ts';
import { QuicMediaTransport } from '../quic/server.ts';
import { connectWebTransport } from './client.ts';
import type { H3Connection } from './h3.ts';

let transport: QuicMediaTransport;
let port: number;
const closes: number[] = [];

beforeAll(async () => {
  transport = new QuicMediaTransport({
    webTransport: { paths: ['/v1/media'] },
    idleTimeoutMs: 5_000,
    stopGraceMs: 200,
  });
  ({ port } = await transport.start({
    opened: () => {},
    datagram: () => {},
    control: () => {},
    closed: (_connection, code) => closes.push(code),
  }));
});

afterAll(async () => {
  await transport.stop();
});

const connect = () =>
  connectWebTransport('127.0.0.1', port, '/v1/media', {
    serverCertificateHash: transport.certificateSha256,
  });

/** Where the random bytes go. */
type Target = 'request' | 'control' | 'uni';

describe('the HTTP/3 layer under random input', () => {
  it('never throws, and keeps serving new sessions', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Target>('request', 'control', 'uni'),
        fc.uint8Array({ minLength: 1, maxLength: 400 }),
        fc.boolean(),
        async (target, bytes, asFrame) => {
          const client = await connect();
          const h3 = client.link.application as H3Connection;
          const payload = asFrame ? encodeFrame(bytes[0]! & 0x07, bytes.subarray(1)) : bytes;
          if (target === 'request') h3.queue(4, payload, true);
          else if (target === 'control') h3.queue(2, payload, false);
          else h3.queue(6, Buffer.concat([encodeVarint(0x21 + (bytes[0]! % 200)), payload]), true);
          // Give the server time to read it and answer (or close).
          await new Promise((resolve) => setTimeout(resolve, 30));
          await client.close().catch(() => {});
        },
      ),
      { numRuns: 40 },
    );
    expect(transport.counters().handlerErrors).toBe(0);
    const after = await connect();
    expect(after.session.closed).toBe(false);
    await after.close();
  }, 60_000);

  it('closes the connection with H3_FRAME_UNEXPECTED for DATA on the control stream', async () => {
    const client = await connect();
    const h3 = client.link.application as H3Connection;
    h3.queue(2, encodeFrame(H3_FRAME.data, Uint8Array.of(1, 2, 3)), false);
    expect((await client.closed).code).toBe(0x105);
  });

  it('closes with H3_EXCESSIVE_LOAD for a frame declared past 16 KiB on a request stream', async () => {
    const client = await connect();
    const h3 = client.link.application as H3Connection;
    h3.queue(4, Buffer.concat([encodeVarint(H3_FRAME.headers), encodeVarint(1 << 20)]), false);
    expect((await client.closed).code).toBe(0x107);
  });
});
