/**
 * The media routing planner (spec 003, "Media Routing Strategy"): places a meeting's
 * participants on Media Handlers and decides every publish, cascade and delivery leg.
 */
import type { HandlerId, ParticipantId } from '../ids.ts';
import { err, ok, type Result } from '../result.ts';
import {
  preparePlanning,
  rememberContext,
  type DemandedStream,
  type PlanningContext,
} from './input.ts';
import { compareStreams } from './keys.ts';
import {
  bandOf,
  candidateScores,
  hardLimitBps,
  isBetterCandidate,
  missingCapabilities,
  rankedBand,
  sortCandidates,
  warningFromBps,
  type CandidateScores,
} from './rank.ts';
import {
  type CascadeRoute,
  type DeliverRoute,
  type HandlerLoad,
  type HandlerOverload,
  type HomeAssignment,
  type PublishRoute,
  type Route,
  type RoutingError,
  type RoutingHandler,
  type RoutingInput,
  type RoutingParticipant,
  type RoutingPlan,
  type StreamRef,
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
 * earlier joiners keep their handlers unless health or the hard limit forces a move (the
 * warning band steers new placements only: rank.ts's {@link rankedBand}). Each
 * takes the best healthy handler by rank.ts's {@link isBetterCandidate}, the one handler order
 * {@link rankHandlers} also uses: fits within the 80% hard limit, proximity, load band,
 * existing connection, then two meeting criteria before network quality and capabilities (a
 * handler of the meeting's set: the {@link targetHandlerCount} best handlers for the whole
 * meeting, preferring distinct sites; then a handler holding fewer than its even share of the
 * participants); the last tie-breaks are the handler already holding more of the meeting
 * (co-location), then a per-meeting hash of the handler id (rank.ts's {@link spreadRanks}:
 * meetings equal on everything else spread over the handlers instead of all taking the lowest
 * id between two load reports), then the handler id. A participant's cost on its home handler is one stream
 * per stream it publishes that someone shows plus one per stream it receives. Proximity comes
 * first, so a participant lands in its own region when a handler there has room, and a
 * multi-region meeting spans a handler per region. Within a region a meeting stays co-located
 * until its handler would cross the 70% warning band while an equally near one would not; then
 * the next participant goes to the other handler.
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
 * handler. Moving participants off an overloaded hub does not unload it (the hub carries every
 * stream that crosses handlers), so when handlers stay over, the meeting spills: it is placed
 * again, from scratch, on the handlers that did not stay over, and so on while handlers are
 * left. Before refusing, the whole meeting goes on the best single handler that carries it
 * within its hard limit (by {@link isBetterCandidate}, for the meeting as a whole), so a
 * meeting one healthy handler can carry is always planned. No returned plan takes any handler
 * past its hard limit; when no room is found the result is the first pass's
 * `insufficient-capacity` error, naming the participants that fit nowhere or the handlers that
 * stayed over. The search is greedy, so a tight fit across several handlers that an
 * exhaustive packing would find may be reported as no room.
 *
 * Cost is linear in the demand plus participants times handlers, per placement round (a
 * refused meeting takes up to one pass of rounds per handler). The inner loops work on
 * participant and handler indexes (see {@link PlanningContext}) with latencies computed once,
 * and allocate nothing per handler scored.
 */
export function planRouting(input: RoutingInput): Result<RoutingPlan, RoutingError> {
  const prepared = preparePlanning(input);
  if (!prepared.ok) return prepared;
  const ctx = prepared.value;
  const costs = participantCosts(ctx);
  const limits = bandLimits(ctx.healthy);
  const everyHandler = new Uint8Array(ctx.healthy.length);
  const first = placeWithinLimits(ctx, costs, limits, everyHandler);
  if (first.ok) return first;
  const spread = new SpillSearch(ctx, costs, limits).spill(everyHandler, first.error.worst);
  if (spread !== undefined) return ok(spread);
  const whole = planOnOneHandler(ctx, costs, limits);
  return whole === undefined ? err(first.error.error) : ok(whole);
}

/**
 * Plans the meeting again with every participant kept on its home in `input.previous`: the
 * legs are laid out afresh for the demand (as {@link planRouting} lays them out for those
 * homes), the placement is not searched again. This is the plan for a change that moves
 * nobody: a new speaker or layout changes only which streams are shown where. Undefined when
 * the homes cannot all be kept: no previous plan, a participant without a home in it, a home
 * no longer healthy, or a handler the new legs take past its hard limit; the caller then plans
 * afresh with {@link planRouting}.
 *
 * Kept homes give the plan {@link planRouting} returns whenever its placement keeps them too
 * (the legs depend on the homes alone); when it would not (a nearer handler found room since
 * the homes were chosen, say), the plan is still one {@link checkPlan} accepts and within every
 * hard limit, and the participants stay where they are until the next join, leave or health
 * change: a change of speaker never moves a client. Cost: linear in the demand, with no
 * per-handler scoring.
 */
export function planKeepingHomes(
  input: RoutingInput,
): Result<RoutingPlan, RoutingError> | undefined {
  const previous = input.previous;
  if (previous === undefined) return undefined;
  const prepared = preparePlanning(input);
  if (!prepared.ok) return prepared;
  const ctx = prepared.value;
  const indexOf = new Map<HandlerId, number>();
  ctx.healthy.forEach((handler, h) => indexOf.set(handler.id, h));
  const homes: Homes = new Int32Array(ctx.participants.length);
  for (let p = 0; p < ctx.participants.length; p++) {
    const home = ctx.previousHomes.get((ctx.participants[p] as RoutingParticipant).id);
    const h = home === undefined ? undefined : indexOf.get(home);
    if (h === undefined) return undefined;
    homes[p] = h;
  }
  const plan = buildPlan(ctx, homes);
  for (const load of plan.loads) if (load.totalBps > load.hardLimitBps) return undefined;
  return ok(plan);
}

/**
 * Plans the meeting with every participant homed in `input.previous` kept on that home and only
 * the others (the joiners) placed, each as {@link planRouting}'s placement places it: after the
 * kept participants, in join order, by the same ranking against the same meeting set, even
 * share and loads (the kept participants' costs on their homes). This is the plan for members
 * joining: nobody else is scored again. Undefined when it does not apply or finds nothing: no
 * previous plan, a home no longer healthy, a joiner earlier in join order than a kept
 * participant, a joiner that fits on no handler, or a handler the plan takes past its hard
 * limit; the caller then plans afresh with {@link planRouting}, which searches further (it
 * moves participants, reserves load and spills). An input planRouting refuses as invalid (no
 * healthy handler, a duplicate participant) is refused with the same error.
 *
 * Whenever {@link planRouting}'s first placement round ({@link firstPlacement}) keeps every home
 * within the hard limits, it places the joiners where this does, so the plans are equal; when
 * it would move someone (a nearer handler found room since the homes were chosen, or a home
 * reached its hard limit) or planRouting had to search further (its first round overfilled a
 * handler: it may then put a joiner on a kept home where this puts it nearer), this plan is one
 * {@link checkPlan} accepts and within every hard limit, and the kept participants stay where
 * they are until a replan that is not a join. Cost: the demand, plus handlers times the
 * joiners rather than times every participant.
 */
export function planJoining(input: RoutingInput): Result<RoutingPlan, RoutingError> | undefined {
  if (input.previous === undefined) return undefined;
  const prepared = preparePlanning(input);
  if (!prepared.ok) return prepared;
  const kept = keptHomes(prepared.value);
  if (kept === undefined) return undefined;
  const placed = placeOnce(prepared.value, kept);
  if (!placed.ok) return undefined;
  for (const load of placed.value.loads) if (load.totalBps > load.hardLimitBps) return undefined;
  return placed;
}

/**
 * {@link planRouting}'s first placement round alone: every participant placed by the ranking,
 * no load reserved, no spill, no meeting on one handler; the plan even when it takes a handler
 * past its hard limit (planRouting would search further then). {@link planJoining} gives this
 * plan whenever this plan keeps every earlier home and stays within every hard limit, and so
 * does planRouting. For tests and diagnostics.
 */
export function firstPlacement(input: RoutingInput): Result<RoutingPlan, RoutingError> {
  const prepared = preparePlanning(input);
  return prepared.ok ? placeOnce(prepared.value) : prepared;
}

/** One placement round on every healthy handler, no load reserved; `kept` as in placeParticipants. */
function placeOnce(ctx: PlanningContext, kept?: Homes): Result<RoutingPlan, RoutingError> {
  const costs = participantCosts(ctx);
  const limits = bandLimits(ctx.healthy);
  const everyHandler = new Uint8Array(ctx.healthy.length);
  const meetingSet = selectMeetingHandlers(ctx, costs, limits, everyHandler);
  const noReserve = new Float64Array(ctx.healthy.length);
  const homes = placeParticipants(ctx, costs, meetingSet, noReserve, limits, everyHandler, kept);
  return homes.ok ? ok(buildPlan(ctx, homes.value)) : homes;
}

/**
 * Each participant's previous home as a healthy handler's index, -1 for a participant the
 * previous plan did not home (a joiner); undefined when a previous home is no longer healthy
 * or a joiner comes before a kept participant in join order (placement goes in join order, so
 * the kept ones would be placed after it).
 */
function keptHomes(ctx: PlanningContext): Homes | undefined {
  const indexOf = new Map<HandlerId, number>();
  ctx.healthy.forEach((handler, h) => indexOf.set(handler.id, h));
  const kept: Homes = new Int32Array(ctx.participants.length);
  let joinerSeen = false;
  for (let p = 0; p < ctx.participants.length; p++) {
    const home = ctx.previousHomes.get((ctx.participants[p] as RoutingParticipant).id);
    if (home === undefined) {
      kept[p] = -1;
      joinerSeen = true;
      continue;
    }
    const h = indexOf.get(home);
    if (h === undefined || joinerSeen) return undefined;
    kept[p] = h;
  }
  return kept;
}

/** Most placement passes one call of {@link planRouting} makes while spilling. */
const PASS_BUDGET = 256;

/**
 * The placement passes after the first fails, over sets of healthy handlers, each set given by
 * the handlers it leaves out. A failed pass spills: the meeting is placed again without the
 * handler that went furthest over its hard limit, then, failing that, without each idle handler
 * (no load from other meetings) in turn, depth first. The handlers a pass tries next depend
 * only on its own set, so a meeting planned on some handlers is still planned when an idle
 * handler is added: leaving that handler out is among the sets tried (within the pass budget).
 * A set is tried once; a set whose room under the hard limits, summed, is below the meeting's
 * least possible load (every demanded stream in once and every pair out once) is not tried, nor
 * are its subsets.
 */
class SpillSearch {
  private readonly tried = new Set<string>();
  private passes = 1;
  private readonly leastLoadBps: number;

  constructor(
    private readonly ctx: PlanningContext,
    private readonly costs: Float64Array,
    private readonly limits: BandLimits,
  ) {
    let least = 0;
    for (const cost of costs) least += cost;
    this.leastLoadBps = least;
  }

  /** A plan on the handlers not `excluded` or on fewer of them; undefined when none is found. */
  private plan(excluded: Uint8Array): RoutingPlan | undefined {
    const key = excluded.join('');
    if (this.tried.has(key) || this.passes >= PASS_BUDGET) return undefined;
    this.tried.add(key);
    if (this.roomBps(excluded) < this.leastLoadBps) return undefined;
    this.passes++;
    const attempt = placeWithinLimits(this.ctx, this.costs, this.limits, excluded);
    return attempt.ok ? attempt.value : this.spill(excluded, attempt.error.worst);
  }

  /**
   * After a failed pass on the handlers not `excluded`, in which handler `worst` went furthest
   * over (-1: none), a plan on fewer of them; undefined when none is found.
   */
  spill(excluded: Uint8Array, worst: number): RoutingPlan | undefined {
    const { healthy } = this.ctx;
    if (worst !== -1) {
      const spilled = this.plan(without(excluded, worst));
      if (spilled !== undefined) return spilled;
    }
    for (let h = 0; h < healthy.length; h++) {
      if (excluded[h] === 1 || h === worst || (healthy[h] as RoutingHandler).loadBps !== 0)
        continue;
      const spilled = this.plan(without(excluded, h));
      if (spilled !== undefined) return spilled;
    }
    return undefined;
  }

  /** Room under the hard limits, summed over the handlers not `excluded`. */
  private roomBps(excluded: Uint8Array): number {
    let room = 0;
    this.ctx.healthy.forEach((handler, h) => {
      if (excluded[h] === 0) {
        room += Math.max((this.limits.hardLimitBps[h] as number) - handler.loadBps, 0);
      }
    });
    return room;
  }
}

/** A copy of the flags with handler `h` left out too. */
function without(excluded: Uint8Array, h: number): Uint8Array {
  const copy = Uint8Array.from(excluded);
  copy[h] = 1;
  return copy;
}

/**
 * Why a placement pass failed, and the handler (by index) that went furthest over its hard
 * limit, relative to the limit, in any of its rounds; -1 when none did.
 */
interface Refusal {
  readonly error: RoutingError;
  readonly worst: number;
}

/**
 * Places the meeting on the healthy handlers not `excluded`, reserving load on the handlers a
 * plan takes past the hard limit and placing again, at most once per healthy handler.
 */
function placeWithinLimits(
  ctx: PlanningContext,
  costs: Float64Array,
  limits: BandLimits,
  excluded: Uint8Array,
): Result<RoutingPlan, Refusal> {
  const meetingSet = selectMeetingHandlers(ctx, costs, limits, excluded);
  const reserved = new Float64Array(ctx.healthy.length);
  let overloaded: HandlerOverload[] = [];
  let worst = -1;
  let worstRatio = 1;
  for (let round = 0; round <= ctx.healthy.length; round++) {
    const homes = placeParticipants(ctx, costs, meetingSet, reserved, limits, excluded);
    if (!homes.ok) return err({ error: homes.error, worst });
    const plan = buildPlan(ctx, homes.value);
    overloaded = plan.loads
      .filter((l) => l.totalBps > l.hardLimitBps)
      .map((l) => ({ handler: l.handler, plannedBps: l.totalBps, hardLimitBps: l.hardLimitBps }));
    if (overloaded.length === 0) return ok(plan);
    for (const o of overloaded) {
      const ratio = o.plannedBps / o.hardLimitBps;
      if (ratio > worstRatio) {
        worstRatio = ratio;
        worst = handlerIndex(ctx, o.handler);
      }
    }
    reserveUnforeseenLoad(ctx, plan, homes.value, costs, overloaded, reserved);
  }
  return err({ error: { kind: 'insufficient-capacity', unplaced: [], overloaded }, worst });
}

/** A healthy handler's index. */
function handlerIndex(ctx: PlanningContext, id: HandlerId): number {
  return ctx.healthy.findIndex((h) => h.id === id);
}

/**
 * The whole meeting on one handler: the best by {@link isBetterCandidate} (for the meeting as
 * a whole: total latency, load band, connections to reuse, quality, capabilities, handler id)
 * of the healthy handlers that carry it within the hard limit; undefined when none does.
 */
function planOnOneHandler(
  ctx: PlanningContext,
  costs: Float64Array,
  limits: BandLimits,
): RoutingPlan | undefined {
  const { healthy, participants, latency } = ctx;
  const handlerCount = healthy.length;
  let totalCost = 0;
  for (const cost of costs) totalCost += cost;
  const summary = summariseForMeeting(ctx, totalCost, limits);
  const scores = summary.scores;
  for (let h = 0; h < handlerCount; h++) {
    let sum = 0;
    for (let p = 0; p < participants.length; p++) sum += latency[p * handlerCount + h] as number;
    scores.latency[h] = sum;
    scores.fits[h] = Number(scores.band[h] !== 2);
  }
  const fitting = healthy.map((_, h) => h).filter((h) => scores.fits[h] === 1);
  for (const h of sortCandidates(scores, fitting)) {
    const plan = buildPlan(ctx, new Int32Array(participants.length).fill(h));
    if (plan.loads.every((l) => l.totalBps <= l.hardLimitBps)) return plan;
  }
  return undefined;
}

/** Each participant's home, as a handler index, by participant index. */
type Homes = Int32Array;

/** Where each healthy handler's load bands start, by handler index (see {@link bandOf}). */
interface BandLimits {
  readonly hardLimitBps: Float64Array;
  readonly warningFromBps: Float64Array;
}

function bandLimits(healthy: readonly RoutingHandler[]): BandLimits {
  const limits = {
    hardLimitBps: new Float64Array(healthy.length),
    warningFromBps: new Float64Array(healthy.length),
  };
  healthy.forEach((handler, h) => {
    limits.hardLimitBps[h] = hardLimitBps(handler);
    limits.warningFromBps[h] = warningFromBps(handler);
  });
  return limits;
}

/** The load band of `totalBps` on a healthy handler, by index. */
function bandAt(limits: BandLimits, handler: number, totalBps: number): number {
  return bandOf(
    totalBps,
    limits.hardLimitBps[handler] as number,
    limits.warningFromBps[handler] as number,
  );
}

/**
 * For each overloaded handler, reserves the load the plan put on it beyond its participants'
 * own costs (hub publishes, cascades), and at least the previous reserve plus the excess, so
 * every round asks strictly less of the handlers that stayed over.
 */
function reserveUnforeseenLoad(
  ctx: PlanningContext,
  plan: RoutingPlan,
  homes: Homes,
  costs: Float64Array,
  overloaded: readonly HandlerOverload[],
  reserved: Float64Array,
): void {
  const homedCost = new Float64Array(ctx.healthy.length);
  homes.forEach((handler, participant) => add(homedCost, handler, costs[participant] as number));
  for (const o of overloaded) {
    const handler = handlerIndex(ctx, o.handler);
    const meetingBps = plan.loads.find((l) => l.handler === o.handler)?.meetingBps ?? 0;
    const unforeseen = meetingBps - (homedCost[handler] as number);
    const escalated = (reserved[handler] as number) + o.plannedBps - o.hardLimitBps;
    reserved[handler] = Math.max(unforeseen, escalated);
  }
}

/**
 * Bandwidth each participant adds to its home handler, by participant index: one stream per
 * stream it publishes that someone shows, plus one per stream it receives.
 */
function participantCosts(ctx: PlanningContext): Float64Array {
  const streams = new Float64Array(ctx.participants.length);
  for (const { publisherIndex, subscriberIndexes } of ctx.streams) {
    add(streams, publisherIndex, 1);
    for (const subscriber of subscriberIndexes) add(streams, subscriber, 1);
  }
  return streams.map((count) => count * ctx.bitrateBps);
}

/**
 * The handlers the meeting is meant to spread over, picked one at a time from those not
 * `excluded`, as a membership flag by handler index. Each pick is the best by
 * {@link isBetterCandidate} with the participants' total latency to their nearest picked
 * handler as proximity (so a multi-region meeting gets a handler per region first), then the
 * load band with an even share of the meeting on it, a site not picked yet, the handler more
 * participants already use, quality, the capabilities the participants want, and the handler
 * id.
 */
function selectMeetingHandlers(
  ctx: PlanningContext,
  costs: Float64Array,
  limits: BandLimits,
  excluded: Uint8Array,
): Uint8Array {
  const { healthy, participants, latency } = ctx;
  const handlerCount = healthy.length;
  const available = handlerCount - countOf(excluded);
  const count = Math.min(targetHandlerCount(participants.length), available);
  let totalCost = 0;
  for (const cost of costs) totalCost += cost;
  const { scores } = summariseForMeeting(ctx, totalCost / Math.max(count, 1), limits);
  const nearest = new Float64Array(participants.length).fill(Number.POSITIVE_INFINITY);
  const picked = new Uint8Array(handlerCount);
  for (let picks = 0; picks < count; picks++) {
    // Each candidate's total latency if picked, computed once per pick.
    let best = -1;
    for (let h = 0; h < handlerCount; h++) {
      if (picked[h] === 1 || excluded[h] === 1) continue;
      let sum = 0;
      for (let p = 0; p < participants.length; p++) {
        sum += Math.min(latency[p * handlerCount + h] as number, nearest[p] as number);
      }
      scores.latency[h] = sum;
      if (best === -1 || isBetterCandidate(scores, h, best)) best = h;
    }
    picked[best] = 1;
    const site = (healthy[best] as RoutingHandler).site;
    healthy.forEach((handler, h) => {
      if (handler.site === site) scores.siteTaken[h] = 1;
    });
    for (let p = 0; p < participants.length; p++) {
      nearest[p] = Math.min(latency[p * handlerCount + best] as number, nearest[p] as number);
    }
  }
  return picked;
}

/**
 * Each healthy handler's scores for the meeting as a whole, by handler index: its load band
 * with `shareBps` of the meeting on it, the participants connected to it or homed on it in the
 * previous plan, quality, the capabilities the participants want that it lacks (summed over
 * them). Latency and fit are left to the caller.
 */
function summariseForMeeting(
  ctx: PlanningContext,
  shareBps: number,
  limits: BandLimits,
): { readonly scores: CandidateScores } {
  const { healthy, participants } = ctx;
  const scores = candidateScores(healthy.length);
  scores.spread = ctx.spread;
  healthy.forEach((handler, h) => {
    const totalBps = handler.loadBps + shareBps;
    scores.band[h] = bandAt(limits, h, totalBps);
    scores.quality[h] = handler.quality;
  });
  for (const p of participants) {
    const previous = ctx.previousHomes.get(p.id);
    healthy.forEach((handler, h) => {
      if (p.currentHandler === handler.id || previous === handler.id) add(scores.existing, h, 1);
      if (p.wants !== undefined) add(scores.missing, h, missingCapabilities(p.wants, handler));
    });
  }
  return { scores };
}

/**
 * Places every participant, in join order, each on the best healthy handler not `excluded` by
 * {@link isBetterCandidate}: fits within the hard limit, proximity, load band, existing
 * connection, in the meeting set, below an even share of the participants, quality,
 * capabilities, more of the meeting already there, and the handler id. Fails when
 * a participant fits on no such handler. With `kept`, a participant whose entry there is a
 * handler index stays on that handler, unscored (its cost and head count still count for
 * those placed after it); -1 places it as above.
 */
function placeParticipants(
  ctx: PlanningContext,
  costs: Float64Array,
  meetingSet: Uint8Array,
  reserved: Float64Array,
  limits: BandLimits,
  excluded: Uint8Array,
  kept?: Homes,
): Result<Homes, RoutingError> {
  const { healthy, participants, latency } = ctx;
  const handlerCount = healthy.length;
  const planned = Float64Array.from(reserved);
  const evenShare = Math.ceil(participants.length / Math.max(countOf(meetingSet), 1));
  const score = candidateScores(handlerCount);
  score.latency = latency;
  score.spread = ctx.spread;
  healthy.forEach((handler, h) => {
    score.inMeeting[h] = meetingSet[h] as number;
    score.quality[h] = handler.quality;
    score.atShare[h] = Number(evenShare <= 0);
  });
  const homes: Homes = new Int32Array(participants.length);
  const unplaced: ParticipantId[] = [];
  /** Participant `p` goes to handler `h`: its cost and head count there. */
  const settle = (p: number, h: number, costBps: number): void => {
    homes[p] = h;
    add(planned, h, costBps);
    add(score.headcount, h, 1);
    score.atShare[h] = Number((score.headcount[h] as number) >= evenShare);
  };
  participants.forEach((participant, p) => {
    const costBps = costs[p] as number;
    const fixed = kept === undefined ? -1 : (kept[p] as number);
    if (fixed !== -1) {
      settle(p, fixed, costBps);
      return;
    }
    const previous = ctx.previousHomes.get(participant.id);
    score.latencyAt = p * handlerCount;
    const wants = participant.wants;
    let best = -1;
    for (let h = 0; h < handlerCount; h++) {
      const handler = healthy[h] as RoutingHandler;
      const totalBps = handler.loadBps + (planned[h] as number) + costBps;
      const band = bandAt(limits, h, totalBps);
      const existing = participant.currentHandler === handler.id || previous === handler.id;
      score.band[h] = rankedBand(band, existing);
      score.fits[h] = Number(band !== 2 && excluded[h] === 0);
      score.existing[h] = Number(existing);
      score.missing[h] = wants === undefined ? 0 : missingCapabilities(wants, handler);
      if (best === -1 || isBetterCandidate(score, h, best)) best = h;
    }
    if (best === -1 || score.fits[best] === 0) {
      unplaced.push(participant.id);
      return;
    }
    settle(p, best, costBps);
  });
  if (unplaced.length > 0) {
    return err({ kind: 'insufficient-capacity', unplaced, overloaded: [] });
  }
  return ok(homes);
}

function countOf(flags: Uint8Array): number {
  let count = 0;
  for (const flag of flags) count += flag;
  return count;
}

/** Lays out every leg of the plan for the given homes (see {@link planRouting}). */
function buildPlan(ctx: PlanningContext, homes: Homes): RoutingPlan {
  const { healthy } = ctx;
  const hubIndex = ctx.participants.length === 0 ? -1 : (homes[0] as number);
  const legs = new PlanLegs(healthy, EarlierLegs.of(ctx, homes, hubIndex));
  // Streams come sorted and subscribers sorted within each, and handler indexes order as
  // handler ids, so every list is built in its canonical order (by stream, then handler or
  // subscriber) without a sort.
  for (const demanded of ctx.streams) {
    const { stream, subscriberIndexes } = demanded;
    const origin = homes[demanded.publisherIndex] as number;
    legs.beginStream(demanded);
    if (!shownAwayFrom(subscriberIndexes, homes, origin)) {
      // Shown only where it is published: no hub publish, no cascade.
      legs.publish(stream, origin);
    } else {
      if (hubIndex !== -1 && origin !== hubIndex) {
        legs.publish(stream, Math.min(origin, hubIndex));
        legs.publish(stream, Math.max(origin, hubIndex));
      } else {
        legs.publish(stream, origin);
      }
      for (const to of otherHandlersShowing(subscriberIndexes, homes, origin, hubIndex)) {
        legs.cascade(stream, hubIndex, to);
      }
    }
    for (let i = 0; i < subscriberIndexes.length; i++) {
      const home = homes[subscriberIndexes[i] as number] as number;
      legs.deliver(stream, home, demanded.subscribers[i] as ParticipantId);
    }
  }
  const plan: RoutingPlan = {
    meeting: ctx.input.meeting,
    hub: hubIndex === -1 ? null : legs.idOf(hubIndex),
    homes: homeList(ctx, homes, legs),
    publishes: legs.routes.publishes,
    cascades: legs.routes.cascades,
    deliveries: legs.routes.deliveries,
    loads: legs.loads(ctx.bitrateBps),
  };
  plannedHere.add(plan);
  rememberContext(plan, ctx);
  return plan;
}

/** The plan's homes sorted by participant id: the previous plan's list when none moved. */
function homeList(ctx: PlanningContext, homes: Homes, legs: PlanLegs): readonly HomeAssignment[] {
  const list: HomeAssignment[] = [];
  for (const p of ctx.participantsById) {
    const participant = ctx.participants[p] as RoutingParticipant;
    list.push({ participant: participant.id, handler: legs.idOf(homes[p] as number) });
  }
  const before = ctx.input.previous?.homes;
  return before !== undefined && sameHomes(before, list) ? before : list;
}

function sameHomes(a: readonly HomeAssignment[], b: readonly HomeAssignment[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as HomeAssignment;
    const y = b[i] as HomeAssignment;
    if (x.participant !== y.participant || x.handler !== y.handler) return false;
  }
  return true;
}

/** A plan's lists of legs. */
interface RouteLists {
  readonly publishes: readonly PublishRoute[];
  readonly cascades: readonly CascadeRoute[];
  readonly deliveries: readonly DeliverRoute[];
}

/** Where one stream's legs start in each list of a plan. */
interface LegsAt {
  readonly publish: number;
  readonly cascade: number;
  readonly delivery: number;
}

/**
 * The plans this planner laid out: each list in canonical order, one delivery per subscriber of
 * a stream. Plans are immutable values, so a stream of the next plan whose legs are provably
 * those of the previous plan's (see {@link EarlierLegs}) shares the previous plan's route
 * objects instead of making equal ones: a reroute after a layout or speaker change reuses
 * almost every leg. Weak: the set never keeps a plan alive.
 */
const plannedHere = new WeakSet<RoutingPlan>();

/**
 * The previous plan's legs, and which participants kept their home. A stream's legs are a
 * function of its publisher's home, its subscribers (in order) and their homes, and the hub
 * (see {@link buildPlan}); when all of them are those of a stream of the previous plan, its
 * legs are that stream's legs, field for field. Streams are asked about in canonical order, so
 * the previous plan's lists (in the same order) are read once, front to back.
 */
class EarlierLegs {
  /** How far into each of the previous plan's lists the streams asked about so far reach. */
  private publish = 0;
  private cascade = 0;
  private delivery = 0;

  private constructor(
    private readonly plan: RoutingPlan,
    /** By participant index: whether the participant has the same home as before. */
    private readonly kept: Uint8Array,
  ) {}

  /** The previous plan's legs, if this planner laid them out and the hub did not move. */
  static of(ctx: PlanningContext, homes: Homes, hubIndex: number): EarlierLegs | undefined {
    const previous = ctx.input.previous;
    if (previous === undefined || !plannedHere.has(previous)) return undefined;
    const hub = hubIndex === -1 ? null : (ctx.healthy[hubIndex] as RoutingHandler).id;
    if (hub !== previous.hub) return undefined;
    const kept = new Uint8Array(ctx.participants.length);
    ctx.participants.forEach((participant, p) => {
      const home = (ctx.healthy[homes[p] as number] as RoutingHandler).id;
      kept[p] = Number(ctx.previousHomes.get(participant.id) === home);
    });
    return new EarlierLegs(previous, kept);
  }

  /**
   * Where the previous plan's legs of this stream start, when they are provably its legs now.
   * Streams must be asked about in canonical order.
   */
  unchanged(demanded: DemandedStream): LegsAt | undefined {
    const { stream, subscribers } = demanded;
    const { publishes, cascades, deliveries } = this.plan;
    this.publish = firstNotBefore(publishes, this.publish, stream);
    this.cascade = firstNotBefore(cascades, this.cascade, stream);
    this.delivery = firstNotBefore(deliveries, this.delivery, stream);
    if (this.kept[demanded.publisherIndex] === 0) return undefined;
    for (let i = 0; i < subscribers.length; i++) {
      const earlier = deliveries[this.delivery + i];
      if (earlier === undefined || compareStreams(earlier, stream) !== 0) return undefined;
      if (earlier.subscriber !== subscribers[i]) return undefined;
      if (this.kept[demanded.subscriberIndexes[i] as number] === 0) return undefined;
    }
    // The previous plan delivered the stream to no one else.
    const next = deliveries[this.delivery + subscribers.length];
    if (next !== undefined && compareStreams(next, stream) === 0) return undefined;
    return { publish: this.publish, cascade: this.cascade, delivery: this.delivery };
  }

  /** The previous plan's lists. */
  get lists(): RouteLists {
    return this.plan;
  }
}

/** The first position from `from` on whose route's stream is not before `stream`. */
function firstNotBefore(routes: readonly Route[], from: number, stream: StreamRef): number {
  let at = from;
  while (at < routes.length && compareStreams(routes[at] as Route, stream) < 0) at++;
  return at;
}

/**
 * The legs of a plan being built, with the streams each handler receives plus sends (a
 * handler carries every stream in and out at the stream bitrate). A stream begun with the
 * previous plan's legs takes those route objects, in order, instead of making new ones.
 */
class PlanLegs {
  readonly routes = {
    publishes: [] as PublishRoute[],
    cascades: [] as CascadeRoute[],
    deliveries: [] as DeliverRoute[],
  };
  private readonly streamsCarried: Int32Array;
  /** The previous plan's lists, if the stream being laid out reuses its legs. */
  private source: RouteLists | undefined;
  /** Where the reused stream's next publish, cascade and delivery are in `source`. */
  private nextPublish = 0;
  private nextCascade = 0;
  private nextDelivery = 0;

  constructor(
    private readonly healthy: readonly RoutingHandler[],
    private readonly earlier: EarlierLegs | undefined,
  ) {
    this.streamsCarried = new Int32Array(healthy.length);
  }

  idOf(handler: number): HandlerId {
    return (this.healthy[handler] as RoutingHandler).id;
  }

  /** Starts the legs of a stream, reusing the previous plan's route objects where they are its. */
  beginStream(demanded: DemandedStream): void {
    const at = this.earlier?.unchanged(demanded);
    this.source = at === undefined ? undefined : this.earlier?.lists;
    if (at !== undefined) {
      this.nextPublish = at.publish;
      this.nextCascade = at.cascade;
      this.nextDelivery = at.delivery;
    }
  }

  publish({ publisher, kind }: StreamRef, handler: number): void {
    this.routes.publishes.push(
      this.source?.publishes[this.nextPublish++] ?? {
        type: 'publish',
        publisher,
        kind,
        handler: this.idOf(handler),
      },
    );
    add(this.streamsCarried, handler, 1);
  }

  cascade({ publisher, kind }: StreamRef, from: number, to: number): void {
    this.routes.cascades.push(
      this.source?.cascades[this.nextCascade++] ?? {
        type: 'cascade',
        publisher,
        kind,
        from: this.idOf(from),
        to: this.idOf(to),
      },
    );
    add(this.streamsCarried, from, 1);
    add(this.streamsCarried, to, 1);
  }

  deliver({ publisher, kind }: StreamRef, handler: number, subscriber: ParticipantId): void {
    this.routes.deliveries.push(
      this.source?.deliveries[this.nextDelivery++] ?? {
        type: 'deliver',
        publisher,
        kind,
        handler: this.idOf(handler),
        subscriber,
      },
    );
    add(this.streamsCarried, handler, 1);
  }

  /** The load on every handler the legs use, by handler id (handler index order). */
  loads(bitrateBps: number): HandlerLoad[] {
    const loads: HandlerLoad[] = [];
    for (let h = 0; h < this.healthy.length; h++) {
      const count = this.streamsCarried[h] as number;
      if (count === 0) continue;
      const handler = this.healthy[h] as RoutingHandler;
      const meetingBps = count * bitrateBps;
      loads.push({
        handler: handler.id,
        meetingBps,
        totalBps: meetingBps + handler.loadBps,
        hardLimitBps: hardLimitBps(handler),
      });
    }
    return loads;
  }
}

/** Whether some subscriber of a stream is homed away from the publisher's home. */
function shownAwayFrom(subscribers: readonly number[], homes: Homes, origin: number): boolean {
  for (const subscriber of subscribers) if (homes[subscriber] !== origin) return true;
  return false;
}

/**
 * The handlers, other than the stream's origin and the hub, where subscribers of the stream
 * are homed: the hub cascades the stream to each. Sorted by handler index, each once.
 */
function otherHandlersShowing(
  subscribers: readonly number[],
  homes: Homes,
  origin: number,
  hub: number,
): number[] {
  const handlers: number[] = [];
  for (const subscriber of subscribers) {
    const h = homes[subscriber] as number;
    if (h === origin || h === hub) continue;
    // Kept sorted as it grows (a stream reaches a handful of handlers at most).
    let at = handlers.length;
    while (at > 0 && (handlers[at - 1] as number) > h) at--;
    if (handlers[at - 1] === h) continue;
    for (let i = handlers.length; i > at; i--) handlers[i] = handlers[i - 1] as number;
    handlers[at] = h;
  }
  return handlers;
}

/** Adds `amount` to one entry of a numeric array. */
function add(values: Float64Array | Int32Array, index: number, amount: number): void {
  values[index] = (values[index] as number) + amount;
}
