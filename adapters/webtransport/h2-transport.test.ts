// WebTransport over HTTP/2 (@fails-components/webtransport): a Node client (forceReliable) opens
// a session, exchanges length-prefixed control messages on its first stream and datagrams, and
// close codes travel each way.
import { WebTransport } from '@fails-components/webtransport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MediaConnection, MediaTransportEvents } from '../../ports/media-transport.ts';
import { certificateSha256, selfSignedCertificate } from '../quic/cert.ts';
import { ControlDecoder, frameControlMessage } from '../quic/framing.ts';
import { Http2WebTransportTransport } from './h2-transport.ts';

let transport: Http2WebTransportTransport;
let port: number;
let hash: Uint8Array;
const opened: MediaConnection[] = [];
const closed: Array<{ code: number; reason: string }> = [];

beforeAll(async () => {
  const pair = await selfSignedCertificate();
  hash = certificateSha256(pair.certPem);
  transport = new Http2WebTransportTransport({ paths: ['/v1/signaling'], ...pair });
  const events: MediaTransportEvents = {
    opened: (connection) => opened.push(connection),
    control: (connection, message) => connection.sendControl(message),
    datagram: (connection, bytes) => connection.sendDatagram(bytes),
    closed: (_connection, code, reason) => closed.push({ code, reason }),
  };
  ({ port } = await transport.start(events));
});

afterAll(async () => {
  await transport.stop();
});

/** HTTP/2 straight away (the library's HTTP/3 transport is not installed). */
const reliable = () =>
  ({
    forceReliable: true,
    serverCertificateHashes: [{ algorithm: 'sha-256', value: hash }],
  }) as unknown as ConstructorParameters<typeof WebTransport>[1];

const eventually = async (check: () => boolean) => {
  const deadline = Date.now() + 3_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe('WebTransport over HTTP/2', () => {
  it('carries control messages on the first stream, datagrams, and the close code', async () => {
    const wt = new WebTransport(`https://127.0.0.1:${port}/v1/signaling`, reliable());
    await wt.ready;
    await eventually(() => opened.length === 1);
    expect(opened[0]?.transport).toBe('webtransport');

    const stream = await wt.createBidirectionalStream();
    const writer = stream.writable.getWriter();
    await writer.write(frameControlMessage(Uint8Array.of(9, 8, 7)));
    const reader = stream.readable.getReader();
    const decoder = new ControlDecoder();
    let messages: Uint8Array[] = [];
    while (messages.length === 0) {
      const { value } = await reader.read();
      const decoded = decoder.push(value as Uint8Array);
      if (Array.isArray(decoded)) messages = decoded;
    }
    expect([...messages[0]!]).toEqual([9, 8, 7]);

    const datagramWriter = wt.datagrams.createWritable().getWriter();
    const datagramReader = wt.datagrams.readable.getReader();
    await datagramWriter.write(Uint8Array.of(1, 2, 3, 4));
    const { value } = await datagramReader.read();
    expect([...(value as Uint8Array)]).toEqual([1, 2, 3, 4]);
    expect(opened[0]?.sendDatagram(new Uint8Array(1200))).toBe('too-large');

    wt.close({ closeCode: 4401, reason: 'bye' });
    await eventually(() => closed.length === 1);
    expect(closed[0]).toEqual({ code: 4401, reason: 'bye' });
  });

  it('passes a server close code to the client', async () => {
    const wt = new WebTransport(`https://127.0.0.1:${port}/v1/signaling`, reliable());
    await wt.ready;
    await eventually(() => opened.length === 2);
    opened[1]?.close(4400, 'malformed');
    const info = (await wt.closed) as { closeCode?: number; reason?: string };
    expect(info).toMatchObject({ closeCode: 4400, reason: 'malformed' });
  });
});
