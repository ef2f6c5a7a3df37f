/**
 * Video with WebCodecs: a synthetic camera (a canvas that draws the participant's id, a frame
 * counter and the machine-readable tag of tag.ts) encoded to VP8, and a decoder per remote
 * publisher that draws what it decodes and reads the tag back from the pixels.
 */
import { readTag, tagCells, tagGeometry, TAG_BITS, type FrameTag } from './tag.ts';

export const VIDEO_WIDTH = 320;
export const VIDEO_HEIGHT = 240;
export const FRAME_RATE = 15;
/** A keyframe at least this often, so a receiver that lost one recovers. */
const KEYFRAME_INTERVAL = FRAME_RATE * 2;
const CODEC = 'vp8';

export interface EncodedFrame {
  readonly bytes: Uint8Array;
  readonly keyframe: boolean;
  readonly counter: number;
  readonly captureTimeUs: number;
}

/** The hue a participant's frames are painted in (from its code, so each differs). */
const hueOf = (code: number) => code % 360;

/** Paints one synthetic frame. */
export function paintFrame(
  ctx: CanvasRenderingContext2D,
  participant: string,
  code: number,
  counter: number,
  source: VideoSource = 'camera',
): void {
  const { cell, top } = tagGeometry(VIDEO_WIDTH, VIDEO_HEIGHT);
  ctx.fillStyle = source === 'screen' ? '#20252b' : `hsl(${hueOf(code)} 45% 32%)`;
  ctx.fillRect(0, 0, VIDEO_WIDTH, VIDEO_HEIGHT);
  // A moving bar, so the picture changes between frames as a camera's would.
  ctx.fillStyle = `hsl(${hueOf(code)} 60% 55%)`;
  ctx.fillRect((counter * 6) % VIDEO_WIDTH, 0, 24, top);
  ctx.fillStyle = '#fff';
  ctx.textAlign = 'center';
  if (source === 'screen') {
    ctx.font = 'bold 24px sans-serif';
    ctx.fillText('screen', VIDEO_WIDTH / 2, 50);
  }
  ctx.font = 'bold 30px sans-serif';
  ctx.fillText(participant.slice(0, 16), VIDEO_WIDTH / 2, 90);
  ctx.font = '26px monospace';
  ctx.fillText(`frame ${counter}`, VIDEO_WIDTH / 2, 140);
  tagCells({ counter, code }).forEach((white, i) => {
    ctx.fillStyle = white ? '#fff' : '#000';
    ctx.fillRect((i % TAG_BITS) * cell, top + Math.floor(i / TAG_BITS) * cell, cell, cell);
  });
}

/** What a synthetic source stands for: the camera, or a shared screen. */
export type VideoSource = 'camera' | 'screen';

/**
 * A canvas source encoded to VP8 at FRAME_RATE: the synthetic camera, or (source `screen`) a
 * synthetic shared screen that draws "screen", the participant id and its frame counter.
 */
export class SyntheticCamera {
  readonly canvas: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;
  private readonly encoder: VideoEncoder;
  private timer: ReturnType<typeof setInterval> | undefined;
  private counter = 0;
  private keyframeWanted = true;
  onFrame: ((frame: EncodedFrame) => void) | null = null;
  onError: ((error: Error) => void) | null = null;

  constructor(
    private readonly participant: string,
    private readonly code: number,
    private readonly source: VideoSource = 'camera',
  ) {
    this.canvas = document.createElement('canvas');
    this.canvas.width = VIDEO_WIDTH;
    this.canvas.height = VIDEO_HEIGHT;
    this.ctx = this.canvas.getContext('2d') as CanvasRenderingContext2D;
    this.encoder = new VideoEncoder({
      output: (chunk) => {
        const bytes = new Uint8Array(chunk.byteLength);
        chunk.copyTo(bytes);
        this.onFrame?.({
          bytes,
          keyframe: chunk.type === 'key',
          counter: Math.round(chunk.timestamp / (1e6 / FRAME_RATE)),
          captureTimeUs: Math.floor((performance.timeOrigin + performance.now()) * 1000),
        });
      },
      error: (error) => this.onError?.(error),
    });
    this.encoder.configure({
      codec: CODEC,
      width: VIDEO_WIDTH,
      height: VIDEO_HEIGHT,
      bitrate: 400_000,
      framerate: FRAME_RATE,
      latencyMode: 'realtime',
    });
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.tick(), 1000 / FRAME_RATE);
    this.tick();
  }

  /** The next frame is a keyframe (a new receiver, or one that lost its decoder state). */
  requestKeyframe(): void {
    this.keyframeWanted = true;
  }

  /**
   * A keyframe now (a receiver waits for one): encoded at once, the frame clock restarting
   * from it, so the frame rate stays as it was.
   */
  keyframeNow(): void {
    this.keyframeWanted = true;
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), 1000 / FRAME_RATE);
    this.tick();
  }

  private tick(): void {
    if (this.encoder.state !== 'configured' || this.encoder.encodeQueueSize > 2) return;
    const counter = this.counter++;
    paintFrame(this.ctx, this.participant, this.code, counter, this.source);
    const frame = new VideoFrame(this.canvas, { timestamp: counter * (1e6 / FRAME_RATE) });
    const keyFrame = this.keyframeWanted || counter % KEYFRAME_INTERVAL === 0;
    this.keyframeWanted = false;
    this.encoder.encode(frame, { keyFrame });
    frame.close();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.encoder.state !== 'closed') this.encoder.close();
  }
}

