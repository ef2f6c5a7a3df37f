import { describe, expect, it } from 'vitest';
import { decodeDatagram } from '../../core/protocol/datagram.ts';
import { parseSFrameHeader } from '../../core/protocol/sframe.ts';
import { mediaPublisherId, mediaStreamId } from '../../core/mh/stream-id.ts';
import { meetingId, participantId } from '../../core/ids.ts';
import { HandlerControl } from '../../services/generated/darktower/mh/v1/control.ts';
import {
  helloMessage,
  MediaClient,
  sframePayload,
  type ConnectOptions,
  type WebSocketLike,
} from './client.ts';

/** The hello a client without protobuf builds by hand (docs/protocol.md, "WebSocket ingress"). */
function handMadeHello(token: string): string {
  const varint = (n: number) => {
    const bytes: number[] = [];
    while (n >= 0x80) {
      bytes.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    bytes.push(n);
    return bytes;
  };
  const k = Buffer.byteLength(token);
  const inner = [0x0a, ...varint(k), ...Buffer.from(token)];
  return Buffer.from([0x0a, ...varint(inner.length), ...inner]).toString('base64');
}

/** A socket that records what is sent, open from the start. */
class RecordingSocket implements WebSocketLike {
  binaryType = 'blob';
  readyState = 1;
  bufferedAmount = 0;
  sent: unknown[] = [];
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  static last: RecordingSocket;
  constructor() {
    RecordingSocket.last = this;
  }
  send(data: unknown): void {
    this.sent.push(data);
  }
  close(): void {}
}

describe('media client', () => {
  it('encodes the hello as documented for hand-built clients', () => {
    for (const token of ['t', 'x'.repeat(127), 'y'.repeat(449), 'z'.repeat(20_000)]) {
      expect(helloMessage(token)).toBe(handMadeHello(token));
    }
  });

  it('splits a frame into numbered fragments that decode to the frame, SFrame header first', async () => {
    const connecting = MediaClient.connect({
      url: 'ws://test/v1/media',
      token: 'tok',
      WebSocket: RecordingSocket,
      maxDatagramBytes: 542,
    });
    const socket = RecordingSocket.last;
    socket.onopen?.({});
    expect(socket.sent).toEqual([helloMessage('tok')]);
    const answer = Buffer.from(
      HandlerControl.encode({
        helloAnswer: { accepted: { participant: 'a', meeting: 'm', reconnect: false } },
      }).finish(),
    );
    socket.onmessage?.({ data: answer.toString('base64') });
    const { client, outcome } = await connecting;
    expect(outcome).toEqual({ kind: 'accepted', participant: 'a', meeting: 'm', reconnect: false });
    const frame = sframePayload(3n, 1_000n, new Uint8Array(1_200).fill(9));
    const camera = client!.publisher('m', 'a', 'camera');
    expect(camera.publish(frame, { keyframe: true, captureTimeUs: 5 })).toBe(3);
    const decoded = (socket.sent.slice(1) as Uint8Array[]).map((d) => {
      const result = decodeDatagram(d);
      if (!result.ok) throw new Error(result.error.kind);
      return result.value;
    });
    expect(decoded.map((d) => d.header.fragmentIndex)).toEqual([0, 1, 2]);
    expect(decoded.map((d) => d.header.sequence)).toEqual([0, 1, 2]);
    expect(decoded.every((d) => d.header.fragmentCount === 3 && d.header.frameId === 0)).toBe(true);
    expect(decoded.map((d) => d.header.endOfFrame)).toEqual([false, false, true]);
    expect(decoded[0]?.header.streamId).toBe(
      mediaStreamId(meetingId('m'), participantId('a'), 'camera'),
    );
    expect(decoded[0]?.header.publisherId).toBe(
      mediaPublisherId(meetingId('m'), participantId('a')),
    );
    const joined = Buffer.concat(decoded.map((d) => d.payload));
    expect(joined.equals(Buffer.from(frame))).toBe(true);
    const sframe = parseSFrameHeader(joined);
    expect(sframe.ok && sframe.value.header).toEqual({ kid: 3n, ctr: 1_000n });
    expect(camera.datagrams(new Uint8Array(10))[0]?.length).toBe(52);
  });

  it('drops a datagram, and counts it, while the WebSocket holds too much unsent', async () => {
    let dropped = 0;
    const { client, socket } = await acceptedOverRecordingSocket({
      maxBufferedBytes: 1_000,
      onSendBufferFull: () => dropped++,
    });
    const datagram = new Uint8Array(100);
    socket.bufferedAmount = 1_000;
    expect(client?.sendDatagram(datagram)).toBe(true);
    socket.bufferedAmount = 1_001;
    expect(client?.sendDatagram(datagram)).toBe(false);
    expect(dropped).toBe(1);
    expect(socket.sent).toHaveLength(2); // the hello and the first datagram
    socket.bufferedAmount = 0;
    expect(client?.sendDatagram(datagram)).toBe(true);
    expect(socket.sent).toHaveLength(3);
  });

  it('queues every datagram without a bound, as the tools that flood a handler need', async () => {
    const { client, socket } = await acceptedOverRecordingSocket({});
    socket.bufferedAmount = 1 << 30;
    expect(client?.sendDatagram(new Uint8Array(100))).toBe(true);
  });
});

/** A client over a `RecordingSocket` whose hello the handler accepted. */
async function acceptedOverRecordingSocket(
  options: Pick<ConnectOptions, 'maxBufferedBytes' | 'onSendBufferFull'>,
): Promise<{ client: MediaClient | undefined; socket: RecordingSocket }> {
  const connecting = MediaClient.connect({
    url: 'ws://test/v1/media',
    token: 'tok',
    WebSocket: RecordingSocket,
    ...options,
  });
  const socket = RecordingSocket.last;
  socket.onopen?.({});
  const answer = HandlerControl.encode({
    helloAnswer: { accepted: { participant: 'a', meeting: 'm', reconnect: false } },
  }).finish();
  socket.onmessage?.({ data: Buffer.from(answer).toString('base64') });
  const { client } = await connecting;
  return { client, socket };
}
