import { X509Certificate } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConnectionId } from '../../core/protocol/connection-id.ts';
import { certificateSha256, selfSignedCertificate } from './cert.ts';
import { connectQuic, QuicConnectError, type QuicClientConnection } from './client.ts';
import { MAX_CONTROL_MESSAGE_BYTES } from './framing.ts';
import { QuicCloseCode } from './link.ts';
import type { QuicMediaTransport } from './server.ts';
import { patternedDatagram, startRecordingServer, waitFor } from './testing.ts';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function server(...args: Parameters<typeof startRecordingServer>) {
  const started = await startRecordingServer(...args);
  cleanups.push(() => started.transport.stop());
  return started;
}

async function client(
  transport: QuicMediaTransport,
  port: number,
  options: Partial<Parameters<typeof connectQuic>[2]> = {},
): Promise<QuicClientConnection> {
  const connection = await connectQuic('127.0.0.1', port, {
    serverCertificateHash: transport.certificateSha256,
    ...options,
  });
  cleanups.push(() => {
    connection.close(0, 'test over');
    return Promise.race([connection.closed, new Promise((r) => setTimeout(r, 1_000))]);
  });
  return connection;
}

/** Sends `count` patterned datagrams keeping at most `window` unanswered; returns the echoes. */
async function echoDatagrams(
  connection: QuicClientConnection,
  count: number,
  length: number,
  tag: number,
  window = 64,
): Promise<Map<number, Uint8Array>> {
  const echoed = new Map<number, Uint8Array>();
  connection.events.datagram = (bytes) => {
    echoed.set(Buffer.from(bytes).readUInt32BE(0), bytes);
  };
  let sent = 0;
  const deadline = performance.now() + 15_000;
  while (echoed.size < count) {
    if (performance.now() > deadline) break;
    while (sent < count && sent - echoed.size < window) {
      const failure = connection.sendDatagram(patternedDatagram(sent, length, tag));
      if (failure === 'queue-full') break;
      expect(failure).toBeNull();
      sent++;
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return echoed;
}

describe('QUIC media transport', () => {
  it('opens a connection with a small id, the quic transport and the native datagram size', async () => {
    const { transport, port, record } = await server();
    const before = Date.now();
    const connection = await client(transport, port);
    await waitFor(() => record.opened.length === 1, 'opened');
    // The server's connection id, as the client addresses it: the spec's 20-byte id.
    const parts = parseConnectionId(connection.conn.destinationId());
    expect(parts.ok).toBe(true);
    if (parts.ok) {
      expect(parts.value.timestampMs).toBeGreaterThanOrEqual(before);
      expect(parts.value.timestampMs).toBeLessThanOrEqual(Date.now());
    }
    const opened = record.opened[0]!;
    expect(opened.id).toBe(0);
    expect(opened.transport).toBe('quic');
    expect(opened.remote).toBe(`127.0.0.1:${connection.socket.address().port}`);
    expect(opened.maxDatagramBytes).toBeGreaterThanOrEqual(1200);
    expect(connection.maxDatagramBytes).toBe(opened.maxDatagramBytes);
  });

  it('carries control messages both ways whole and in order, up to 64 KiB', async () => {
    const { transport, port, record } = await server();
    const connection = await client(transport, port);
    const received: Uint8Array[] = [];
    connection.events.control = (message) => received.push(message);
    const sent = [
      Buffer.from('hello'),
      Buffer.alloc(0),
      patternedDatagram(1, 10_000),
      patternedDatagram(2, MAX_CONTROL_MESSAGE_BYTES),
      patternedDatagram(3, MAX_CONTROL_MESSAGE_BYTES - 1),
      ...Array.from({ length: 50 }, (_, i) => Buffer.from(`message ${i}`)),
    ];
    for (const message of sent) connection.sendControl(message);
    // The server echoes each control message, so order and content are checked both ways.
    await waitFor(() => received.length === sent.length, 'echoed control messages');
    // Compared as hex: deep equality over 64 KiB buffers element by element is slow.
    const hex = (m: Uint8Array): string => Buffer.from(m).toString('hex');
    expect(record.controls.map((c) => hex(c.message))).toEqual(sent.map(hex));
    expect(received.map(hex)).toEqual(sent.map(hex));
  });

  it('closes only the connection that sends a control message over 64 KiB', async () => {
    const { transport, port, record } = await server();
    const bad = await client(transport, port);
    const good = await client(transport, port);
    good.sendControl(Buffer.from('still here?'));
    await waitFor(() => record.controls.length === 1, 'first control');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(MAX_CONTROL_MESSAGE_BYTES + 1);
    bad.writeControlStream(Buffer.concat([header, Buffer.alloc(1000)]));
    const closed = await bad.closed;
    expect(closed).toEqual({
      code: QuicCloseCode.controlMessageTooLarge,
      reason: 'control message too large',
    });
    await waitFor(() => record.closed.length === 1, 'server close report');
    expect(record.closed[0]!.code).toBe(QuicCloseCode.controlMessageTooLarge);
    // The other connection goes on: control and datagrams.
    const answers: Uint8Array[] = [];
    good.events.control = (message) => answers.push(message);
    good.sendControl(Buffer.from('yes'));
    await waitFor(() => answers.length === 1, 'control on the other connection');
    const echoed = await echoDatagrams(good, 20, 1200, 9);
    expect(echoed.size).toBe(20);
    expect(transport.connectionCount).toBe(1);
  });

  it('refuses a sender its oversized control message with a typed error', async () => {
    const { transport, port } = await server();
    const connection = await client(transport, port);
    expect(() => connection.sendControl(new Uint8Array(MAX_CONTROL_MESSAGE_BYTES + 1))).toThrow(
      /exceeds 65536/,
    );
  });

  it('echoes 1,000 datagrams of 1,200 bytes byte for byte, none lost', async () => {
    const { transport, port, record } = await server();
    const connection = await client(transport, port);
    const echoed = await echoDatagrams(connection, 1_000, 1_200, 1);
    expect(echoed.size).toBe(1_000);
    expect(record.datagrams).toBe(1_000);
    for (let i = 0; i < 1_000; i++) {
      expect(Buffer.from(echoed.get(i)!).equals(patternedDatagram(i, 1_200, 1))).toBe(true);
    }
  });

  it('keeps two clients apart', async () => {
    const { transport, port, record } = await server();
    const a = await client(transport, port);
    const b = await client(transport, port);
    const [fromA, fromB] = await Promise.all([
      echoDatagrams(a, 300, 1_200, 0xa),
      echoDatagrams(b, 300, 1_200, 0xb),
    ]);
    expect(fromA.size).toBe(300);
    expect(fromB.size).toBe(300);
    for (const bytes of fromA.values()) expect(bytes[4]).toBe(0xa);
    for (const bytes of fromB.values()) expect(bytes[4]).toBe(0xb);
    await waitFor(() => record.opened.length === 2, 'both opened');
    expect(new Set(record.opened.map((c) => c.id))).toEqual(new Set([0, 1]));
    // A control message reaches only its own connection's peer.
    const seenByA: Uint8Array[] = [];
    const seenByB: Uint8Array[] = [];
    a.events.control = (m) => seenByA.push(m);
    b.events.control = (m) => seenByB.push(m);
    a.sendControl(Buffer.from('for a'));
    await waitFor(() => seenByA.length === 1, 'control echo to a');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seenByB).toHaveLength(0);
  });

  it("finishes a packet's datagrams when a client callback throws, and reports the error", async () => {
    const { transport, port } = await server();
    const errors: unknown[] = [];
    const connection = await client(transport, port, { onError: (e) => errors.push(e) });
    const seen: number[] = [];
    connection.events.datagram = (bytes) => {
      const index = Buffer.from(bytes).readUInt32BE(0);
      seen.push(index);
      if (index % 10 === 0) throw new Error(`callback failed on ${index}`);
    };
    for (let i = 0; i < 30; i++) connection.sendDatagram(patternedDatagram(i, 200));
    await waitFor(() => seen.length === 30, 'every echo');
    expect(errors).toHaveLength(3);
    expect(connection.closing).toBe(false);
  });

  it('counts a service handler that throws and goes on with the packet', async () => {
    const reported: unknown[] = [];
    const { transport, port } = await server(
      { onError: (error) => reported.push(error) },
      {
        datagram: (connection, bytes) => {
          if (Buffer.from(bytes).readUInt32BE(0) % 10 === 0) throw new Error('handler failed');
          connection.sendDatagram(bytes);
        },
      },
    );
    const connection = await client(transport, port);
    const echoed = new Set<number>();
    connection.events.datagram = (bytes) => echoed.add(Buffer.from(bytes).readUInt32BE(0));
    for (let i = 0; i < 30; i++) connection.sendDatagram(patternedDatagram(i, 200));
    await waitFor(() => echoed.size === 27, 'the other echoes');
    await waitFor(() => transport.counters().handlerErrors === 3, 'errors counted');
    expect(reported).toHaveLength(3);
    expect(transport.connectionCount).toBe(1);
  });

  it('reports a dropped datagram: too large, queue full, closed', async () => {
    const { transport, port } = await server({}, { datagram: () => {} });
    const connection = await client(transport, port, { datagramQueueLength: 64 });
    expect(connection.sendDatagram(new Uint8Array(connection.maxDatagramBytes + 1))).toBe(
      'too-large',
    );
    const results = Array.from({ length: 200 }, () => connection.sendDatagram(new Uint8Array(100)));
    expect(results.filter((r) => r === null)).toHaveLength(64);
    expect(results.filter((r) => r === 'queue-full')).toHaveLength(136);
    connection.close(0, 'done');
    expect(connection.sendDatagram(new Uint8Array(10))).toBe('closed');
  });

  it('says how many bytes of datagrams it holds unsent, and none once they are sent', async () => {
    const { transport, port } = await server({}, { datagram: () => {} });
    const connection = await client(transport, port);
    expect(connection.queuedDatagramBytes()).toBe(0);
    // Queued in this turn of the event loop; the link flushes them after it.
    for (let i = 0; i < 10; i++) expect(connection.sendDatagram(new Uint8Array(100))).toBeNull();
    expect(connection.queuedDatagramBytes()).toBe(1_000);
    await waitFor(() => connection.queuedDatagramBytes() === 0, 'datagrams sent');
    connection.close(0, 'done');
    expect(connection.queuedDatagramBytes()).toBe(0);
  });

  it('reports closes with code and reason on both sides', async () => {
    const { transport, port, record } = await server();
    const byClient = await client(transport, port);
    // The client finishes its handshake a moment before the server does; a close sent in
    // between is the end of a handshake, reported as such (below), not a connection's close.
    await waitFor(() => record.opened.length === 1, 'first opened');
    byClient.close(0x42, 'client leaving');
    await waitFor(() => record.closed.length === 1, 'server sees client close');
    expect(record.closed[0]).toMatchObject({ code: 0x42, reason: 'client leaving' });
    expect(await byClient.closed).toEqual({ code: 0x42, reason: 'client leaving' });

    const byServer = await client(transport, port);
    await waitFor(() => record.opened.length === 2, 'second opened');
    record.opened[1]!.close(0x43, 'handler says go');
    expect(await byServer.closed).toEqual({ code: 0x43, reason: 'handler says go' });
    await waitFor(() => record.closed.length === 2, 'server close reported');
    expect(record.closed[1]).toMatchObject({ code: 0x43, reason: 'handler says go' });
    expect(transport.connectionCount).toBe(0);
  });

  it('delivers a control message sent just before the close (a hello answer, then 4302)', async () => {
    const { transport, port, record } = await server();
    const connection = await client(transport, port);
    await waitFor(() => record.opened.length === 1, 'opened');
    const got: string[] = [];
    connection.events.control = (message) => got.push(Buffer.from(message).toString());
    connection.events.closed = () => got.push('closed');
    // The client opens the control stream (its hello), as a media client does.
    connection.sendControl(Buffer.from('hello'));
    await waitFor(() => got.length === 1, 'hello echoed');
    const server0 = record.opened[0]!;
    server0.sendControl(Buffer.from('redirected to mh-2'));
    server0.close(4302, 'redirected');
    expect(await connection.closed).toEqual({ code: 4302, reason: 'redirected' });
    expect(got).toEqual(['hello', 'redirected to mh-2', 'closed']);
  });

  it('reports an idle timeout on both sides', async () => {
    const { transport, port, record } = await server({ idleTimeoutMs: 300 });
    const connection = await client(transport, port, { idleTimeoutMs: 300 });
    const started = performance.now();
    expect(await connection.closed).toEqual({
      code: QuicCloseCode.idleTimeout,
      reason: 'idle timeout',
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    await waitFor(() => record.closed.length === 1, 'server idle close');
    expect(record.closed[0]!.code).toBe(QuicCloseCode.idleTimeout);
  });

  it('stop() closes every connection and resolves', async () => {
    const { transport, port, record } = await startRecordingServer();
    const a = await client(transport, port);
    const b = await client(transport, port);
    await waitFor(() => record.opened.length === 2, 'opened');
    await transport.stop();
    expect(transport.connectionCount).toBe(0);
    expect(record.closed.map((c) => c.code)).toEqual([
      QuicCloseCode.stopping,
      QuicCloseCode.stopping,
    ]);
    expect((await a.closed).code).toBe(QuicCloseCode.stopping);
    expect((await b.closed).code).toBe(QuicCloseCode.stopping);
  });

  it('survives a peer opening unidirectional and extra bidirectional streams', async () => {
    const { transport, port, record } = await server();
    const connection = await client(transport, port);
    // Before any control message, as a browser's HTTP/3 stack does with its uni streams.
    connection.conn.streamSend(2, Buffer.from([0x00, 0x04, 0x00]), false);
    connection.conn.streamSend(6, Buffer.from('qpack'), true);
    connection.conn.streamSend(4, Buffer.from('another bidi'), false);
    connection.flush();
    await waitFor(() => transport.counters().streamsRefused === 3, 'streams refused');
    const answers: Uint8Array[] = [];
    connection.events.control = (m) => answers.push(m);
    connection.sendControl(Buffer.from('hello'));
    await waitFor(() => answers.length === 1, 'control after refused streams');
    expect(record.closed).toHaveLength(0);
  });

  it('rejects a server whose certificate hash is not the expected one', async () => {
    const { transport, port, record } = await server({ idleTimeoutMs: 500 });
    const wrong = Buffer.from(transport.certificateSha256);
    wrong[0] = wrong[0]! ^ 0xff;
    const attempt = connectQuic('127.0.0.1', port, { serverCertificateHash: wrong });
    await expect(attempt).rejects.toMatchObject({ kind: 'certificate-mismatch' });
    // The client refuses before its handshake's last flight: the server never opens the
    // connection and drops the handshake at its idle timeout.
    await waitFor(
      () => transport.counters().handshakesFailed === 1,
      'server drops the handshake',
      10_000,
    );
    expect(record.opened).toHaveLength(0);
    expect(transport.connectionCount).toBe(0);
  });

  it('verifies a server against a CA certificate when given one', async () => {
    const pair = await selfSignedCertificate();
    const { transport, port } = await server({ certPem: pair.certPem, keyPem: pair.keyPem });
    expect(transport.certificateSha256).toEqual(certificateSha256(pair.certPem));
    const connection = await client(transport, port, {
      serverCertificateHash: undefined,
      caPem: pair.certPem,
    });
    expect(connection.established).toBe(true);
    const other = await selfSignedCertificate();
    await expect(
      connectQuic('127.0.0.1', port, { caPem: other.certPem, handshakeTimeoutMs: 2_000 }),
    ).rejects.toBeInstanceOf(QuicConnectError);
  });

  it('gives up a handshake with no server after the handshake timeout', async () => {
    const { transport, port } = await startRecordingServer();
    await transport.stop();
    await expect(
      connectQuic('127.0.0.1', port, {
        serverCertificateHash: new Uint8Array(32),
        handshakeTimeoutMs: 200,
      }),
    ).rejects.toMatchObject({ kind: 'handshake-timeout' });
  });

  it('makes a P-256 certificate valid for at most 14 days', async () => {
    const pair = await selfSignedCertificate();
    const cert = new X509Certificate(pair.certPem);
    const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
    expect(days).toBeLessThanOrEqual(14);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(cert.subjectAltName).toContain('DNS:localhost');
    await expect(selfSignedCertificate({ validDays: 15 })).rejects.toThrow(/validDays/);
  });
});
