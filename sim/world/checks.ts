import { type ParticipantId } from '../../core/ids.ts';
import { type StreamDemand } from '../../core/routing/index.ts';
import { ms, seconds, type Micros } from '../engine/time.ts';
import { isDelivered } from '../invariants/convergence.ts';
import { JOIN_STAGES } from '../report/metrics.ts';
import type { MediaHandler } from './media-handler.ts';
import type { NetworkNode } from '../net/network.ts';
import type { MeetingState } from './meeting.ts';
import { emptyPlan, firstPublishOf, pairsBy } from './plans.ts';
import type { World } from './world.ts';
import { FAILURE_DETECTION, type Client } from './nodes.ts';
import { forwardingTime } from './service-times.ts';

/**
 * The world's checks of what clients and handlers actually get: first media, convergence of the
 * installed entries on the controller's demand, and flow-level latency samples of new deliveries.
 */

export function othersPublishing(w: World, client: Client): boolean {
  for (const other of client.meeting.memberIds()) {
    if (other !== client.id && w.clients.get(other)?.state === 'connected') return true;
  }
  return false;
}

/**
 * Flow-level latency of one delivered stream: uplink, time inside each handler it crosses,
 * the network between handlers when it is cascaded, downlink. "Forwarding" is the time inside
 * the handlers (spec: arrival to send); the hop between handlers is a network segment.
 */
export function recordForwarding(
  w: World,
  meeting: MeetingState,
  publisher: ParticipantId,
  subscriber: ParticipantId,
  last: MediaHandler,
): void {
  // The meeting is running (an ended meeting's handlers install nothing): its clients are
  // the world's.
  const pub = meeting.clients.get(publisher);
  const sub = meeting.clients.get(subscriber);
  const plan = meeting.machine?.plan ?? null;
  const publishedAt = plan === null ? undefined : firstPublishOf(plan, publisher);
  const first = publishedAt === undefined ? undefined : w.handlersById.get(publishedAt);
  if (pub === undefined || sub === undefined || first === undefined) return;
  const random = w.forwardingDraws;
  const inside =
    first === last
      ? forwardingTime(w, random, first)
      : forwardingTime(w, random, first) + forwardingTime(w, random, last);
  const between = first === last ? 0 : w.network.baseLatency(first.node, last.node);
  const endToEnd =
    w.network.baseLatency(pub.node, first.node) +
    inside +
    between +
    w.network.baseLatency(last.node, sub.node);
  w.metrics.forwarding.record(inside);
  if (first !== last) w.metrics.betweenHandlers.record(between);
  w.metrics.mediaPath.record(endToEnd);
}

export function checkFirstMedia(w: World, meeting: MeetingState): void {
  let demandOf: Map<ParticipantId, StreamDemand[]> | undefined;
  for (const member of meeting.memberIds()) {
    const client = meeting.clients.get(member);
    if (client === undefined || !client.awaitingFirstMedia || client.handler === undefined)
      continue;
    demandOf ??= pairsBy(meeting.machine?.demand ?? [], 'subscriber');
    const delivered = demandOf.get(client.id)?.filter((d) => isDelivered(meeting.installed, d));
    if (delivered === undefined || delivered.length === 0) continue;
    client.awaitingFirstMedia = false;
    const generation = client.generation;
    // The next frame of any publisher it now receives: each publisher's frames on a clock of
    // its own, at a phase independent of the others' (a uniform wait within one frame time).
    let frameWait = Infinity;
    const publishers = new Set<ParticipantId>();
    for (const pair of delivered) {
      if (publishers.has(pair.publisher)) continue;
      publishers.add(pair.publisher);
      frameWait = Math.min(
        frameWait,
        client.random.uniform(0, ms(w.scenario.serviceTimes.firstFrameMs)),
      );
    }
    const path =
      w.network.baseLatency(client.handler.node, client.node) +
      forwardingTime(w, w.forwardingDraws, client.handler);
    const floor = joinFloor(w, client, client.handler);
    const crossRegion =
      client.controller?.region !== client.region || client.handler.region !== client.region;
    w.sim.after(frameWait + path, 'client.first-frame', client.entity, () => {
      if (generation !== client.generation) return;
      const took = w.sim.now - client.joinStartedAt;
      w.metrics.joinToMedia.record(took);
      // Each stage the join went through, from the end of the one before it.
      let from = client.joinStartedAt;
      for (let stage = 0; stage < JOIN_STAGES.length; stage++) {
        const at = stage === JOIN_STAGES.length - 1 ? w.sim.now : client.joinStages[stage];
        if (at === undefined) continue;
        w.metrics.joinStages[stage]?.record(at - from);
        from = at;
      }
      w.metrics.joinToMediaByLocality.record(took, floor, crossRegion);
    });
  }
}

