/**
 * The media routing planner (spec 003, "Media Routing Strategy"): places a meeting's
 * participants on Media Handlers and decides every publish, cascade and delivery leg.
 */
import type { HandlerId, ParticipantId } from '../ids.ts';
import { err, ok, type Result } from '../result.ts';
import { compareNumbers, compareText } from './keys.ts';
import { preparePlanning, type PlanningContext } from './input.ts';
import { handlerLoads } from './loads.ts';
import {
  byCapabilities,
  byExistingConnection,
  byFeasibility,
  byLoadTier,
  byProximity,
  byQuality,
  latencyBetween,
  lexicographic,
  loadTier,
  scoreHandler,
  tierRank,
  type ScoreCriterion,
} from './rank.ts';
import type {
  CascadeRoute,
  DeliverRoute,
  HandlerOverload,
  PublishRoute,
  RoutingError,
  RoutingHandler,
  RoutingInput,
  RoutingPlan,
} from './types.ts';

/**
 * How many handlers a meeting of `participants` is spread over before capacity asks for more
 * (spec 003, "Scaling Considerations"): under 10, one; 10 to 99, two (redundancy, then load
 * distribution; load pushes 50-99 onto a third); 100 and more, three.
 */
export function targetHandlerCount(participants: number): number {
  if (participants < 10) return 1;
  if (participants < 100) return 2;
  return 3;
}

/**
 * Plans the routing of one meeting.
 *
 * Placement. Participants are placed one at a time in join order; given the previous plan,
 * earlier joiners keep their handlers unless health or the load bands force a move. Each
 * takes the best healthy handler by {@link rankHandlers}'s order (fits within the 80% hard
 * limit, proximity, load band, existing connection) extended with two meeting criteria
 * before network quality and capabilities: a handler of the meeting's set (the
 * {@link targetHandlerCount} best handlers for the whole meeting, preferring distinct sites),
 * then a handler holding fewer than its even share of the participants; the last tie-break
 * is the handler already holding more of the meeting (co-location). A participant's cost on
 * its home handler is one stream per stream it publishes that someone shows plus one per
 * stream it receives. Proximity comes first, so a participant lands in its own region when
 * a handler there has room, and a multi-region meeting spans a handler per region. Within a
 * region a meeting stays co-located until its handler would cross the 70% warning band while
 * an equally near one would not; then the next participant goes to the other handler.
 *
 * Routes. The home handler of the earliest joiner is the meeting's hub. Each subscriber
 * receives every stream from its home handler. Every shown stream is published to its
 * publisher's home handler, so the handler a client is anchored to always holds its streams
 * (a subscriber moving there, or the loss of the hub, needs no new publish). A publisher homed
 * away from the hub, whose stream is shown on another handler, also sends it straight to the
 * hub over its second connection (clients connect to two handlers, spec 003). The hub cascades
 * a stream to each other handler whose subscribers show it. The cascade graph is therefore a
 * star around the hub: no loops, and at most one handler-to-handler hop per stream, within
 * the limit of two; each client sends a stream at most twice.
 *
 * In the spec's example (Alice and Bob on MH1 in the plan in force; Charlie joins, and his
 * streams would take MH1 into the warning band while MH2 stays below it, so he goes to MH2:
 * "load balance") this gives Alice's and Bob's cameras and screens to MH1 and Charlie's camera
 * to MH2 and to MH1: six client streams; and MH1 cascading Alice's camera to MH2: one
 * handler-to-handler stream.
 *
 * Capacity. Cascades and hub publishes add load the per-participant cost does not foresee;
 * a handler the finished plan takes past its hard limit gets that load reserved (growing by
 * at least the excess each round) and the meeting is placed again, at most once per healthy
 * handler. No returned plan takes any handler past its hard limit; when no room is found the
 * result is an `insufficient-capacity` error naming the participants that fit nowhere or the
 * handlers that stayed over. The search is greedy, so a tight fit that an exhaustive packing
 * would find may be reported as no room.
 *
 * Cost is linear in the demand plus participants times handlers, per placement round.
 */
export function planRouting(input: RoutingInput): Result<RoutingPlan, RoutingError> {
  const prepared = preparePlanning(input);
  if (!prepared.ok) return prepared;
  const ctx = prepared.value;
  const costs = participantCosts(ctx);
  const meetingSet = selectMeetingHandlers(ctx, costs);
  const reserved = new Map<HandlerId, number>();
  let overloaded: HandlerOverload[] = [];
  for (let round = 0; round <= ctx.healthy.length; round++) {
    const homes = placeParticipants(ctx, costs, meetingSet, reserved);
    if (!homes.ok) return homes;
    const plan = buildPlan(ctx, homes.value);
    overloaded = plan.loads
      .filter((l) => l.totalBps > l.hardLimitBps)
      .map((l) => ({ handler: l.handler, plannedBps: l.totalBps, hardLimitBps: l.hardLimitBps }));
    if (overloaded.length === 0) return ok(plan);
    reserveUnforeseenLoad(plan, homes.value, costs, overloaded, reserved);
  }
  return err({ kind: 'insufficient-capacity', unplaced: [], overloaded });
}

