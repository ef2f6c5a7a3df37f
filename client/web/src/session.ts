/**
 * One participant's meeting session in the browser: spec 003's join flow, steps 2 to 8. Log in
 * at AC, look the meeting up (or create it) at GC, then the client library (client/meeting, the
 * same code as the Node client) joins at the controller GC names, connects the media session to
 * the handler the controller chose, follows moves and redirects, and reports a lost media
 * session at once (the controller sends the member home or elsewhere). This page sends the
 * synthetic camera (VP8, SFrame, datagrams) and decodes every remote publisher's frames.
 *
 * Keys are end-to-end (spec 003 "End-to-End Encryption with SFrame"): each join brings a fresh
 * MLS member (client/e2ee) whose key package goes with the join; the library passes every
 * controller message through it in order (the controller is the MLS delivery service). Frames
 * are sealed with SFrame under the member's KID in the current MLS epoch (base key from the MLS
 * exporter), with the stream id and publisher id authenticated as metadata; a received frame
 * must come from the member the datagram header names (the KID's leaf index is checked against
 * the epoch's tree).
 *
 * Audio: a synthetic microphone (Opus through WebCodecs, where the browser has it) publishes a
 * stream of kind `audio`, sealed like the video; the controller forwards every member's audio to
 * every other member, and `audio` (audio.ts) opens and decodes what arrives.
 *
 * Screen share: `shareScreen(true)` publishes a second stream (kind `screen`, a synthetic
 * screen) and tells the controller (`ScreenShare`); the controller's `Participants` names who
 * shares, and the layout (core's engine) shows a sharer's screen in its tile.
 *
 * What carries signaling and media and which tiles show whom are behind interfaces
 * (SignalingConnector, MediaConnector, LayoutSource).
 *
 * Reconnecting: a signaling connection that drops (anything but a leave, a replacement by another
 * connection or a refused join) ends that library session; the page joins again after a short
 * delay with the same token, and the controller answers as a reconnect (same participant id).
 */
import { mediaPublisherId, mediaStreamId } from '../../../core/mh/stream-id.ts';
import type { MediaKind, MeetingId, ParticipantId } from '../../../core/ids.ts';
import type { DatagramHeader } from '../../../core/protocol/datagram.ts';
import type { E2eeMember } from '../../e2ee/member.ts';
import type { StreamPublisher } from '../../media/client.ts';
import { frameMetadata } from '../../media/frame-metadata.ts';
import { FrameAssembler } from '../../media/reassembly.ts';
import { JoinError, MeetingSession as LibrarySession } from '../../meeting/session.ts';
import { SignalingConnection } from '../../meeting/signaling.ts';
import {
  ErrorKind,
  type MediaHandler,
} from '../../../services/generated/darktower/mc/v1/signaling.ts';
import { createMeeting, login, lookUpMeeting, type Endpoints, type MeetingInfo } from './api.ts';
import { FrameBacklog } from './backlog.ts';
import { LocalLayout, type LayoutName } from './layout.ts';
import type { MediaConnector } from './media-transport.ts';
import type { SignalingConnector } from './signaling.ts';
import { AudioReceivers, opusSupported, SyntheticMicrophone } from './audio.ts';
import { RemoteVideo, SyntheticCamera, type EncodedFrame, type VideoSource } from './video.ts';

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
  /** This join's MLS member made its key package (made while signaling opens). */
  keyPackageAt?: number;
  /** The signaling session to the controller is open. */
  signalingOpenAt?: number;
  /** The join request went out. */
  joinSentAt?: number;
  /** The controller's join answer arrived. */
  joinedAt?: number;
  /** The handler accepted the media session. */
  mediaAt?: number;
  /** The welcome that adds this member arrived (none for the member who creates the group). */
  welcomeAt?: number;
  /** The MLS member entered its first epoch (joined from the welcome, or created the group). */
  keysAt?: number;
  /** A remote's first video frame came whole through the new media session (still sealed). */
  firstReceivedAt?: number;
  /** A remote's first video frame decrypted. */
  firstDecryptedAt?: number;
  /** A remote's first decrypted keyframe went to a decoder (what came before it was skipped). */
  firstKeyframeAt?: number;
  /** Nobody else was in the meeting at the join answer: the first frame waits for a second member. */
  alone?: boolean;
  firstFrameAt: number | undefined;
}

