/**
 * The vocabulary of the layout engine: what the meeting looks like (the roster), what one
 * subscriber asks for (the layout request) and what it gets (slot assignments).
 */
import type { MediaKind, ParticipantId } from '../ids.ts';

/** Largest number of rows, and of columns, in a grid (spec: "up to 256 rows or columns"). */
export const MAX_GRID_DIMENSION = 256;
/** Largest thumbnail strip in speaker view: one grid row. */
export const MAX_SPEAKER_THUMBNAILS = MAX_GRID_DIMENSION;

/**
 * A subscriber-chosen id that names one slot on the subscriber's connection.
 * Valid values are non-negative safe integers.
 */
export type StreamId = number;

/** One participant present in the meeting. */
export interface RosterParticipant {
  readonly id: ParticipantId;
  /**
   * Place in joining order, lower joined earlier: a join sequence number or a join time in any
   * unit. Must be a finite number; ties are broken by participant id.
   */
  readonly joinOrder: number;
  /** The media the participant publishes now. */
  readonly publishes: readonly MediaKind[];
}

/** The meeting as the layout engine sees it. */
export interface Roster {
  /** Everyone present now. */
  readonly participants: readonly RosterParticipant[];
  /**
   * Participants who were in the meeting and have left. A subscriber may keep them pinned (their
   * slot goes to the next in priority); pinning anyone neither present nor departed is an error.
   */
  readonly departed: readonly ParticipantId[];
  /**
   * Active-speaker history, most recent first. Entries for absent participants and repeats
   * after the first mention are ignored.
   */
  readonly activeSpeakers: readonly ParticipantId[];
}

/** The customisation options shared by every layout type (spec: "Customization Options"). */
export interface LayoutOptions {
  /** Participants who must be shown, in this order, before anyone else. Default: none. */
  readonly pinnedUsers?: readonly ParticipantId[];
  /** Participants who must never be shown. Default: none. */
  readonly excludedUsers?: readonly ParticipantId[];
  /** Whether the subscriber's own tile may be shown. Default: false. */
  readonly includeSelf?: boolean;
  /**
   * When true (the default), participants who publish audio only rank below every participant
   * shown by video (screen or camera), pinned users excepted: among themselves they keep the
   * usual order (active speakers by recency, then join order). When false, an audio-only
   * participant ranks exactly like a camera participant in the same position.
   */
  readonly preferVideoOverAudio?: boolean;
}

/** An R x C grid of equal tiles, filled row by row: slot i is row floor(i / C), column i % C. */
export interface GridRequest extends LayoutOptions {
  readonly type: 'grid';
  /** 1..MAX_GRID_DIMENSION. */
  readonly rows: number;
  /** 1..MAX_GRID_DIMENSION. */
  readonly columns: number;
  /** One id per slot, rows * columns of them, all different. */
  readonly streamIds: readonly StreamId[];
}

/**
 * Speaker view: slot 0 is the main slot and shows the current active speaker (the most recent
 * speaker who may be shown); when nobody who may be shown has spoken it shows the first
 * participant in grid priority; this slot follows the speaker. Slots 1..thumbnails are a
 * thumbnail strip filled, and kept stable, like a grid with everyone else.
 */
export interface SpeakerRequest extends LayoutOptions {
  readonly type: 'speaker';
  /** Size of the thumbnail strip, 0..MAX_SPEAKER_THUMBNAILS. */
  readonly thumbnails: number;
  /** 1 + thumbnails ids, all different: the main slot's first. */
  readonly streamIds: readonly StreamId[];
}

export type LayoutRequest = GridRequest | SpeakerRequest;

/** One published stream: whose, and which kind. */
export interface SourceRef {
  readonly participant: ParticipantId;
  readonly kind: MediaKind;
}

/**
 * Why a participant is shown: pinned by the subscriber, sharing a screen, an active speaker, or
 * filling in by join order.
 */
export type SlotReason = 'pinned' | 'screen-share' | 'active-speaker' | 'join-order';

/** One slot of an assignment: its stream id and what it shows, if anything. */
export type Slot =
  | { readonly streamId: StreamId; readonly shows: null }
  | { readonly streamId: StreamId; readonly shows: SourceRef; readonly reason: SlotReason };

/** The slots of one subscriber's layout, in the request's stream id order. */
export interface LayoutAssignment {
  readonly type: LayoutRequest['type'];
  readonly slots: readonly Slot[];
}

/** A roster the engine cannot read. */
export type RosterError =
  | { readonly kind: 'duplicate-participant'; readonly participant: ParticipantId }
  | {
      readonly kind: 'invalid-join-order';
      readonly participant: ParticipantId;
      readonly value: number;
    };

/** A layout request the engine refuses. */
export type RequestError =
  | {
      readonly kind: 'invalid-dimension';
      readonly field: 'rows' | 'columns' | 'thumbnails';
      readonly value: number;
      readonly min: number;
      readonly max: number;
    }
  | {
      readonly kind: 'stream-id-count-mismatch';
      readonly expected: number;
      readonly actual: number;
    }
  | { readonly kind: 'invalid-stream-id'; readonly index: number; readonly value: number }
  | {
      readonly kind: 'duplicate-stream-id';
      readonly streamId: StreamId;
      readonly firstIndex: number;
      readonly index: number;
    }
  | { readonly kind: 'duplicate-pinned-user'; readonly participant: ParticipantId }
  | { readonly kind: 'unknown-pinned-user'; readonly participant: ParticipantId }
  | { readonly kind: 'pinned-and-excluded'; readonly participant: ParticipantId }
  | { readonly kind: 'self-pinned-without-include-self'; readonly participant: ParticipantId };

export type LayoutError = RosterError | RequestError;