/**
 * The least a join can take on this network: the round trips of its four requests (token at
 * the AC, lookup at the GC, join at the MC, session at the MH) and the first frame's last hop,
 * at base latency. Service times, route installation and the wait for a frame are not in it.
 */
function joinFloor(w: World, client: Client, handler: MediaHandler): Micros {
  const region = w.regionOf(client.region);
  const rtt = (node: NetworkNode) => 2 * w.network.baseLatency(client.node, node);
  const controller = client.controller;
  return (
    rtt(region.ac.node) +
    rtt(region.gcNode) +
    (controller === undefined ? 0 : rtt(controller.node)) +
    rtt(handler.node) +
    w.network.baseLatency(handler.node, client.node)
  );
}

/**
 * Checks convergence `bound` after the routing last changed (new demand or new plan), or after
 * the last fault or heal plus the failure-detection delay if that came later, or after its
 * controller took a handler the meeting used for lost if that came later: the bound is a
 * promise about a stable network, and a handler's failure is allowed for from when the
 * controller learned of it (its members' loss reports or its silence), not from the longest
 * it could have taken.
 */
export function scheduleConvergenceCheck(w: World, meeting: MeetingState, at?: Micros): void {
  const bound = seconds(w.scenario.invariants.convergenceSeconds);
  const changedAt = meeting.demandChangedAt;
  // A later change supersedes the pending check (it would find the demand changed and stop).
  if (meeting.convergenceCheck !== undefined) w.sim.cancel(meeting.convergenceCheck);
  const check = (): void => {
    meeting.convergenceCheck = undefined;
    if (meeting.ended || meeting.demandChangedAt !== changedAt) return;
    const settledFrom = Math.max(
      changedAt,
      w.lastOtherTopologyChange + FAILURE_DETECTION,
      handlerLossKnown(w, meeting, changedAt),
    );
    if (w.sim.now < settledFrom + bound)
      return scheduleConvergenceCheck(w, meeting, settledFrom + bound);
    const plan = meeting.machine?.plan ?? null;
    meeting.convergence.check(
      w.violations,
      meeting.installed,
      plan ?? emptyPlan(meeting.id),
      plan !== null && meeting.planDeliversDemand,
      meeting.machine?.demand ?? [],
      (d) => canBeDelivered(w, d),
      changedAt,
      bound,
    );
  };
  meeting.convergenceCheck = w.sim.at(
    at ?? changedAt + bound,
    'check.convergence',
    `meeting/${meeting.id}`,
    check,
  );
}

/**
 * When the meeting's controller took the last of the failed handlers the meeting used for
 * lost: its `handler-lost` output, or the failure plus the detection time if it has not said
 * so by then (its handler view loses a silent handler then at the latest). Failures allowed
 * for before `changedAt` are forgotten (a later plan was made knowing of them).
 */
function handlerLossKnown(w: World, meeting: MeetingState, changedAt: Micros): Micros {
  const owner = meeting.owner === undefined ? undefined : w.controllersById.get(meeting.owner);
  let known = 0;
  for (const [handler, failedAt] of meeting.failedHandlers) {
    const said = owner?.handlersLostAt.get(handler);
    const at =
      said !== undefined && said >= failedAt
        ? Math.min(said, failedAt + FAILURE_DETECTION)
        : failedAt + FAILURE_DETECTION;
    if (at <= changedAt) meeting.failedHandlers.delete(handler);
    else known = Math.max(known, at);
  }
  return known;
}

/**
 * Demands whose subscriber and publisher are connected and reachable, in a meeting whose
 * controller is up, are due. A failed handler exempts nothing: once the controllers have had
 * the detection time, no plan may route through it.
 */
export function canBeDelivered(w: World, demand: StreamDemand): boolean {
  const sub = w.clients.get(demand.subscriber);
  const pub = w.clients.get(demand.publisher);
  if (sub?.state !== 'connected' || pub?.state !== 'connected') return false;
  if (sub.handler === undefined || pub.handler === undefined) return false;
  const meeting = sub.meeting;
  const regions = new Set<string>([sub.region, pub.region, meeting.region]);
  const owner = meeting.owner === undefined ? undefined : w.controllersById.get(meeting.owner);
  if (owner === undefined || !owner.healthy || meeting.strandedSince !== undefined) return false;
  regions.add(owner.region);
  for (const load of meeting.machine?.plan?.loads ?? []) {
    const handler = w.handlersById.get(load.handler);
    if (handler !== undefined) regions.add(handler.region);
  }
  for (const a of regions) for (const b of regions) if (w.network.isBlocked(a, b)) return false;
  return true;
}
