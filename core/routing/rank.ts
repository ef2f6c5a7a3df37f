/**
 * Handler ranking, in the spec's priority order (003, "Handler Selection Criteria"): geographic
 * proximity, current load, existing connections, network quality, capabilities; on a handler the
 * participant already uses, only the hard limit counts as load ({@link rankedBand}). This is the one
 * ordering rule for handlers: {@link rankHandlers} ranks them for one participant, and the
 * planner orders candidates with the same {@link isBetterCandidate} when it picks the meeting's
 * handlers, homes each participant and, failing a spread, picks the handler for the whole
 * meeting.
 */
import type { HandlerId } from '../ids.ts';
import { murmur3 } from '../placement/hash.ts';
import { compareText } from './keys.ts';
import {
  BANDWIDTH_HARD_LIMIT_RATIO,
  BANDWIDTH_WARNING_RATIO,
  type LatencyTable,
  type RoutingHandler,
  type RoutingParticipant,
} from './types.ts';

/** Where a handler would stand after taking a participant, by the spec's 70% / 80% bands. */
export type LoadTier = 'below-warning' | 'below-hard-limit' | 'over-hard-limit';

/** How one healthy handler scores for one participant. */
export interface HandlerScore {
  readonly handler: RoutingHandler;
  /** Region-to-region latency in ms; `Infinity` when the table does not know it. */
  readonly latencyMs: number;
  /** Bits per second the handler would carry with the participant on it. */
  readonly projectedBps: number;
  readonly loadTier: LoadTier;
  /** False when the participant would take the handler past its hard limit. */
  readonly fits: boolean;
  /** The participant is connected to, or was placed on, this handler already. */
  readonly existingConnection: boolean;
  /** How many of the participant's wanted capabilities the handler lacks. */
  readonly missingCapabilities: number;
}

/** What {@link rankHandlers} needs to know about the participant being placed. */
export interface RankRequest {
  readonly participant: RoutingParticipant;
  /** Bandwidth in bits per second the participant adds to the handler it lands on. */
  readonly costBps: number;
  readonly latencyMs: LatencyTable;
  /** Handlers the participant used before (e.g. its home in the previous plan). */
  readonly previousHandlers?: readonly HandlerId[];
  /** Bandwidth already planned on each handler for this meeting, beyond `loadBps`. */
  readonly plannedBps?: ReadonlyMap<HandlerId, number>;
  /** The key whose {@link spreadRanks} break full ties (the planner uses the meeting id). */
  readonly spreadKey?: string;
}

/** Latency in ms from one region to another: 0 within a region unless given, else `Infinity`. */
export function latencyBetween(table: LatencyTable, from: string, to: string): number {
  const known = (table as Record<string, Record<string, number> | undefined>)[from]?.[to];
  if (known !== undefined) return known;
  return from === to ? 0 : Number.POSITIVE_INFINITY;
}

/** The most bandwidth a plan may put on the handler, in bits per second. */
export function hardLimitBps(handler: RoutingHandler): number {
  return handler.capacityBps * BANDWIDTH_HARD_LIMIT_RATIO;
}

/**
 * The load band of a total bandwidth against a hard limit and the start of the warning band:
 * 0 below the warning band, 1 in it (up to and including the hard limit), 2 past the hard limit.
 */
export function bandOf(totalBps: number, hardLimit: number, warningFrom: number): number {
  if (totalBps > hardLimit) return 2;
  return totalBps >= warningFrom ? 1 : 0;
}

/**
 * The band a candidate is ranked by: its load band, except that the warning band counts as
 * below it on a handler the participant is already connected to or placed on. Only the hard
 * limit (or health) moves an existing connection; the warning band steers new placements. A
 * participant that left a handler for entering the warning band would be chased back and forth
 * by meetings reading each other's load a report later, each move a reconnect for the client.
 */
export function rankedBand(band: number, existing: boolean): number {
  return existing && band === 1 ? 0 : band;
}

