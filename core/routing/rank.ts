/**
 * Handler ranking for one participant, in the spec's priority order (003, "Handler Selection
 * Criteria"): geographic proximity, current load, existing connections, network quality,
 * capabilities. The planner and the placement code share it.
 */
import type { HandlerId } from '../ids.ts';
import { compareNumbers, compareText } from './keys.ts';
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

/** Orders two scores; negative when `a` is the better handler. */
export type ScoreCriterion = (a: HandlerScore, b: HandlerScore) => number;

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

/** The band a handler's total bandwidth falls in. */
export function loadTier(totalBps: number, handler: RoutingHandler): LoadTier {
  if (totalBps > hardLimitBps(handler)) return 'over-hard-limit';
  if (totalBps >= handler.capacityBps * BANDWIDTH_WARNING_RATIO) return 'below-hard-limit';
  return 'below-warning';
}

const TIER_ORDER: Record<LoadTier, number> = {
  'below-warning': 0,
  'below-hard-limit': 1,
  'over-hard-limit': 2,
};

/** 0, 1 or 2: how far up the bands a tier is. */
export function tierRank(tier: LoadTier): number {
  return TIER_ORDER[tier];
}

/** Scores one handler for the participant in `request`. */
export function scoreHandler(request: RankRequest, handler: RoutingHandler): HandlerScore {
  const { participant } = request;
  const projectedBps =
    handler.loadBps + (request.plannedBps?.get(handler.id) ?? 0) + request.costBps;
  const tier = loadTier(projectedBps, handler);
  let missingCapabilities = 0;
  for (const capability of participant.wants ?? []) {
    if (!handler.capabilities.includes(capability)) missingCapabilities++;
  }
  return {
    handler,
    latencyMs: latencyBetween(request.latencyMs, participant.region, handler.region),
    projectedBps,
    loadTier: tier,
    fits: tier !== 'over-hard-limit',
    existingConnection:
      participant.currentHandler === handler.id ||
      (request.previousHandlers ?? []).includes(handler.id),
    missingCapabilities,
  };
}

/** Handlers the participant fits on come before those it would overload. */
export const byFeasibility: ScoreCriterion = (a, b) => Number(b.fits) - Number(a.fits);
/** 1. Geographic proximity: lower latency first. */
export const byProximity: ScoreCriterion = (a, b) => compareNumbers(a.latencyMs, b.latencyMs);
/** 2. Current load: below the warning band, then below the hard limit. */
export const byLoadTier: ScoreCriterion = (a, b) => TIER_ORDER[a.loadTier] - TIER_ORDER[b.loadTier];
/** 3. Existing connections: reuse first. */
export const byExistingConnection: ScoreCriterion = (a, b) =>
  Number(b.existingConnection) - Number(a.existingConnection);
/** 4. Network quality: higher first. */
export const byQuality: ScoreCriterion = (a, b) => b.handler.quality - a.handler.quality;
/** 5. Capabilities: fewer missing first. */
export const byCapabilities: ScoreCriterion = (a, b) =>
  a.missingCapabilities - b.missingCapabilities;
/** Tie-break: the lower utilisation after placement, then the handler id. */
export const byUtilisationThenId: ScoreCriterion = (a, b) =>
  a.projectedBps / a.handler.capacityBps - b.projectedBps / b.handler.capacityBps ||
  compareText(a.handler.id, b.handler.id);

/** Combines orderings lexicographically: the first that tells two items apart decides. */
export function lexicographic<T>(
  criteria: readonly ((a: T, b: T) => number)[],
): (a: T, b: T) => number {
  return (a, b) => {
    for (const criterion of criteria) {
      const order = criterion(a, b);
      if (order !== 0) return order;
    }
    return 0;
  };
}

/** The spec's order, after feasibility, with a deterministic tie-break. */
export const SPEC_ORDER: readonly ScoreCriterion[] = [
  byFeasibility,
  byProximity,
  byLoadTier,
  byExistingConnection,
  byQuality,
  byCapabilities,
  byUtilisationThenId,
];

/**
 * Ranks the healthy handlers for one participant, best first: handlers it fits on (within the
 * 80% hard limit) first, then by proximity, load band, existing connection, network quality
 * and capabilities; ties go to the lower utilisation, then the lower handler id. Unhealthy
 * handlers are left out.
 */
export function rankHandlers(
  request: RankRequest,
  handlers: readonly RoutingHandler[],
): HandlerScore[] {
  return handlers
    .filter((h) => h.healthy)
    .map((h) => scoreHandler(request, h))
    .sort(lexicographic(SPEC_ORDER));
}
