import type { HandlerId, ParticipantId } from '../../core/ids.ts';
import { handleRegistryEvent } from '../../core/placement/index.ts';
import { placeMeeting } from '../../core/gc/placement.ts';
import { type ControllerInput } from '../../core/mc/endpoint.ts';
import { type MeetingOutput } from '../../core/mc/meeting.ts';
import { type PlanStep, type Route, type StreamDemand } from '../../core/routing/index.ts';
import { ms } from '../engine/time.ts';
import { checkNewPlan, checkTransition } from '../invariants/plan.ts';
import { isDelivered } from '../invariants/convergence.ts';
import type { MediaHandler } from './media-handler.ts';
import type { MeetingState } from './meeting.ts';
import type { World } from './world.ts';
import type { ConnectionGrant } from '../../core/mh/claims.ts';
import {
  HEARTBEAT_INTERVAL,
  SIGNALING_RETRANSMIT,
  type Client,
  type ControllerNode,
  type RegionServices,
} from './nodes.ts';
import { distributeEpoch, mlsOutput } from './keys.ts';
import { recordForwarding, checkFirstMedia, scheduleConvergenceCheck } from './checks.ts';
import { deliver } from './messaging.ts';
import { connectHandler } from './join.ts';

/**
 * Drives the Meeting Controllers' machines (core/mc `ControllerEndpoint`): inputs in, outputs
 * sent over the simulated network, one timer at the machine's next deadline. Also the Global
 * Controllers' registries (core/placement, core/gc) and the handlers applying route commands.
 */

export function registerController(w: World, controller: ControllerNode): void {
  for (const region of w.regions.values()) {
    updateRegistry(w, region, {
      type: 'register',
      id: controller.id,
      region: controller.region,
      endpoint: controller.node.id,
    });
  }
}

export function updateRegistry(
  w: World,
  region: RegionServices,
  event: Parameters<typeof handleRegistryEvent>[1],
): void {
  region.registry = handleRegistryEvent(region.registry, event, w.epochMs()).registry;
}

/** Each Global Controller's registry marks controllers silent past the timeout unhealthy. */
export function registryTicks(w: World): void {
  for (const region of w.regions.values()) updateRegistry(w, region, { type: 'tick' });
  w.sim.after(HEARTBEAT_INTERVAL, 'gc.tick', 'world', () => registryTicks(w));
}

/** A controller's heartbeat reaches every Global Controller its region can reach. */
export function heartbeat(w: World, controller: ControllerNode, meetingCount: number): void {
  for (const region of w.regions.values()) {
    if (w.network.isBlocked(controller.region, region.name)) continue;
    updateRegistry(w, region, {
      type: 'heartbeat',
      id: controller.id,
      meetingCount,
      healthy: true,
    });
  }
}

/** The Global Controller's choice (core/gc): the meeting's controller, placed if need be. */
export function controllerFor(
  w: World,
  meeting: MeetingState,
  gc: RegionServices,
): ControllerNode | undefined {
  const placement = placeMeeting(
    gc.registry,
    meeting.id,
    meeting.region,
    w.controllerOf.get(meeting.id)?.id,
    w.epochMs(),
    w.mutations.placement,
  );
  if (!placement.ok) return undefined;
  gc.registry = placement.value.registry;
  const controller = w.controllersById.get(placement.value.controller.id);
  if (controller !== undefined && placement.value.placed)
    w.controllerOf.set(meeting.id, controller);
  return controller;
}

/**
 * A controller serving a meeting that another controller ran reads the meeting's state from
 * the shared store and takes it over; the other stops running it.
 */
export function takeOver(w: World, meeting: MeetingState, controller: ControllerNode): void {
  const machine = meeting.machine;
  if (machine === undefined || meeting.owner === controller.id) return;
  const previous = meeting.owner === undefined ? undefined : w.controllersById.get(meeting.owner);
  if (previous !== undefined)
    previous.endpoint.handle({ type: 'release', meeting: meeting.id }, w.epochMs());
  meeting.owner = controller.id;
  w.metrics.reroutes.failovers++;
  toController(w, controller, { type: 'adopt', machine });
}

// ---------------------------------------------------------------- driving the controllers

/** Hands an input to a controller's machine and carries out what it asks. */
export function toController(w: World, controller: ControllerNode, input: ControllerInput): void {
  if (!controller.healthy) return;
  controller.endpoint.handle(input, w.epochMs());
  drive(w, controller);
}

