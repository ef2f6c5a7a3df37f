/**
 * One participant's meeting session in the browser: spec 003's join flow, steps 2 to 8. Log in
 * at AC, look the meeting up (or create it) at GC, join at the controller GC names over
 * signaling, connect the media session to the handler the controller chose with its connection
 * token, then send the synthetic camera (VP8, SFrame, datagrams) and decode every remote
 * publisher's frames. It follows the controller: member lists, key epochs, moves, token answers.
 *
 * What carries signaling and media, where the keys come from and which tiles show whom are
 * behind interfaces (SignalingConnector, MediaConnector, KeySource, LayoutSource).
 *
 * Reconnecting: a signaling connection that drops (anything but a leave, a replacement by another
 * connection or a refused join) is opened again and the join sent again with the same token; the
 * controller knows the participant (its id is the token's subject) and answers with a fresh
 * connection token (`reconnect: true`). A media session that drops alone is reopened with a token
 * the client asks for (`TokenRequest` for the same handler).
 */
import { mediaPublisherId, mediaStreamId } from '../../../core/mh/stream-id.ts';
import type { MeetingId, ParticipantId } from '../../../core/ids.ts';
import type { DatagramHeader } from '../../../core/protocol/datagram.ts';
import type { MediaClient, StreamPublisher } from '../../media/client.ts';
import { FrameCrypto } from '../../media/frame-crypto.ts';
import { DevelopmentKeySource } from '../../media/keys.ts';
import { FrameAssembler } from '../../media/reassembly.ts';
import {
  ErrorKind,
  RejectReason,
  type MediaHandler,
  type ServerMessage,
} from '../../../services/generated/darktower/mc/v1/signaling.ts';
import { createMeeting, login, lookUpMeeting, type ControllerInfo, type Endpoints } from './api.ts';
import { LocalLayout, type LayoutName } from './layout.ts';
import type { MediaConnector } from './media-transport.ts';
import type { SignalingConnector, SignalingTransport } from './signaling.ts';
import { RemoteVideo, SyntheticCamera, type EncodedFrame } from './video.ts';

export type SessionState =
  | 'idle'
  | 'logging-in'
  | 'looking-up'
  | 'joining'
  | 'connecting-media'
  | 'connected'
  | 'reconnecting'
  | 'left'
  | 'failed';

/**
 * One join, timed (`performance.now()` ms): from the start of the flow (or the loss that
 * began a reconnect) through each step to the first remote frame decoded from the new media
 * session.
 */
export interface JoinTiming {
  readonly reconnect: boolean;
  readonly startedAt: number;
  /** AC answered the login (first join only). */
  loggedInAt?: number;
  /** GC answered the lookup or creation (first join only). */
  meetingAt?: number;
  /** The controller's join answer arrived. */
  joinedAt?: number;
  /** The handler accepted the media session. */
  mediaAt?: number;
  /** Nobody else was in the meeting at the join answer: the first frame waits for a second member. */
  alone?: boolean;
  firstFrameAt: number | undefined;
}

export interface SessionOptions {
  readonly endpoints: Endpoints;
  readonly signaling: SignalingConnector;
  readonly media: MediaConnector;
}

const HEARTBEAT_MS = 60_000;
const RECONNECT_DELAYS_MS = [250, 500, 1_000, 2_000, 4_000];
/**
 * After a new member: a keyframe at every frame (15/s) for the first half second, when the
 * joiner's media path comes up (on loopback 50 to 150 ms after the member list), then two more.
 * With only the 300 ms repeat, a joiner waited about 300 ms after its media session for a frame
 * it could decode.
 */
const KEYFRAME_REPEATS_MS = [
  ...Array.from({ length: 8 }, (_, i) => Math.round(((i + 1) * 1_000) / 15)),
  800,
  1_600,
];

const low32 = (id: bigint) => Number(id & 0xffffffffn);

interface Remote {
  readonly video: RemoteVideo;
  /** Frames decrypt asynchronously; they are decoded in arrival order. */
  chain: Promise<void>;
  lastFrameId: number | undefined;
}

