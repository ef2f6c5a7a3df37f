/**
 * Signaling over WebTransport (docs/protocol.md, "Meeting Controller signaling"): a session at
 * `https://<controller>:<port>/v1/signaling` (HTTP/3, UDP), whose first bidirectional stream
 * carries the same protobuf messages as the WebSocket path, each with a 4-byte big-endian
 * length in front. Handled by the same `SignalingConnection`; a close code travels in the
 * session's CLOSE_WEBTRANSPORT_SESSION capsule.
 */
import type { MediaConnection } from '../../ports/media-transport.ts';
import { QuicMediaTransport } from '../../adapters/quic/server.ts';
import { CLOSE, SIGNALING_PATH, SignalingConnection, type ConnectionOptions } from './signaling.ts';

export interface WebTransportSignalingOptions extends ConnectionOptions {
  readonly host: string;
  readonly port: number;
  /** Certificate and key (PEM), both or neither; default self-signed (13 days). */
  readonly certPem?: string;
  readonly keyPem?: string;
}

export interface RunningWebTransportSignaling {
  readonly host: string;
  readonly port: number;
  /** SHA-256 of the certificate, for browsers' `serverCertificateHashes`. */
  readonly certificateSha256: Uint8Array;
  readonly connections: () => number;
  close(): Promise<void>;
}

/** Starts the WebTransport signaling listener (UDP). */
export async function startWebTransportSignaling(
  options: WebTransportSignalingOptions,
): Promise<RunningWebTransportSignaling> {
  const transport = new QuicMediaTransport({
    host: options.host,
    port: options.port,
    ...(options.certPem !== undefined && options.keyPem !== undefined
      ? { certPem: options.certPem, keyPem: options.keyPem }
      : {}),
    media: false,
    webTransport: { paths: [SIGNALING_PATH] },
    stopGraceMs: 500,
    onError: (error) => options.logger.error({ err: error }, 'WebTransport signaling failed'),
  });
  const connections = new Map<MediaConnection, SignalingConnection>();
  const bound = await transport.start({
    opened: (session) => {
      connections.set(
        session,
        new SignalingConnection(
          {
            send: (bytes) => {
              try {
                session.sendControl(bytes);
              } catch {
                // Past the 64 KiB a framed message may hold: the session cannot carry it.
                session.close(CLOSE.tooLarge, 'message too large');
              }
            },
            close: (code, reason) => session.close(code, reason),
          },
          options,
        ),
      );
    },
    control: (session, message) => connections.get(session)?.received(message, true),
    datagram: () => {},
    closed: (session) => {
      connections.get(session)?.closed();
      connections.delete(session);
    },
  });
  return {
    host: bound.host,
    port: bound.port,
    certificateSha256: transport.certificateSha256,
    connections: () => connections.size,
    close: () => transport.stop(),
  };
}