export interface SessionOptions {
  readonly endpoints: Endpoints;
  readonly signaling: SignalingConnector;
  readonly media: MediaConnector;
}

const RECONNECT_DELAYS_MS = [250, 500, 1_000, 2_000, 4_000];
/**
 * A remote whose frames decrypt while its decoder waits for a keyframe is asked again for one
 * at most this often (the controller may drop a request that came soon after another one's).
 */
const KEYFRAME_ASK_INTERVAL_MS = 200;
/** Close codes after which the page does not join again: replaced, refused. */
const FINAL_CLOSE_CODES = [4001, 4003];

const low32 = (id: bigint) => Number(id & 0xffffffffn);

/** The tag code a participant's synthetic screen carries (its screen stream id's low bits). */
export function screenCode(meeting: string, participant: string): number {
  return low32(mediaStreamId(meeting as MeetingId, participant as ParticipantId, 'screen'));
}

/** A received frame as it arrived (still SFrame-encrypted), kept for diagnostics and tests. */
export interface SealedFrame {
  readonly bytes: Uint8Array;
  readonly streamId: bigint;
  readonly publisherId: bigint;
  /** The MLS epoch it was sealed in (read when it decrypted). */
  readonly epoch: number;
}

/**
 * Frames of one remote video waiting to be decoded (decrypting, queued behind a frame that is,
 * or in the decoder) beyond which this page is behind: a keyframe that arrives then skips
 * everything queued before it, and past `MAX_VIDEO_BACKLOG` new frames are dropped until a
 * keyframe comes (`FrameBacklog`). A real-time view shows the newest picture it can, never a
 * growing queue of old ones.
 */
const SKIP_TO_KEYFRAME_BACKLOG = 2;
const MAX_VIDEO_BACKLOG = 30;

interface Remote {
  readonly video: RemoteVideo;
  /**
   * Frames decrypt as they arrive, side by side; they are decoded in arrival order, each
   * step of the chain waiting for its frame's decryption.
   */
  chain: Promise<void>;
  readonly backlog: FrameBacklog;
  lastFrameId: number | undefined;
  /** When this page last asked for a keyframe of this remote's stream. */
  keyframeAskedAt: number | undefined;
}

export class MeetingSession {
  state: SessionState = 'idle';
  error: string | undefined;
  participantId: string | undefined;
  meetingId: string | undefined;
  members: readonly string[] = [];
  reconnects = 0;
  readonly joins: JoinTiming[] = [];
  /** Remote cameras, and remote screens, by participant. */
  readonly remotes = new Map<string, Remote>();
  readonly screens = new Map<string, Remote>();
  /** Members sharing their screen, as the controller last said. */
  sharing: readonly string[] = [];
  layout: LocalLayout | undefined;
  /** The MLS epoch this page sends in; undefined until it is in the group. */
  mlsEpoch: number | undefined;
  /** Each remote's last frame that decrypted, still sealed (by participant). */
  readonly lastSealed = new Map<string, SealedFrame>();
  /**
   * Keep the MLS member's keys after a leave instead of erasing them (tests: a leaver who kept
   * everything must still not read the next epoch). The member is kept in `retained`.
   */
  retainKeysOnLeave = false;
  retained: E2eeMember | undefined;
  camera: SyntheticCamera | undefined;
  screen: SyntheticCamera | undefined;
  sentFrames = 0;
  sentScreenFrames = 0;
  /** The synthetic microphone (undefined where WebCodecs has no Opus) and the remotes' audio. */
  microphone: SyntheticMicrophone | undefined;
  readonly audio = new AudioReceivers();
  sentAudioFrames = 0;
  /** Whether this browser encodes and decodes Opus through WebCodecs (known before the join). */
  audioSupported = false;
  datagramsReceived = 0;
  decryptFailures = 0;
  /** Video frames of the remotes shown now not decoded because this page was behind. */
  get behindDrops(): number {
    let dropped = 0;
    for (const remote of [...this.remotes.values(), ...this.screens.values()])
      dropped += remote.backlog.dropped;
    return dropped;
  }
  /** The MLS messages from the controller this page's member could not apply (the last 20). */
  readonly e2eeIncidents: { at: number; message: string; error: string }[] = [];
  onChange: (() => void) | null = null;
  onDecoded: ((video: RemoteVideo) => void) | null = null;
  readonly assembler = new FrameAssembler();