export class MeetingSession {
  state: SessionState = 'idle';
  error: string | undefined;
  participantId: string | undefined;
  meetingId: string | undefined;
  controllerUrl: string | undefined;
  controller: ControllerInfo | undefined;
  handler: MediaHandler | undefined;
  members: readonly string[] = [];
  reconnects = 0;
  readonly joins: JoinTiming[] = [];
  readonly remotes = new Map<string, Remote>();
  layout: LocalLayout | undefined;
  keys: DevelopmentKeySource | undefined;
  camera: SyntheticCamera | undefined;
  sentFrames = 0;
  datagramsReceived = 0;
  decryptFailures = 0;
  onChange: (() => void) | null = null;

  private accessToken = '';
  private signaling: SignalingTransport | undefined;
  private media: MediaClient | undefined;
  private publisher: StreamPublisher | undefined;
  private crypto: FrameCrypto | undefined;
  readonly assembler = new FrameAssembler();
  private readonly byPublisher = new Map<bigint, string>();
  private sendChain: Promise<void> = Promise.resolve();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private leaving = false;
  private attempt = 0;
  /** Bumped whenever a media session is replaced: callbacks of older ones are ignored. */
  private mediaGeneration = 0;

  constructor(private readonly options: SessionOptions) {}

  /** The media session whose frames were last handed to a decoder. */
  private decodingGeneration = -1;

  private currentJoin(): JoinTiming {
    return this.joins[this.joins.length - 1] as JoinTiming;
  }

  /** A loss starts a rejoin, timed; losing both connections at once is one rejoin, not two. */
  private beginRejoin(): void {
    this.reconnects++;
    const last = this.currentJoin();
    if (last.reconnect && last.firstFrameAt === undefined) return;
    this.joins.push({ reconnect: true, startedAt: performance.now(), firstFrameAt: undefined });
  }

  private changed(): void {
    this.onChange?.();
  }

  private fail(message: string): void {
    this.state = 'failed';
    this.error = message;
    this.changed();
  }

  /** Steps 2 to 5: log in, find (or create) the meeting, join, connect media. */
  async start(input: {
    username: string;
    password: string;
    meeting?: string;
    title?: string;
    layout?: LayoutName;
  }): Promise<void> {
    this.joins.push({ reconnect: false, startedAt: performance.now(), firstFrameAt: undefined });
    try {
      this.state = 'logging-in';
      this.changed();
      this.accessToken = await login(this.options.endpoints, input.username, input.password);
      this.currentJoin().loggedInAt = performance.now();
      this.state = 'looking-up';
      this.changed();
      const meeting =
        input.meeting !== undefined && input.meeting !== ''
          ? await lookUpMeeting(this.options.endpoints, this.accessToken, input.meeting)
          : await createMeeting(this.options.endpoints, this.accessToken, input.title ?? 'Meeting');
      this.currentJoin().meetingAt = performance.now();
      if (meeting.controller === null) {
        return this.fail('no meeting controller runs this meeting yet: try again shortly');
      }
      this.meetingId = meeting.meetingId;
      this.controllerUrl = meeting.controller.url;
      this.controller = meeting.controller;
      this.keys = new DevelopmentKeySource(meeting.meetingId);
      this.keys.onChange = () => this.changed();
      this.pendingLayout = input.layout ?? 'grid';
      await this.openSignaling();
    } catch (error) {
      this.fail((error as Error).message);
    }
  }

  private pendingLayout: LayoutName = 'grid';

  private async openSignaling(): Promise<void> {
    this.state = this.joins.length > 1 ? 'reconnecting' : 'joining';
    this.changed();
    const signaling = await this.options.signaling(this.controller as ControllerInfo);
    this.signaling = signaling;
    signaling.onMessage = (message) => this.onSignal(message);
    signaling.onClose = (code, reason) => this.signalingClosed(signaling, code, reason);
    signaling.send({
      join: {
        accessToken: this.accessToken,
        meetingId: this.meetingId as string,
        layout: this.layout?.name ?? this.pendingLayout,
        region: '',
        // No MLS yet: the page's keys come from its key source.
        keyPackage: Buffer.alloc(0),
      },
    });
  }

