/**
 * One participant in one meeting, the whole join flow (spec 003, "Join Meeting Flow"): look the
 * meeting up at GC, join at the Meeting Controller GC names over signaling, connect media to the
 * Media Handler the controller chose with its connection token, tell the controller media is up,
 * keep the session alive, and follow moves. Browser and Node (pass `ws`'s WebSocket in Node 20,
 * or bring other carriers: `signaling` and `media` connectors, as the browser page does).
 *
 * With `e2ee`, each join brings a fresh MLS member (client/e2ee) whose key package goes with
 * the join; every controller message passes through it in order and its answers go back (the
 * controller is the MLS delivery service); `session.member` seals and opens frames with the
 * keys of the MLS exporter.
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
import { E2eeMember } from '../e2ee/member.ts';
import { mediaPublisherId } from '../../core/mh/stream-id.ts';
import type { DatagramHeader } from '../../core/protocol/datagram.ts';
import {
  ErrorKind,
  RejectReason,
  type JoinResponse,
  type MediaHandler,
  type ServerMessage,
} from '../../services/generated/darktower/mc/v1/signaling.ts';
import {
  MediaClient,
  StreamPublisher,
  type ConnectOutcome,
  type DatagramSink,
  type WebSocketConstructor,
} from '../media/client.ts';
import { lookupMeeting, type HttpOptions, type Meeting, type MeetingController } from './http.ts';
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
  /** Join the meeting's MLS group: end-to-end keys from the MLS exporter (`session.member`). */
  readonly e2ee?: boolean;
  /** The meeting as the caller already looked it up (active, with a controller): the first
   * attempt skips the lookup. */
  readonly meeting?: Meeting;
  /** Opens signaling to the controller GC named (default: a WebSocket to its `url`). */
  readonly signaling?: (controller: MeetingController) => Promise<SignalingConnection>;
  /** Connects a media session to a handler with a connection token (default: its WebSocket). */
  readonly media?: MediaConnect;
  /**
   * Told when each step of the join ends (`performance.now()`), for timing a join by stage:
   * the meeting looked up, the MLS member's key package made (with `e2ee`; made while signaling
   * opens), signaling open, the join sent, its answer, media accepted, and (with `e2ee`) the
   * welcome that adds the member arrived (none for a member who creates the group) and the
   * member's first MLS epoch entered, which may come before or after media. A retry goes
   * through the steps again. The controller's answer comes with `join-answered` and
   * `media-connected` when it let the member in.
   */
  readonly onStage?: (stage: JoinStage, atMs: number, answer?: JoinResponse) => void;
}

/** How a media session reaches a handler. */
export type MediaConnect = (
  handler: MediaHandler,
  token: string,
) => Promise<{ client: MediaClient | undefined; outcome: ConnectOutcome }>;

/** The subject of a compact JWS: the participant id the controller gives this user. */
export function tokenSubject(token: string): string {
  const payload = token.split('.')[1] ?? '';
  const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
  let subject: unknown;
  try {
    const json = new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
    subject = (JSON.parse(json) as { sub?: unknown }).sub;
  } catch {
    subject = undefined;
  }
  if (typeof subject !== 'string') throw new JoinError('refused', 'the token names no subject');
  return subject;
}

/**
 * Passes every message `signaling` received, from the first, through `member` in order, and
 * sends its answers back on the same connection. Call it again whenever a message arrives.
 */
function mlsPump(
  signaling: SignalingConnection,
  member: E2eeMember,
  onFirstEpoch: () => void,
  onWelcome: () => void,
): () => void {
  let handled = 0;
  let inGroup = false;
  return () => {
    while (handled < signaling.received.length) {
      const message = signaling.received[handled++] as ServerMessage;
      if (!inGroup && message.mlsWelcome !== undefined) onWelcome();
      void member.handle(message).then((replies) => {
        for (const reply of replies) signaling.send(reply);
        if (!inGroup && member.epoch !== undefined) {
          inGroup = true;
          onFirstEpoch();
        }
      });
    }
  };
}

