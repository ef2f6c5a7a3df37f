/**
 * Signaling (docs/protocol.md, "Meeting Controller signaling"): one connection per participant
 * at `/v1/signaling`, each message one protobuf `ClientMessage` or `ServerMessage`. The first
 * message must be a join; it is admitted (token, meeting) before the meeting hears of it. A
 * malformed, text or oversized message is answered with a typed error and closes that
 * connection only.
 *
 * The handling is the same whatever carries the messages: `SignalingConnection` takes them from
 * a `SignalingChannel`. The WebSocket listener is here; WebTransport's is
 * `services/mc/webtransport-signaling.ts`.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import {
  handlerId,
  participantId,
  type MeetingId,
  type ParticipantId,
  type RegionId,
} from '../../core/ids.ts';
import { layoutRequestNamed } from '../../core/layout/named.ts';
import type { MeetingInput } from '../../core/mc/meeting.ts';
import type { Result } from '../../core/result.ts';
import type { Logger } from '../../adapters/logging/logger.ts';
import { commitEpoch, isKeyPackageMessage, isWelcomeMessage } from '../../adapters/mls/client.ts';
import {
  ClientMessage,
  ErrorKind,
  ServerMessage,
  type JoinRequest,
} from '../generated/darktower/mc/v1/signaling.ts';
import type { ControllerDriver, SignalingPeer } from './driver.ts';

export const SIGNALING_PATH = '/v1/signaling';
export const SIGNALING_SUBPROTOCOL = 'darktower-signaling.v1';

/** Close codes: 4400 bad message, 4401 refused join, 4408 no join in time. */
export const CLOSE = { badMessage: 4400, refused: 4401, joinTimeout: 4408, tooLarge: 1009 };

const LAYOUT = /^(grid|speaker|grid\d{1,2}x\d{1,2})$/;
const NAME = /^[A-Za-z0-9._:@-]{1,128}$/;

/** A refusal of a join or message, as the client is told. */
export interface SignalingError {
  readonly kind: ErrorKind;
  readonly message: string;
  readonly retryAfterMs?: number;
}

/** A join that passed admission: who the participant is. */
export interface AdmittedJoin {
  readonly meeting: MeetingId;
  readonly participant: ParticipantId;
}

/** How each connection is handled, whatever carries it. */
export interface ConnectionOptions {
  readonly maxMessageBytes: number;
  readonly joinTimeoutMs: number;
  /** The controller's region: a join naming another is refused for now. */
  readonly region: RegionId;
  /** Checks the join's token and meeting. */
  readonly admit: (join: JoinRequest) => Promise<Result<AdmittedJoin, SignalingError>>;
  readonly driver: ControllerDriver;
  readonly logger: Logger;
  readonly onRefused?: (kind: ErrorKind) => void;
  /**
   * An accepted join's time here: from its decoded JoinRequest to the answer handed to the
   * channel (admission, the meeting's join, the connection token's signature), in seconds.
   */
  readonly onJoinAnswered?: (seconds: number) => void;
}

export interface SignalingOptions extends ConnectionOptions {
  readonly host: string;
  readonly port: number;
}

export interface RunningSignaling {
  readonly host: string;
  readonly port: number;
  readonly connections: () => number;
  close(): Promise<void>;
}

const errorMessage = (error: SignalingError): ServerMessage => ({
  error: { kind: error.kind, message: error.message, retryAfterMs: error.retryAfterMs ?? 0 },
});

/** What carries one client's messages: a WebSocket, or a WebTransport session's stream. */
export interface SignalingChannel {
  /** Sends one whole message. */
  send(bytes: Uint8Array): void;
  /** Closes with a code and a short reason (after what was sent). */
  close(code: number, reason: string): void;
}

/**
 * One client's connection: awaiting its join, admitting it, or joined. The channel's owner
 * hands it each message (`received`) and its end (`closed`).
 */
export class SignalingConnection implements SignalingPeer {
  private state: 'awaiting-join' | 'admitting' | 'joined' | 'closed' = 'awaiting-join';
  private joined: AdmittedJoin | undefined;
  /** When the JoinRequest was decoded, until its answer goes out. */
  private joinDecodedAt: number | undefined;
  private queue: Promise<void> = Promise.resolve();
  private readonly joinTimer: NodeJS.Timeout;

  constructor(
    private readonly channel: SignalingChannel,
    private readonly options: ConnectionOptions,
  ) {
    this.joinTimer = setTimeout(
      () =>
        this.refuse(
          { kind: ErrorKind.ERROR_KIND_JOIN_TIMEOUT, message: 'no join in time' },
          CLOSE.joinTimeout,
        ),
      options.joinTimeoutMs,
    );
  }