  private onSignal(message: ServerMessage): void {
    if (message.joinResponse !== undefined) {
      const answer = message.joinResponse;
      this.currentJoin().joinedAt ??= performance.now();
      this.currentJoin().alone ??= answer.participants.length <= 1;
      this.attempt = 0;
      this.participantId = answer.participantId;
      if (this.layout === undefined) {
        this.layout = new LocalLayout(answer.participantId);
        this.layout.setName(this.pendingLayout);
      }
      this.setMembers(answer.participants);
      this.announceEpoch(answer.keyEpoch);
      this.startHeartbeat();
      if (answer.mediaHandler !== undefined) {
        void this.connectMedia(answer.mediaHandler, answer.connectionToken);
      }
      this.changed();
      return;
    }
    if (message.joinRejected !== undefined) {
      const { reason, retryAfterMs } = message.joinRejected;
      this.leaving = true;
      return this.fail(
        reason === RejectReason.REJECT_REASON_NO_CAPACITY
          ? `no capacity: try again in ${retryAfterMs} ms`
          : 'the meeting has ended',
      );
    }
    if (message.participants !== undefined) {
      this.setMembers(message.participants.participants);
      this.changed();
      return;
    }
    if (message.keyMaterial !== undefined) {
      this.announceEpoch(message.keyMaterial.epoch);
      this.changed();
      return;
    }
    if (message.move !== undefined && message.move.mediaHandler !== undefined) {
      void this.connectMedia(message.move.mediaHandler, message.move.connectionToken);
      return;
    }
    if (message.connectionToken?.mediaHandler !== undefined) {
      void this.connectMedia(
        message.connectionToken.mediaHandler,
        message.connectionToken.connectionToken,
      );
      return;
    }
    if (message.error !== undefined) {
      this.error = `${ErrorKind[message.error.kind] ?? 'error'}: ${message.error.message}`;
      if (message.error.kind !== ErrorKind.ERROR_KIND_TOKEN_REFUSED) this.leaving = true;
      this.changed();
    }
  }

  private announceEpoch(epoch: number): void {
    this.keys?.announce(epoch);
    this.signaling?.send({ keyAck: { epoch } });
  }

  private setMembers(members: readonly string[]): void {
    const meeting = this.meetingId as MeetingId;
    const added = members.some((m) => !this.members.includes(m));
    this.members = [...members];
    this.layout?.setMembers(members);
    this.byPublisher.clear();
    for (const member of members) {
      if (member === this.participantId) continue;
      this.byPublisher.set(mediaPublisherId(meeting, member as ParticipantId), member);
    }
    for (const [participant, remote] of this.remotes) {
      if (!members.includes(participant)) {
        remote.video.close();
        this.remotes.delete(participant);
        this.assembler.forget(mediaStreamId(meeting, participant as ParticipantId, 'camera'));
      }
    }
    // A new member has no decoder state yet: it needs a keyframe.
    if (added) this.keyframeBurst();
  }

  private startHeartbeat(): void {
    if (this.heartbeat !== undefined) return;
    this.heartbeat = setInterval(() => this.signaling?.send({ heartbeat: {} }), HEARTBEAT_MS);
  }