/** Sends what the controller's machine asks for and arms its timer for its next deadline. */
export function drive(w: World, controller: ControllerNode): void {
  const endpoint = controller.endpoint;
  for (let out = endpoint.pollOutput(); out !== null; out = endpoint.pollOutput()) {
    if (out.type === 'meeting') {
      const meeting = w.meetings.get(out.meeting.id);
      if (meeting !== undefined) meetingOutput(w, controller, meeting, out.output);
    } else if (out.type === 'heartbeat') {
      heartbeat(w, controller, out.meetingCount);
    } else if (out.type === 'handler-lost') {
      w.sim.note(`handler-lost ${controller.id} ${out.handler}`);
      handlerLostBy(w, controller, out.handler);
    } else {
      w.sim.note(`unknown-meeting ${controller.id} ${out.meeting}`);
    }
  }
  const deadline = endpoint.pollTimeout();
  if (deadline === null || !controller.healthy) return;
  const at = w.sim.now + Math.max(0, deadline - w.epochMs()) * 1000;
  if (controller.timer !== undefined && controller.timerAt <= at && controller.timerAt >= w.sim.now)
    return;
  if (controller.timer !== undefined) w.sim.cancel(controller.timer);
  controller.timerAt = at;
  controller.timer = w.sim.at(at, 'mc.timeout', controller.id, () => {
    controller.timer = undefined;
    if (!controller.healthy) return;
    endpoint.handleTimeout(w.epochMs());
    drive(w, controller);
  });
}

/**
 * The controller took a handler for lost: the convergence bound of its meetings that used the
 * failed handler now counts from here (the check is moved to the new moment).
 */
function handlerLostBy(w: World, controller: ControllerNode, handler: HandlerId): void {
  controller.handlersLostAt.set(handler, w.sim.now);
  for (const meeting of w.meetings.values()) {
    if (meeting.owner !== controller.id || !meeting.failedHandlers.has(handler)) continue;
    scheduleConvergenceCheck(w, meeting);
  }
}

export function meetingOutput(
  w: World,
  controller: ControllerNode,
  meeting: MeetingState,
  out: MeetingOutput,
): void {
  switch (out.type) {
    case 'join-accepted':
    case 'join-rejected':
      w.joinReply = out;
      return;
    case 'connection-token':
    case 'token-refused':
      w.tokenReply = out;
      return;
    case 'keyframe-request':
      // Simulated clients carry no video (a stream is delivered or not): no keyframe to make.
      return;
    case 'meeting-ended':
      for (const id of out.handlers) {
        const handler = w.handlersById.get(id);
        if (handler === undefined) continue;
        deliver(w, controller.node, handler.node, 'mh.end-meeting', id, controller.id, 0, () => {
          if (handler.healthy)
            handler.handle(
              { type: 'meeting-ended', meeting: out.meeting, controller: controller.id },
              w.epochMs(),
            );
        });
      }
      return;
    case 'route-command':
      if (out.resend) w.metrics.reroutes.resends++;
      else w.metrics.reroutes.commands++;
      return sendRouteCommand(w, controller, meeting, out.id, out.handler, out.steps);
    case 'move': {
      const client = w.clients.get(out.participant);
      const handler = w.handlersById.get(out.handler);
      if (client?.state !== 'connected' || handler === undefined || client.handler === handler)
        return;
      w.metrics.reroutes.moves++;
      const signMs = w.scenario.serviceTimes.moveTokenMs;
      if (signMs === undefined || signMs <= 0)
        return tellMove(w, controller, client, handler, out.token);
      // Its token signed after those of the moves before it.
      controller.signingUntil = Math.max(w.sim.now, controller.signingUntil) + ms(signMs);
      const generation = client.generation;
      w.sim.at(controller.signingUntil, 'mc.move-token', controller.id, () => {
        if (controller.healthy && generation === client.generation)
          tellMove(w, controller, client, handler, out.token);
      });
      return;
    }
    case 'key':
      return distributeEpoch(w, controller, meeting, out.epoch, out.recipients, out.resend);
    case 'mls':
      return mlsOutput(w, controller, meeting, out.output);
    case 'mls-refused':
      w.violations.report(
        'media-key-epoch',
        `client/${out.participant}`,
        `the controller refused MLS input of ${meeting.id}: ${out.error.kind}`,
      );
      return;
    case 'erase-epoch':
      // Every member is to erase the epoch: each does when its keys are next read or added.
      meeting.erasedEpochs.push(out.epoch);
      return;
    case 'planned':
      meeting.strandedSince = undefined;
      meeting.planDeliversDemand = checkNewPlan(
        w.violations,
        `mc/${meeting.id}`,
        out.input,
        out.plan,
      );
      w.metrics.reroutes.plans++;
      meeting.demandChangedAt = w.sim.now;
      return scheduleConvergenceCheck(w, meeting);
    case 'plan-failed': {
      // A replan that found no room while the plan in force still routes through a failed
      // handler leaves the meeting without capacity: its pairs cannot be delivered until
      // room appears (the controller keeps no partial plan).
      const stranded = (meeting.machine?.plan?.loads ?? []).some(
        (load) => w.handlersById.get(load.handler)?.healthy === false,
      );
      if (stranded && meeting.strandedSince === undefined) {
        meeting.strandedSince = w.sim.now;
        w.metrics.reroutes.stranded++;
      }
      return w.sim.note(`plan-failed ${meeting.id} ${out.error.kind}`);
    }
    case 'transition':
      return checkTransition(
        w.violations,
        `mc/${meeting.id}`,
        out.from,
        out.steps,
        out.demandBefore,
        out.demandAfter,
      );
    case 'transition-done':
      return checkFirstMedia(w, meeting);
    case 'member-expired':
      return w.sim.note(`session-expired ${meeting.id} ${out.participant}`);
    case 'session-write':
    case 'session-delete':
      // The shared store holds the machine itself: its writes are in it already.
      return;
  }
}

