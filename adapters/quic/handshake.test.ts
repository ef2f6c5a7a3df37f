/**
 * Handshakes a Node client of this transport would never make, driven on quiche directly: a
 * client offering another ALPN, and one that opens unidirectional streams in the same flight
 * as its handshake's end (as Chromium's HTTP/3 stack does), before the server has opened the
 * connection.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { buildQuicheConfig, clientDefault } from '@matrixai/quic/config.js';
import type { Connection } from '@matrixai/quic/native/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { connectQuic } from './client.ts';
import { frameControlMessage } from './framing.ts';
import { MEDIA_ALPN, QuicCloseCode, quiche } from './link.ts';
import { startRecordingServer, waitFor } from './testing.ts';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** A bare quiche client: no timers (loopback, no loss), flushes after every packet. */
async function rawClient(
  port: number,
  alpn: string,
  onEstablished: (conn: Connection) => void = () => {},
): Promise<{ conn: Connection; flush: () => void }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => socket.connect(port, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  const local = { host: '127.0.0.1', port: socket.address().port };
  const config = buildQuicheConfig({
    ...clientDefault,
    applicationProtos: [alpn],
    enableDgram: [true, 64, 64],
    verifyPeer: false,
    maxIdleTimeout: 5_000,
  });
  const conn = quiche.Connection.connect(
    'localhost',
    randomBytes(20),
    local,
    { host: '127.0.0.1', port },
    config,
  );
  const out = Buffer.allocUnsafe(65_535);
  const flush = (): void => {
    for (;;) {
      const written = conn.send(out);
      if (written === null) return;
      socket.send(Buffer.from(out.subarray(0, written[0])));
    }
  };
  let established = false;
  socket.on('message', (packet, rinfo) => {
    try {
      conn.recv(packet, { from: { host: rinfo.address, port: rinfo.port }, to: local });
    } catch {
      // A refused handshake: peerError() says why.
    }
    if (!established && conn.isEstablished()) {
      established = true;
      onEstablished(conn);
    }
    flush();
  });
  flush();
  return { conn, flush };
}

describe('QUIC handshakes driven on quiche directly', () => {
  it('refuses a client that does not offer the media ALPN, telling it why', async () => {
    const { transport, port, record } = await startRecordingServer();
    cleanups.push(() => transport.stop());
    const { conn } = await rawClient(port, 'h3');
    await waitFor(() => conn.peerError() !== null, 'the refusal');
    // TLS alert no_application_protocol (120), as a QUIC crypto error.
    expect(conn.peerError()).toMatchObject({ isApp: false, errorCode: 0x100 + 120 });
    expect(record.opened).toHaveLength(0);
    expect(transport.counters().dropped['rejected-initial']).toBe(1);
    expect(transport.connectionCount).toBe(0);
  });

  it('survives unidirectional streams sent with the handshake, then serves control', async () => {
    const { transport, port, record } = await startRecordingServer();
    cleanups.push(() => transport.stop());
    const { conn, flush } = await rawClient(port, MEDIA_ALPN, (c) => {
      // In the same flight as the client's Finished: the server is not established yet.
      c.streamSend(2, Buffer.from([0x00, 0x04, 0x00]), false);
      c.streamSend(6, Buffer.from([0x02]), false);
      c.streamSend(10, Buffer.from([0x03]), true);
    });
    await waitFor(() => record.opened.length === 1, 'opened');
    await waitFor(() => transport.counters().streamsRefused === 3, 'streams refused');
    conn.streamSend(0, frameControlMessage(Buffer.from('hello')), false);
    flush();
    await waitFor(() => conn.streamReadable(0), 'control echo');
    const buffer = Buffer.alloc(64);
    const read = conn.streamRecv(0, buffer);
    expect(read?.[0]).toBe(9);
    expect(buffer.subarray(4, 9).toString()).toBe('hello');
    expect(record.closed).toHaveLength(0);
    expect(transport.counters().handlerErrors).toBe(0);
  });

  it('closes a connection whose peer leaves its control messages unread past the backlog', async () => {
    // Each request is answered with 10 messages of 64 KiB (640 KiB, under the backlog limit).
    const { transport, port, record } = await startRecordingServer(
      {},
      {
        control: (connection) => {
          for (let i = 0; i < 10; i++) connection.sendControl(new Uint8Array(65_536));
        },
      },
    );
    cleanups.push(() => transport.stop());
    const request = frameControlMessage(Buffer.from('more'));

    // A peer that reads gets all 40 answers to its 4 requests.
    const reader = await connectQuic('127.0.0.1', port, {
      serverCertificateHash: transport.certificateSha256,
    });
    cleanups.push(() => reader.close(0, 'done'));
    let answers = 0;
    reader.events.control = () => answers++;
    for (let i = 0; i < 4; i++) {
      reader.writeControlStream(request);
      await waitFor(() => answers === 10 * (i + 1), `answers to request ${i + 1}`);
    }
    expect(record.closed).toHaveLength(0);

    // One that never reads stream 0 fills its stream window (1 MiB), then the backlog.
    const { conn, flush } = await rawClient(port, MEDIA_ALPN);
    await waitFor(() => conn.isEstablished(), 'established');
    for (let i = 0; i < 4 && conn.peerError() === null; i++) {
      conn.streamSend(0, request, false);
      flush();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await waitFor(() => conn.peerError() !== null, 'the close');
    expect(conn.peerError()).toMatchObject({
      isApp: true,
      errorCode: QuicCloseCode.controlBacklog,
    });
    await waitFor(() => record.closed.length === 1, 'server close report');
    expect(record.closed[0]!.code).toBe(QuicCloseCode.controlBacklog);
  });
});
