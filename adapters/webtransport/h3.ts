/**
 * WebTransport over HTTP/3 (docs/protocol.md, "WebTransport") on one QUIC connection driven
 * on quiche's native object (adapters/quic/link.ts): the HTTP/3 control streams and SETTINGS,
 * the extended CONNECT that opens a session (QPACK, static table only), the session's
 * bidirectional streams (signal 0x41 and the session id in front), its HTTP datagrams (the
 * quarter stream id in front), and its close (the CLOSE_WEBTRANSPORT_SESSION capsule, or the
 * CONNECT stream's end).
 *
 * The wire formats are core's (`core/protocol/h3.ts`, `qpack.ts`) and so is the decision which
 * requests open a session (`core/protocol/webtransport.ts`); this moves bytes between them and
 * quiche. Nothing a peer sends throws out of it: bad bytes close the stream or the connection
 * with the RFC 9114 error code, and are counted.
 */
import {
  CAPSULE,
  decodeCloseSession,
  decodeSettings,
  encodeCloseSession,
  encodeFrame,
  encodeSettings,
  H3_FRAME,
  H3_SETTING,
  H3_STREAM_TYPE,
  readFrame,
  readVarint,
  varintLength,
  WEBTRANSPORT_BIDI_SIGNAL,
  writeVarint,
  type H3WireError,
} from '../../core/protocol/h3.ts';
import { decodeFieldSection, encodeFieldSection, type Field } from '../../core/protocol/qpack.ts';
import {
  checkWebTransportRequest,
  refusalStatus,
  type WebTransportRequest,
} from '../../core/protocol/webtransport.ts';
import type { DatagramSendFailure } from '../../ports/media-transport.ts';
import { quiche, type LinkApplication, type QuicLink } from '../quic/link.ts';
import { huffmanDecode } from './huffman.ts';

/** HTTP/3 error codes (RFC 9114 section 8.1, RFC 9204 section 6, webtrans drafts). */
export const H3Error = {
  noError: 0x100,
  generalProtocolError: 0x101,
  streamCreationError: 0x103,
  closedCriticalStream: 0x104,
  frameUnexpected: 0x105,
  frameError: 0x106,
  excessiveLoad: 0x107,
  idError: 0x108,
  settingsError: 0x109,
  missingSettings: 0x10a,
  requestRejected: 0x10b,
  messageError: 0x10e,
  qpackDecompressionFailed: 0x200,
  /** WebTransport: a stream for a session that does not exist (any more). */
  webTransportBufferedStreamRejected: 0x3994bd84,
  /** WebTransport: the stream's session is gone. */
  webTransportSessionGone: 0x170d7b68,
} as const;

/** The ALPN protocol id of HTTP/3. */
export const H3_ALPN = 'h3';

/** The largest payload a datagram to a browser may carry: Chromium drops 1,200 bytes. */
export const BROWSER_MAX_DATAGRAM_BYTES = 1199;

/** Frames on the control and request streams, and capsules, are at most this long. */
const MAX_FRAME_BYTES = 16 * 1024;
/** DATA frames on a CONNECT stream (they carry capsules) are at most this long. */
const MAX_DATA_FRAME_BYTES = 64 * 1024;
/** Bytes queued on one stream that the peer has not taken, before the stream is given up. */
export const MAX_STREAM_BACKLOG_BYTES = 1024 * 1024;
const READ_CHUNK_BYTES = 16 * 1024;

/** What the server accepts. */
export const SERVER_SETTINGS: ReadonlyMap<number, number> = new Map([
  [H3_SETTING.enableConnectProtocol, 1],
  [H3_SETTING.h3Datagram, 1],
  [H3_SETTING.h3DatagramDraft04, 1],
  [H3_SETTING.enableWebTransportDraft02, 1],
  [H3_SETTING.webTransportMaxSessions, 1],
]);

const CLIENT_SETTINGS: ReadonlyMap<number, number> = new Map([
  [H3_SETTING.h3Datagram, 1],
  [H3_SETTING.enableWebTransportDraft02, 1],
  [H3_SETTING.webTransportMaxSessions, 1],
]);

