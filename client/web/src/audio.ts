/**
 * Audio with WebCodecs: a synthetic microphone (a sine tone whose frequency comes from the
 * participant's code, so each sounds different) encoded to Opus in 20 ms frames, and a decoder
 * per remote publisher that counts what it decodes and measures the tone it hears (zero
 * crossings over the last half second), so a test can tell whose audio arrived. Nothing plays:
 * the page only decodes.
 *
 * Receiving: `AudioReceivers` takes a remote's reassembled frames (still SFrame-sealed), opens
 * them with the MLS member, checks the KID's sender is the publisher the header names and
 * decodes them in arrival order, one decoder per remote.
 */
import type { E2eeMember } from '../../e2ee/member.ts';
import { FrameBacklog } from './backlog.ts';
import { frameMetadata } from '../../media/frame-metadata.ts';
import type { EncodedFrame } from './video.ts';

export const SAMPLE_RATE = 48_000;
/** One Opus frame: 20 ms. */
export const FRAME_US = 20_000;
const FRAME_SAMPLES = (SAMPLE_RATE * FRAME_US) / 1_000_000;
const CODEC = 'opus';
const BITRATE = 32_000;
const AMPLITUDE = 0.4;
/** Frames the microphone catches up at most in one tick (after a stalled timer). */
const MAX_CATCH_UP = 5;
/** Decoded frames the tone is measured over: half a second of 20 ms frames. */
const MEASURE_FRAMES = 25;

/** Audio frames of one remote waiting to be decoded beyond which new ones are dropped (0.5 s). */
const MAX_AUDIO_BACKLOG = 25;

const TONE_BASE_HZ = 300;
const TONE_STEP_HZ = 25;
const TONE_STEPS = 32;

/** The tone a participant's synthetic microphone sends (Hz): 300 to 1075 in steps of 25. */
export function toneOf(code: number): number {
  return TONE_BASE_HZ + ((code >>> 0) % TONE_STEPS) * TONE_STEP_HZ;
}

/** Whether this browser encodes and decodes Opus through WebCodecs. */
export async function opusSupported(): Promise<boolean> {
  if (typeof AudioEncoder === 'undefined' || typeof AudioDecoder === 'undefined') return false;
  const config = { codec: CODEC, sampleRate: SAMPLE_RATE, numberOfChannels: 1 };
  try {
    const [encoder, decoder] = await Promise.all([
      AudioEncoder.isConfigSupported(config),
      AudioDecoder.isConfigSupported(config),
    ]);
    return encoder.supported === true && decoder.supported === true;
  } catch {
    return false;
  }
}

/**
 * A synthetic microphone: a sine tone at `toneOf(code)`, 20 ms of PCM at a time (as many frames
 * as the wall clock says are due), encoded to Opus. Every Opus frame decodes on its own, so each
 * is sent as a keyframe.
 */
export class SyntheticMicrophone {
  readonly toneHz: number;
  private readonly encoder: AudioEncoder;
  private timer: ReturnType<typeof setInterval> | undefined;
  private startedAt = 0;
  private counter = 0;
  onFrame: ((frame: EncodedFrame) => void) | null = null;
  onError: ((error: Error) => void) | null = null;

  constructor(code: number) {
    this.toneHz = toneOf(code);
    this.encoder = new AudioEncoder({
      output: (chunk) => {
        const bytes = new Uint8Array(chunk.byteLength);
        chunk.copyTo(bytes);
        this.onFrame?.({
          bytes,
          keyframe: true,
          counter: Math.round(chunk.timestamp / FRAME_US),
          captureTimeUs: Math.floor((performance.timeOrigin + performance.now()) * 1000),
        });
      },
      error: (error) => this.onError?.(error),
    });
    this.encoder.configure({
      codec: CODEC,
      sampleRate: SAMPLE_RATE,
      numberOfChannels: 1,
      bitrate: BITRATE,
      opus: { frameDuration: FRAME_US },
    });
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.startedAt = performance.now();
    this.timer = setInterval(() => this.tick(), FRAME_US / 1000);
    this.tick();
  }