/**
 * A route command on the controller's reliable stream to the handler, whose forwarder (core/mh)
 * applies each command id once and acknowledges every copy. What a first application changed
 * is mirrored into the meeting's data-plane graph, which the invariant checks read.
 */
export function sendRouteCommand(
  w: World,
  controller: ControllerNode,
  meeting: MeetingState,
  id: number,
  target: HandlerId,
  steps: readonly PlanStep[],
): void {
  const handler = w.handlersById.get(target);
  if (handler === undefined) return;
  deliver(
    w,
    controller.node,
    handler.node,
    'mh.route-command',
    target,
    controller.id,
    ms(w.scenario.serviceTimes.routeCommandMs),
    () => {
      if (!handler.healthy || meeting.ended) return;
      const add: Route[] = [];
      const remove: Route[] = [];
      for (const step of steps) (step.op === 'add' ? add : remove).push(step.route);
      const command = {
        type: 'route-command',
        id: String(id),
        meeting: meeting.id,
        controller: controller.id,
        add,
        remove,
      } as const;
      for (const out of handler.handle(command, w.epochMs())) {
        if (out.type !== 'route-ack') continue;
        if (!out.duplicate) {
          handler.meetings.add(meeting.id);
          for (const route of add) installed(w, meeting, handler, route);
          for (const route of remove) removed(w, meeting, handler, route);
        }
        deliver(w, handler.node, controller.node, 'mc.route-ack', controller.id, target, 0, () =>
          toController(w, controller, {
            type: 'meeting',
            meeting: meeting.id,
            input: { type: 'route-ack', command: id },
          }),
        );
      }
    },
  );
}

/**
 * A handler installed a leg. A cascade carries media once both its ends hold it (the sender
 * forwards, the receiver accepts); any other leg at once. The legs carried set the handlers'
 * flow-level load.
 */
function installed(w: World, meeting: MeetingState, handler: MediaHandler, route: Route): void {
  if (route.type === 'cascade' && !meeting.holdCascade(route, handler.id)) return;
  if (!meeting.installed.add(route)) return;
  carry(w, meeting, route, w.streamBps);
  if (route.type === 'cascade') {
    const paths = meeting.installed.paths(route);
    const hops = paths === undefined ? 0 : (paths.hops().get(route.to) ?? 0);
    w.metrics.recordCascade(hops);
  } else if (route.type === 'deliver') {
    recordForwarding(w, meeting, route.publisher, route.subscriber, handler);
  }
}

/** A handler removed a leg (a cascade stops carrying when either end drops it). */
export function removed(w: World, meeting: MeetingState, handler: MediaHandler, route: Route) {
  if (route.type === 'cascade') meeting.releaseCascade(route, handler.id);
  if (!meeting.installed.has(route)) return;
  const reached = keptPairsReached(meeting, route);
  if (!meeting.installed.remove(route)) return;
  if (reached !== undefined) checkRemoval(w, meeting, route, reached);
  meeting.convergence.legRemoved(route);
  carry(w, meeting, route, -w.streamBps);
}

