/**
 * The data the routing planner reads and writes. Bandwidth is in bits per second, latency in
 * milliseconds. Everything is plain data so the simulator, the Meeting Controller and Redis can
 * hold it as is.
 */
import type { HandlerId, MediaKind, MeetingId, ParticipantId, RegionId } from '../ids.ts';

/** Bitrate of one forwarded stream when the caller gives none (spec 000, round 3: 2.5 Mbps). */
export const DEFAULT_STREAM_BITRATE_BPS = 2_500_000;
/** A handler above this share of its capacity is in the warning band (spec 001: 70%). */
export const BANDWIDTH_WARNING_RATIO = 0.7;
/** No plan may take a handler above this share of its capacity (spec 001: 80% hard limit). */
export const BANDWIDTH_HARD_LIMIT_RATIO = 0.8;
/** Longest handler-to-handler chain any delivered stream may take (spec 000, round 3). */
export const MAX_CASCADE_HOPS = 2;

/** Optional features a handler may offer (spec 003: transcoding, mixing). */
export type HandlerCapability = 'transcoding' | 'audio-mixing';

/** One participant of the meeting being planned. */
export interface RoutingParticipant {
  readonly id: ParticipantId;
  /** The region the participant connects from. */
  readonly region: RegionId;
  /** Position in the meeting's join sequence; earlier joiners are placed first. */
  readonly joinOrder: number;
  /** The handler the participant is connected to right now, if any. */
  readonly currentHandler?: HandlerId;
  /** Capabilities the participant would like its handler to have. */
  readonly wants?: readonly HandlerCapability[];
}

/** A Media Handler the meeting may use. */
export interface RoutingHandler {
  readonly id: HandlerId;
  readonly region: RegionId;
  /** The datacenter (site) inside the region. */
  readonly site: string;
  /** Network capacity in bits per second. */
  readonly capacityBps: number;
  /** Bandwidth already carried for other meetings, in bits per second. */
  readonly loadBps: number;
  readonly healthy: boolean;
  /** Network quality score in [0, 1]; higher is better. */
  readonly quality: number;
  readonly capabilities: readonly HandlerCapability[];
}

/** One published stream: a participant's camera, screen or audio. */
export interface StreamRef {
  readonly publisher: ParticipantId;
  readonly kind: MediaKind;
}

/** A subscriber wants to receive one stream (the layout engine produces these). */
export interface StreamDemand extends StreamRef {
  readonly subscriber: ParticipantId;
}

/** Latency in milliseconds from one region to another; a missing entry is unknown. */
export type LatencyTable = Readonly<Record<RegionId, Readonly<Record<RegionId, number>>>>;

/** Everything the planner needs to route one meeting. */
export interface RoutingInput {
  readonly meeting: MeetingId;
  readonly participants: readonly RoutingParticipant[];
  readonly handlers: readonly RoutingHandler[];
  /** The streams each subscriber shows; a stream nobody shows is not forwarded. */
  readonly demand: readonly StreamDemand[];
  readonly latencyMs: LatencyTable;
  /** Bits per second of one stream; defaults to {@link DEFAULT_STREAM_BITRATE_BPS}. */
  readonly streamBitrateBps?: number;
  /** The plan in force, if any: its placements are reused where they still fit. */
  readonly previous?: RoutingPlan;
}

/** A participant's home handler: the one it receives all its streams from. */
export interface HomeAssignment {
  readonly participant: ParticipantId;
  readonly handler: HandlerId;
}

/** A publisher sends one of its streams to a handler (a client-to-handler stream). */
export interface PublishRoute extends StreamRef {
  readonly type: 'publish';
  readonly handler: HandlerId;
}

/** A handler forwards a stream to another handler (a handler-to-handler stream). */
export interface CascadeRoute extends StreamRef {
  readonly type: 'cascade';
  readonly from: HandlerId;
  readonly to: HandlerId;
}

/** A handler forwards a stream to a subscriber (a handler-to-client stream). */
export interface DeliverRoute extends StreamRef {
  readonly type: 'deliver';
  readonly handler: HandlerId;
  readonly subscriber: ParticipantId;
}

/** One leg of a stream's path from publisher to subscriber. */
export type Route = PublishRoute | CascadeRoute | DeliverRoute;

/** Bandwidth a handler carries once the plan is in force. */
export interface HandlerLoad {
  readonly handler: HandlerId;
  /** Bits per second this meeting puts on the handler (streams in plus streams out). */
  readonly meetingBps: number;
  /** Meeting load plus the load carried for other meetings. */
  readonly totalBps: number;
  readonly hardLimitBps: number;
}

/**
 * A routing plan for one meeting. Every list is sorted canonically (homes by participant;
 * routes by publisher and kind, then handler, target handler or subscriber), so equal inputs
 * give deeply equal plans.
 */
export interface RoutingPlan {
  readonly meeting: MeetingId;
  /** The handler that relays streams between the meeting's handlers; null for an empty meeting. */
  readonly hub: HandlerId | null;
  readonly homes: readonly HomeAssignment[];
  readonly publishes: readonly PublishRoute[];
  readonly cascades: readonly CascadeRoute[];
  readonly deliveries: readonly DeliverRoute[];
  /** Every handler the plan uses, with the bandwidth it will carry. */
  readonly loads: readonly HandlerLoad[];
}

/** A handler the plan could not keep under its hard limit. */
export interface HandlerOverload {
  readonly handler: HandlerId;
  readonly plannedBps: number;
  readonly hardLimitBps: number;
}

/** Why the planner could not produce a plan. */
export type RoutingError =
  | { readonly kind: 'duplicate-participant'; readonly participant: ParticipantId }
  | { readonly kind: 'duplicate-handler'; readonly handler: HandlerId }
  | { readonly kind: 'invalid-handler'; readonly handler: HandlerId; readonly reason: string }
  | { readonly kind: 'invalid-bitrate'; readonly bitrateBps: number }
  | { readonly kind: 'unknown-participant'; readonly participant: ParticipantId }
  | { readonly kind: 'self-subscription'; readonly participant: ParticipantId }
  | {
      /** A demanded stream whose kind is not camera, screen or audio. */
      readonly kind: 'unknown-media-kind';
      readonly participant: ParticipantId;
      readonly mediaKind: string;
    }
  | { readonly kind: 'no-healthy-handler' }
  | {
      /** No healthy handler has room: `unplaced` found no handler, `overloaded` stayed over. */
      readonly kind: 'insufficient-capacity';
      readonly unplaced: readonly ParticipantId[];
      readonly overloaded: readonly HandlerOverload[];
    };
