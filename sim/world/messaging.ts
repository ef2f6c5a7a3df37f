import type { SimRandom } from '../engine/random.ts';
import { type Micros } from '../engine/time.ts';
import { type NetworkNode } from '../net/network.ts';
import type { World } from './world.ts';
import { REQUEST_TIMEOUT, MAX_ATTEMPTS, REQUEST_BYTES, type Client } from './nodes.ts';
import { failJoin } from './join.ts';

/**
 * Messages through the simulated network: one-way deliveries and client request/response
 * pairs with timeouts and retries.
 */

/** Sends one message; runs `handle` at the receiver after `processing`, unless it is lost. */
export function deliver(
  w: World,
  from: NetworkNode,
  to: NetworkNode,
  kind: string,
  entity: string,
  randomName: string,
  processing: Micros,
  handle: () => void,
): boolean {
  const transit = w.network.send(from, to, REQUEST_BYTES, true, networkRandom(w, randomName));
  if (!transit.delivered) return false;
  w.sim.after(transit.delay + queued(w, to, transit.delay, processing), kind, entity, handle);
  return true;
}

/**
 * `processing` at `to` for a message arriving `transit` from now, plus the wait behind the
 * requests it is still serving when the scenario models queueing (`serviceTimes.queueing`);
 * without it, `processing` alone (every request served at once).
 */
export function queued(w: World, to: NetworkNode, transit: Micros, processing: Micros): Micros {
  if (processing <= 0 || w.scenario.serviceTimes.queueing !== true) return processing;
  const arrival = w.sim.now + transit;
  const start = Math.max(arrival, w.busyUntil.get(to.id) ?? 0);
  w.busyUntil.set(to.id, start + processing);
  return start + processing - arrival;
}

/**
 * A client request and its response. `serve` runs at the server when the request arrives;
 * `respond` runs at the client when the response arrives. A lost message is retried after a
 * timeout, up to MAX_ATTEMPTS, then the join fails.
 */
export function rpc<T>(
  w: World,
  client: Client,
  server: NetworkNode,
  processing: Micros,
  kind: string,
  attempt: number,
  serve: () => T,
  respond: (value: T) => void,
  retry: () => void,
): void {
  const generation = client.generation;
  const lost = (): void => {
    w.sim.after(REQUEST_TIMEOUT, `${kind}.timeout`, client.entity, () => {
      if (generation !== client.generation) return;
      if (attempt >= MAX_ATTEMPTS) failJoin(w, client, `${kind} timed out`);
      else retry();
    });
  };
  const sent = deliver(w, client.node, server, kind, server.id, client.entity, processing, () => {
    const value = serve();
    const back = deliver(
      w,
      server,
      client.node,
      `${kind}.reply`,
      client.entity,
      client.entity,
      0,
      () => {
        if (generation === client.generation) respond(value);
      },
    );
    if (!back) lost();
  });
  if (!sent) lost();
}

/**
 * The random stream `net/<sender>` of a message sender, looked up by the sender's name alone
 * (the name's hash is kept with the string, a composed name would be hashed on every message).
 */
export function networkRandom(w: World, sender: string): SimRandom {
  let stream = w.networkStreams.get(sender);
  if (stream === undefined) {
    stream = w.sim.random.stream(`net/${sender}`);
    w.networkStreams.set(sender, stream);
  }
  return stream;
}
