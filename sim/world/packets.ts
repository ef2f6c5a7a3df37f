import type { StreamPaths } from '../../core/routing/graph.ts';
import type { SimRandom } from '../engine/random.ts';
import { ms, seconds } from '../engine/time.ts';
import { type NetworkNode } from '../net/network.ts';
import type { MeetingState } from './meeting.ts';
import type { World } from './world.ts';
import { PACKET_BYTES } from './nodes.ts';
import { forwardingTime } from './service-times.ts';

/**
 * Sampled meetings sent packet by packet along the installed legs.
 */

/**
 * A sampled meeting sends one packet per published stream every 1/packetsPerSecond seconds.
 * Each copy a subscriber should get crosses the legs the handlers have installed (uplink,
 * handler-to-handler, downlink), each leg a datagram through the simulated network with its
 * own jitter and loss: the report's packet loss and per-packet latencies come from here.
 */
export function schedulePacketRound(w: World, meeting: MeetingState): void {
  const interval = seconds(1 / w.scenario.media.packetsPerSecond);
  const random = w.sim.random.stream(`packets/${meeting.id}`);
  const round = (): void => {
    if (meeting.ended) return;
    for (const paths of meeting.installed.allPaths()) sendSampledPacket(w, paths, random);
    w.sim.after(interval, 'packet.round', `meeting/${meeting.id}`, round);
  };
  w.sim.after(interval, 'packet.round', `meeting/${meeting.id}`, round);
}

export function sendSampledPacket(w: World, paths: StreamPaths, random: SimRandom): void {
  const publisher = w.clients.get(paths.stream.publisher);
  const firstId = paths.publishedAt[0];
  const first = firstId === undefined ? undefined : w.handlersById.get(firstId);
  if (publisher?.state !== 'connected' || first === undefined || !first.healthy) return;
  const hops = paths.hops();
  const drawn =
    w.scenario.serviceTimes.forwardingDistribution !== undefined ||
    w.scenario.serviceTimes.forwardingByLoad !== undefined;
  const constant = ms(w.scenario.serviceTimes.forwardingMs);
  for (const [subscriberId, handlers] of paths.deliveries) {
    const subscriber = w.clients.get(subscriberId);
    const lastId = handlers[0];
    const last = lastId === undefined ? undefined : w.handlersById.get(lastId);
    if (subscriber?.state !== 'connected' || last === undefined) continue;
    w.metrics.packets.sent++;
    const legs: [NetworkNode, NetworkNode][] = [[publisher.node, first.node]];
    const cascadeHops = hops.get(last.id) ?? 0;
    for (let hop = 0; hop < cascadeHops; hop++) legs.push([first.node, last.node]);
    legs.push([last.node, subscriber.node]);
    let total = 0;
    let lost = false;
    for (const [from, to] of legs) {
      const transit = w.network.send(from, to, PACKET_BYTES, false, random);
      if (!transit.delivered) {
        lost = true;
        break;
      }
      total += transit.delay;
    }
    if (lost) {
      w.metrics.packets.lost++;
      continue;
    }
    // Each handler the datagram crosses takes its own draw when the time is a distribution.
    let forwarding = constant;
    if (drawn) {
      let sum = 0;
      // The first handler, then the last for each cascade hop (the hops between are theirs).
      for (let hop = 0; hop <= cascadeHops; hop++)
        sum += forwardingTime(w, () => random, hop === 0 ? first : last);
      forwarding = sum / (cascadeHops + 1);
    }
    const handlerPart =
      forwarding * (cascadeHops + 1) +
      (cascadeHops > 0 ? w.network.baseLatency(first.node, last.node) * cascadeHops : 0);
    w.metrics.forwarding.record(handlerPart);
    w.metrics.mediaPath.record(total + forwarding * (cascadeHops + 1));
  }
}
