/**
 * Shared pieces of the QUIC transport's tests: a transport that records every event, and
 * waiting for a condition with a bound.
 */
import type { MediaConnection, MediaTransportEvents } from '../../ports/media-transport.ts';
import { QuicMediaTransport, type QuicMediaTransportOptions } from './server.ts';

export interface ServerRecord {
  readonly opened: MediaConnection[];
  readonly controls: Array<{ id: number; message: Uint8Array }>;
  readonly closed: Array<{ id: number; code: number; reason: string }>;
  datagrams: number;
}

/**
 * Starts a transport on 127.0.0.1, port 0, that records events and, unless `events` overrides
 * them, echoes datagrams and control messages back to their sender.
 */
export async function startRecordingServer(
  options: QuicMediaTransportOptions = {},
  events: Partial<MediaTransportEvents> = {},
): Promise<{ transport: QuicMediaTransport; port: number; record: ServerRecord }> {
  const record: ServerRecord = { opened: [], controls: [], closed: [], datagrams: 0 };
  const transport = new QuicMediaTransport({ host: '127.0.0.1', port: 0, ...options });
  const { port } = await transport.start({
    opened: (connection) => {
      record.opened.push(connection);
      events.opened?.(connection);
    },
    datagram: (connection, bytes) => {
      record.datagrams++;
      if (events.datagram) events.datagram(connection, bytes);
      else connection.sendDatagram(bytes);
    },
    control: (connection, message) => {
      record.controls.push({ id: connection.id, message });
      if (events.control) events.control(connection, message);
      else connection.sendControl(message);
    },
    closed: (connection, code, reason) => {
      record.closed.push({ id: connection.id, code, reason });
      events.closed?.(connection, code, reason);
    },
  });
  return { transport, port, record };
}

/** Resolves once `condition()` holds; rejects after `timeoutMs` naming `what`. */
export async function waitFor(
  condition: () => boolean,
  what: string,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** `length` bytes that encode `index` and differ from datagram to datagram. */
export function patternedDatagram(index: number, length: number, tag = 0): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  bytes.writeUInt32BE(index, 0);
  bytes.writeUInt8(tag & 0xff, 4);
  let state = (index * 2654435761 + tag * 40503) >>> 0;
  for (let i = 5; i < length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}