/**
 * For each overloaded handler, reserves the load the plan put on it beyond its participants'
 * own costs (hub publishes, cascades), and at least the previous reserve plus the excess, so
 * every round asks strictly less of the handlers that stayed over.
 */
function reserveUnforeseenLoad(
  plan: RoutingPlan,
  homes: ReadonlyMap<ParticipantId, HandlerId>,
  costs: ReadonlyMap<ParticipantId, number>,
  overloaded: readonly HandlerOverload[],
  reserved: Map<HandlerId, number>,
): void {
  const homedCost = new Map<HandlerId, number>();
  for (const [participant, handler] of homes) {
    homedCost.set(handler, (homedCost.get(handler) ?? 0) + (costs.get(participant) ?? 0));
  }
  for (const o of overloaded) {
    const meetingBps = plan.loads.find((l) => l.handler === o.handler)?.meetingBps ?? 0;
    const unforeseen = meetingBps - (homedCost.get(o.handler) ?? 0);
    const escalated = (reserved.get(o.handler) ?? 0) + o.plannedBps - o.hardLimitBps;
    reserved.set(o.handler, Math.max(unforeseen, escalated));
  }
}

/** Bandwidth each participant adds to its home handler. */
function participantCosts(ctx: PlanningContext): Map<ParticipantId, number> {
  const streams = new Map<ParticipantId, number>();
  const bump = (p: ParticipantId) => streams.set(p, (streams.get(p) ?? 0) + 1);
  for (const { stream, subscribers } of ctx.streams) {
    bump(stream.publisher);
    subscribers.forEach(bump);
  }
  return new Map(ctx.participants.map((p) => [p.id, (streams.get(p.id) ?? 0) * ctx.bitrateBps]));
}

/**
 * The handlers the meeting is meant to spread over, picked one at a time. Each pick is the
 * handler that most lowers the participants' total latency to their nearest picked handler
 * (so a multi-region meeting gets a handler per region first); ties go to the load band with
 * an even share of the meeting on it, a site not picked yet, the handler more participants
 * already use, quality, the capabilities the participants want, and the handler id.
 */
function selectMeetingHandlers(
  ctx: PlanningContext,
  costs: ReadonlyMap<ParticipantId, number>,
): Set<HandlerId> {
  const count = Math.min(targetHandlerCount(ctx.participants.length), ctx.healthy.length);
  const share = [...costs.values()].reduce((a, b) => a + b, 0) / Math.max(count, 1);
  const summaries = ctx.healthy.map((h) => summariseForMeeting(ctx, h, share));
  const nearest = ctx.participants.map(() => Number.POSITIVE_INFINITY);
  const picked = new Set<HandlerId>();
  const sites = new Set<string>();
  while (picked.size < count) {
    // Each candidate's total latency if picked, computed once per pick.
    const latencyIfPicked = new Map<MeetingSummary, number>();
    for (const s of summaries) {
      latencyIfPicked.set(
        s,
        s.latencies.reduce((sum, ms, i) => sum + Math.min(ms, nearest[i] ?? ms), 0),
      );
    }
    const totalLatency = (s: MeetingSummary) => latencyIfPicked.get(s) ?? 0;
    const order = lexicographic<MeetingSummary>([
      (a, b) => compareNumbers(totalLatency(a), totalLatency(b)),
      (a, b) => a.tier - b.tier,
      (a, b) => Number(sites.has(a.handler.site)) - Number(sites.has(b.handler.site)),
      (a, b) => b.users - a.users,
      (a, b) => b.handler.quality - a.handler.quality,
      (a, b) => a.missing - b.missing,
      (a, b) => compareText(a.handler.id, b.handler.id),
    ]);
    const best = bestOf(
      summaries.filter((s) => !picked.has(s.handler.id)),
      order,
    );
    if (best === undefined) break;
    picked.add(best.handler.id);
    sites.add(best.handler.site);
    best.latencies.forEach((ms, i) => (nearest[i] = Math.min(ms, nearest[i] ?? ms)));
  }
  return picked;
}

interface MeetingSummary {
  readonly handler: RoutingHandler;
  /** Latency from each participant (in join order) to the handler. */
  readonly latencies: readonly number[];
  readonly tier: number;
  readonly users: number;
  readonly missing: number;
}

function summariseForMeeting(
  ctx: PlanningContext,
  handler: RoutingHandler,
  shareBps: number,
): MeetingSummary {
  let users = 0;
  let missing = 0;
  for (const p of ctx.participants) {
    if (p.currentHandler === handler.id || ctx.previousHomes.get(p.id) === handler.id) users++;
    for (const capability of p.wants ?? []) {
      if (!handler.capabilities.includes(capability)) missing++;
    }
  }
  return {
    handler,
    latencies: ctx.participants.map((p) => latencyBetween(ctx.latencyMs, p.region, handler.region)),
    tier: tierRank(loadTier(handler.loadBps + shareBps, handler)),
    users,
    missing,
  };
}