  private tick(): void {
    if (this.encoder.state !== 'configured') return;
    const due = Math.floor(((performance.now() - this.startedAt) * 1000) / FRAME_US) + 1;
    // A stalled timer skips what it missed instead of bursting it out.
    if (due - this.counter > MAX_CATCH_UP) this.counter = due - MAX_CATCH_UP;
    while (this.counter < due) {
      const counter = this.counter++;
      if (this.encoder.encodeQueueSize > 4) continue;
      const pcm = new Float32Array(FRAME_SAMPLES);
      const first = counter * FRAME_SAMPLES;
      for (let i = 0; i < FRAME_SAMPLES; i++) {
        pcm[i] = AMPLITUDE * Math.sin((2 * Math.PI * this.toneHz * (first + i)) / SAMPLE_RATE);
      }
      const data = new AudioData({
        format: 'f32',
        sampleRate: SAMPLE_RATE,
        numberOfFrames: FRAME_SAMPLES,
        numberOfChannels: 1,
        timestamp: counter * FRAME_US,
        data: pcm,
      });
      this.encoder.encode(data);
      data.close();
    }
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.encoder.state !== 'closed') this.encoder.close();
  }
}

/**
 * The frequency (Hz) of a tone from its upward zero crossings, each placed between its two
 * samples by linear interpolation: the crossings between the first and the last, over the time
 * between them. Undefined for fewer than two crossings.
 */
export function toneFrequency(samples: Float32Array, sampleRate: number): number | undefined {
  let first = -1;
  let last = -1;
  let crossings = 0;
  for (let i = 1; i < samples.length; i++) {
    const before = samples[i - 1] as number;
    const after = samples[i] as number;
    if (before < 0 && after >= 0) {
      const at = i - 1 + before / (before - after);
      if (first < 0) first = at;
      last = at;
      crossings++;
    }
  }
  if (crossings < 2) return undefined;
  return ((crossings - 1) * sampleRate) / (last - first);
}

/**
 * The tone of a stream of decoded frames: each frame's frequency from its own zero crossings,
 * and the median over the last `frames` frames. A frame the sender skipped or the network lost
 * puts a phase jump between two frames, which would bend a measure taken across frames; the
 * median of per-frame measures does not see it.
 */
export class ToneMeter {
  private readonly recent: number[] = [];

  constructor(private readonly frames: number = MEASURE_FRAMES) {}

  /** Adds one decoded frame; returns the tone once `frames` frames with a tone arrived. */
  push(samples: Float32Array, sampleRate: number): number | undefined {
    const hz = toneFrequency(samples, sampleRate);
    if (hz !== undefined) {
      this.recent.push(hz);
      if (this.recent.length > this.frames) this.recent.shift();
    }
    return this.tone;
  }

  /** The median of the last frames' tones, once there are `frames` of them. */
  get tone(): number | undefined {
    if (this.recent.length < this.frames) return undefined;
    const sorted = [...this.recent].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  }
}

/** One remote publisher's Opus decoder: frames decoded, the last timestamp, the tone heard. */
export class RemoteAudio {
  private decoder: AudioDecoder;
  private readonly meter = new ToneMeter();
  /** Frames decrypting or waiting to be decoded, and the chain that decodes them in order. */
  readonly backlog = new FrameBacklog(MAX_AUDIO_BACKLOG);
  chain: Promise<void> = Promise.resolve();
  decodedFrames = 0;
  /** The decoded frames' timestamps (the publisher's capture time, µs): first and last. */
  firstTimestampUs: number | undefined;
  lastTimestampUs: number | undefined;
  /** The tone of the last half second decoded (Hz; `ToneMeter`), once that much arrived. */
  toneHz: number | undefined;

