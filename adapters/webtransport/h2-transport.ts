/**
 * WebTransport over HTTP/2 (draft-ietf-webtrans-http2) with `@fails-components/webtransport`,
 * for browsers without HTTP/3 and for Node clients: sessions at the given paths as
 * `MediaConnection`s (ports/media-transport.ts), like the HTTP/3 layer's. The first
 * bidirectional stream the client opens carries the control messages, length-prefixed
 * (docs/protocol.md, "WebTransport"); any further stream is reset. Over HTTP/2 everything is
 * reliable and ordered: datagrams travel as capsules (the session says `reliable-only`).
 *
 * The library's optional HTTP/3 transport is not installed (its build fetches from the
 * internet); HTTP/2 needs none of it.
 */
import { Http2Server, type WebTransportSession } from '@fails-components/webtransport';
import type {
  DatagramSendFailure,
  MediaConnection,
  MediaTransport,
  MediaTransportEvents,
} from '../../ports/media-transport.ts';
import { ControlDecoder, frameControlMessage, MAX_CONTROL_MESSAGE_BYTES } from '../quic/framing.ts';
import { ControlMessageTooLargeError, QuicCloseCode, STREAM_REFUSED_CODE } from '../quic/link.ts';

export interface Http2WebTransportOptions {
  readonly host?: string;
  readonly port?: number;
  readonly paths: readonly string[];
  readonly certPem: string;
  readonly keyPem: string;
  /** Largest datagram carried; default 1,199 (as over HTTP/3). */
  readonly maxDatagramBytes?: number;
  readonly onError?: (error: unknown) => void;
}

type Writer = WritableStreamDefaultWriter<Uint8Array>;

class Http2Connection implements MediaConnection {
  readonly transport = 'webtransport' as const;
  private control: Writer | null = null;
  private pending: Uint8Array[] = [];
  private datagramWriter: Writer | null = null;
  private ended = false;

  constructor(
    readonly id: number,
    readonly remote: string,
    readonly maxDatagramBytes: number,
    private readonly session: WebTransportSession,
    private readonly onError: (error: unknown) => void,
  ) {}

  sendDatagram(bytes: Uint8Array): DatagramSendFailure | null {
    if (this.ended) return 'closed';
    if (bytes.length > this.maxDatagramBytes) return 'too-large';
    const writer = (this.datagramWriter ??= this.session.datagrams.createWritable().getWriter());
    writer.write(new Uint8Array(bytes)).catch(() => {});
    return null;
  }

  /** The polyfill's session does not say what it holds. */
  queuedDatagramBytes(): number {
    return 0;
  }

  sendControl(message: Uint8Array): void {
    if (message.length > MAX_CONTROL_MESSAGE_BYTES) {
      throw new ControlMessageTooLargeError(message.length);
    }
    if (this.ended) return;
    const framed = frameControlMessage(message);
    if (this.control === null) this.pending.push(framed);
    else this.control.write(framed).catch(() => {});
  }

  close(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    try {
      this.session.close({ closeCode: code, reason });
    } catch (error) {
      this.onError(error);
    }
  }

  /** @internal The client's first stream. */
  attachControl(writer: Writer): void {
    this.control = writer;
    for (const framed of this.pending) writer.write(framed).catch(() => {});
    this.pending = [];
  }

  /** @internal */
  markEnded(): boolean {
    const was = this.ended;
    this.ended = true;
    return !was;
  }
}

export class Http2WebTransportTransport implements MediaTransport {
  private server: Http2Server | null = null;
  private readonly open = new Set<Http2Connection>();
  private nextId = 0;

  constructor(private readonly options: Http2WebTransportOptions) {}

  async start(events: MediaTransportEvents): Promise<{ host: string; port: number }> {
    const onError = this.options.onError ?? (() => {});
    const server = new Http2Server({
      host: this.options.host ?? '127.0.0.1',
      port: this.options.port ?? 0,
      // Required by the library's options; HTTP/2 has no retry tokens to sign with it.
      secret: 'unused-over-http2',
      cert: this.options.certPem,
      privKey: this.options.keyPem,
    });
    this.server = server;
    const streams = this.options.paths.map((path) => server.sessionStream(path));
    server.startServer();
    await server.ready;
    for (const stream of streams) {
      void this.accept(stream, events).catch(onError);
    }
    const address = server.address();
    return { host: address?.host ?? '127.0.0.1', port: address?.port ?? 0 };
  }

  async stop(): Promise<void> {
    for (const connection of [...this.open]) connection.close(QuicCloseCode.stopping, 'stopping');
    this.server?.stopServer();
    await this.server?.closed.catch(() => {});
    this.server = null;
  }

  private async accept(
    sessions: ReadableStream<WebTransportSession>,
    events: MediaTransportEvents,
  ): Promise<void> {
    const reader = sessions.getReader();
    for (;;) {
      const { value: session, done } = await reader.read();
      if (done) return;
      void this.serve(session, events).catch((error: unknown) => this.options.onError?.(error));
    }
  }

  private async serve(session: WebTransportSession, events: MediaTransportEvents): Promise<void> {
    await session.ready;
    const connection = new Http2Connection(
      this.nextId++,
      'http2',
      this.options.maxDatagramBytes ?? 1199,
      session,
      this.options.onError ?? (() => {}),
    );
    this.open.add(connection);
    events.opened(connection);
    void (session.closed as Promise<{ closeCode?: number; reason?: string } | undefined>)
      .then(
        (info) => ({ code: info?.closeCode ?? 0, reason: info?.reason ?? '' }),
        () => ({ code: QuicCloseCode.transportError, reason: 'session failed' }),
      )
      .then(({ code, reason }: { code: number; reason: string }) => {
        this.open.delete(connection);
        connection.markEnded();
        events.closed(connection, code, reason);
      });
    // Datagrams (capsules over HTTP/2).
    void (async () => {
      const datagrams = session.datagrams.readable.getReader();
      for (;;) {
        const { value, done } = await datagrams.read();
        if (done) return;
        events.datagram(connection, value as Uint8Array);
      }
    })().catch(() => {});
    // The first stream is the control stream; any further one is reset.
    const incoming = session.incomingBidirectionalStreams.getReader();
    let first = true;
    for (;;) {
      const { value: stream, done } = await incoming.read().catch(() => ({
        value: undefined,
        done: true as const,
      }));
      if (done || stream === undefined) return;
      if (!first) {
        void stream.writable.abort(STREAM_REFUSED_CODE).catch(() => {});
        void stream.readable.cancel(STREAM_REFUSED_CODE).catch(() => {});
        continue;
      }
      first = false;
      connection.attachControl(stream.writable.getWriter());
      void (async () => {
        const decoder = new ControlDecoder();
        const reader = stream.readable.getReader();
        for (;;) {
          const { value, done: ended } = await reader.read();
          if (ended) {
            connection.close(QuicCloseCode.controlStreamEnded, 'control stream finished');
            return;
          }
          const messages = decoder.push(value as Uint8Array);
          if (!Array.isArray(messages)) {
            connection.close(QuicCloseCode.controlMessageTooLarge, 'control message too large');
            return;
          }
          for (const message of messages) events.control(connection, message);
        }
      })().catch(() => connection.close(QuicCloseCode.controlStreamEnded, 'control stream reset'));
    }
  }
}
