/**
 * One participant in one meeting, the whole join flow (spec 003, "Join Meeting Flow"): look the
 * meeting up at GC, join at the Meeting Controller GC names over signaling, connect media to the
 * Media Handler the controller chose with its connection token, tell the controller media is up,
 * keep the session alive, and follow moves. Browser and Node (pass `ws`'s WebSocket in Node 20).
 *
 *   const session = await MeetingSession.join({ gcUrl, token, meetingId, WebSocket });
 *   session.onFrame = (publisher, header, payload) => { ... };
 *   const camera = session.publisher('camera');
 *   camera.publish(sframePayload(kid, ctr, ciphertext), { keyframe: true });
 *   await session.leave();
 *
 * Decisions stay with the services: which controller (GC), which handler and when to move
 * (the controller). The client only follows what it is told and retries what it is told to.
 */
import type { MediaKind } from '../../core/ids.ts';
import { mediaPublisherId } from '../../core/mh/stream-id.ts';
import type { DatagramHeader } from '../../core/protocol/datagram.ts';
import {
  ErrorKind,
  RejectReason,
  type MediaHandler,
  type ServerMessage,
} from '../../services/generated/darktower/mc/v1/signaling.ts';
import {
  MediaClient,
  StreamPublisher,
  type DatagramSink,
  type WebSocketConstructor,
} from '../media/index.ts';
import { lookupMeeting, type HttpOptions, type Meeting } from './http.ts';
import { SignalingConnection } from './signaling.ts';

/** Why a join did not succeed. */
export type JoinErrorKind =
  'meeting-not-active' | 'no-controller' | 'refused' | 'rejected' | 'media-refused' | 'timeout';

export class JoinError extends Error {
  override readonly name = 'JoinError';
  constructor(
    readonly kind: JoinErrorKind,
    message: string,
    /** The controller's error kind, when it refused the join. */
    readonly signalingError?: ErrorKind,
  ) {
    super(message);
  }
}

export interface JoinOptions extends HttpOptions {
  readonly gcUrl: string;
  /** The user's access token (scopes user.read.gc and user.write.mc). */
  readonly token: string;
  readonly meetingId: string;
  /** `grid` (default), `gridRxC` or `speaker`. */
  readonly layout?: string;
  readonly WebSocket?: WebSocketConstructor;
  /** How long the whole join may take, retries included (default 30 s). */
  readonly timeoutMs?: number;
  /** How often the session is kept alive (default 60 s; the controller keeps it 5 minutes). */
  readonly heartbeatIntervalMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The join answer, or what to do instead. */
type JoinAnswer =
  | { readonly kind: 'joined'; readonly message: ServerMessage }
  | { readonly kind: 'retry'; readonly afterMs: number; readonly why: string }
  | { readonly kind: 'failed'; readonly error: JoinError };

function joinAnswerOf(message: ServerMessage): JoinAnswer | undefined {
  if (message.joinResponse !== undefined) return { kind: 'joined', message };
  if (message.joinRejected !== undefined) {
    const { reason, retryAfterMs } = message.joinRejected;
    if (reason === RejectReason.REJECT_REASON_NO_CAPACITY) {
      return { kind: 'retry', afterMs: Math.max(retryAfterMs, 200), why: 'no capacity' };
    }
    return {
      kind: 'failed',
      error: new JoinError('rejected', `the meeting refused the join (${RejectReason[reason]})`),
    };
  }
  const error = message.error;
  if (error === undefined) return undefined;
  if (
    error.kind === ErrorKind.ERROR_KIND_WRONG_CONTROLLER ||
    error.kind === ErrorKind.ERROR_KIND_UNAVAILABLE
  ) {
    return { kind: 'retry', afterMs: Math.max(error.retryAfterMs, 200), why: error.message };
  }
  return {
    kind: 'failed',
    error: new JoinError(
      'refused',
      `the controller refused the join: ${ErrorKind[error.kind] ?? error.kind} (${error.message})`,
      error.kind,
    ),
  };
}

export class MeetingSession implements DatagramSink {
  /** Every member, this participant included, as last announced. */
  participants: readonly string[];
  /** The layout last announced for this participant, if any. */
  layout: string | undefined;
  /** Each datagram received: its publisher (participant id when known), header and payload. */
  onFrame:
    ((publisher: string | undefined, header: DatagramHeader, payload: Uint8Array) => void) | null =
    null;
  onParticipants: ((participants: readonly string[]) => void) | null = null;
  onLayout: ((layout: string) => void) | null = null;
  /** The media session moved to another handler. */
  onMove: ((handler: MediaHandler) => void) | null = null;
  /** A media key epoch was announced (key material itself comes over MLS). */
  onKeyEpoch: ((epoch: number) => void) | null = null;
  /** The controller closed signaling (meeting ended, session expired, replaced...). */
  onClosed: ((code: number, reason: string) => void) | null = null;

