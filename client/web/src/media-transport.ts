/**
 * How the client reaches its Media Handler. The session asks a `MediaConnector` for a connected
 * `MediaClient` (client/media: hello with the connection token, datagrams both ways); it never
 * sees the carrier. Carriers: native WebTransport to the handler's `webtransport_url`, pinned to
 * `MediaHandler.cert_hash` (media datagrams as WebTransport datagrams, control messages on the
 * first bidirectional stream, length-prefixed), and the handler's WebSocket ingress (one binary
 * message = one datagram). `FallbackMedia` tries them in that order.
 */
import { MediaClient, type ConnectOutcome, type DatagramLink } from '../../media/client.ts';
import type { MediaHandler } from '../../../services/generated/darktower/mc/v1/signaling.ts';
import { WriteGate } from './backlog.ts';
import { TRANSPORT_ORDER, type TransportName } from './signaling.ts';
import { hasWebTransport, openMessageSession } from './webtransport.ts';

/** Every datagram the client sends fits browser WebTransport's limit (docs/protocol.md). */
export const MAX_DATAGRAM_BYTES = 1_199;

export interface MediaConnector {
  readonly name: string;
  connect(
    handler: MediaHandler,
    token: string,
  ): Promise<{ client: MediaClient | undefined; outcome: ConnectOutcome }>;
}

export const webSocketMedia: MediaConnector = {
  name: 'websocket',
  connect: (handler, token) =>
    MediaClient.connect({
      url: handler.websocketUrl,
      token,
      maxDatagramBytes: MAX_DATAGRAM_BYTES,
      maxBufferedBytes: WEBSOCKET_MAX_BUFFERED_BYTES,
      onSendBufferFull: () => outgoingDrops.queueFull++,
    }),
};

/**
 * Outgoing media datagrams wait in the browser's queue at most this long, and at most this many
 * of them: a frame that old is worth less than the next one, and a page that writes faster
 * than the connection sends (a congested path, a starved CPU) must drop, not build a queue of
 * seconds. Chromium's defaults are no age limit and a high-water mark of 1, past which writes
 * wait in the page's own stream queue without limit.
 */
const OUTGOING_MAX_AGE_MS = 250;
const OUTGOING_QUEUE_DATAGRAMS = 128;
/** Writes the browser has not taken yet (its queue is full) beyond which datagrams are dropped. */
const MAX_WAITING_WRITES = 32;
/**
 * On the WebSocket fallback, the bytes the socket may hold unsent before a datagram is dropped:
 * about a third of a second of a 1.5 Mbit/s camera, as the WebTransport path's 250 ms age limit.
 */
const WEBSOCKET_MAX_BUFFERED_BYTES = 64 * 1024;

/**
 * Media datagrams this page dropped because the browser was not taking its writes (WebTransport)
 * or its WebSocket held too much unsent (the fallback).
 */
export const outgoingDrops = { queueFull: 0 };

/** A WebTransport session as client/media's `DatagramLink`. */
async function webTransportLink(url: string, certHash: Uint8Array): Promise<DatagramLink> {
  const session = await openMessageSession(url, certHash);
  const { transport } = session;
  try {
    transport.datagrams.outgoingMaxAge = OUTGOING_MAX_AGE_MS;
    transport.datagrams.outgoingHighWaterMark = OUTGOING_QUEUE_DATAGRAMS;
  } catch {
    // A browser without these settings keeps its defaults; the check below still bounds the queue.
  }
  const datagrams = transport.datagrams.writable.getWriter();
  datagrams.closed.catch(() => undefined);
  // A write resolves once the browser queued the datagram (at once below the high-water mark).
  const gate = new WriteGate(MAX_WAITING_WRITES);
  const link: DatagramLink = {
    maxDatagramBytes: Math.min(MAX_DATAGRAM_BYTES, transport.datagrams.maxDatagramSize),
    sendDatagram(bytes) {
      if (bytes.length > link.maxDatagramBytes) return 'too-large';
      if (gate.write(() => datagrams.write(bytes as Uint8Array<ArrayBuffer>))) return null;
      outgoingDrops.queueFull++;
      return 'queue-full';
    },
    sendControl: (message) => session.send(message),
    close: (code, reason) => session.close(code, reason),
    events: {},
  };
  session.onMessage = (message) => link.events.control?.(message);
  session.onClose = (code, reason) => link.events.closed?.(code, reason);
  void (async () => {
    const reader = transport.datagrams.readable.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        link.events.datagram?.(value);
      }
    } catch {
      // The datagrams end with the session.
    }
  })();
  return link;
}

/** Media over native WebTransport to the handler's `webtransport_url` and `cert_hash`. */
export const webTransportMedia: MediaConnector = {
  name: 'webtransport',
  connect: async (handler, token) => {
    if (!hasWebTransport()) throw new Error('this browser has no WebTransport');
    if (handler.webtransportUrl === '') {
      throw new Error(`handler ${handler.id} has no WebTransport endpoint`);
    }
    const link = await webTransportLink(handler.webtransportUrl, handler.certHash);
    return MediaClient.connectLink({ link, token });
  },
};

const MEDIA_CONNECTORS: Record<TransportName, MediaConnector> = {
  webtransport: webTransportMedia,
  websocket: webSocketMedia,
};

/**
 * Tries each transport of `order` in turn (native WebTransport, then WebSocket) until one
 * connects; the handler's answer (accepted, redirected, refused) is final, whatever carried it.
 * `inUse` names the carrier of the latest accepted session.
 */
export class FallbackMedia implements MediaConnector {
  readonly name = 'fallback';
  inUse: TransportName | undefined;
  readonly failures: string[] = [];

  constructor(
    readonly order: readonly TransportName[] = TRANSPORT_ORDER,
    private readonly connectors: Record<TransportName, MediaConnector> = MEDIA_CONNECTORS,
  ) {}

  async connect(
    handler: MediaHandler,
    token: string,
  ): Promise<{ client: MediaClient | undefined; outcome: ConnectOutcome }> {
    let last: Error | undefined;
    for (const name of this.order) {
      let connected: { client: MediaClient | undefined; outcome: ConnectOutcome };
      try {
        connected = await this.connectors[name].connect(handler, token);
      } catch (error) {
        last = error instanceof Error ? error : new Error(String(error));
        this.failures.push(`${name}: ${last.message}`);
        continue;
      }
      // A session that closed before the handler answered may open on the next carrier (the
      // token's nonce is spent only by an accepted session).
      if (connected.outcome.kind === 'closed' && name !== this.order[this.order.length - 1]) {
        this.failures.push(`${name}: closed before an answer (${connected.outcome.reason})`);
        continue;
      }
      if (connected.outcome.kind === 'accepted') this.inUse = name;
      return connected;
    }
    throw last ?? new Error('no media transport to try');
  }
}