/**
 * Each handler's tie-break rank for `key` (a meeting id): a hash of the key and the handler id
 * (rendezvous hashing). Candidates equal on every criterion go to the lower rank, so meetings
 * that see the same handlers alike spread over them instead of all taking the one with the
 * lowest id: controllers placing meetings between two load reports would otherwise pile them
 * onto one handler, and the next reports would move them all off again.
 */
export function spreadRanks(key: string, handlers: readonly RoutingHandler[]): Uint32Array {
  const ranks = new Uint32Array(handlers.length);
  handlers.forEach((handler, h) => {
    ranks[h] = murmur3(`${key}\u0000${handler.id}`, SPREAD_SEED);
  });
  return ranks;
}

const SPREAD_SEED = 0x6d630001;

/** The start of the handler's warning band, in bits per second. */
export function warningFromBps(handler: RoutingHandler): number {
  return handler.capacityBps * BANDWIDTH_WARNING_RATIO;
}

const TIERS: readonly LoadTier[] = ['below-warning', 'below-hard-limit', 'over-hard-limit'];

/** The band a handler's total bandwidth falls in. */
export function loadTier(totalBps: number, handler: RoutingHandler): LoadTier {
  return TIERS[bandOf(totalBps, hardLimitBps(handler), warningFromBps(handler))] as LoadTier;
}

/** 0, 1 or 2: how far up the bands a tier is. */
export function tierRank(tier: LoadTier): number {
  return TIERS.indexOf(tier);
}

/** How many of the wanted capabilities the handler lacks. */
export function missingCapabilities(
  wants: RoutingParticipant['wants'],
  handler: RoutingHandler,
): number {
  let missing = 0;
  for (const capability of wants ?? []) if (!handler.capabilities.includes(capability)) missing++;
  return missing;
}

/** Scores one handler for the participant in `request`. */
export function scoreHandler(request: RankRequest, handler: RoutingHandler): HandlerScore {
  const { participant } = request;
  const projectedBps =
    handler.loadBps + (request.plannedBps?.get(handler.id) ?? 0) + request.costBps;
  const tier = loadTier(projectedBps, handler);
  return {
    handler,
    latencyMs: latencyBetween(request.latencyMs, participant.region, handler.region),
    projectedBps,
    loadTier: tier,
    fits: tier !== 'over-hard-limit',
    existingConnection:
      participant.currentHandler === handler.id ||
      (request.previousHandlers ?? []).includes(handler.id),
    missingCapabilities: missingCapabilities(participant.wants, handler),
  };
}

/**
 * How each candidate handler scores for one placement (a participant, or a handler picked for
 * the meeting), by handler index; callers fill the arrays and may reuse them from one placement
 * to the next. Criteria a caller does not use stay 0 and never decide.
 */
export interface CandidateScores {
  /** 1 when the placement keeps the handler within its hard limit. */
  readonly fits: Uint8Array;
  /** Latency in ms, the candidate `h`'s at `latency[latencyAt + h]`. */
  latency: Float64Array;
  latencyAt: number;
  /** Load band after the placement ({@link bandOf}). */
  readonly band: Uint8Array;
  /** 1 when the handler's site already has a handler of the meeting (meeting picks only). */
  readonly siteTaken: Uint8Array;
  /** Connections to reuse: participants connected to or previously placed on the handler. */
  readonly existing: Int32Array;
  /** 1 when the handler is one of the meeting's handlers. */
  readonly inMeeting: Uint8Array;
  /** 1 when the handler already holds its even share of the meeting's participants. */
  readonly atShare: Uint8Array;
  readonly quality: Float64Array;
  /** Wanted capabilities the handler lacks. */
  readonly missing: Int32Array;
  /** Participants of the meeting already homed on the handler. */
  readonly headcount: Int32Array;
  /** Tie-break ranks ({@link spreadRanks}); all 0 leaves full ties to the handler id. */
  spread: Uint32Array;
}

