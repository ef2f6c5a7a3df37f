/**
 * How the client reaches its Media Handler. The session asks a `MediaConnector` for a connected
 * `MediaClient` (client/media: hello with the connection token, datagrams both ways); it never
 * sees the carrier. Today that is the handler's WebSocket ingress (one binary message = one
 * datagram). WebTransport plugs in as another connector: it opens
 * `new WebTransport(...)` to the handler's QUIC address with `serverCertificateHashes` from the
 * controller's `MediaHandler.cert_hash`, wraps it as client/media's `DatagramLink` (datagrams
 * as WebTransport datagrams, control messages on the first bidirectional stream) and calls
 * `MediaClient.connectLink`.
 */
import { MediaClient, type ConnectOutcome } from '../../media/client.ts';
import type { MediaHandler } from '../../../services/generated/darktower/mc/v1/signaling.ts';

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
    }),
};