  /**
   * The second handler this participant publishes to (the meeting's hub), when the controller
   * named one (`PublishAlso`): each datagram it sends goes there too.
   */
  hubHandler: MediaHandler | undefined;
  private hubMedia: MediaClient | undefined;
  /** Counts `PublishAlso` messages, so a later one wins over a slower earlier connect. */
  private hubGeneration = 0;
  private readonly publishers = new Map<bigint, string>();
  private readonly heartbeat: ReturnType<typeof setInterval>;
  private leaving = false;

  private constructor(
    readonly meeting: Meeting,
    readonly participantId: string,
    readonly signaling: SignalingConnection,
    private media: MediaClient,
    /** The handler media is connected to. */
    public handler: MediaHandler,
    participants: readonly string[],
    heartbeatIntervalMs: number,
    private readonly WebSocket: WebSocketConstructor | undefined,
  ) {
    this.participants = participants;
    this.learn(participants);
    this.attach(media);
    this.heartbeat = setInterval(() => this.signaling.send({ heartbeat: {} }), heartbeatIntervalMs);
    (this.heartbeat as { unref?: () => void }).unref?.();
    signaling.onMessage = (message) => this.received(message);
    // Messages that came with the join answer.
    for (const message of signaling.received) this.received(message);
    void signaling.closed.then(({ code, reason }) => {
      clearInterval(this.heartbeat);
      if (!this.leaving) this.onClosed?.(code, reason);
    });
  }

  /** Looks the meeting up, joins at its controller and connects media; retries what it is told to. */
  static async join(options: JoinOptions): Promise<MeetingSession> {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    let lastWhy = '';
    for (;;) {
      if (Date.now() > deadline) {
        throw new JoinError('timeout', `no join in time${lastWhy ? ` (last: ${lastWhy})` : ''}`);
      }
      const meeting = await lookupMeeting(options.gcUrl, options.token, options.meetingId, options);
      if (meeting.status !== 'active') {
        throw new JoinError(
          'meeting-not-active',
          `meeting ${meeting.meetingId} is ${meeting.status}`,
        );
      }
      if (meeting.controller === null) {
        lastWhy = 'no controller runs the meeting yet';
        await sleep(500);
        continue;
      }
      const signaling = await SignalingConnection.open(meeting.controller.url, options);
      signaling.send({
        join: {
          accessToken: options.token,
          meetingId: meeting.meetingId,
          layout: options.layout ?? 'grid',
          region: '',
          keyPackage: Buffer.alloc(0),
        },
      });
      const answer = await signaling
        .next(joinAnswerOf, Math.max(1, deadline - Date.now()))
        .catch((): JoinAnswer => ({
          kind: 'failed',
          error: new JoinError('timeout', 'the controller did not answer the join'),
        }));
      if (answer.kind !== 'joined') {
        await signaling.close();
        if (answer.kind === 'failed') throw answer.error;
        lastWhy = answer.why;
        await sleep(answer.afterMs);
        continue;
      }
      const response = answer.message.joinResponse;
      if (response === undefined || response.mediaHandler === undefined) {
        await signaling.close();
        throw new JoinError('refused', 'the join answer names no media handler');
      }
      try {
        const { media, handler } = await connectMedia(
          signaling,
          response.mediaHandler,
          response.connectionToken,
          options.WebSocket,
        );
        signaling.send({ mediaConnected: { handler: handler.id } });
        return new MeetingSession(
          meeting,
          response.participantId,
          signaling,
          media,
          handler,
          response.participants,
          options.heartbeatIntervalMs ?? 60_000,
          options.WebSocket,
        );
      } catch (error) {
        await signaling.close();
        throw error;
      }
    }
  }

  get maxDatagramBytes(): number {
    return this.media.maxDatagramBytes;
  }

  sendDatagram(datagram: Uint8Array): boolean {
    this.hubMedia?.sendDatagram(datagram);
    return this.media.sendDatagram(datagram);
  }

  /** A publisher of one of this participant's streams (it follows the session across moves). */
  publisher(kind: MediaKind): StreamPublisher {
    return new StreamPublisher(this, this.meeting.meetingId, this.participantId, kind);
  }

  /** The participant whose publisher id this is, when it is a member this session has seen. */
  publisherName(publisherId: bigint): string | undefined {
    return this.publishers.get(publisherId);
  }

  /** Leaves the meeting: tells the controller, closes media and signaling. */
  async leave(): Promise<void> {
    this.leaving = true;
    clearInterval(this.heartbeat);
    this.signaling.send({ leave: {} });
    this.hubGeneration++;
    const hub = this.hubMedia;
    this.hubMedia = undefined;
    await Promise.all([
      this.media.close(1000, 'left'),
      hub?.close(1000, 'left'),
      Promise.race([this.signaling.closed, sleep(2_000).then(() => this.signaling.close())]),
    ]);
  }