/** Why a stream, session or connection was given up: counted by the owner. */
export type H3Drop =
  | 'datagram-unknown-session'
  | 'datagram-malformed'
  | 'stream-unknown-session'
  | 'stream-refused'
  | 'request-refused'
  | 'request-malformed';

export interface WebTransportStreamEvents {
  data?(chunk: Uint8Array): void;
  /** The peer finished its side (FIN). */
  end?(): void;
  /** The peer reset its side, or the stream went with its session. */
  reset?(code: number): void;
}

/** One bidirectional stream of a session. */
export class WebTransportStream {
  events: WebTransportStreamEvents = {};
  /** Data that arrived before anyone listened; handed to the first `data` listener set. */
  private held: Uint8Array[] = [];
  private heldEnd = false;

  constructor(
    readonly id: number,
    readonly session: WebTransportSession,
    private readonly h3: H3Connection,
  ) {}

  /** Sets the listeners and hands them what arrived before. */
  listen(events: WebTransportStreamEvents): void {
    this.events = events;
    const held = this.held;
    this.held = [];
    for (const chunk of held) events.data?.(chunk);
    if (this.heldEnd) events.end?.();
  }

  /** Queues bytes; false when the stream is gone or its backlog is full (nothing queued). */
  write(bytes: Uint8Array): boolean {
    return this.h3.queue(this.id, bytes, false);
  }

  /** Finishes this side. */
  end(): void {
    this.h3.queue(this.id, new Uint8Array(0), true);
  }

  /** Stops both sides with an application code. */
  reset(code: number): void {
    this.h3.shutdown(this.id, code);
  }

  /** @internal */
  deliver(chunk: Uint8Array): void {
    if (this.events.data === undefined) this.held.push(chunk);
    else this.events.data(chunk);
  }

  /** @internal */
  deliverEnd(): void {
    if (this.events.end === undefined) this.heldEnd = true;
    else this.events.end();
  }
}

export interface WebTransportSessionEvents {
  datagram?(payload: Uint8Array): void;
  /** A bidirectional stream the peer opened. */
  stream?(stream: WebTransportStream): void;
  /** Once: the session ended (either side's close, the CONNECT stream's end, the connection). */
  closed?(code: number, reason: string): void;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: false });

/** One WebTransport session: its CONNECT stream's id is its id. */
export class WebTransportSession {
  events: WebTransportSessionEvents = {};
  private ended = false;
  private readonly prefix: Uint8Array;

  constructor(
    readonly id: number,
    readonly request: WebTransportRequest,
    private readonly h3: H3Connection,
  ) {
    this.prefix = new Uint8Array(varintLength(id / 4));
    writeVarint(this.prefix, 0, id / 4);
  }