  send(message: ServerMessage | Promise<ServerMessage>): void {
    this.queue = this.queue.then(async () => {
      let resolved: ServerMessage;
      try {
        resolved = await message;
      } catch (error) {
        this.options.logger.warn({ err: error }, 'signaling message not built');
        return;
      }
      if (this.state === 'closed') return;
      this.channel.send(ServerMessage.encode(resolved).finish());
      if (resolved.joinResponse !== undefined && this.joinDecodedAt !== undefined) {
        this.options.onJoinAnswered?.((performance.now() - this.joinDecodedAt) / 1000);
        this.joinDecodedAt = undefined;
      }
    });
  }

  close(code: number, reason: string): void {
    // After what is queued has gone out.
    this.queue = this.queue.then(() => {
      if (this.state !== 'closed') this.channel.close(code, reason);
      this.closed();
    });
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private refuse(error: SignalingError, code: number): void {
    this.options.onRefused?.(error.kind);
    this.send(errorMessage(error));
    this.close(code, error.message.slice(0, 100));
  }

  /** The channel ended (either side). */
  closed(): void {
    if (this.state === 'closed') return;
    const joined = this.joined;
    this.state = 'closed';
    clearTimeout(this.joinTimer);
    if (joined !== undefined)
      this.options.driver.disconnected(joined.meeting, joined.participant, this);
  }

  /** One whole message from the client; `isBinary` false for a WebSocket text message. */
  received(bytes: Uint8Array, isBinary: boolean): void {
    if (this.state === 'closed') return;
    if (bytes.length > this.options.maxMessageBytes) {
      return this.refuse(
        {
          kind: ErrorKind.ERROR_KIND_TOO_LARGE,
          message: `messages are at most ${this.options.maxMessageBytes} bytes`,
        },
        CLOSE.tooLarge,
      );
    }
    let message: ClientMessage;
    try {
      if (!isBinary) throw new Error('text message');
      message = ClientMessage.decode(bytes);
    } catch {
      return this.refuse(
        { kind: ErrorKind.ERROR_KIND_MALFORMED, message: 'not a ClientMessage' },
        CLOSE.badMessage,
      );
    }
    if (this.state === 'awaiting-join') {
      if (message.join === undefined) {
        return this.refuse(
          { kind: ErrorKind.ERROR_KIND_MALFORMED, message: 'the first message must be a join' },
          CLOSE.badMessage,
        );
      }
      return void this.admit(message.join);
    }
    if (this.state === 'admitting' || this.joined === undefined) {
      return this.refuse(
        { kind: ErrorKind.ERROR_KIND_MALFORMED, message: 'wait for the join answer' },
        CLOSE.badMessage,
      );
    }
    const input = this.inputOf(message, this.joined.participant);
    if (input === undefined) {
      return this.refuse(
        { kind: ErrorKind.ERROR_KIND_MALFORMED, message: 'unexpected or invalid message' },
        CLOSE.badMessage,
      );
    }
    if (!('type' in input)) return this.refuse(input, CLOSE.badMessage);
    this.options.driver.message(this.joined.meeting, input);
    if (input.type === 'leave') this.close(1000, 'left');
  }

  private async admit(join: JoinRequest): Promise<void> {
    this.state = 'admitting';
    this.joinDecodedAt = performance.now();
    const layout = join.layout === '' ? 'grid' : join.layout;
    if (join.keyPackage.length > 0 && !isKeyPackageMessage(join.keyPackage)) {
      return this.refuse(
        {
          kind: ErrorKind.ERROR_KIND_MALFORMED_MLS,
          message: 'key_package is not an MLS key package',
        },
        CLOSE.badMessage,
      );
    }
    if (!LAYOUT.test(layout) || (join.region !== '' && join.region !== this.options.region)) {
      return this.refuse(
        {
          kind: ErrorKind.ERROR_KIND_MALFORMED,
          message: !LAYOUT.test(layout) ? 'unknown layout' : 'unknown region',
        },
        CLOSE.badMessage,
      );
    }
    let admitted: Result<AdmittedJoin, SignalingError>;
    try {
      admitted = await this.options.admit(join);
    } catch (error) {
      this.options.logger.error({ err: error }, 'join admission failed');
      admitted = {
        ok: false,
        error: {
          kind: ErrorKind.ERROR_KIND_UNAVAILABLE,
          message: 'try again',
          retryAfterMs: 1_000,
        },
      };
    }
    if (this.isClosed()) return;
    if (!admitted.ok) return this.refuse(admitted.error, CLOSE.refused);
    clearTimeout(this.joinTimer);
    this.joined = admitted.value;
    this.state = 'joined';
    this.options.driver.join(
      admitted.value.meeting,
      admitted.value.participant,
      this.options.region,
      layoutRequestNamed(layout),
      this,
      join.keyPackage.length > 0 ? Uint8Array.from(join.keyPackage) : undefined,
    );
  }

  /** The meeting input a message stands for; a typed error for a malformed MLS message. */
  private inputOf(
    message: ClientMessage,
    participant: ParticipantId,
  ): MeetingInput | SignalingError | undefined {
    if (message.mlsCommit !== undefined) return mlsCommitInput(message.mlsCommit, participant);
    if (message.mlsProcessed !== undefined) {
      const epoch = message.mlsProcessed.epoch;
      if (!Number.isSafeInteger(epoch) || epoch < 0) return malformedMls('epoch out of range');
      return { type: 'mls-processed', participant, epoch };
    }
    if (message.rotateKeys !== undefined) return { type: 'rotate-keys', participant };
    if (message.layout !== undefined) {
      if (!LAYOUT.test(message.layout.layout)) return undefined;
      return { type: 'layout', participant, layout: layoutRequestNamed(message.layout.layout) };
    }
    if (message.speaker !== undefined) return { type: 'speaker', participant };
    if (message.screenShare !== undefined) {
      return { type: 'screen-share', participant, sharing: message.screenShare.sharing };
    }
    if (message.leave !== undefined) return { type: 'leave', participant };
    if (message.heartbeat !== undefined) return { type: 'heartbeat', participant };
    if (message.tokenRequest !== undefined) {
      if (!NAME.test(message.tokenRequest.handler)) return undefined;
      return {
        type: 'token-request',
        participant,
        handler: handlerId(message.tokenRequest.handler),
      };
    }
    if (message.keyframeRequest !== undefined) {
      const publisher = message.keyframeRequest.publisher;
      if (publisher !== '' && !NAME.test(publisher)) return undefined;
      return {
        type: 'keyframe-request',
        participant,
        publisher: publisher === '' ? undefined : participantId(publisher),
      };
    }
    if (message.keyAck !== undefined) {
      return { type: 'key-ack', participant, epoch: message.keyAck.epoch };
    }
    if (message.mediaConnected !== undefined) {
      const handler = message.mediaConnected.handler;
      if (handler !== '' && !NAME.test(handler)) return undefined;
      return {
        type: 'connected',
        participant,
        handler: handler === '' ? undefined : handlerId(handler),
      };
    }
    return undefined;
  }
}

const malformedMls = (message: string): SignalingError => ({
  kind: ErrorKind.ERROR_KIND_MALFORMED_MLS,
  message,
});

/**
 * A commit answer as core's input: the commit must be an MLS message whose cleartext header
 * names the epoch it was made in (that epoch is read here, not taken from the client), the
 * welcome, when present, an MLS welcome.
 */
function mlsCommitInput(
  commit: { readonly request: number; readonly commit: Uint8Array; readonly welcome: Uint8Array },
  participant: ParticipantId,
): MeetingInput | SignalingError {
  if (!Number.isSafeInteger(commit.request) || commit.request < 1)
    return malformedMls('no request id');
  const epoch = commit.commit.length === 0 ? undefined : commitEpoch(commit.commit);
  if (epoch === undefined || !epoch.ok) return malformedMls('commit is not an MLS commit');
  if (commit.welcome.length > 0 && !isWelcomeMessage(commit.welcome))
    return malformedMls('welcome is not an MLS welcome');
  return {
    type: 'mls-commit',
    participant,
    request: commit.request,
    epoch: epoch.value,
    commit: Uint8Array.from(commit.commit),
    welcome: commit.welcome.length === 0 ? undefined : Uint8Array.from(commit.welcome),
  };
}

/** Starts the signaling listener. */
export async function startSignaling(options: SignalingOptions): Promise<RunningSignaling> {
  const server = createServer((_request, response) => {
    response.writeHead(426, { 'content-type': 'text/plain' }).end('WebSocket only');
  });
  // Messages above four times the limit are cut by `ws` itself (close 1009); those between
  // the limit and that get a typed error first.
  const wss = new WebSocketServer({
    server,
    path: SIGNALING_PATH,
    maxPayload: options.maxMessageBytes * 4,
    handleProtocols: (protocols) =>
      protocols.has(SIGNALING_SUBPROTOCOL) ? SIGNALING_SUBPROTOCOL : false,
  });
  const sockets = new Set<WebSocket>();
  wss.on('connection', (socket: WebSocket, _request: IncomingMessage) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const connection = new SignalingConnection(
      {
        send: (bytes) => socket.send(bytes),
        close: (code, reason) => socket.close(code, reason),
      },
      options,
    );
    socket.on('message', (data: RawData, isBinary: boolean) =>
      connection.received(
        Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer),
        isBinary,
      ),
    );
    socket.on('close', () => connection.closed());
    socket.on('error', () => connection.closed());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    host: options.host,
    port,
    connections: () => sockets.size,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.terminate();
        wss.close(() => server.close(() => resolve()));
        server.closeAllConnections();
      }),
  };
}

/** The participant id of a verified user: its subject, when usable as one. */
export function participantOf(subject: string): ParticipantId | undefined {
  return NAME.test(subject) ? participantId(subject) : undefined;
}