  private accessToken = '';
  private meeting: MeetingInfo | undefined;
  /** The library's session of the current join (undefined between joins). */
  private session: LibrarySession | undefined;
  /** The handler named by the join answer, until the library session exists. */
  private joiningHandler: MediaHandler | undefined;
  private publisher: StreamPublisher | undefined;
  private screenPublisher: StreamPublisher | undefined;
  private audioPublisher: StreamPublisher | undefined;
  private readonly byPublisher = new Map<bigint, string>();
  private sendChain: Promise<void> = Promise.resolve();
  private leaving = false;
  private attempt = 0;
  private pendingLayout: LayoutName = 'grid';
  /** Bumped whenever the media session is replaced: only frames of the newest end a join. */
  private mediaGeneration = 0;
  /** The media session whose frames were last handed to a decoder. */
  private decodingGeneration = -1;

  constructor(private readonly options: SessionOptions) {}

  /** The handler the media session is on (or being connected to). */
  get handler(): MediaHandler | undefined {
    return this.session?.handler ?? this.joiningHandler;
  }

  /** This join's MLS member. */
  get member(): E2eeMember | undefined {
    return this.session?.member;
  }

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
    // A failed session keeps nothing running (a camera from before a failed rejoin).
    this.stopMedia();
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
      const opus = opusSupported();
      this.accessToken = await login(this.options.endpoints, input.username, input.password);
      this.audioSupported = await opus;
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
      this.meeting = meeting;
      this.meetingId = meeting.meetingId;
      this.pendingLayout = input.layout ?? 'grid';
    } catch (error) {
      return this.fail((error as Error).message);
    }
    await this.join(true);
  }

  /** Steps 4 and 5 through the client library; a join that fails for want of a path is retried. */
  private async join(first: boolean): Promise<void> {
    this.state = first ? 'joining' : 'reconnecting';
    this.changed();
    const timing = this.currentJoin();
    const meeting = this.meeting as MeetingInfo;
    let session: LibrarySession;
    try {
      session = await LibrarySession.join({
        gcUrl: this.options.endpoints.gc,
        token: this.accessToken,
        meetingId: meeting.meetingId,
        layout: this.layout?.name ?? this.pendingLayout,
        e2ee: true,
        // GC named its controller a moment ago: the first attempt needs no second lookup.
        ...(first && meeting.controller !== null
          ? { meeting: { ...meeting, status: 'active' } }
          : {}),
        signaling: async (controller) =>
          SignalingConnection.over(await this.options.signaling(controller)),
        media: (handler, token) => this.options.media.connect(handler, token),
        onStage: (stage, at, answer) => {
          if (stage === 'key-package') timing.keyPackageAt ??= at;
          else if (stage === 'signaling-open') timing.signalingOpenAt ??= at;
          else if (stage === 'join-sent') timing.joinSentAt ??= at;
          else if (stage === 'mls-welcome') timing.welcomeAt ??= at;
          else if (stage === 'mls-epoch') timing.keysAt ??= at;
          if (answer === undefined) return;
          if (stage === 'join-answered') {
            timing.joinedAt ??= at;
            timing.alone ??= answer.participants.length <= 1;
            this.joiningHandler = answer.mediaHandler;
            this.state = 'connecting-media';
          } else if (stage === 'media-connected') {
            timing.mediaAt ??= at;
          }
          this.changed();
        },
      });
    } catch (error) {
      if (this.leaving) return;
      const final =
        error instanceof JoinError &&
        (error.kind === 'rejected' ||
          error.kind === 'refused' ||
          error.kind === 'meeting-not-active');
      if (final || first) return this.fail((error as Error).message);
      this.error = (error as Error).message;
      return this.retry();
    }
    if (this.leaving) {
      void session.leave();
      return;
    }
    this.attach(session);
  }

  /** Joins again after a short delay, longer after each failure in a row. */
  private retry(): void {
    const delay = RECONNECT_DELAYS_MS[Math.min(this.attempt++, RECONNECT_DELAYS_MS.length - 1)];
    this.changed();
    setTimeout(() => {
      if (!this.leaving) void this.join(false);
    }, delay);
  }

  private attach(session: LibrarySession): void {
    this.session = session;
    this.joiningHandler = undefined;
    this.attempt = 0;
    this.mediaGeneration++;
    this.participantId = session.participantId;
    if (this.layout === undefined) {
      this.layout = new LocalLayout(session.participantId);
      this.layout.setName(this.pendingLayout);
    }
    const member = session.member as E2eeMember;
    this.mlsEpoch = member.epoch;
    member.onIncident = (incident) => {
      this.e2eeIncidents.push({
        at: Math.round(performance.now()),
        message: incident.message,
        error: JSON.stringify(incident.error),
      });
      if (this.e2eeIncidents.length > 20) this.e2eeIncidents.shift();
      this.changed();
    };
    member.onEpoch = (epoch) => {
      if (this.session !== session) return;
      this.mlsEpoch = epoch;
      // New keys: what could not be decrypted before decodes from the next keyframe on.
      session.requestKeyframe();
      this.changed();
    };
    session.onKeyframeWanted = (kinds) => {
      if (kinds.includes('camera')) this.camera?.keyframeNow();
      if (kinds.includes('screen')) this.screen?.keyframeNow();
    };
    this.publisher = session.publisher('camera');
    if (this.audioSupported) this.audioPublisher = session.publisher('audio');
    if (this.screen !== undefined) {
      this.screenPublisher = session.publisher('screen');
      session.shareScreen(true);
    }
    session.onFrame = (_publisher, header, payload) => this.received(header, payload);
    session.onParticipants = (members, sharing, speakers) => {
      this.setMembers(members, sharing, speakers);
      this.changed();
    };
    session.onMediaLost = () => {
      this.state = 'reconnecting';
      this.mediaGeneration++;
      this.beginRejoin();
      this.changed();
    };
    session.onMove = () => {
      this.mediaGeneration++;
      this.currentJoin().mediaAt ??= performance.now();
      this.state = 'connected';
      this.error = undefined;
      // A new path both ways: keyframes from the others, and one of this page's own.
      session.requestKeyframe();
      this.camera?.keyframeNow();
      this.screen?.keyframeNow();
      this.changed();
    };
    session.onError = (error) => {
      this.error = `${ErrorKind[error.kind] ?? 'error'}: ${error.message}`;
      this.changed();
    };
    session.onClosed = (code, reason) => this.signalingClosed(session, code, reason);
    this.setMembers(session.participants, session.screenSharing, session.activeSpeakers);
    this.error = undefined;
    this.state = 'connected';
    // A camera's first frame is a keyframe; one that ran before (a rejoin) sends one now.
    if (this.camera !== undefined) this.camera.keyframeNow();
    else
      this.startCamera(
        low32(
          mediaPublisherId(this.meetingId as MeetingId, session.participantId as ParticipantId),
        ),
      );
    this.screen?.keyframeNow();
    // Media is up: with the keys in too, a keyframe of every stream shown here is wanted now
    // (else when the keys come: onEpoch).
    if (member.epoch !== undefined) session.requestKeyframe();
    this.changed();
  }

  private setMembers(
    members: readonly string[],
    sharing: readonly string[],
    speakers: readonly string[],
  ): void {
    const meeting = this.meetingId as MeetingId;
    this.members = [...members];
    this.sharing = sharing.filter((m) => members.includes(m));
    this.layout?.setMembers(members, this.sharing, speakers);
    this.byPublisher.clear();
    for (const member of members) {
      if (member === this.participantId) continue;
      this.byPublisher.set(mediaPublisherId(meeting, member as ParticipantId), member);
    }
    for (const [kind, remotes] of [
      ['camera', this.remotes],
      ['screen', this.screens],
    ] as const) {
      for (const [participant, remote] of remotes) {
        if (
          members.includes(participant) &&
          (kind === 'camera' || this.sharing.includes(participant))
        )
          continue;
        remote.video.close();
        remotes.delete(participant);
        this.assembler.forget(mediaStreamId(meeting, participant as ParticipantId, kind));
      }
    }
    // Every other member's camera decoder is made now, not when its first frame comes: the
    // decoder's set-up and the tile's layout are then out of the way of the first frame.
    for (const member of members)
      if (member !== this.participantId) this.remoteOf(member, 'camera');
    for (const participant of this.audio.retain(members)) {
      this.assembler.forget(mediaStreamId(meeting, participant as ParticipantId, 'audio'));
    }
  }

  /** A remote's camera or screen, its decoder made (and configured) on first need. */
  private remoteOf(participant: string, kind: 'camera' | 'screen'): Remote {
    const remotes = kind === 'screen' ? this.screens : this.remotes;
    const known = remotes.get(participant);
    if (known !== undefined) return known;
    const video = new RemoteVideo(participant, kind);
    video.onDecoded = () => this.decoded(video);
    const remote: Remote = {
      video,
      chain: Promise.resolve(),
      backlog: new FrameBacklog(MAX_VIDEO_BACKLOG, SKIP_TO_KEYFRAME_BACKLOG),
      lastFrameId: undefined,
      keyframeAskedAt: undefined,
    };
    remotes.set(participant, remote);
    return remote;
  }

  private signalingClosed(session: LibrarySession, code: number, reason: string): void {
    if (session !== this.session) return;
    this.session = undefined;
    this.publisher = undefined;
    this.screenPublisher = undefined;
    this.audioPublisher = undefined;
    this.mlsEpoch = undefined;
    session.abandon();
    if (this.leaving || FINAL_CLOSE_CODES.includes(code)) {
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
    this.error = `signaling closed (${code}${reason === '' ? '' : ` ${reason}`})`;
    this.beginRejoin();
    this.retry();
  }

  private startCamera(code: number): void {
    if (this.camera !== undefined) return;
    const camera = new SyntheticCamera(this.participantId as string, code);
    camera.onFrame = (frame) => this.send(frame, 'camera');
    camera.onError = (error) => {
      this.error = `encoder: ${error.message}`;
      this.changed();
    };
    this.camera = camera;
    camera.start();
    if (this.audioSupported && this.microphone === undefined) {
      const microphone = new SyntheticMicrophone(code);
      microphone.onFrame = (frame) => this.send(frame, 'audio');
      microphone.onError = (error) => {
        this.error = `audio encoder: ${error.message}`;
        this.changed();
      };
      this.microphone = microphone;
      microphone.start();
    }
  }

  /**
   * Starts (or stops) sharing the screen: a second published stream, kind `screen`, from a
   * synthetic screen. The controller hears it and every layout follows.
   */
  shareScreen(sharing: boolean): void {
    if (sharing === (this.screen !== undefined) || this.participantId === undefined) return;
    if (sharing) {
      const code = screenCode(this.meetingId as string, this.participantId);
      const screen = new SyntheticCamera(this.participantId, code, 'screen');
      screen.onFrame = (frame) => this.send(frame, 'screen');
      screen.onError = (error) => {
        this.error = `screen encoder: ${error.message}`;
        this.changed();
      };
      this.screen = screen;
      this.screenPublisher = this.session?.publisher('screen');
      screen.start();
    } else {
      this.screen?.stop();
      this.screen = undefined;
      this.screenPublisher = undefined;
    }
    this.session?.shareScreen(sharing);
    this.changed();
  }

  /** Step 6: encrypt one encoded frame and send it as datagrams. */
  private send(frame: EncodedFrame, source: VideoSource | 'audio'): void {
    this.sendChain = this.sendChain.then(async () => {
      const publisher =
        source === 'screen'
          ? this.screenPublisher
          : source === 'audio'
            ? this.audioPublisher
            : this.publisher;
      const member = this.member;
      if (publisher === undefined || member === undefined || this.state !== 'connected') return;
      const sealed = await member.encrypt(
        frame.bytes,
        frameMetadata(publisher.streamId, publisher.publisherId),
      );
      if (!sealed.ok) return;
      publisher.publish(sealed.value, {
        keyframe: frame.keyframe,
        captureTimeUs: frame.captureTimeUs,
      });
      if (source === 'screen') this.sentScreenFrames++;
      else if (source === 'audio') this.sentAudioFrames++;
      else this.sentFrames++;
    });
  }

  /** Step 8: reassemble, decrypt and decode a remote publisher's frames. */
  private received(header: DatagramHeader, payload: Uint8Array): void {
    this.datagramsReceived++;
    const frame = this.assembler.push(header, payload);
    if (frame === undefined) return;
    const participant = this.byPublisher.get(frame.publisherId);
    const member = this.member;
    if (participant === undefined || member === undefined) return;
    if (
      frame.streamId ===
      mediaStreamId(this.meetingId as MeetingId, participant as ParticipantId, 'audio')
    ) {
      return this.audio.received(participant, frame, member);
    }
    const kind: MediaKind =
      frame.streamId ===
      mediaStreamId(this.meetingId as MeetingId, participant as ParticipantId, 'screen')
        ? 'screen'
        : 'camera';
    const target = this.remoteOf(participant, kind);
    const generation = this.mediaGeneration;
    this.reached(generation, 'firstReceivedAt');
    const arrival = target.backlog.arrive(frame.keyframe, target.video.decodeQueueSize);
    if (arrival === undefined) {
      // Far behind: this frame is dropped, and decoding resumes at the next keyframe (the
      // gap in frame ids resyncs the decoder in order).
      this.askKeyframe(target, participant);
      return;
    }
    const opening = member
      .openFrom(participant, frame.bytes, frameMetadata(frame.streamId, frame.publisherId))
      .catch(() => undefined);
    target.chain = target.chain.then(async () => {
      const opened = await opening;
      // Stale: a keyframe that came after it is queued.
      if (!target.backlog.take(arrival)) return;
      if (opened === undefined) {
        this.decryptFailures++;
        target.video.resync();
        return;
      }
      this.reached(generation, 'firstDecryptedAt');
      if (kind === 'camera') {
        this.lastSealed.set(participant, {
          bytes: frame.bytes.slice(),
          streamId: frame.streamId,
          publisherId: frame.publisherId,
          epoch: Number(opened.epoch),
        });
      }
      if (target.lastFrameId !== undefined && frame.frameId !== (target.lastFrameId + 1) >>> 0) {
        // A frame was lost (or the publisher started again): decoding resumes at a keyframe.
        target.video.resync();
      }
      target.lastFrameId = frame.frameId;
      if (target.video.decode(opened.plaintext, frame.keyframe, frame.captureTimeUs)) {
        this.decodingGeneration = generation;
        this.reached(generation, 'firstKeyframeAt');
      } else if (target.video.wantsKeyframe) {
        // Its frames decrypt but cannot be decoded before a keyframe: ask its publisher.
        this.askKeyframe(target, participant);
      }
    });
    // A frame the decoder refused (it throws on a chunk it cannot take) must not stop the
    // frames after it: decoding resumes at a keyframe.
    target.chain = target.chain.catch(() => target.video.resync());
  }

  /** Asks `participant`'s publisher for a keyframe, at most every KEYFRAME_ASK_INTERVAL_MS. */
  private askKeyframe(target: Remote, participant: string): void {
    const now = performance.now();
    if (
      target.keyframeAskedAt === undefined ||
      now - target.keyframeAskedAt >= KEYFRAME_ASK_INTERVAL_MS
    ) {
      target.keyframeAskedAt = now;
      this.session?.requestKeyframe(participant);
    }
  }

  /** Times a step of receiving, when it happened in the current media session. */
  private reached(
    generation: number,
    step: 'firstReceivedAt' | 'firstDecryptedAt' | 'firstKeyframeAt',
  ): void {
    if (generation !== this.mediaGeneration || this.joins.length === 0) return;
    this.currentJoin()[step] ??= performance.now();
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

  /** Asks the controller for another layout and shows it. */
  setLayout(name: LayoutName): void {
    this.layout?.setName(name);
    this.session?.setLayout(name);
    this.changed();
  }

  togglePin(participant: string): void {
    this.layout?.togglePin(participant);
    this.changed();
  }

  /** Tells the controller this participant speaks. */
  speak(): void {
    this.session?.speak();
  }

  /** Drops the media session alone, as a lost media path would (tests and diagnostics). */
  dropMedia(): void {
    this.session?.dropMedia();
  }

  /** Drops both connections without a leave, as a lost network would (tests and diagnostics). */
  dropConnections(): void {
    this.session?.drop();
  }

  private stopMedia(): void {
    this.mediaGeneration++;
    this.camera?.stop();
    this.camera = undefined;
    this.screen?.stop();
    this.screen = undefined;
    this.microphone?.stop();
    this.microphone = undefined;
    this.audio.close();
    for (const remote of [...this.remotes.values(), ...this.screens.values()]) remote.video.close();
    this.remotes.clear();
    this.screens.clear();
  }

  /** Leaves the meeting; the MLS member's keys are erased (unless `retainKeysOnLeave`). */
  leave(): void {
    this.leaving = true;
    const session = this.session;
    this.session = undefined;
    if (session !== undefined) {
      if (this.retainKeysOnLeave) this.retained = session.member;
      void session.leave({ keepKeys: this.retainKeysOnLeave });
    }
    this.stopMedia();
    this.mlsEpoch = undefined;
    this.state = 'left';
    this.changed();
  }
}