  get link(): QuicLink {
    return this.h3.link;
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Largest datagram payload this session carries now. */
  get maxDatagramBytes(): number {
    const writable = this.h3.link.conn.dgramMaxWritableLen() ?? 0;
    return Math.max(0, Math.min(this.h3.maxDatagramBytes, writable - this.prefix.length));
  }

  /** Bytes of datagrams queued on the session's QUIC connection (every session on it). */
  queuedDatagramBytes(): number {
    return this.ended ? 0 : this.h3.link.queuedDatagramBytes();
  }

  /** Sends one datagram (one copy: the prefix in front); null when queued, else why not. */
  sendDatagram(payload: Uint8Array): DatagramSendFailure | null {
    if (this.ended || this.h3.link.closing) return 'closed';
    if (payload.length > this.maxDatagramBytes) return 'too-large';
    const prefix = this.prefix;
    const out = Buffer.allocUnsafe(prefix.length + payload.length);
    out.set(prefix, 0);
    out.set(payload, prefix.length);
    let queued: void | null;
    try {
      queued = this.h3.link.conn.dgramSend(out);
    } catch {
      return this.h3.link.closing ? 'closed' : 'too-large';
    }
    if (queued === null) return 'queue-full';
    this.h3.link.requestFlush();
    return null;
  }

  /** Opens a bidirectional stream (client side: the streams its server answers on). */
  openStream(): WebTransportStream {
    return this.h3.openStream(this);
  }

  /** Closes with an application code and reason: the close capsule, then the CONNECT stream's end. */
  close(code: number, reason: string): void {
    if (this.ended) return;
    const capsule = encodeFrame(
      CAPSULE.closeWebTransportSession,
      encodeCloseSession(code, textEncoder.encode(reason)),
    );
    this.h3.sessionEnded(this, code, reason, true);
    this.h3.queue(this.id, encodeFrame(H3_FRAME.data, capsule), true);
  }

  /** @internal */
  deliverDatagram(payload: Uint8Array): void {
    if (!this.ended) this.events.datagram?.(payload);
  }

  /** @internal Reports the end once. */
  end(code: number, reason: string): boolean {
    if (this.ended) return false;
    this.ended = true;
    this.events.closed?.(code, reason);
    return true;
  }
}

export interface H3ConnectionOptions {
  readonly role: 'server' | 'client';
  /** Server: the paths that open a session. */
  readonly paths?: ReadonlySet<string>;
  /** Largest datagram payload; default 1,199 (what a browser takes). */
  readonly maxDatagramBytes?: number;
  /** Server: a session was accepted (already answered 200). */
  readonly session?: (session: WebTransportSession) => void;
  /** Server: close the connection this long after its last session ended; default 500 ms. */
  readonly lingerMs?: number;
  readonly onDrop?: (reason: H3Drop) => void;
  /** Errors thrown by event listeners. */
  readonly onError?: (error: unknown) => void;
}

type UniState = {
  type: number | null;
  buffer: Uint8Array;
  settingsSeen: boolean;
  discard: boolean;
};
type BidiState =
  | { kind: 'unknown'; buffer: Uint8Array }
  | {
      kind: 'request';
      buffer: Uint8Array;
      session: WebTransportSession | null;
      headersDone: boolean;
    }
  | { kind: 'stream'; stream: WebTransportStream };
type Outgoing = { chunks: Uint8Array[]; bytes: number; fin: boolean };

const EMPTY = new Uint8Array(0);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The HTTP/3 side of one QUIC connection whose ALPN is h3. */
export class H3Connection implements LinkApplication {
  readonly maxDatagramBytes: number;
  /** The peer's SETTINGS, once received. */
  peerSettings: Map<number, number> | null = null;
  private readonly uni = new Map<number, UniState>();
  private readonly bidi = new Map<number, BidiState>();
  private readonly outgoing = new Map<number, Outgoing>();
  private readonly sessions = new Map<number, WebTransportSession>();
  private readonly readBuffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  private peerControl: number | null = null;
  private nextLocalBidi: number;
  private sessionsOpened = 0;
  private linger: NodeJS.Timeout | null = null;
  private done = false;
  /** Client: the CONNECT waiting for the server's SETTINGS, and its answer. */
  private pendingConnect: {
    fields: Field[];
    settle: (result: WebTransportSession | { status: number } | Error) => void;
    request: WebTransportRequest;
  } | null = null;
  private settingsWaiters: Array<() => void> = [];

