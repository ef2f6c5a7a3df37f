/**
 * A media client of the Media Handler's WebSocket ingress (docs/protocol.md, "WebSocket
 * ingress"), usable in a browser and in Node: it imports no `node:*` module, and the WebSocket
 * class is the global one or the one given (Node 20 has none: pass the `ws` package's).
 *
 *   const { client, outcome } = await MediaClient.connect({ url, token, WebSocket });
 *   const camera = client.publisher(meeting, participant, 'camera');
 *   camera.publish(sframeCiphertext, { keyframe: true, captureTimeUs });
 *   client.onDatagram = (header, payload) => { ... };
 *   client.close();
 *
 * Over QUIC (or any datagram link with a control channel), the connection is injected: a
 * browser passes a WebTransport-backed link, Node passes adapters/quic's `connectQuic`
 * connection (this module stays free of `node:*`):
 *
 *   const { client, outcome } = await MediaClient.connectLink({ link, token });
 */
import type { MediaKind } from '../../core/ids.ts';
import { mediaPublisherId, mediaStreamId } from '../../core/mh/stream-id.ts';
import {
  DATAGRAM_HEADER_LENGTH,
  decodeDatagram,
  encodeDatagram,
  type DatagramHeader,
} from '../../core/protocol/datagram.ts';
import { serializeSFrameHeader } from '../../core/protocol/sframe.ts';
import { ClientControl, HandlerControl } from '../../services/generated/darktower/mh/v1/control.ts';

/** The WebSocket subprotocol and path of the media ingress. */
export const MEDIA_SUBPROTOCOL = 'darktower-media.v1';
export const MEDIA_PATH = '/v1/media';

/** The part of the WebSocket API the client uses (the browser's and `ws`'s both have it). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string | ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
) => WebSocketLike;

/** The handler's answer to the hello. */
export type ConnectOutcome =
  | {
      readonly kind: 'accepted';
      readonly meeting: string;
      readonly participant: string;
      readonly reconnect: boolean;
    }
  | { readonly kind: 'redirected'; readonly handler: string; readonly address: string }
  | { readonly kind: 'rejected'; readonly reason: string; readonly retryAfterMs: number }
  /** The connection closed (or failed) before an answer came. */
  | { readonly kind: 'closed'; readonly code: number; readonly reason: string };

export interface ConnectOptions {
  /** `ws://host:port/v1/media`. */
  readonly url: string;
  /** The connection token from the Meeting Controller. */
  readonly token: string;
  readonly WebSocket?: WebSocketConstructor;
  /** Largest datagram to send (the handler's limit; default 1,200 bytes). */
  readonly maxDatagramBytes?: number;
  /** How long to wait for the answer (default 10 s). */
  readonly timeoutMs?: number;
  /**
   * Bytes the WebSocket may hold unsent (`bufferedAmount`) before a datagram is dropped rather
   * than queued, as a datagram transport drops at a full queue instead of delaying all that
   * follows. Default: no bound (the Node tools that flood or measure a handler send every
   * datagram); the page's WebSocket fallback sets one.
   */
  readonly maxBufferedBytes?: number;
  /** Called for each datagram dropped because the WebSocket held `maxBufferedBytes` unsent. */
  readonly onSendBufferFull?: () => void;
}

const OPEN = 1;

/**
 * A connected datagram link with a reliable control channel (docs/protocol.md, "QUIC media
 * transport"): what `connectLink` needs. adapters/quic's client connection has this shape.
 */
export interface DatagramLink {
  readonly maxDatagramBytes: number;
  /** Sends one datagram; returns null (or true) when sent, anything else when dropped. */
  sendDatagram(bytes: Uint8Array): unknown;
  sendControl(message: Uint8Array): void;
  close(code: number, reason: string): void;
  /** Replaced by the client with its own callbacks. */
  events: {
    datagram?(bytes: Uint8Array): void;
    control?(message: Uint8Array): void;
    closed?(code: number, reason: string): void;
  };
}

/** What a client sends through, whatever carries it. */
interface Channel {
  isOpen(): boolean;
  sendDatagram(bytes: Uint8Array): boolean;
  sendText(text: string): void;
  bufferedAmount(): number;
  close(code: number, reason: string): void;
}

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i] as number);
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Encodes a hello carrying `token` as the text message the ingress expects. */
export function helloMessage(token: string): string {
  return toBase64(ClientControl.encode({ hello: { connectionToken: token } }).finish());
}

/** An SFrame-shaped payload: the SFrame header for (kid, ctr), then the ciphertext. */
export function sframePayload(kid: bigint, ctr: bigint, ciphertext: Uint8Array): Uint8Array {
  const header = serializeSFrameHeader({ kid, ctr });
  if (!header.ok) throw new RangeError(`SFrame header: ${header.error.kind}`);
  const payload = new Uint8Array(header.value.length + ciphertext.length);
  payload.set(header.value, 0);
  payload.set(ciphertext, header.value.length);
  return payload;
}

/** Where a publisher's datagrams go: a `MediaClient`, or any other datagram transport. */
export interface DatagramSink {
  readonly maxDatagramBytes: number;
  sendDatagram(datagram: Uint8Array): boolean;
}