/** Score arrays for `count` candidates, all criteria 0. */
export function candidateScores(count: number): CandidateScores {
  return {
    fits: new Uint8Array(count),
    latency: new Float64Array(count),
    latencyAt: 0,
    band: new Uint8Array(count),
    siteTaken: new Uint8Array(count),
    existing: new Int32Array(count),
    inMeeting: new Uint8Array(count),
    atShare: new Uint8Array(count),
    quality: new Float64Array(count),
    missing: new Int32Array(count),
    headcount: new Int32Array(count),
    spread: new Uint32Array(count),
  };
}

/**
 * Whether candidate `a` is a better handler than candidate `b`: one it fits on first, then the
 * spec's order (proximity, load band, existing connections, network quality, capabilities)
 * with the meeting's criteria where they belong: a site the meeting has no handler in yet after
 * the load band; after existing connections, a handler of the meeting, then one below its even
 * share; after capabilities, the handler holding more of the meeting (co-location); then the
 * lower {@link spreadRanks} rank, and the lower index (handler id) breaks a full tie.
 */
export function isBetterCandidate(s: CandidateScores, a: number, b: number): boolean {
  if (s.fits[a] !== s.fits[b]) return s.fits[a] === 1;
  const latencyA = s.latency[s.latencyAt + a] as number;
  const latencyB = s.latency[s.latencyAt + b] as number;
  if (latencyA !== latencyB) return latencyA < latencyB;
  if (s.band[a] !== s.band[b]) return (s.band[a] as number) < (s.band[b] as number);
  if (s.siteTaken[a] !== s.siteTaken[b]) return s.siteTaken[a] === 0;
  if (s.existing[a] !== s.existing[b]) return (s.existing[a] as number) > (s.existing[b] as number);
  if (s.inMeeting[a] !== s.inMeeting[b]) return s.inMeeting[a] === 1;
  if (s.atShare[a] !== s.atShare[b]) return s.atShare[a] === 0;
  if (s.quality[a] !== s.quality[b]) return (s.quality[a] as number) > (s.quality[b] as number);
  if (s.missing[a] !== s.missing[b]) return (s.missing[a] as number) < (s.missing[b] as number);
  if (s.headcount[a] !== s.headcount[b])
    return (s.headcount[a] as number) > (s.headcount[b] as number);
  if (s.spread[a] !== s.spread[b]) return (s.spread[a] as number) < (s.spread[b] as number);
  return a < b;
}

/** Sorts candidate indexes in place, best first by {@link isBetterCandidate}; returns them. */
export function sortCandidates(scores: CandidateScores, candidates: number[]): number[] {
  return candidates.sort((a, b) => {
    if (a === b) return 0;
    return isBetterCandidate(scores, a, b) ? -1 : 1;
  });
}

/**
 * Ranks the healthy handlers for one participant, best first, by {@link isBetterCandidate}:
 * handlers it fits on (within the 80% hard limit) first, then by proximity, load band (as
 * {@link rankedBand} counts it), existing connection, network quality and capabilities; ties go
 * to the lower handler id. Unhealthy handlers are left out.
 */
export function rankHandlers(
  request: RankRequest,
  handlers: readonly RoutingHandler[],
): HandlerScore[] {
  const scores = handlers
    .filter((h) => h.healthy)
    .sort((a, b) => compareText(a.id, b.id))
    .map((h) => scoreHandler(request, h));
  const table = candidateScores(scores.length);
  if (request.spreadKey !== undefined) {
    table.spread = spreadRanks(
      request.spreadKey,
      scores.map((score) => score.handler),
    );
  }
  scores.forEach((score, h) => {
    table.fits[h] = Number(score.fits);
    table.latency[h] = score.latencyMs;
    table.band[h] = rankedBand(tierRank(score.loadTier), score.existingConnection);
    table.existing[h] = Number(score.existingConnection);
    table.quality[h] = score.handler.quality;
    table.missing[h] = score.missingCapabilities;
  });
  return sortCandidates(
    table,
    scores.map((_, h) => h),
  ).map((h) => scores[h] as HandlerScore);
}
