import { regionId } from '../../core/ids.ts';
import { holds } from '../../core/mc/meeting.ts';
import { routesOf } from '../../core/routing/index.ts';
import { formatTime, ms, seconds } from '../engine/time.ts';
import type { MediaHandler } from './media-handler.ts';
import { emptyPlan } from './plans.ts';
import type { World } from './world.ts';
import {
  SIGNALING_KEEPALIVE_TIMEOUT,
  FAILOVER_BOUND,
  MEDIA_PACKET_INTERVAL,
  type ControllerNode,
  type Client,
} from './nodes.ts';
import { drive, carry } from './controllers.ts';
import { scheduleConvergenceCheck } from './checks.ts';
import { lookupMeeting, signal } from './join.ts';

/**
 * The scenario's faults: partitions, handler and controller crashes and their recoveries, and
 * the checks that the platform recovers from them.
 */

export function scheduleFaults(w: World): void {
  for (const fault of w.scenario.faults) {
    const at = seconds(fault.atSeconds);
    if (fault.kind === 'partition') {
      const partition = { from: fault.from, to: fault.to, symmetric: fault.symmetric };
      w.sim.at(at, 'fault.partition', fault.from.join('+'), () => {
        w.lastTopologyChange = w.lastOtherTopologyChange = w.sim.now;
        w.network.partition(partition);
      });
      w.sim.at(at + seconds(fault.durationSeconds), 'fault.heal', fault.from.join('+'), () => {
        w.lastTopologyChange = w.lastOtherTopologyChange = w.sim.now;
        w.network.heal(partition);
      });
    } else if (fault.kind === 'handler-crash') {
      const handlers = w.regionOf(regionId(fault.region)).handlers;
      const index = fault.index;
      const named = index === 'busiest' ? undefined : handlers[index];
      if (index !== 'busiest' && named === undefined) continue;
      const entity = named?.id ?? `mh/${fault.region}/busiest`;
      w.sim.at(at, 'fault.handler-crash', entity, () => {
        const handler = named ?? busiest(handlers);
        if (handler === undefined) return;
        crashHandler(w, handler);
        if (fault.durationSeconds === undefined) return;
        w.sim.after(seconds(fault.durationSeconds), 'fault.handler-restore', handler.id, () => {
          w.lastTopologyChange = w.lastOtherTopologyChange = w.sim.now;
          handler.restart(w.loadTickMs, w.sim.now);
          w.network.restore(handler.id);
        });
      });
    } else {
      const controller = w.regionOf(regionId(fault.region)).controllers[fault.index];
      if (controller === undefined) continue;
      w.sim.at(at, 'fault.controller-crash', controller.id, () => crashController(w, controller));
      if (fault.durationSeconds !== undefined) {
        w.sim.at(
          at + seconds(fault.durationSeconds),
          'fault.controller-restore',
          controller.id,
          () => {
            w.lastTopologyChange = w.lastOtherTopologyChange = w.sim.now;
            controller.healthy = true;
            w.network.restore(controller.node.id);
            drive(w, controller);
          },
        );
      }
    }
  }
}

/**
 * A controller dies. Meeting state survives it (in the shared store, as the spec keeps it in
 * Redis); its clients notice the lost signaling connection after the keep-alive timeout and
 * rejoin through the Global Controller, whose registry has stopped choosing the dead
 * controller by then, and the controller they reach takes the meeting over. Within
 * FAILOVER_BOUND every such client must be back on a live controller.
 */