/** One published stream: numbers its datagrams and frames, splits frames into fragments. */
export class StreamPublisher {
  private sequence = 0;
  private frameId = 0;
  readonly streamId: bigint;
  readonly publisherId: bigint;

  constructor(
    private readonly client: DatagramSink,
    meeting: string,
    participant: string,
    readonly kind: MediaKind,
  ) {
    this.streamId = mediaStreamId(meeting as never, participant as never, kind);
    this.publisherId = mediaPublisherId(meeting as never, participant as never);
  }

  /** The datagrams of one frame (its SFrame ciphertext), without sending them. */
  datagrams(
    frame: Uint8Array,
    options: { keyframe?: boolean; captureTimeUs?: number; layer?: number } = {},
  ): Uint8Array[] {
    const room = this.client.maxDatagramBytes - DATAGRAM_HEADER_LENGTH;
    const count = Math.max(1, Math.ceil(frame.length / room));
    if (count > 0xffff) throw new RangeError('frame too large');
    const frameId = this.frameId;
    this.frameId = (this.frameId + 1) >>> 0;
    const out: Uint8Array[] = [];
    for (let index = 0; index < count; index++) {
      const header: DatagramHeader = {
        keyframe: options.keyframe ?? false,
        endOfFrame: index === count - 1,
        discardable: false,
        hopCount: 0,
        spatialLayer: (options.layer ?? 0) >> 4,
        temporalLayer: (options.layer ?? 0) & 0x0f,
        streamId: this.streamId,
        publisherId: this.publisherId,
        sequence: this.sequence,
        frameId,
        fragmentIndex: index,
        fragmentCount: count,
        captureTimeUs: options.captureTimeUs ?? 0,
      };
      this.sequence = (this.sequence + 1) >>> 0;
      const encoded = encodeDatagram(header, frame.subarray(index * room, (index + 1) * room));
      if (!encoded.ok) throw new RangeError(`datagram: ${encoded.error.kind}`);
      out.push(encoded.value);
    }
    return out;
  }

  /** Sends one frame; returns how many datagrams went out. */
  publish(
    frame: Uint8Array,
    options: { keyframe?: boolean; captureTimeUs?: number; layer?: number } = {},
  ): number {
    const datagrams = this.datagrams(frame, options);
    for (const datagram of datagrams) this.client.sendDatagram(datagram);
    return datagrams.length;
  }
}

/** A connected media client (after an accepted hello). */
export class MediaClient {
  /** Each received datagram, decoded (the payload is a view of `raw`). */
  onDatagram: ((header: DatagramHeader, payload: Uint8Array, raw: Uint8Array) => void) | null =
    null;
  /** A datagram that did not decode (never expected from a handler). */
  onMalformed: ((raw: Uint8Array) => void) | null = null;
  /** The handler ended the session (`replaced`, `meeting-ended`, `draining`). */
  onSessionClosed: ((reason: string) => void) | null = null;
  /** The connection closed. */
  onClose: ((code: number, reason: string) => void) | null = null;
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(
    private readonly channel: Channel,
    readonly maxDatagramBytes: number,
    closed: Promise<{ code: number; reason: string }>,
  ) {
    this.closed = closed;
  }