/**
 * The pairs the controller's transition keeps demanding that the installed entries deliver and
 * that removing `route` could cut (every pair of its stream; a delivery's own pair only), if any.
 */
function keptPairsReached(meeting: MeetingState, route: Route): StreamDemand[] | undefined {
  const machine = meeting.machine;
  if (machine === undefined) return undefined;
  let reached: StreamDemand[] | undefined;
  for (const pair of pairsOf(machine.appliedDemand, route.publisher)) {
    if (pair.kind !== route.kind) continue;
    if (route.type === 'deliver' && pair.subscriber !== route.subscriber) continue;
    if (isDelivered(meeting.installed, pair)) (reached ??= []).push(pair);
  }
  return reached;
}

/**
 * Each demand list's pairs of a publisher, in list order, found on first use per publisher (a
 * transition removes legs of a few publishers' streams: one pass over the list for each of
 * them costs less than indexing every publisher).
 */
const pairsByPublisher = new WeakMap<readonly StreamDemand[], Map<ParticipantId, StreamDemand[]>>();

function pairsOf(
  demand: readonly StreamDemand[],
  publisher: ParticipantId,
): readonly StreamDemand[] {
  let index = pairsByPublisher.get(demand);
  if (index === undefined) {
    index = new Map();
    pairsByPublisher.set(demand, index);
  }
  let pairs = index.get(publisher);
  if (pairs === undefined) {
    pairs = [];
    for (const pair of demand) if (pair.publisher === publisher) pairs.push(pair);
    index.set(publisher, pairs);
  }
  return pairs;
}

/**
 * Make-before-break, checked on the installed entries as each removal is applied: a pair the
 * controller's transition keeps demanding and the handlers delivered before the removal must
 * still be delivered after it.
 */
function checkRemoval(
  w: World,
  meeting: MeetingState,
  route: Route,
  reached: readonly StreamDemand[],
): void {
  for (const pair of reached) {
    if (isDelivered(meeting.installed, pair)) continue;
    w.violations.report(
      'make-before-break',
      `mc/${meeting.id}`,
      `removing ${route.type} of ${route.publisher} ${route.kind} at ${route.type === 'cascade' ? `${route.from}->${route.to}` : route.handler} cut ${pair.subscriber} off a stream it still shows`,
    );
  }
}

/** Adds `bps` to every handler a leg runs through (a cascade loads both ends). */
export function carry(w: World, meeting: MeetingState, route: Route, bps: number): void {
  if (route.type === 'cascade') {
    carryAt(w, meeting, route.from, bps);
    carryAt(w, meeting, route.to, bps);
  } else {
    carryAt(w, meeting, route.handler, bps);
  }
}

export function carryAt(w: World, meeting: MeetingState, id: HandlerId, bps: number): void {
  const handler = w.handlersById.get(id);
  if (handler === undefined) return;
  handler.carry(bps, w.sim.now);
  meeting.handlerLoads.set(id, (meeting.handlerLoads.get(id) ?? 0) + bps);
  if (bps > 0) {
    w.streamsCarried++;
    w.metrics.peakStreams = Math.max(w.metrics.peakStreams, w.streamsCarried);
  } else {
    w.streamsCarried--;
  }
}

/**
 * The controller's move reaches the client over its signaling stream (one hop; a segment the
 * network loses arrives after TCP's retransmission timeout), and the client then leaves its
 * session and connects to the handler it was sent to.
 */
function tellMove(
  w: World,
  controller: ControllerNode,
  client: Client,
  handler: MediaHandler,
  token: ConnectionGrant,
): void {
  const generation = client.generation;
  const delivered = deliver(
    w,
    controller.node,
    client.node,
    'client.move',
    client.entity,
    controller.id,
    0,
    () => {
      if (generation !== client.generation || client.state !== 'connected') return;
      if (client.handler === handler) return;
      client.handler?.closeSession(client.meeting.id, client.id, w.epochMs());
      connectHandler(w, client, handler, token, 1, true);
    },
  );
  if (!delivered)
    w.sim.after(SIGNALING_RETRANSMIT, 'client.move-resent', client.entity, () => {
      if (generation === client.generation && client.state === 'connected')
        tellMove(w, controller, client, handler, token);
    });
}
