import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame, H3_FRAME } from '../../core/protocol/h3.ts';
import { encodeFieldSection } from '../../core/protocol/qpack.ts';
import type { MediaConnection, MediaTransportEvents } from '../../ports/media-transport.ts';
import { connectQuic } from '../quic/client.ts';
import { frameControlMessage, ControlDecoder } from '../quic/framing.ts';
import { QuicMediaTransport } from '../quic/server.ts';
import {
  connectWebTransport,
  WebTransportConnectError,
  type WebTransportClient,
} from './client.ts';
import { H3Error, type H3Connection, type WebTransportStream } from './h3.ts';

type Seen =
  | { type: 'opened'; connection: MediaConnection }
  | { type: 'datagram'; connection: MediaConnection; bytes: Uint8Array }
  | { type: 'control'; connection: MediaConnection; message: Uint8Array }
  | { type: 'closed'; connection: MediaConnection; code: number; reason: string };

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(echo = true) {
  const seen: Seen[] = [];
  const waiters: Array<() => void> = [];
  const push = (entry: Seen) => {
    seen.push(entry);
    for (const waiter of waiters.splice(0)) waiter();
  };
  const events: MediaTransportEvents = {
    opened: (connection) => push({ type: 'opened', connection }),
    datagram: (connection, bytes) => {
      push({ type: 'datagram', connection, bytes: new Uint8Array(bytes) });
      if (echo) connection.sendDatagram(bytes);
    },
    control: (connection, message) => {
      push({ type: 'control', connection, message: new Uint8Array(message) });
      if (echo) connection.sendControl(message);
    },
    closed: (connection, code, reason) => push({ type: 'closed', connection, code, reason }),
  };
  const transport = new QuicMediaTransport({
    webTransport: { paths: ['/v1/media'] },
    idleTimeoutMs: 5_000,
    stopGraceMs: 200,
  });
  const bound = await transport.start(events);
  cleanups.push(() => transport.stop());
  const until = async (predicate: (entry: Seen) => boolean): Promise<Seen> => {
    const deadline = Date.now() + 3_000;
    for (;;) {
      const found = seen.find(predicate);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error('timed out waiting for a server event');
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  };
  return { transport, port: bound.port, seen, until };
}

async function client(port: number, hash: Uint8Array, path = '/v1/media') {
  const connected = await connectWebTransport('127.0.0.1', port, path, {
    serverCertificateHash: hash,
    origin: 'http://localhost',
  });
  cleanups.push(() => connected.close().catch(() => {}));
  return connected;
}

function readControl(stream: WebTransportStream): () => Promise<Uint8Array> {
  const decoder = new ControlDecoder();
  const messages: Uint8Array[] = [];
  const waiters: Array<() => void> = [];
  stream.listen({
    data: (chunk) => {
      const decoded = decoder.push(chunk);
      if (Array.isArray(decoded)) messages.push(...decoded);
      for (const waiter of waiters.splice(0)) waiter();
    },
  });
  return async () => {
    while (messages.length === 0) {
      await new Promise<void>((resolve, reject) => {
        waiters.push(resolve);
        setTimeout(() => reject(new Error('no control message')), 3_000);
      });
    }
    return messages.shift()!;
  };
}

function datagrams(connected: WebTransportClient): () => Promise<Uint8Array> {
  const queue: Uint8Array[] = [];
  const waiters: Array<() => void> = [];
  connected.session.events.datagram = (payload) => {
    queue.push(new Uint8Array(payload));
    for (const waiter of waiters.splice(0)) waiter();
  };
  return async () => {
    while (queue.length === 0) {
      await new Promise<void>((resolve, reject) => {
        waiters.push(resolve);
        setTimeout(() => reject(new Error('no datagram')), 3_000);
      });
    }
    return queue.shift()!;
  };
}

describe('WebTransport over HTTP/3 on the QUIC media port', () => {
  it('opens a session at a served path: control stream and datagrams both ways', async () => {
    const { transport, port, until } = await server();
    const connected = await client(port, transport.certificateSha256);
    const opened = await until((entry) => entry.type === 'opened');
    expect(opened.connection.transport).toBe('webtransport');
    expect(opened.connection.maxDatagramBytes).toBe(1199);
    expect(connected.session.request.path).toBe('/v1/media');

    const stream = connected.session.openStream();
    const next = readControl(stream);
    stream.write(frameControlMessage(Uint8Array.of(1, 2, 3)));
    stream.write(frameControlMessage(new Uint8Array(0)));
    expect([...(await next())]).toEqual([1, 2, 3]);
    expect([...(await next())]).toEqual([]);

    const received = datagrams(connected);
    const payload = new Uint8Array(1199).map((_, i) => i & 0xff);
    expect(connected.session.sendDatagram(payload)).toBeNull();
    const echoed = await received();
    expect(Buffer.from(echoed).equals(Buffer.from(payload))).toBe(true);
    expect(connected.session.sendDatagram(new Uint8Array(1200))).toBe('too-large');
    expect(opened.connection.sendDatagram(new Uint8Array(1200))).toBe('too-large');
    expect(transport.counters().webTransportSessions).toBe(1);
  });

  it('answers 404 for a path it does not serve and opens nothing', async () => {
    const { transport, port, seen } = await server();
    const refused = await connectWebTransport('127.0.0.1', port, '/v1/other', {
      serverCertificateHash: transport.certificateSha256,
    }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(WebTransportConnectError);
    expect((refused as WebTransportConnectError).status).toBe(404);
    expect(seen.filter((entry) => entry.type === 'opened')).toHaveLength(0);
    expect(transport.counters().webTransportDrops['request-refused']).toBe(1);
  });

  it('refuses a certificate that does not match the pinned hash', async () => {
    const { port } = await server();
    const refused = await connectWebTransport('127.0.0.1', port, '/v1/media', {
      serverCertificateHash: new Uint8Array(32),
    }).catch((error: unknown) => error);
    expect((refused as WebTransportConnectError).kind).toBe('certificate-mismatch');
  });

  it('carries a close code and reason each way', async () => {
    const { transport, port, until } = await server();
    const first = await client(port, transport.certificateSha256);
    await until((entry) => entry.type === 'opened');
    first.session.close(4321, 'bye');
    const closed = await until((entry) => entry.type === 'closed');
    expect(closed).toMatchObject({ code: 4321, reason: 'bye' });

    const second = await client(port, transport.certificateSha256);
    const ended = new Promise<{ code: number; reason: string }>((resolve) => {
      second.session.events.closed = (code, reason) => resolve({ code, reason });
    });
    const opened = await until(
      (entry) => entry.type === 'opened' && entry.connection !== closed.connection,
    );
    opened.connection.close(4503, 'capacity');
    expect(await ended).toEqual({ code: 4503, reason: 'capacity' });
    // The server ends the connection once its only session is over.
    expect((await second.closed).code).toBe(H3Error.noError);
  });

  it('still accepts the media ALPN on the same port', async () => {
    const { transport, port, until } = await server();
    const quic = await connectQuic('127.0.0.1', port, {
      serverCertificateHash: transport.certificateSha256,
    });
    cleanups.push(() => quic.close(0, 'done'));
    const opened = await until((entry) => entry.type === 'opened');
    expect(opened.connection.transport).toBe('quic');
  });

  it('closes the connection with QPACK_DECOMPRESSION_FAILED for a dynamic-table reference', async () => {
    const { transport, port, until } = await server();
    const connected = await client(port, transport.certificateSha256);
    await until((entry) => entry.type === 'opened');
    const h3 = connected.link.application as H3Connection;
    // A second request whose field section refers to the dynamic table (Required Insert Count 1).
    h3.queue(4, encodeFrame(H3_FRAME.headers, Uint8Array.of(0x01, 0x00, 0x80)), false);
    const closed = await connected.closed;
    expect(closed.code).toBe(H3Error.qpackDecompressionFailed);
    const ended = await until((entry) => entry.type === 'closed');
    expect(ended.type === 'closed' && ended.code).toBe(H3Error.qpackDecompressionFailed);
  });

  it('refuses a second session on the same connection (429)', async () => {
    const { transport, port, until } = await server();
    const connected = await client(port, transport.certificateSha256);
    await until((entry) => entry.type === 'opened');
    const h3 = connected.link.application as H3Connection;
    const request = encodeFieldSection([
      [':method', 'CONNECT'],
      [':protocol', 'webtransport'],
      [':scheme', 'https'],
      [':authority', 'localhost'],
      [':path', '/v1/media'],
    ]);
    h3.queue(4, encodeFrame(H3_FRAME.headers, request), false);
    const deadline = Date.now() + 2_000;
    while (transport.counters().webTransportDrops['request-refused'] !== 1) {
      if (Date.now() > deadline) throw new Error('second session not refused');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(transport.counters().webTransportSessions).toBe(1);
  });
});