/** The steps of a join, in order (see `JoinOptions.onStage`). */
export type JoinStage =
  | 'meeting-info'
  | 'key-package'
  | 'signaling-open'
  | 'join-sent'
  | 'join-answered'
  | 'media-connected'
  | 'mls-welcome'
  | 'mls-epoch';

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
  /** The members sharing their screen, as last announced. */
  screenSharing: readonly string[] = [];
  /**
   * The controller's speaker order (latest first), as last announced: the order its layouts
   * and routing use.
   */
  activeSpeakers: readonly string[] = [];
  /** The layout last announced for this participant, if any. */
  layout: string | undefined;
  /** Each datagram received: its publisher (participant id when known), header and payload. */
  onFrame:
    ((publisher: string | undefined, header: DatagramHeader, payload: Uint8Array) => void) | null =
    null;
  /** The members, those of them sharing their screen, or the speaker order changed. */
  onParticipants:
    | ((
        participants: readonly string[],
        screenSharing: readonly string[],
        activeSpeakers: readonly string[],
      ) => void)
    | null = null;
  onLayout: ((layout: string) => void) | null = null;
  /** The media session moved to another handler. */
  onMove: ((handler: MediaHandler) => void) | null = null;
  /** A media key epoch was announced (key material itself comes over MLS). */
  onKeyEpoch: ((epoch: number) => void) | null = null;
  /** The controller closed signaling (meeting ended, session expired, replaced...). */
  onClosed: ((code: number, reason: string) => void) | null = null;
  /** The media session was lost; the controller was told and will send a move. */
  onMediaLost: (() => void) | null = null;
  /** A controller error after the join (a refused token request...). */
  onError: ((error: NonNullable<ServerMessage['error']>) => void) | null = null;
  /**
   * A receiver asked for a keyframe of these video streams of this participant (`camera`,
   * `screen`): encode one now.
   */
  onKeyframeWanted: ((kinds: readonly string[]) => void) | null = null;

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
    private readonly connect: MediaConnect,
    /** This join's MLS member (with `e2ee`). */
    readonly member: E2eeMember | undefined,
    pump: () => void,
  ) {
    this.participants = participants;
    this.learn(participants);
    this.attach(media);
    this.heartbeat = setInterval(() => this.signaling.send({ heartbeat: {} }), heartbeatIntervalMs);
    (this.heartbeat as { unref?: () => void }).unref?.();
    signaling.onMessage = (message) => {
      pump();
      this.received(message);
    };
    // Messages that came with the join answer.
    pump();
    for (const message of signaling.received) this.received(message);
    void signaling.closed.then(({ code, reason }) => {
      clearInterval(this.heartbeat);
      if (!this.leaving) this.onClosed?.(code, reason);
    });
  }

  /** Looks the meeting up, joins at its controller and connects media; retries what it is told to. */
  static async join(options: JoinOptions): Promise<MeetingSession> {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    const openSignaling =
      options.signaling ??
      ((controller: MeetingController) => SignalingConnection.open(controller.url, options));
    const connect: MediaConnect =
      options.media ??
      ((handler, token) =>
        MediaClient.connect({
          url: handler.websocketUrl,
          token,
          ...(options.WebSocket !== undefined ? { WebSocket: options.WebSocket } : {}),
        }));
    const participant = options.e2ee === true ? tokenSubject(options.token) : undefined;
    let known = options.meeting;
    let lastWhy = '';
    for (;;) {
      if (Date.now() > deadline) {
        throw new JoinError('timeout', `no join in time${lastWhy ? ` (last: ${lastWhy})` : ''}`);
      }
      const stage = (name: JoinStage, answer?: JoinResponse) =>
        options.onStage?.(name, performance.now(), answer);
      const meeting =
        known ?? (await lookupMeeting(options.gcUrl, options.token, options.meetingId, options));
      known = undefined;
      stage('meeting-info');
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
      // A fresh MLS member per join: the controller replaces an old leaf with the new one.
      const [member, signaling] = await Promise.all([
        participant === undefined
          ? undefined
          : E2eeMember.create(meeting.meetingId, participant).then((created) => {
              stage('key-package');
              return created;
            }),
        openSignaling(meeting.controller),
      ]);
      stage('signaling-open');
      signaling.send({
        join: {
          accessToken: options.token,
          meetingId: meeting.meetingId,
          layout: options.layout ?? 'grid',
          region: '',
          keyPackage: member === undefined ? Buffer.alloc(0) : member.keyPackage,
        },
      });
      stage('join-sent');
      const answer = await signaling
        .next(joinAnswerOf, Math.max(1, deadline - Date.now()))
        .catch((): JoinAnswer => ({
          kind: 'failed',
          error: new JoinError('timeout', 'the controller did not answer the join'),
        }));
      const answeredAt = performance.now();
      if (answer.kind !== 'joined') {
        options.onStage?.('join-answered', answeredAt);
        member?.forget();
        await signaling.close();
        if (answer.kind === 'failed') throw answer.error;
        lastWhy = answer.why;
        await sleep(answer.afterMs);
        continue;
      }
      const response = answer.message.joinResponse;
      if (response === undefined || response.mediaHandler === undefined) {
        options.onStage?.('join-answered', answeredAt);
        member?.forget();
        await signaling.close();
        throw new JoinError('refused', 'the join answer names no media handler');
      }
      options.onStage?.('join-answered', answeredAt, response);
      // The MLS member starts on the controller's messages now, while media connects.
      const pump =
        member === undefined
          ? () => undefined
          : mlsPump(
              signaling,
              member,
              () => stage('mls-epoch'),
              () => stage('mls-welcome'),
            );
      signaling.onMessage = pump;
      pump();
      try {
        const { media, handler } = await connectMedia(
          signaling,
          response.mediaHandler,
          response.connectionToken,
          connect,
        );
        signaling.send({ mediaConnected: { handler: handler.id } });
        stage('media-connected', response);
        return new MeetingSession(
          meeting,
          response.participantId,
          signaling,
          media,
          handler,
          response.participants,
          options.heartbeatIntervalMs ?? 60_000,
          connect,
          member,
          pump,
        );
      } catch (error) {
        member?.forget();
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

  /** Starts or stops sharing this participant's screen (publish it with `publisher('screen')`). */
  shareScreen(sharing: boolean): void {
    this.signaling.send({ screenShare: { sharing } });
  }

  /** Asks the controller for another named layout. */
  setLayout(layout: string): void {
    this.signaling.send({ layout: { layout } });
  }

  /** Tells the controller this participant speaks. */
  speak(): void {
    this.signaling.send({ speaker: {} });
  }

  /**
   * Asks for a keyframe: of `publisher`'s video (a participant id), or of every publisher whose
   * video this participant receives. The controller asks each publisher at most once in a
   * short interval (core/mc), so a request soon after another one's may be dropped.
   */
  requestKeyframe(publisher?: string): void {
    this.signaling.send({ keyframeRequest: { publisher: publisher ?? '' } });
  }

  /**
   * Leaves the meeting: tells the controller, closes media and signaling, and erases the MLS
   * member's keys (`keepKeys`: leave them, for tests that show a leaver cannot read on).
   */
  async leave(options: { readonly keepKeys?: boolean } = {}): Promise<void> {
    this.leaving = true;
    clearInterval(this.heartbeat);
    this.signaling.send({ leave: {} });
    if (options.keepKeys !== true) this.member?.forget();
    this.hubGeneration++;
    const hub = this.hubMedia;
    this.hubMedia = undefined;
    await Promise.all([
      this.media.close(1000, 'left'),
      hub?.close(1000, 'left'),
      Promise.race([this.signaling.closed, sleep(2_000).then(() => this.signaling.close())]),
    ]);
  }

  /**
   * Ends both connections without a leave, as a lost network would (tests and diagnostics):
   * the callbacks run as they would then (`onMediaLost`, `onClosed`), and the controller keeps
   * the participant until it joins again or its session expires.
   */
  drop(code = 4999, reason = 'dropped'): void {
    void this.media.close(code, reason);
    void this.signaling.close(code, reason);
  }

  /**
   * Gives this session up after its signaling was lost (the caller joins again with a new
   * one): no more callbacks, the media session closes, the MLS member's keys are erased.
   */
  abandon(): void {
    this.leaving = true;
    clearInterval(this.heartbeat);
    this.member?.forget();
    void this.media.close(1000, 'signaling lost');
    void this.signaling.close(1000, 'signaling lost');
  }

  /** Drops the media session alone, as a lost media path would (tests and diagnostics). */
  dropMedia(): void {
    void this.media.close(4999, 'dropped');
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
      if (this.media !== media || this.leaving) return;
      this.signaling.send({ mediaConnected: { handler: '' } });
      this.onMediaLost?.();
    };
  }

  private received(message: ServerMessage): void {
    if (message.participants !== undefined) {
      this.participants = message.participants.participants;
      this.screenSharing = message.participants.screenSharing;
      this.activeSpeakers = message.participants.activeSpeakers;
      this.learn(this.participants);
      this.onParticipants?.(this.participants, this.screenSharing, this.activeSpeakers);
    } else if (message.layout !== undefined) {
      this.layout = message.layout.layout;
      this.onLayout?.(this.layout);
    } else if (message.keyMaterial !== undefined) {
      this.onKeyEpoch?.(message.keyMaterial.epoch);
    } else if (message.move?.mediaHandler !== undefined) {
      void this.move(message.move.mediaHandler, message.move.connectionToken);
    } else if (message.keyframeWanted !== undefined) {
      this.onKeyframeWanted?.(message.keyframeWanted.kinds);
    } else if (message.error !== undefined) {
      this.onError?.(message.error);
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
        const { client, outcome } = await this.connect(handler, token);
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
      const moved = await connectMedia(this.signaling, handler, token, this.connect);
      if (this.leaving) {
        void moved.media.close(1000, 'left');
        return;
      }
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
  connect: MediaConnect,
): Promise<{ media: MediaClient; handler: MediaHandler }> {
  let target = handler;
  let connectionToken = token;
  for (let redirects = 0; redirects < 3; redirects++) {
    const { client, outcome } = await connect(target, connectionToken);
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
