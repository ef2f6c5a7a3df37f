/**
 * Signaling over WebTransport (docs/protocol.md, "Meeting Controller signaling"): a session at
 * `https://<controller>:<port>/v1/signaling` whose first bidirectional stream carries the same
 * protobuf messages as the WebSocket path, each with a 4-byte big-endian length in front.
 * Handled by the same `SignalingConnection`; a close code travels in the session's close.
 *
 * Two carriers, one handling: HTTP/3 (UDP, adapters/quic's transport with its WebTransport
 * layer) and HTTP/2 (TCP, `@fails-components/webtransport`, for browsers without HTTP/3 and
 * for Node clients). Each hands sessions over as `MediaConnection`s.
 */
import type { MediaConnection, MediaTransport } from '../../ports/media-transport.ts';
import { CLOSE, SignalingConnection, type ConnectionOptions } from './signaling.ts';

export interface RunningTransportSignaling {
  readonly host: string;
  readonly port: number;
  readonly connections: () => number;
  close(): Promise<void>;
}

/** Serves signaling on every session `transport` opens. */
export async function startSignalingOver(
  transport: MediaTransport,
  options: ConnectionOptions,
): Promise<RunningTransportSignaling> {
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
    connections: () => connections.size,
    close: () => transport.stop(),
  };
}
