/**
 * The browser's WebTransport, as signaling and media use it: a session pinned to a certificate
 * hash (docs/protocol.md, "WebTransport"), its first bidirectional stream carrying
 * length-prefixed messages, and (media) its datagrams.
 */
import { Deframer, frame } from './framing.ts';

/** How long a session may take to be ready before the caller falls back. */
export const WEBTRANSPORT_READY_TIMEOUT_MS = 3_000;

/** Whether this browser has native WebTransport. */
export function hasWebTransport(): boolean {
  return typeof (globalThis as { WebTransport?: unknown }).WebTransport === 'function';
}

/** Hex (what GC answers) to bytes; undefined when it is not 64 hex digits. */
export function hashFromHex(hex: string): Uint8Array | undefined {
  if (!/^[0-9a-f]{64}$/i.test(hex)) return undefined;
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** An open session with its message stream. */
export interface MessageSession {
  readonly transport: WebTransport;
  /** Sends one message (framed). */
  send(message: Uint8Array): void;
  /** Each whole message received on the stream, in order. */
  onMessage: ((message: Uint8Array) => void) | null;
  /** The session ended (either side, or the network): once, with the peer's code if it sent one. */
  onClose: ((code: number, reason: string) => void) | null;
  /** Closes with `code` (reported to the peer) and reports the close locally at once. */
  close(code: number, reason: string): void;
}

/**
 * Opens a session at `url` pinned to `certHash` (none: the certificate must chain to a trusted
 * CA) and its first bidirectional stream. Rejects when the session is not ready in time.
 */
export async function openMessageSession(
  url: string,
  certHash: Uint8Array | undefined,
  timeoutMs = WEBTRANSPORT_READY_TIMEOUT_MS,
): Promise<MessageSession> {
  const options: WebTransportOptions =
    certHash === undefined || certHash.length === 0
      ? {}
      : {
          serverCertificateHashes: [
            { algorithm: 'sha-256', value: certHash as Uint8Array<ArrayBuffer> },
          ],
        };
  const transport = new WebTransport(url, options);
  // A session that fails before anyone listens must not become an unhandled rejection.
  transport.closed.catch(() => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      transport.ready,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${url}: not ready in ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (error) {
    try {
      transport.close();
    } catch {
      // already failed
    }
    throw error instanceof Error ? error : new Error(`${url}: ${String(error)}`);
  } finally {
    clearTimeout(timer);
  }
  const stream = await transport.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  writer.closed.catch(() => undefined);
  let ended = false;
  const session: MessageSession = {
    transport,
    onMessage: null,
    onClose: null,
    send(message) {
      if (ended) return;
      writer.write(frame(message)).catch(() => undefined);
    },
    close(code, reason) {
      if (ended) return;
      try {
        transport.close({ closeCode: code, reason });
      } catch {
        // already closed
      }
      end(code, reason);
    },
  };
  const end = (code: number, reason: string) => {
    if (ended) return;
    ended = true;
    session.onClose?.(code, reason);
  };
  transport.closed.then(
    (info) => end(info.closeCode ?? 0, info.reason ?? ''),
    (error: unknown) => end(1006, error instanceof Error ? error.message : 'connection lost'),
  );
  void (async () => {
    const reader = stream.readable.getReader();
    const deframer = new Deframer();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        const messages = deframer.push(value);
        if (messages === undefined) return session.close(4400, 'message too large');
        for (const message of messages) session.onMessage?.(message);
      }
    } catch {
      // The stream ends with the session: `closed` reports it.
    }
  })();
  return session;
}
