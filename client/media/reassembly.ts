/**
 * Reassembly of media frames from datagrams (docs/protocol.md, "Media datagram"): a frame's
 * SFrame ciphertext travels as `fragmentCount` consecutive slices, each in one datagram with the
 * same stream id and frame id. The assembler joins them in fragment order once every slice has
 * arrived; it keeps a bounded number of frames in progress per stream and drops the oldest when a
 * newer frame completes or the bound is reached (a lost fragment loses its frame, never more).
 * Transport-independent: the browser client and Node clients share it.
 */
import type { DatagramHeader } from '../../core/protocol/datagram.ts';

/** A frame whose every fragment arrived. */
export interface AssembledFrame {
  readonly streamId: bigint;
  readonly publisherId: bigint;
  readonly frameId: number;
  readonly keyframe: boolean;
  readonly captureTimeUs: number;
  /** The frame's SFrame ciphertext, fragments joined in order. */
  readonly bytes: Uint8Array;
}

/** Why a datagram or a partial frame was dropped. */
export type AssemblyDrop =
  'inconsistent-fragment-count' | 'duplicate-fragment' | 'late' | 'superseded' | 'too-large';

interface Partial {
  readonly frameId: number;
  readonly count: number;
  readonly parts: (Uint8Array | undefined)[];
  received: number;
  bytes: number;
  keyframe: boolean;
  captureTimeUs: number;
  publisherId: bigint;
}

interface StreamState {
  /** Frames in progress by frame id, insertion order = arrival order of their first slice. */
  readonly partials: Map<number, Partial>;
  /** The newest frame id completed (frame ids are 32-bit and wrap), or undefined. */
  lastCompleted: number | undefined;
}

export interface FrameAssemblerOptions {
  /** Frames in progress per stream (default 8). */
  readonly maxPartialFrames?: number;
  /** Largest frame to assemble, in bytes (default 1 MiB). */
  readonly maxFrameBytes?: number;
  /**
   * A frame id more than this many frames behind the last completed one means the publisher
   * restarted its numbering (default 64); nearer ones are late and dropped.
   */
  readonly restartDistance?: number;
}

/** Is `a` before `b` in 32-bit wrapping order (within half the space)? */
export function frameIdBefore(a: number, b: number): boolean {
  const diff = (b - a) >>> 0;
  return diff !== 0 && diff < 0x80000000;
}

export class FrameAssembler {
  private readonly streams = new Map<bigint, StreamState>();
  private readonly maxPartial: number;
  private readonly maxBytes: number;
  private readonly restartDistance: number;
  /** Streams started afresh because their publisher numbered frames from the start again. */
  restarts = 0;
  /** Counts of drops by reason, for status displays and tests. */
  readonly drops: Record<AssemblyDrop, number> = {
    'inconsistent-fragment-count': 0,
    'duplicate-fragment': 0,
    late: 0,
    superseded: 0,
    'too-large': 0,
  };

  constructor(options: FrameAssemblerOptions = {}) {
    this.maxPartial = options.maxPartialFrames ?? 8;
    this.maxBytes = options.maxFrameBytes ?? 1 << 20;
    this.restartDistance = options.restartDistance ?? 64;
  }

  /**
   * Takes one datagram's header and payload (the payload is copied when kept); returns the
   * frame it completes, or undefined.
   */
  push(header: DatagramHeader, payload: Uint8Array): AssembledFrame | undefined {
    let stream = this.streams.get(header.streamId);
    if (stream === undefined) {
      stream = { partials: new Map(), lastCompleted: undefined };
      this.streams.set(header.streamId, stream);
    }
    if (
      stream.lastCompleted !== undefined &&
      !frameIdBefore(stream.lastCompleted, header.frameId)
    ) {
      const behind = (stream.lastCompleted - header.frameId) >>> 0;
      if (behind <= this.restartDistance) {
        this.drops.late++;
        return undefined;
      }
      // Far behind: the publisher numbers its frames afresh (a new media session).
      stream.partials.clear();
      stream.lastCompleted = undefined;
      this.restarts++;
    }
    let partial = stream.partials.get(header.frameId);
    if (partial === undefined) {
      if (stream.partials.size >= this.maxPartial) {
        const oldest = stream.partials.keys().next().value as number;
        stream.partials.delete(oldest);
        this.drops.superseded++;
      }
      partial = {
        frameId: header.frameId,
        count: header.fragmentCount,
        parts: new Array<Uint8Array | undefined>(header.fragmentCount),
        received: 0,
        bytes: 0,
        keyframe: header.keyframe,
        captureTimeUs: header.captureTimeUs,
        publisherId: header.publisherId,
      };
      stream.partials.set(header.frameId, partial);
    } else if (partial.count !== header.fragmentCount) {
      this.drops['inconsistent-fragment-count']++;
      return undefined;
    }
    if (partial.parts[header.fragmentIndex] !== undefined) {
      this.drops['duplicate-fragment']++;
      return undefined;
    }
    if (partial.bytes + payload.length > this.maxBytes) {
      stream.partials.delete(header.frameId);
      this.drops['too-large']++;
      return undefined;
    }
    partial.parts[header.fragmentIndex] = payload.slice();
    partial.received++;
    partial.bytes += payload.length;
    partial.keyframe ||= header.keyframe;
    if (partial.received < partial.count) return undefined;

    stream.partials.delete(header.frameId);
    // Every older frame still in progress can no longer be decoded in order: drop it.
    for (const id of [...stream.partials.keys()]) {
      if (frameIdBefore(id, header.frameId)) {
        stream.partials.delete(id);
        this.drops.superseded++;
      }
    }
    stream.lastCompleted = header.frameId;
    const bytes = new Uint8Array(partial.bytes);
    let offset = 0;
    for (const part of partial.parts) {
      bytes.set(part as Uint8Array, offset);
      offset += (part as Uint8Array).length;
    }
    return {
      streamId: header.streamId,
      publisherId: partial.publisherId,
      frameId: header.frameId,
      keyframe: partial.keyframe,
      captureTimeUs: partial.captureTimeUs,
      bytes,
    };
  }

  /** Forgets a stream (its publisher left): the next frame starts it afresh. */
  forget(streamId: bigint): void {
    this.streams.delete(streamId);
  }
}