  constructor(readonly participant: string) {
    this.decoder = this.newDecoder();
  }

  private newDecoder(): AudioDecoder {
    const decoder = new AudioDecoder({
      output: (data) => this.output(data),
      // A broken stream: start again with a fresh decoder.
      error: () => {
        this.decoder = this.newDecoder();
      },
    });
    decoder.configure({ codec: CODEC, sampleRate: SAMPLE_RATE, numberOfChannels: 1 });
    return decoder;
  }

  private output(data: AudioData): void {
    const samples = new Float32Array(data.numberOfFrames);
    data.copyTo(samples, { planeIndex: 0, format: 'f32-planar' });
    this.decodedFrames++;
    this.firstTimestampUs ??= data.timestamp;
    this.lastTimestampUs = data.timestamp;
    data.close();
    this.toneHz = this.meter.push(samples, SAMPLE_RATE);
  }

  decode(bytes: Uint8Array, timestampUs: number): void {
    if (this.decoder.state !== 'configured') return;
    this.decoder.decode(
      new EncodedAudioChunk({ type: 'key', timestamp: timestampUs, data: bytes }),
    );
  }

  close(): void {
    if (this.decoder.state !== 'closed') this.decoder.close();
  }
}

/** A reassembled frame of a remote's audio stream, still sealed. */
export interface SealedAudioFrame {
  readonly bytes: Uint8Array;
  readonly streamId: bigint;
  readonly publisherId: bigint;
  readonly captureTimeUs: number;
}

/**
 * Every remote's audio: each frame decrypts as it arrives (side by side) and is decoded in
 * arrival order; a remote whose backlog passes MAX_AUDIO_BACKLOG loses the frames that arrive
 * then (late audio is worth less than a gap).
 */
export class AudioReceivers {
  readonly remotes = new Map<string, RemoteAudio>();
  /** Frames that did not open, or opened under another member's key. */
  decryptFailures = 0;
  /** Frames dropped because this page was behind. */
  get behindDrops(): number {
    let dropped = 0;
    for (const remote of this.remotes.values()) dropped += remote.backlog.dropped;
    return dropped;
  }

  received(participant: string, frame: SealedAudioFrame, member: E2eeMember): void {
    let remote = this.remotes.get(participant);
    if (remote === undefined) {
      remote = new RemoteAudio(participant);
      this.remotes.set(participant, remote);
    }
    const target = remote;
    const arrival = target.backlog.arrive(false);
    if (arrival === undefined) return;
    const opening = member
      .openFrom(participant, frame.bytes, frameMetadata(frame.streamId, frame.publisherId))
      .catch(() => undefined);
    target.chain = target.chain.then(async () => {
      const opened = await opening;
      target.backlog.take(arrival);
      if (opened === undefined) {
        this.decryptFailures++;
        return;
      }
      target.decode(opened.plaintext, frame.captureTimeUs);
    });
  }

  /** Closes the decoders of remotes no longer in `members`; returns who they were. */
  retain(members: readonly string[]): string[] {
    const gone = [...this.remotes.keys()].filter((p) => !members.includes(p));
    for (const participant of gone) {
      this.remotes.get(participant)?.close();
      this.remotes.delete(participant);
    }
    return gone;
  }

  close(): void {
    this.retain([]);
  }
}

/** A remote's audio as the page shows it (data attributes) and tests read it. */
export function audioSummary(remote: RemoteAudio): {
  decodedFrames: number;
  toneHz: number | null;
  firstTimestampUs: number | null;
  lastTimestampUs: number | null;
} {
  return {
    decodedFrames: remote.decodedFrames,
    toneHz: remote.toneHz === undefined ? null : Math.round(remote.toneHz * 10) / 10,
    firstTimestampUs: remote.firstTimestampUs ?? null,
    lastTimestampUs: remote.lastTimestampUs ?? null,
  };
}