  /** Connects, sends the hello and waits for the answer. */
  static connect(
    options: ConnectOptions,
  ): Promise<{ client: MediaClient | undefined; outcome: ConnectOutcome }> {
    const Socket =
      options.WebSocket ??
      (globalThis as unknown as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (Socket === undefined) throw new Error('no WebSocket class: pass one (e.g. ws)');
    const socket = new Socket(options.url, MEDIA_SUBPROTOCOL);
    socket.binaryType = 'arraybuffer';
    let settle: (value: { client: MediaClient | undefined; outcome: ConnectOutcome }) => void;
    const answered = new Promise<{ client: MediaClient | undefined; outcome: ConnectOutcome }>(
      (resolve) => (settle = resolve),
    );
    let resolveClosed: (value: { code: number; reason: string }) => void;
    const closed = new Promise<{ code: number; reason: string }>((r) => (resolveClosed = r));
    const maxBufferedBytes = options.maxBufferedBytes ?? Infinity;
    const channel: Channel = {
      isOpen: () => socket.readyState === OPEN,
      sendDatagram: (bytes) => {
        if (socket.bufferedAmount > maxBufferedBytes) {
          options.onSendBufferFull?.();
          return false;
        }
        socket.send(bytes);
        return true;
      },
      sendText: (text) => socket.send(text),
      bufferedAmount: () => socket.bufferedAmount,
      close: (code, reason) => socket.close(code, reason),
    };
    const client = new MediaClient(channel, options.maxDatagramBytes ?? 1_200, closed);
    let answeredYet = false;
    const timer = setTimeout(() => {
      if (answeredYet) return;
      answeredYet = true;
      socket.close(1000, 'no answer');
      settle({ client: undefined, outcome: { kind: 'closed', code: 0, reason: 'timeout' } });
    }, options.timeoutMs ?? 10_000);
    socket.onopen = () => socket.send(helloMessage(options.token));
    socket.onerror = () => undefined;
    socket.onclose = (event) => {
      clearTimeout(timer);
      resolveClosed({ code: event.code, reason: event.reason });
      client.onClose?.(event.code, event.reason);
      if (!answeredYet) {
        answeredYet = true;
        settle({
          client: undefined,
          outcome: { kind: 'closed', code: event.code, reason: event.reason },
        });
      }
    };
    socket.onmessage = (event) => {
      const data = event.data;
      if (typeof data !== 'string') {
        const raw = new Uint8Array(data as ArrayBuffer);
        const decoded = decodeDatagram(raw);
        if (decoded.ok) client.onDatagram?.(decoded.value.header, decoded.value.payload, raw);
        else client.onMalformed?.(raw);
        return;
      }
      let bytes: Uint8Array;
      try {
        bytes = fromBase64(data);
      } catch {
        return;
      }
      if (!answeredYet) {
        const outcome = client.handleControl(bytes);
        if (outcome === undefined) return;
        answeredYet = true;
        clearTimeout(timer);
        settle({ client: outcome.kind === 'accepted' ? client : undefined, outcome });
      } else {
        client.handleControl(bytes);
      }
    };
    return answered;
  }

  /**
   * Sends the hello over a connected datagram link (QUIC) and waits for the answer. The link
   * is closed when the hello is not accepted.
   */
  static connectLink(options: {
    readonly link: DatagramLink;
    readonly token: string;
    readonly timeoutMs?: number;
  }): Promise<{ client: MediaClient | undefined; outcome: ConnectOutcome }> {
    const { link } = options;
    let open = true;
    let resolveClosed: (value: { code: number; reason: string }) => void;
    const closed = new Promise<{ code: number; reason: string }>((r) => (resolveClosed = r));
    const channel: Channel = {
      isOpen: () => open,
      sendDatagram: (bytes) => {
        const result = link.sendDatagram(bytes);
        return result === null || result === true;
      },
      sendText: () => undefined,
      bufferedAmount: () => 0,
      close: (code, reason) => link.close(code, reason),
    };
    const client = new MediaClient(channel, link.maxDatagramBytes, closed);
    return new Promise((settle) => {
      let answeredYet = false;
      const finish = (outcome: ConnectOutcome) => {
        if (answeredYet) return;
        answeredYet = true;
        clearTimeout(timer);
        if (outcome.kind !== 'accepted' && open) link.close(1000, 'not accepted');
        settle({ client: outcome.kind === 'accepted' ? client : undefined, outcome });
      };
      const timer = setTimeout(
        () => finish({ kind: 'closed', code: 0, reason: 'timeout' }),
        options.timeoutMs ?? 10_000,
      );
      link.events = {
        datagram: (raw) => {
          const decoded = decodeDatagram(raw);
          if (decoded.ok) client.onDatagram?.(decoded.value.header, decoded.value.payload, raw);
          else client.onMalformed?.(raw);
        },
        control: (message) => {
          const outcome = client.handleControl(message);
          if (outcome !== undefined) finish(outcome);
        },
        closed: (code, reason) => {
          open = false;
          resolveClosed({ code, reason });
          client.onClose?.(code, reason);
          finish({ kind: 'closed', code, reason });
        },
      };
      link.sendControl(
        ClientControl.encode({
          hello: { connectionToken: options.token },
          peerHello: undefined,
        }).finish(),
      );
    });
  }

  /** Handles one control message; returns the hello's outcome when it is the answer. */
  private handleControl(bytes: Uint8Array): ConnectOutcome | undefined {
    let message: HandlerControl;
    try {
      message = HandlerControl.decode(bytes);
    } catch {
      return undefined;
    }
    if (message.sessionClosed !== undefined) {
      this.onSessionClosed?.(message.sessionClosed.reason);
    }
    const answer = message.helloAnswer;
    if (answer === undefined) return undefined;
    if (answer.accepted !== undefined) return { kind: 'accepted', ...answer.accepted };
    if (answer.redirected !== undefined) return { kind: 'redirected', ...answer.redirected };
    return {
      kind: 'rejected',
      reason: answer.rejected?.reason ?? 'unknown',
      retryAfterMs: answer.rejected?.retryAfterMs ?? 0,
    };
  }

  /** A publisher of one of this participant's streams. */
  publisher(meeting: string, participant: string, kind: MediaKind): StreamPublisher {
    return new StreamPublisher(this, meeting, participant, kind);
  }

  /** Sends one datagram as is (false when the connection is not open). */
  sendDatagram(datagram: Uint8Array): boolean {
    if (!this.channel.isOpen()) return false;
    return this.channel.sendDatagram(datagram);
  }

  /** Sends raw text (a control message the caller encoded: tests of malformed input). */
  sendText(text: string): void {
    if (this.channel.isOpen()) this.channel.sendText(text);
  }

  /** Bytes queued in the socket, not yet sent. */
  get bufferedAmount(): number {
    return this.channel.bufferedAmount();
  }

  close(code = 1000, reason = 'bye'): Promise<{ code: number; reason: string }> {
    this.channel.close(code, reason);
    return this.closed;
  }
}