/** One remote publisher's decoder, its canvas and what it last showed. */
export class RemoteVideo {
  readonly canvas: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;
  private decoder: VideoDecoder;
  private waitingForKeyframe = true;
  /** The last decoded picture as RGBA, painted into the canvas and read for its tag. */
  private readonly picture = new ImageData(VIDEO_WIDTH, VIDEO_HEIGHT);
  /**
   * Pictures are converted one after another, in output order (each conversion is
   * asynchronous); false once `VideoFrame.copyTo` has refused or ignored an RGBA conversion
   * (an older browser), after which frames are drawn and their tag strip read back.
   */
  private painting: Promise<void> = Promise.resolve();
  private convertsToRgba = true;
  decodedFrames = 0;
  lastTag: FrameTag | undefined;
  firstFrameAt: number | undefined;
  onDecoded: ((video: RemoteVideo) => void) | null = null;

  constructor(
    readonly participant: string,
    readonly source: VideoSource = 'camera',
  ) {
    this.canvas = document.createElement('canvas');
    this.canvas.width = VIDEO_WIDTH;
    this.canvas.height = VIDEO_HEIGHT;
    this.ctx = this.canvas.getContext('2d', {
      willReadFrequently: true,
    }) as CanvasRenderingContext2D;
    this.decoder = this.newDecoder();
  }

  private newDecoder(): VideoDecoder {
    const decoder = new VideoDecoder({
      output: (frame) => {
        // A picture that failed to show (its frame is closed all the same) does not stop the next.
        this.painting = this.painting.then(() => this.paint(frame)).catch(() => undefined);
      },
      error: () => {
        // A broken stream: start again at the next keyframe.
        this.waitingForKeyframe = true;
        this.decoder = this.newDecoder();
      },
    });
    decoder.configure({ codec: CODEC, optimizeForLatency: true });
    return decoder;
  }

  /**
   * Shows a decoded frame and reads its tag. The frame is converted to RGBA by the browser's
   * colour converter (`copyTo`, about 0.1 ms for 320x240 where drawing the frame into a canvas
   * and reading it back took 2-3 ms of the page's main thread) and the tag is read from those
   * pixels. Where the browser cannot convert, the frame is drawn and only the tag's rows are
   * read back.
   */
  private async paint(frame: VideoFrame): Promise<void> {
    try {
      if (this.convertsToRgba) {
        try {
          // A browser that does not know `format` copies the frame's own planes instead (I420:
          // three planes) without a word: only a single plane is RGBA.
          const planes = await frame.copyTo(this.picture.data, { format: 'RGBA' });
          if (planes.length !== 1) this.convertsToRgba = false;
        } catch {
          this.convertsToRgba = false;
        }
      }
      let tag: FrameTag | undefined;
      if (this.convertsToRgba) {
        this.ctx.putImageData(this.picture, 0, 0);
        tag = readTag(this.picture.data, VIDEO_WIDTH, VIDEO_HEIGHT);
      } else {
        this.ctx.drawImage(frame, 0, 0, VIDEO_WIDTH, VIDEO_HEIGHT);
        const { top } = tagGeometry(VIDEO_WIDTH, VIDEO_HEIGHT);
        const rows = this.ctx.getImageData(0, top, VIDEO_WIDTH, VIDEO_HEIGHT - top).data;
        tag = readTag(rows, VIDEO_WIDTH, VIDEO_HEIGHT, top);
      }
      this.lastTag = tag ?? this.lastTag;
    } finally {
      frame.close();
    }
    this.decodedFrames++;
    this.firstFrameAt ??= performance.now();
    this.onDecoded?.(this);
  }

  /** Decodes one frame; returns false when it had to be skipped (waiting for a keyframe). */
  decode(bytes: Uint8Array, keyframe: boolean, timestampUs: number): boolean {
    if (this.waitingForKeyframe && !keyframe) return false;
    if (this.decoder.state !== 'configured') return false;
    this.waitingForKeyframe = false;
    this.decoder.decode(
      new EncodedVideoChunk({
        type: keyframe ? 'key' : 'delta',
        timestamp: timestampUs,
        data: bytes,
      }),
    );
    return true;
  }

  /** Frames handed to the decoder and not decoded yet. */
  get decodeQueueSize(): number {
    return this.decoder.state === 'configured' ? this.decoder.decodeQueueSize : 0;
  }

  /** Decoding needs a keyframe again (frames were lost). */
  resync(): void {
    this.waitingForKeyframe = true;
  }

  get wantsKeyframe(): boolean {
    return this.waitingForKeyframe;
  }

  close(): void {
    if (this.decoder.state !== 'closed') this.decoder.close();
  }
}