/** Places every participant, in join order; fails when one fits on no healthy handler. */
function placeParticipants(
  ctx: PlanningContext,
  costs: ReadonlyMap<ParticipantId, number>,
  meetingSet: ReadonlySet<HandlerId>,
  reserved: ReadonlyMap<HandlerId, number>,
): Result<Map<ParticipantId, HandlerId>, RoutingError> {
  const planned = new Map(reserved);
  const headcount = new Map<HandlerId, number>();
  const evenShare = Math.ceil(ctx.participants.length / Math.max(meetingSet.size, 1));
  const inMeetingSet: ScoreCriterion = (a, b) =>
    Number(meetingSet.has(b.handler.id)) - Number(meetingSet.has(a.handler.id));
  const belowEvenShare: ScoreCriterion = (a, b) =>
    Number((headcount.get(a.handler.id) ?? 0) >= evenShare) -
    Number((headcount.get(b.handler.id) ?? 0) >= evenShare);
  const moreOfTheMeeting: ScoreCriterion = (a, b) =>
    (headcount.get(b.handler.id) ?? 0) - (headcount.get(a.handler.id) ?? 0) ||
    compareText(a.handler.id, b.handler.id);
  const order = lexicographic([
    byFeasibility,
    byProximity,
    byLoadTier,
    byExistingConnection,
    inMeetingSet,
    belowEvenShare,
    byQuality,
    byCapabilities,
    moreOfTheMeeting,
  ]);
  const homes = new Map<ParticipantId, HandlerId>();
  const unplaced: ParticipantId[] = [];
  for (const participant of ctx.participants) {
    const costBps = costs.get(participant.id) ?? 0;
    const previous = ctx.previousHomes.get(participant.id);
    const request = {
      participant,
      costBps,
      latencyMs: ctx.latencyMs,
      previousHandlers: previous === undefined ? [] : [previous],
      plannedBps: planned,
    };
    const best = bestOf(
      ctx.healthy.map((h) => scoreHandler(request, h)),
      order,
    );
    if (best === undefined || !best.fits) {
      unplaced.push(participant.id);
      continue;
    }
    const id = best.handler.id;
    homes.set(participant.id, id);
    planned.set(id, (planned.get(id) ?? 0) + costBps);
    headcount.set(id, (headcount.get(id) ?? 0) + 1);
  }
  if (unplaced.length > 0) {
    return err({ kind: 'insufficient-capacity', unplaced, overloaded: [] });
  }
  return ok(homes);
}

/** The first of `items` under `order`, in one pass. */
function bestOf<T>(items: readonly T[], order: (a: T, b: T) => number): T | undefined {
  let best: T | undefined;
  for (const item of items) {
    if (best === undefined || order(item, best) < 0) best = item;
  }
  return best;
}

/** Lays out every leg of the plan for the given homes (see {@link planRouting}). */
function buildPlan(
  ctx: PlanningContext,
  homes: ReadonlyMap<ParticipantId, HandlerId>,
): RoutingPlan {
  const first = ctx.participants[0];
  const hub = first === undefined ? null : (homes.get(first.id) ?? null);
  const publishes: PublishRoute[] = [];
  const cascades: CascadeRoute[] = [];
  const deliveries: DeliverRoute[] = [];
  const homeOf = (p: ParticipantId): HandlerId => homes.get(p) as HandlerId;
  // Streams come sorted and subscribers sorted within each, so every list is built in its
  // canonical order (by stream, then handler or subscriber) without a global sort.
  for (const { stream, subscribers } of ctx.streams) {
    const origin = homeOf(stream.publisher);
    const { publisher, kind } = stream;
    if (subscribers.every((subscriber) => homeOf(subscriber) === origin)) {
      // Shown only where it is published: no hub publish, no cascade.
      publishes.push({ type: 'publish', publisher, kind, handler: origin });
    } else {
      const shownOn = new Set(subscribers.map(homeOf));
      const alsoToHub = hub !== null && origin !== hub;
      const targets = alsoToHub && hub !== null ? [origin, hub].sort(compareText) : [origin];
      for (const handler of targets) publishes.push({ type: 'publish', publisher, kind, handler });
      const fedByHub = [...shownOn].filter((h) => h !== origin && h !== hub).sort(compareText);
      for (const to of fedByHub) {
        if (hub !== null) cascades.push({ type: 'cascade', publisher, kind, from: hub, to });
      }
    }
    for (const subscriber of subscribers) {
      const handler = homeOf(subscriber);
      deliveries.push({ type: 'deliver', publisher, kind, handler, subscriber });
    }
  }
  const routes = [...publishes, ...cascades, ...deliveries];
  return {
    meeting: ctx.input.meeting,
    hub,
    homes: [...homes]
      .map(([participant, handler]) => ({ participant, handler }))
      .sort((a, b) => compareText(a.participant, b.participant)),
    publishes,
    cascades,
    deliveries,
    loads: handlerLoads(routes, ctx.handlersById, ctx.bitrateBps),
  };
}
