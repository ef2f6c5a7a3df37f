/**
 * The Media Handler's transports, as the service sees them (docs/architecture.md, "Layers and
 * ports"). A transport accepts connections (QUIC, WebTransport, WebSocket, or plain UDP in the
 * benchmark mode) and hands each to the service as a `MediaConnection`: unreliable datagrams
 * (one media datagram each, docs/protocol.md "Media datagram") and a reliable, ordered channel
 * of whole control messages (the connection's hello with its token, the handler's answer,
 * later notices). The service decides everything; a transport only moves bytes and reports
 * what happened.
 */

/** Why a transport dropped a datagram instead of sending it. */
export type DatagramSendFailure = 'too-large' | 'queue-full' | 'closed';

export interface MediaConnection {
  /** A small integer unique among the transport's live connections: the forwarder's id for it. */
  readonly id: number;
  readonly transport: 'quic' | 'webtransport' | 'websocket' | 'udp';
  /** The peer's address, for logs (never a token). */
  readonly remote: string;
  /** Largest datagram this connection carries (1,199 bytes to a browser over WebTransport). */
  readonly maxDatagramBytes: number;
  /**
   * Sends one datagram now. Returns `null` when sent (or queued), or why it was dropped.
   * The transport may keep a reference to `bytes` until they are written (node:dgram and ws
   * queue the caller's buffer rather than copy it), so the caller must not change them
   * afterwards; the Media Handler never does (a datagram goes out as it came, and the copy
   * with a raised hop count for peer handlers is made once per datagram, not per send).
   */
  sendDatagram(bytes: Uint8Array): DatagramSendFailure | null;
  /**
   * Bytes of datagrams queued for this connection and not sent yet: what a congested or slow
   * receiver has waiting (0 where the transport keeps no queue of its own, or does not say).
   */
  queuedDatagramBytes(): number;
  /** Sends one whole control message, reliably and in order. */
  sendControl(message: Uint8Array): void;
  /** Closes the connection with an application code and a short reason (no secrets). */
  close(code: number, reason: string): void;
}

export interface MediaTransportEvents {
  opened(connection: MediaConnection): void;
  datagram(connection: MediaConnection, bytes: Uint8Array): void;
  control(connection: MediaConnection, message: Uint8Array): void;
  closed(connection: MediaConnection, code: number, reason: string): void;
}

export interface MediaTransport {
  /** Starts accepting; resolves with the bound address once listening. */
  start(events: MediaTransportEvents): Promise<{ host: string; port: number }>;
  /** Stops accepting and closes every connection. */
  stop(): Promise<void>;
}