export function crashController(w: World, controller: ControllerNode): void {
  w.lastTopologyChange = w.lastOtherTopologyChange = w.sim.now;
  controller.healthy = false;
  if (controller.timer !== undefined) w.sim.cancel(controller.timer);
  controller.timer = undefined;
  w.network.fail(controller.node.id);
  const affected: Client[] = [];
  for (const client of w.clients.values()) {
    if (client.controller !== controller || client.state !== 'connected') continue;
    affected.push(client);
    client.signalingLost = true;
    const delay = SIGNALING_KEEPALIVE_TIMEOUT + client.random.uniform(0, seconds(1));
    w.sim.after(delay, 'client.controller-lost', client.entity, () => {
      if (client.state !== 'connected' || client.controller?.healthy !== false) return;
      w.metrics.joins.reconnects++;
      lookupMeeting(w, client, 1);
    });
  }
  w.sim.after(FAILOVER_BOUND, 'check.failover', controller.id, () => {
    for (const client of affected) {
      if (client.meeting.ended || client.state === 'idle') continue;
      if (client.state === 'left' && !client.gaveUp) continue;
      if (client.state === 'connected' && client.controller?.healthy === true) continue;
      w.violations.report(
        'failover',
        client.entity,
        `not back on a live controller ${formatTime(FAILOVER_BOUND)} after ${controller.id} failed (${client.state})`,
      );
    }
  });
}

/**
 * A handler dies: its entries vanish. Its clients notice their media sessions close and tell
 * their controllers (see {@link noticeMediaLost}); the controllers take the handler for lost
 * when enough of its members have (core/mc's `mediaLossReports`) or when its load reports stop,
 * whichever comes first, and replan. Every pair of the meetings that used it must be delivered
 * again within the convergence bound of the moment the meeting's controller took it for lost
 * (and at the latest of the detection time after the failure).
 */
export function crashHandler(w: World, handler: MediaHandler): void {
  w.lastTopologyChange = w.sim.now;
  handler.crash();
  w.network.fail(handler.id);
  for (const meeting of w.meetings.values()) {
    const machine = meeting.machine;
    const held = handler.meetings.has(meeting.id);
    if (!held && machine?.uses(handler.id) !== true) continue;
    meeting.failedHandlers.set(handler.id, w.sim.now);
    if (held) {
      for (const plan of [machine?.appliedPlan ?? null, machine?.plan ?? null]) {
        for (const route of routesOf(plan ?? emptyPlan(meeting.id))) {
          if (!holds(handler.id, route) || !meeting.installed.remove(route)) continue;
          meeting.convergence.legRemoved(route);
          carry(w, meeting, route, -w.streamBps);
        }
      }
      meeting.releaseCascadesOf(handler.id);
    }
    scheduleConvergenceCheck(w, meeting);
  }
  handler.meetings.clear();
  for (const client of w.clients.values()) {
    if (client.state === 'connected' && client.handler === handler)
      noticeMediaLost(w, client, handler);
  }
}

/**
 * A client whose handler's process died notices its media session close: its next packet
 * (within {@link MEDIA_PACKET_INTERVAL}) draws the host's reset, back a network round trip
 * later. It then tells its controller it has no media session (the `connected` input with no
 * handler, as the services map a `MediaConnected` without one), as the client library does,
 * and waits for the controller to move it. On a stream transport
 * (`serviceTimes.mediaLossNotice` 'connection-close') the dying process's host closes the
 * connection itself once it has freed the process (`serviceTimes.processTeardownMs`), and the
 * client hears it one hop later.
 */
function noticeMediaLost(w: World, client: Client, handler: MediaHandler): void {
  const generation = client.generation;
  const times = w.scenario.serviceTimes;
  const delay =
    times.mediaLossNotice === 'connection-close'
      ? ms(times.processTeardownMs ?? 0) + w.network.baseLatency(handler.node, client.node)
      : client.random.uniform(0, MEDIA_PACKET_INTERVAL) +
        2 * w.network.baseLatency(client.node, handler.node);
  w.sim.after(delay, 'client.media-lost', client.entity, () => {
    if (generation !== client.generation || client.state !== 'connected') return;
    if (client.handler !== handler || client.reportedHandler !== handler.id) return;
    client.reportedHandler = undefined;
    signal(w, client, 'mc.media-lost', {
      type: 'connected',
      participant: client.id,
      handler: undefined,
    });
  });
}

/** The healthy handler with the most sessions (the first such in region order). */
function busiest(handlers: readonly MediaHandler[]): MediaHandler | undefined {
  let best: MediaHandler | undefined;
  for (const handler of handlers) {
    if (!handler.healthy) continue;
    if (best === undefined || handler.forwarder.sessionCount > best.forwarder.sessionCount)
      best = handler;
  }
  return best;
}