  /** Step 5: the media session on `handler` with the controller's token. */
  private async connectMedia(handler: MediaHandler, token: string): Promise<void> {
    const generation = ++this.mediaGeneration;
    this.dropMedia();
    this.state = 'connecting-media';
    this.handler = handler;
    this.changed();
    let connected: Awaited<ReturnType<MediaConnector['connect']>>;
    try {
      connected = await this.options.media.connect(handler, token);
    } catch (error) {
      return this.fail(`media: ${(error as Error).message}`);
    }
    if (generation !== this.mediaGeneration || this.leaving) {
      void connected.client?.close(1000, 'superseded');
      return;
    }
    const { client, outcome } = connected;
    if (outcome.kind === 'redirected') {
      // Another handler has room: ask the controller for a token for it.
      this.signaling?.send({ tokenRequest: { handler: outcome.handler } });
      return;
    }
    if (outcome.kind !== 'accepted' || client === undefined) {
      this.error = `media session refused: ${outcome.kind === 'rejected' ? outcome.reason : outcome.kind}`;
      this.changed();
      const retry = outcome.kind === 'rejected' ? outcome.retryAfterMs : 1_000;
      if (retry > 0) {
        setTimeout(() => this.signaling?.send({ tokenRequest: { handler: handler.id } }), retry);
      }
      return;
    }
    this.media = client;
    this.currentJoin().mediaAt ??= performance.now();
    this.publisher = client.publisher(
      this.meetingId as string,
      this.participantId as string,
      'camera',
    );
    const ownPublisher = this.publisher.publisherId;
    this.crypto = new FrameCrypto(this.keys as DevelopmentKeySource, ownPublisher);
    client.onDatagram = (header, payload) => this.received(header, payload);
    client.onClose = () => {
      if (generation === this.mediaGeneration) this.mediaLost(handler);
    };
    this.signaling?.send({ mediaConnected: { handler: handler.id } });
    this.error = undefined;
    this.state = 'connected';
    this.startCamera(low32(ownPublisher));
    this.keyframeBurst();
    this.changed();
  }

  private dropMedia(): void {
    const media = this.media;
    this.media = undefined;
    this.publisher = undefined;
    if (media !== undefined) void media.close(1000, 'replaced by the client');
  }

  private mediaLost(handler: MediaHandler): void {
    this.media = undefined;
    this.publisher = undefined;
    if (this.leaving) return;
    this.state = 'reconnecting';
    this.beginRejoin();
    this.signaling?.send({ mediaConnected: { handler: '' } });
    this.signaling?.send({ tokenRequest: { handler: handler.id } });
    this.changed();
  }

  private signalingClosed(
    signaling: SignalingTransport | undefined,
    code: number,
    reason: string,
  ): void {
    if (signaling !== this.signaling) return;
    this.signaling = undefined;
    if (this.leaving || code === 4001 || code === 4003) {
      this.stopMedia();
      if (this.state !== 'failed') {
        this.state = code === 4001 ? 'failed' : 'left';
        if (code === 4001) this.error = 'replaced by another connection of this participant';
      }
      this.changed();
      return;
    }
    // Lost: join again after a short delay; the controller answers as a reconnect.
    this.mediaGeneration++;
    this.dropMedia();
    this.state = 'reconnecting';
    this.error = `signaling closed (${code}${reason === '' ? '' : ` ${reason}`})`;
    this.beginRejoin();
    this.changed();
    const delay = RECONNECT_DELAYS_MS[Math.min(this.attempt++, RECONNECT_DELAYS_MS.length - 1)];
    setTimeout(() => {
      this.openSignaling().catch(() => this.signalingClosed(undefined, 1006, 'unreachable'));
    }, delay);
  }

  /**
   * Keyframes now, at every frame for half a second, then twice more over the next 1.6 s
   * (KEYFRAME_REPEATS_MS). A receiver decodes nothing until a
   * keyframe, and nothing says when a new member's media path is up: the member list reaches
   * publishers before the joiner's session and the controller's routes exist. A keyframe request
   * from the receiver (not in the protocols yet) would replace these repeats; the periodic
   * keyframe (every 2 s) covers anything they miss.
   */
  private keyframeBurst(): void {
    this.camera?.requestKeyframe();
    for (const delay of KEYFRAME_REPEATS_MS) {
      setTimeout(() => this.camera?.requestKeyframe(), delay);
    }
  }