  private learn(participants: readonly string[]): void {
    for (const participant of participants) {
      this.publishers.set(
        mediaPublisherId(this.meeting.meetingId as never, participant as never),
        participant,
      );
    }
  }

  private attach(media: MediaClient): void {
    media.onDatagram = (header, payload) =>
      this.onFrame?.(this.publishers.get(header.publisherId), header, payload);
    // The media session lost while in use: the controller hears it at once (with other members'
    // losses it takes the handler for dead before its load reports stop) and moves us.
    media.onClose = () => {
      if (this.media === media && !this.leaving)
        this.signaling.send({ mediaConnected: { handler: '' } });
    };
  }

  private received(message: ServerMessage): void {
    if (message.participants !== undefined) {
      this.participants = message.participants.participants;
      this.learn(this.participants);
      this.onParticipants?.(this.participants);
    } else if (message.layout !== undefined) {
      this.layout = message.layout.layout;
      this.onLayout?.(this.layout);
    } else if (message.keyMaterial !== undefined) {
      this.onKeyEpoch?.(message.keyMaterial.epoch);
    } else if (message.move?.mediaHandler !== undefined) {
      void this.move(message.move.mediaHandler, message.move.connectionToken);
    } else if (message.publishAlso !== undefined) {
      void this.publishAlso(message.publishAlso.mediaHandler, message.publishAlso.connectionToken);
    }
  }

  /**
   * Publishes to `handler` too (a second media connection, sending only), or stops when none
   * is named. A connection that fails is left: the controller's next plan decides again.
   */
  private async publishAlso(handler: MediaHandler | undefined, token: string): Promise<void> {
    const generation = ++this.hubGeneration;
    const previous = this.hubMedia;
    this.hubMedia = undefined;
    this.hubHandler = undefined;
    if (handler !== undefined && !this.leaving) {
      try {
        const { client, outcome } = await MediaClient.connect({
          url: handler.websocketUrl,
          token,
          ...(this.WebSocket !== undefined ? { WebSocket: this.WebSocket } : {}),
        });
        if (client !== undefined && outcome.kind === 'accepted') {
          if (generation !== this.hubGeneration || this.leaving)
            await client.close(1000, 'replaced');
          else {
            this.hubMedia = client;
            this.hubHandler = handler;
          }
        }
      } catch {
        // Not reached: publishing goes on to the home handler only.
      }
    }
    await previous?.close(1000, 'hub publish ended');
  }

  /** Moves media to the handler the controller named; the old connection closes after. */
  private async move(handler: MediaHandler, token: string): Promise<void> {
    try {
      const moved = await connectMedia(this.signaling, handler, token, this.WebSocket);
      const previous = this.media;
      this.media = moved.media;
      this.handler = moved.handler;
      this.attach(moved.media);
      this.signaling.send({ mediaConnected: { handler: moved.handler.id } });
      await previous.close(1000, 'moved');
      this.onMove?.(moved.handler);
    } catch {
      // The controller hears the media session is gone and decides again.
      this.signaling.send({ mediaConnected: { handler: '' } });
    }
  }
}

/**
 * Connects media to `handler` with `token`; when the handler redirects to another one (it is
 * full or draining), asks the controller for a token for that one and connects there.
 */
async function connectMedia(
  signaling: SignalingConnection,
  handler: MediaHandler,
  token: string,
  WebSocket: WebSocketConstructor | undefined,
): Promise<{ media: MediaClient; handler: MediaHandler }> {
  let target = handler;
  let connectionToken = token;
  for (let redirects = 0; redirects < 3; redirects++) {
    const { client, outcome } = await MediaClient.connect({
      url: target.websocketUrl,
      token: connectionToken,
      ...(WebSocket !== undefined ? { WebSocket } : {}),
    });
    if (client !== undefined && outcome.kind === 'accepted')
      return { media: client, handler: target };
    if (outcome.kind !== 'redirected') {
      const detail =
        outcome.kind === 'rejected'
          ? outcome.reason
          : outcome.kind === 'closed'
            ? `closed ${outcome.code} ${outcome.reason}`
            : 'accepted without a client';
      throw new JoinError('media-refused', `media handler ${target.id} refused: ${detail}`);
    }
    const already = signaling.received.length;
    signaling.send({ tokenRequest: { handler: outcome.handler } });
    const answer = await signaling.next(
      (m) =>
        signaling.received.indexOf(m) >= already ? (m.connectionToken ?? m.error) : undefined,
      10_000,
    );
    if (!('connectionToken' in answer) || answer.mediaHandler === undefined) {
      throw new JoinError('media-refused', `no token for handler ${outcome.handler}`);
    }
    target = answer.mediaHandler;
    connectionToken = answer.connectionToken;
  }
  throw new JoinError('media-refused', 'redirected too often');
}