  constructor(
    readonly link: QuicLink,
    private readonly options: H3ConnectionOptions,
  ) {
    this.maxDatagramBytes = options.maxDatagramBytes ?? BROWSER_MAX_DATAGRAM_BYTES;
    this.nextLocalBidi = options.role === 'client' ? 0 : 1;
    // Our control stream: type, then SETTINGS (server: uni stream 3, client: 2).
    const controlId = options.role === 'server' ? 3 : 2;
    const settings = options.role === 'server' ? SERVER_SETTINGS : CLIENT_SETTINGS;
    this.queue(
      controlId,
      concat(
        Uint8Array.of(H3_STREAM_TYPE.control),
        encodeFrame(H3_FRAME.settings, encodeSettings(settings)),
      ),
      false,
    );
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  // ---- LinkApplication ----

  receive(): void {
    const conn = this.link.conn;
    for (;;) {
      const bytes = conn.dgramRecvVec();
      if (bytes === null) break;
      this.onDatagram(bytes);
    }
    if (this.done || !conn.isReadable()) return;
    for (const streamId of conn.readable()) {
      this.readStream(streamId);
      if (this.done) return;
    }
  }

  pump(): void {
    const conn = this.link.conn;
    for (const [streamId, out] of this.outgoing) {
      while (out.chunks.length > 0) {
        const head = out.chunks[0]!;
        const last = out.chunks.length === 1;
        let written: number | null;
        try {
          written = conn.streamSend(streamId, head, last && out.fin);
        } catch {
          // Stopped by the peer, or gone: drop what is queued.
          this.outgoing.delete(streamId);
          break;
        }
        if (written === null) break;
        out.bytes -= written;
        if (written < head.length) {
          out.chunks[0] = head.subarray(written);
          break;
        }
        out.chunks.shift();
      }
      if (out.chunks.length === 0) this.outgoing.delete(streamId);
    }
  }

  closed(code: number, reason: string): void {
    this.done = true;
    if (this.linger !== null) clearTimeout(this.linger);
    this.linger = null;
    this.pendingConnect?.settle(new Error(`connection closed: ${reason}`));
    this.pendingConnect = null;
    for (const session of [...this.sessions.values()]) {
      this.sessions.delete(session.id);
      this.guard(() => session.end(code, reason));
    }
    for (const state of this.bidi.values()) {
      if (state.kind === 'stream') this.guard(() => state.stream.events.reset?.(code));
    }
    this.bidi.clear();
  }

  // ---- writing ----

  /** Queues bytes (and optionally the FIN) on a stream; false when the backlog is full. */
  queue(streamId: number, bytes: Uint8Array, fin: boolean): boolean {
    if (this.done || this.link.closing) return false;
    let out = this.outgoing.get(streamId);
    if (out === undefined) {
      out = { chunks: [], bytes: 0, fin: false };
      this.outgoing.set(streamId, out);
    }
    if (out.fin) return false;
    if (out.bytes + bytes.length > MAX_STREAM_BACKLOG_BYTES) return false;
    if (bytes.length > 0) {
      out.chunks.push(Buffer.from(bytes));
      out.bytes += bytes.length;
    } else if (fin && out.chunks.length === 0) {
      out.chunks.push(EMPTY);
    }
    out.fin = fin;
    this.link.requestFlush();
    return true;
  }

  /** Stops reading and resets writing on a stream (each step alone: either may be gone). */
  shutdown(streamId: number, code: number): void {
    const conn = this.link.conn;
    this.outgoing.delete(streamId);
    try {
      conn.streamShutdown(streamId, quiche.Shutdown.Read, code);
    } catch {
      // Already finished or reset.
    }
    if ((streamId & 0x2) === 0 || (streamId & 0x1) === (this.options.role === 'server' ? 1 : 0)) {
      try {
        conn.streamShutdown(streamId, quiche.Shutdown.Write, code);
      } catch {
        // Not ours to write, or done.
      }
    }
    this.bidi.delete(streamId);
    this.uni.delete(streamId);
    this.link.requestFlush();
  }

  openStream(session: WebTransportSession): WebTransportStream {
    const id = this.nextLocalBidi;
    this.nextLocalBidi += 4;
    const stream = new WebTransportStream(id, session, this);
    this.bidi.set(id, { kind: 'stream', stream });
    const header = new Uint8Array(
      varintLength(WEBTRANSPORT_BIDI_SIGNAL) + varintLength(session.id),
    );
    writeVarint(header, writeVarint(header, 0, WEBTRANSPORT_BIDI_SIGNAL), session.id);
    this.queue(id, header, false);
    return stream;
  }

  // ---- sessions ----

  /** @internal A session ended on our side or the peer's. */
  sessionEnded(session: WebTransportSession, code: number, reason: string, local = false): void {
    if (!this.sessions.delete(session.id)) {
      this.guard(() => session.end(code, reason));
      return;
    }
    this.guard(() => session.end(code, reason));
    // Its streams go with it: closed by us, what they hold still goes out first (an answer
    // before the close), then FIN; closed by the peer, they are reset.
    for (const [streamId, state] of [...this.bidi]) {
      if (state.kind === 'stream' && state.stream.session === session) {
        if (local) {
          this.bidi.delete(streamId);
          this.queue(streamId, EMPTY, true);
          try {
            this.link.conn.streamShutdown(
              streamId,
              quiche.Shutdown.Read,
              H3Error.webTransportSessionGone,
            );
          } catch {
            // Already finished by the peer.
          }
        } else {
          this.shutdown(streamId, H3Error.webTransportSessionGone);
        }
        this.guard(() => state.stream.events.reset?.(H3Error.webTransportSessionGone));
      }
    }
    if (this.options.role === 'server' && this.sessions.size === 0 && this.linger === null) {
      // One session per connection: once it is over, so is the connection (after a moment
      // for the close capsule and the FIN to reach the peer).
      this.linger = setTimeout(() => {
        this.linger = null;
        this.link.close(H3Error.noError, '');
      }, this.options.lingerMs ?? 500);
      this.linger.unref?.();
    }
  }

  /**
   * Client: sends the extended CONNECT once the server's SETTINGS allow it, and resolves with
   * the session (status 200) or the status it was refused with.
   */
  connect(
    authority: string,
    path: string,
    origin?: string,
  ): Promise<WebTransportSession | { status: number }> {
    if (this.options.role !== 'client') throw new Error('only a client connects');
    if (this.pendingConnect !== null) throw new Error('one session per connection');
    const fields: Field[] = [
      [':method', 'CONNECT'],
      [':protocol', 'webtransport'],
      [':scheme', 'https'],
      [':authority', authority],
      [':path', path],
      ['sec-webtransport-http3-draft02', '1'],
      ...(origin === undefined ? [] : ([['origin', origin]] as Field[])),
    ];
    const mark = path.indexOf('?');
    const request: WebTransportRequest = {
      authority,
      path: mark < 0 ? path : path.slice(0, mark),
      query: mark < 0 ? '' : path.slice(mark + 1),
      origin,
    };
    return new Promise((resolve, reject) => {
      this.pendingConnect = {
        fields,
        request,
        settle: (result) => {
          this.pendingConnect = null;
          if (result instanceof Error) reject(result);
          else resolve(result);
        },
      };
      const send = () => {
        if (this.pendingConnect === null) return;
        const id = this.nextLocalBidi;
        this.nextLocalBidi += 4;
        this.bidi.set(id, { kind: 'request', buffer: EMPTY, session: null, headersDone: false });
        this.queue(id, encodeFrame(H3_FRAME.headers, encodeFieldSection(fields)), false);
      };
      if (this.peerSettings !== null) send();
      else this.settingsWaiters.push(send);
    });
  }

  // ---- reading ----

  private onDatagram(bytes: Uint8Array): void {
    const quarter = readVarint(bytes, 0);
    if (!quarter.ok || quarter.value === null) return this.drop('datagram-malformed');
    const session = this.sessions.get(quarter.value.value * 4);
    if (session === undefined) return this.drop('datagram-unknown-session');
    const payload = bytes.subarray(quarter.value.next);
    this.guard(() => session.deliverDatagram(payload));
  }

  private readStream(streamId: number): void {
    const conn = this.link.conn;
    for (;;) {
      let read: [number, boolean] | null;
      try {
        read = conn.streamRecv(streamId, this.readBuffer);
      } catch {
        this.onReset(streamId);
        return;
      }
      if (read === null) return;
      const [length, fin] = read;
      const chunk = length > 0 ? new Uint8Array(this.readBuffer.subarray(0, length)) : EMPTY;
      if ((streamId & 0x2) !== 0) this.onUniData(streamId, chunk, fin);
      else this.onBidiData(streamId, chunk, fin);
      if (this.done || fin) return;
      if (!this.uni.has(streamId) && !this.bidi.has(streamId)) {
        // Refused while reading: discard the rest.
        try {
          while (conn.streamRecv(streamId, this.readBuffer) !== null);
        } catch {
          // Gone.
        }
        return;
      }
    }
  }

  private onReset(streamId: number): void {
    const state = this.bidi.get(streamId);
    this.bidi.delete(streamId);
    if (streamId === this.peerControl) {
      this.fail(H3Error.closedCriticalStream, 'control stream reset');
      return;
    }
    if (state?.kind === 'stream') this.guard(() => state.stream.events.reset?.(0));
    if (state?.kind === 'request' && state.session !== null) {
      this.sessionEnded(state.session, H3Error.noError, 'CONNECT stream reset');
    }
  }

  private onUniData(streamId: number, chunk: Uint8Array, fin: boolean): void {
    let state = this.uni.get(streamId);
    if (state === undefined) {
      state = { type: null, buffer: EMPTY, settingsSeen: false, discard: false };
      this.uni.set(streamId, state);
    }
    if (state.discard) return;
    state.buffer = concat(state.buffer, chunk);
    if (state.type === null) {
      const type = readVarint(state.buffer, 0);
      if (!type.ok) return this.fail(H3Error.streamCreationError, 'bad stream type');
      if (type.value === null) return;
      state.type = type.value.value;
      state.buffer = state.buffer.subarray(type.value.next);
      if (state.type === H3_STREAM_TYPE.control) {
        if (this.peerControl !== null) {
          return this.fail(H3Error.streamCreationError, 'second control stream');
        }
        this.peerControl = streamId;
      } else if (state.type === H3_STREAM_TYPE.push) {
        return this.fail(H3Error.streamCreationError, 'push stream');
      } else if (
        state.type === H3_STREAM_TYPE.qpackEncoder ||
        state.type === H3_STREAM_TYPE.qpackDecoder
      ) {
        // With a dynamic table of capacity 0 these carry nothing we need.
        state.discard = true;
        return;
      } else {
        // WebTransport unidirectional streams (not used here) and unknown types.
        this.drop('stream-refused');
        this.shutdown(streamId, H3Error.streamCreationError);
        return;
      }
    }
    if (state.type === H3_STREAM_TYPE.control) {
      this.readControlFrames(state);
      if (fin && !this.done) this.fail(H3Error.closedCriticalStream, 'control stream ended');
    }
  }

  private readControlFrames(state: UniState): void {
    let offset = 0;
    for (;;) {
      const frame = readFrame(state.buffer, offset, MAX_FRAME_BYTES);
      if (!frame.ok) return this.failWire(frame.error);
      if (frame.value === null) break;
      offset = frame.value.next;
      const { type, payload } = frame.value.value;
      if (!state.settingsSeen) {
        if (type !== H3_FRAME.settings) return this.fail(H3Error.missingSettings, 'no SETTINGS');
        const settings = decodeSettings(payload);
        if (!settings.ok) return this.fail(H3Error.settingsError, settings.error.kind);
        state.settingsSeen = true;
        this.peerSettings = settings.value;
        const waiters = this.settingsWaiters;
        this.settingsWaiters = [];
        for (const waiter of waiters) waiter();
      } else if (
        type === H3_FRAME.settings ||
        type === H3_FRAME.data ||
        type === H3_FRAME.headers
      ) {
        return this.fail(H3Error.frameUnexpected, 'unexpected frame on the control stream');
      }
      // GOAWAY, MAX_PUSH_ID and unknown frames: nothing to do for one session.
      if (this.done) return;
    }
    state.buffer = state.buffer.subarray(offset);
  }

  private onBidiData(streamId: number, chunk: Uint8Array, fin: boolean): void {
    let state = this.bidi.get(streamId);
    const peerInitiated = (streamId & 0x1) === (this.options.role === 'server' ? 0 : 1);
    if (state === undefined) {
      if (!peerInitiated) return;
      state = { kind: 'unknown', buffer: EMPTY };
      this.bidi.set(streamId, state);
    }
    if (state.kind === 'unknown') {
      const buffer = concat(state.buffer, chunk);
      const signal = readVarint(buffer, 0);
      if (!signal.ok) return this.fail(H3Error.frameError, 'bad frame type');
      if (signal.value === null) {
        state.buffer = buffer;
        if (fin) this.bidi.delete(streamId);
        return;
      }
      if (signal.value.value === WEBTRANSPORT_BIDI_SIGNAL) {
        const sessionId = readVarint(buffer, signal.value.next);
        if (!sessionId.ok) return this.fail(H3Error.frameError, 'bad session id');
        if (sessionId.value === null) {
          state.buffer = buffer;
          return;
        }
        const session = this.sessions.get(sessionId.value.value);
        if (session === undefined) {
          this.drop('stream-unknown-session');
          this.shutdown(streamId, H3Error.webTransportBufferedStreamRejected);
          return;
        }
        const stream = new WebTransportStream(streamId, session, this);
        this.bidi.set(streamId, { kind: 'stream', stream });
        this.guard(() => session.events.stream?.(stream));
        const rest = buffer.subarray(sessionId.value.next);
        if (rest.length > 0) this.guard(() => stream.deliver(rest));
        if (fin) this.guard(() => stream.deliverEnd());
        return;
      }
      if (this.options.role === 'client') {
        // A server-initiated bidirectional stream that is not WebTransport: not HTTP/3.
        return this.fail(H3Error.streamCreationError, 'server-initiated request stream');
      }
      state = { kind: 'request', buffer: EMPTY, session: null, headersDone: false };
      this.bidi.set(streamId, state);
      chunk = buffer;
    }
    if (state.kind === 'stream') {
      const stream = state.stream;
      if (chunk.length > 0) this.guard(() => stream.deliver(chunk));
      if (fin) {
        this.guard(() => stream.deliverEnd());
        this.bidi.delete(streamId);
      }
      return;
    }
    this.onRequestData(streamId, state, chunk, fin);
  }

  /** A request stream (server) or our CONNECT stream (client): HEADERS, then capsules. */
  private onRequestData(
    streamId: number,
    state: Extract<BidiState, { kind: 'request' }>,
    chunk: Uint8Array,
    fin: boolean,
  ): void {
    state.buffer = concat(state.buffer, chunk);
    let offset = 0;
    for (;;) {
      const limit = state.headersDone ? MAX_DATA_FRAME_BYTES : MAX_FRAME_BYTES;
      const frame = readFrame(state.buffer, offset, limit);
      if (!frame.ok) return this.failWire(frame.error);
      if (frame.value === null) break;
      offset = frame.value.next;
      const { type, payload } = frame.value.value;
      if (!state.headersDone) {
        if (type === H3_FRAME.data) {
          return this.fail(H3Error.frameUnexpected, 'DATA before HEADERS');
        }
        if (type !== H3_FRAME.headers) continue;
        state.headersDone = true;
        if (this.options.role === 'server') this.onRequest(streamId, state, payload);
        else this.onResponse(streamId, state, payload);
        if (this.done || !this.bidi.has(streamId)) return;
        continue;
      }
      if (type === H3_FRAME.data) {
        this.readCapsules(state, payload);
      } else if (type === CAPSULE.closeWebTransportSession) {
        // A peer that sends the capsule bare, as a frame of its own type.
        this.onCloseCapsule(state, payload);
      }
      if (this.done || !this.bidi.has(streamId)) return;
    }
    state.buffer = state.buffer.subarray(offset);
    if (fin) {
      this.bidi.delete(streamId);
      if (state.session !== null) {
        this.queue(streamId, EMPTY, true);
        this.sessionEnded(state.session, 0, '');
      } else if (this.options.role === 'client') {
        this.pendingConnect?.settle(new Error('CONNECT stream ended without an answer'));
      }
    }
  }

  private readCapsules(state: Extract<BidiState, { kind: 'request' }>, payload: Uint8Array): void {
    // Capsules inside DATA frames; one that spans two DATA frames is not expected from the
    // peers this serves (its close capsule is small) and is dropped.
    let offset = 0;
    for (;;) {
      const capsule = readFrame(payload, offset, MAX_FRAME_BYTES);
      if (!capsule.ok || capsule.value === null) return;
      offset = capsule.value.next;
      if (capsule.value.value.type === CAPSULE.closeWebTransportSession) {
        this.onCloseCapsule(state, capsule.value.value.payload);
        return;
      }
      // DRAIN_WEBTRANSPORT_SESSION, DATAGRAM capsules and unknown ones: ignored.
    }
  }

  private onCloseCapsule(
    state: Extract<BidiState, { kind: 'request' }>,
    payload: Uint8Array,
  ): void {
    const session = state.session;
    if (session === null) return;
    const close = decodeCloseSession(payload);
    const { code, reason } = close.ok
      ? { code: close.value.code, reason: textDecoder.decode(close.value.reason) }
      : { code: H3Error.messageError, reason: 'malformed close capsule' };
    // The peer closed: finish our side of the CONNECT stream too.
    this.queue(session.id, EMPTY, true);
    this.sessionEnded(session, code, reason);
  }

  private onRequest(
    streamId: number,
    state: Extract<BidiState, { kind: 'request' }>,
    block: Uint8Array,
  ): void {
    const fields = decodeFieldSection(block, huffmanDecode);
    if (!fields.ok) return this.fail(H3Error.qpackDecompressionFailed, fields.error.kind);
    const checked = checkWebTransportRequest(fields.value, this.options.paths ?? new Set());
    if (!checked.ok) {
      this.drop(
        checked.error.kind === 'malformed-request' ? 'request-malformed' : 'request-refused',
      );
      this.answer(streamId, refusalStatus(checked.error), true);
      this.bidi.delete(streamId);
      return;
    }
    if (this.sessionsOpened >= 1 || this.linger !== null) {
      // One session per connection (SETTINGS_WEBTRANS_MAX_SESSIONS 1).
      this.drop('request-refused');
      this.answer(streamId, 429, true);
      this.bidi.delete(streamId);
      return;
    }
    this.sessionsOpened++;
    const session = new WebTransportSession(streamId, checked.value, this);
    state.session = session;
    this.sessions.set(streamId, session);
    this.answer(streamId, 200, false);
    this.guard(() => this.options.session?.(session));
  }

  private onResponse(
    streamId: number,
    state: Extract<BidiState, { kind: 'request' }>,
    block: Uint8Array,
  ): void {
    const fields = decodeFieldSection(block, huffmanDecode);
    if (!fields.ok) return this.fail(H3Error.qpackDecompressionFailed, fields.error.kind);
    const status = Number(fields.value.find(([name]) => name === ':status')?.[1] ?? 'NaN');
    const pending = this.pendingConnect;
    if (pending === null) return;
    if (status >= 200 && status < 300) {
      const session = new WebTransportSession(streamId, pending.request, this);
      state.session = session;
      this.sessions.set(streamId, session);
      pending.settle(session);
    } else {
      pending.settle({ status: Number.isFinite(status) ? status : 0 });
    }
  }

  private answer(streamId: number, status: number, fin: boolean): void {
    const fields: Field[] = [[':status', String(status)]];
    // Chromium's draft-02 sessions look for this header in the answer.
    if (status === 200) fields.push(['sec-webtransport-http3-draft', 'draft02']);
    this.queue(streamId, encodeFrame(H3_FRAME.headers, encodeFieldSection(fields)), fin);
  }

  // ---- errors ----

  private failWire(error: H3WireError): void {
    this.fail(
      error.kind === 'frame-too-large' ? H3Error.excessiveLoad : H3Error.frameError,
      error.kind,
    );
  }

  /** A connection error: close the QUIC connection with the HTTP/3 code. */
  private fail(code: number, reason: string): void {
    if (this.done) return;
    this.done = true;
    this.link.close(code, reason);
  }

  private drop(reason: H3Drop): void {
    this.options.onDrop?.(reason);
  }

  private guard(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      this.options.onError?.(error);
    }
  }
}