  private startCamera(code: number): void {
    if (this.camera !== undefined) return;
    const camera = new SyntheticCamera(this.participantId as string, code);
    camera.onFrame = (frame) => this.send(frame);
    camera.onError = (error) => {
      this.error = `encoder: ${error.message}`;
      this.changed();
    };
    this.camera = camera;
    camera.start();
  }

  /** Step 6: encrypt one encoded frame and send it as datagrams. */
  private send(frame: EncodedFrame): void {
    this.sendChain = this.sendChain.then(async () => {
      const publisher = this.publisher;
      const media = this.media;
      const crypto = this.crypto;
      if (publisher === undefined || media === undefined || crypto === undefined) return;
      const sealed = await crypto.encrypt(frame.bytes, publisher.streamId);
      if (!sealed.ok) return;
      for (const datagram of publisher.datagrams(sealed.value, {
        keyframe: frame.keyframe,
        captureTimeUs: frame.captureTimeUs,
      })) {
        media.sendDatagram(datagram);
      }
      this.sentFrames++;
    });
  }

  /** Step 8: reassemble, decrypt and decode a remote publisher's frames. */
  private received(header: DatagramHeader, payload: Uint8Array): void {
    this.datagramsReceived++;
    const frame = this.assembler.push(header, payload);
    if (frame === undefined) return;
    const participant = this.byPublisher.get(frame.publisherId);
    const crypto = this.crypto;
    if (participant === undefined || crypto === undefined) return;
    let remote = this.remotes.get(participant);
    if (remote === undefined) {
      const video = new RemoteVideo(participant);
      video.onDecoded = () => this.decoded(video);
      remote = { video, chain: Promise.resolve(), lastFrameId: undefined };
      this.remotes.set(participant, remote);
      this.changed();
    }
    const target = remote;
    const generation = this.mediaGeneration;
    target.chain = target.chain.then(async () => {
      const opened = await crypto.decrypt(frame.bytes, frame.streamId, frame.publisherId);
      if (!opened.ok) {
        this.decryptFailures++;
        target.video.resync();
        return;
      }
      if (target.lastFrameId !== undefined && frame.frameId !== (target.lastFrameId + 1) >>> 0) {
        // A frame was lost (or the publisher started again): decoding resumes at a keyframe.
        target.video.resync();
      }
      target.lastFrameId = frame.frameId;
      if (target.video.decode(opened.value.plaintext, frame.keyframe, frame.captureTimeUs)) {
        this.decodingGeneration = generation;
      }
    });
  }

  private decoded(video: RemoteVideo): void {
    const now = performance.now();
    // Only a frame sent through the current media session ends a join.
    if (this.decodingGeneration === this.mediaGeneration) {
      for (const join of this.joins) join.firstFrameAt ??= now;
    }
    if (video.decodedFrames === 1) this.changed();
    this.onDecoded?.(video);
  }

  onDecoded: ((video: RemoteVideo) => void) | null = null;

  /** Asks the controller for another layout and shows it. */
  setLayout(name: LayoutName): void {
    this.layout?.setName(name);
    this.signaling?.send({ layout: { layout: name } });
    this.changed();
  }

  togglePin(participant: string): void {
    this.layout?.togglePin(participant);
    this.changed();
  }

  /** Tells the controller this participant speaks. */
  speak(): void {
    this.signaling?.send({ speaker: {} });
  }

  /** Drops both connections without a leave, as a lost network would (tests and diagnostics). */
  dropConnections(): void {
    this.media?.close(4999, 'dropped');
    this.signaling?.close(4999, 'dropped');
  }

  private stopMedia(): void {
    this.mediaGeneration++;
    this.dropMedia();
    this.camera?.stop();
    this.camera = undefined;
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    for (const remote of this.remotes.values()) remote.video.close();
    this.remotes.clear();
  }

  /** Leaves the meeting. */
  leave(): void {
    this.leaving = true;
    this.signaling?.send({ leave: {} });
    this.stopMedia();
    this.state = 'left';
    this.changed();
  }
}
