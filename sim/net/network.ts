import type { SimRandom } from '../engine/random.ts';
import { ms, type Micros } from '../engine/time.ts';

/** Where a simulated node sits and how fast its link is. */
export interface NetworkNode {
  readonly id: string;
  readonly region: string;
  /** True for user devices: they pay the last-mile access latency on every message. */
  readonly isClient: boolean;
}

/** The network model of a scenario. All latencies are one-way unless named RTT. */
export interface NetworkConfig {
  readonly regions: readonly string[];
  /** Round-trip times between distinct regions, in milliseconds, keyed `a` then `b`. */
  readonly rttMs: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** One-way latency between two nodes of the same region. */
  readonly intraRegionMs: number;
  /** One-way last-mile latency added at each client end of a message. */
  readonly clientAccessMs: number;
  /** Uniform jitter added to each message, from 0 to this many milliseconds. */
  readonly jitterMs: number;
  /** Probability that a datagram is lost (reliable messages pay a retransmission instead). */
  readonly loss: number;
  /** Serialization rate of a client's access link, in megabits per second. */
  readonly clientBandwidthMbps: number;
}

/** A scheduled cut between regions. Asymmetric partitions block `from -> to` only. */
export interface Partition {
  readonly from: readonly string[];
  readonly to: readonly string[];
  readonly symmetric: boolean;
}

/** What happened to one message. */
export type Transit =
  | { readonly delivered: true; readonly delay: Micros; readonly retransmissions: number }
  | { readonly delivered: false; readonly reason: 'partition' | 'loss' | 'node-down' };

const MAX_RETRANSMISSIONS = 8;

/**
 * The simulated network: an RTT matrix between regions, intra-region latency, last-mile
 * latency for clients, jitter, loss, access-link serialization, partitions and failed nodes.
 * Randomness is drawn from the sender's own stream, so one sender's traffic never shifts the
 * draws of another.
 */
export class Network {
  /** One-way latency by sending region, then receiving region. */
  private readonly oneWay = new Map<string, Map<string, Micros>>();
  /** How many partitions cut each link, by sending region, then receiving region. */
  private readonly blocked = new Map<string, Map<string, number>>();
  private readonly downNodes = new Set<string>();
  private readonly clientBytesPerMicro: number;
  private readonly accessLatency: Micros;

  constructor(readonly config: NetworkConfig) {
    for (const a of config.regions) {
      const row = new Map<string, Micros>();
      for (const b of config.regions) {
        row.set(b, ms(a === b ? config.intraRegionMs : rttBetween(config, a, b) / 2));
      }
      this.oneWay.set(a, row);
    }
    this.clientBytesPerMicro = (config.clientBandwidthMbps * 1_000_000) / 8 / 1_000_000;
    this.accessLatency = ms(config.clientAccessMs);
  }

  /** The base one-way latency between two nodes, without jitter or loss. */
  baseLatency(from: NetworkNode, to: NetworkNode): Micros {
    const core = this.oneWay.get(from.region)?.get(to.region) ?? 0;
    const access = this.accessLatency;
    return core + (from.isClient ? access : 0) + (to.isClient ? access : 0);
  }

  /**
   * Sends one message of `bytes` bytes. A reliable message (signaling on a QUIC stream) is
   * retransmitted after each loss at a cost of one round trip; a datagram is simply lost.
   */
  send(
    from: NetworkNode,
    to: NetworkNode,
    bytes: number,
    reliable: boolean,
    random: SimRandom,
  ): Transit {
    // Most of a run has no failed node and no partition: two lookups per message saved.
    if (this.downNodes.size > 0 && (this.downNodes.has(to.id) || this.downNodes.has(from.id)))
      return { delivered: false, reason: 'node-down' };
    if (this.blocked.size > 0 && this.isBlocked(from.region, to.region))
      return { delivered: false, reason: 'partition' };
    const base = this.baseLatency(from, to);
    let retransmissions = 0;
    while (random.chance(this.config.loss)) {
      if (!reliable) return { delivered: false, reason: 'loss' };
      retransmissions++;
      if (retransmissions > MAX_RETRANSMISSIONS) return { delivered: false, reason: 'loss' };
    }
    const jitter = random.uniform(0, ms(this.config.jitterMs));
    const serialization = from.isClient || to.isClient ? bytes / this.clientBytesPerMicro : 0;
    const delay = Math.round(base + jitter + serialization + retransmissions * 2 * base);
    return { delivered: true, delay, retransmissions };
  }

  /** True while messages from region `from` to region `to` are cut. */
  isBlocked(from: string, to: string): boolean {
    return (this.blocked.get(from)?.get(to) ?? 0) > 0;
  }

  /** Starts a partition; overlapping partitions stack and each must be healed. */
  partition(partition: Partition): void {
    this.forEachLink(partition, (from, to) => this.addCuts(from, to, 1));
  }

  /** Heals a partition started with the same description. */
  heal(partition: Partition): void {
    this.forEachLink(partition, (from, to) => this.addCuts(from, to, -1));
  }

  private addCuts(from: string, to: string, change: number): void {
    let row = this.blocked.get(from);
    if (row === undefined) {
      row = new Map();
      this.blocked.set(from, row);
    }
    row.set(to, Math.max(0, (row.get(to) ?? 0) + change));
  }

  /** Marks a node failed: nothing reaches it or leaves it until `restore`. */
  fail(nodeId: string): void {
    this.downNodes.add(nodeId);
  }

  restore(nodeId: string): void {
    this.downNodes.delete(nodeId);
  }

  isDown(nodeId: string): boolean {
    return this.downNodes.has(nodeId);
  }

  private forEachLink(partition: Partition, visit: (from: string, to: string) => void): void {
    for (const a of partition.from) {
      for (const b of partition.to) {
        if (a === b) continue;
        visit(a, b);
        if (partition.symmetric) visit(b, a);
      }
    }
  }
}

function rttBetween(config: NetworkConfig, a: string, b: string): number {
  return config.rttMs[a]?.[b] ?? config.rttMs[b]?.[a] ?? 0;
}
