import type { HandlerId, MeetingId, ParticipantId, RegionId } from '../../core/ids.ts';
import { Forwarder } from '../../core/mh/forwarder.ts';
import type { MhInput, MhOutput } from '../../core/mh/types.ts';
import type { NetworkNode } from '../net/network.ts';
import type { Micros } from '../engine/time.ts';

/**
 * A simulated Media Handler: the driver of one core/mh `Forwarder`, which decides everything a
 * handler decides (session admission from connection-token claims, redirects, route commands
 * applied once per id, the forwarding table, bandwidth bands and load reports). Media is
 * flow-level: the world meters the bits per second the installed legs carry and feeds them to
 * the forwarder as traffic.
 */
export class MediaHandler {
  readonly node: NetworkNode;
  /** Meetings this handler has been sent legs for (to find them when it crashes). */
  readonly meetings = new Set<MeetingId>();
  forwarder: Forwarder;
  /** Bits per second the installed legs carry through this handler (the world's truth). */
  loadBps = 0;
  /** Up to when the load has been metered, and the bytes metered since the last tick. */
  private meteredAt: Micros;
  private meteredBytes = 0;
  /** When the last tick was. */
  private tickedAt: Micros;
  /** The outputs of the last input (reused: read them before the next input). */
  private readonly outputs: MhOutput[] = [];
  healthy = true;

  constructor(
    readonly id: HandlerId,
    readonly region: RegionId,
    readonly site: string,
    readonly capacityBps: number,
    private readonly reportIntervalMs: number,
    startMs: number,
    now: Micros,
  ) {
    this.node = { id, region, isClient: false };
    this.forwarder = this.newForwarder(startMs);
    this.meteredAt = now;
    this.tickedAt = now;
  }

  /** The true share of capacity in use now (what the forwarder measures over an interval). */
  get utilisation(): number {
    return this.loadBps / this.capacityBps;
  }

  /**
   * Hands the forwarder one input and returns what it asks for (valid until the next input:
   * the list is reused).
   */
  handle(input: MhInput, nowMs: number): readonly MhOutput[] {
    this.forwarder.handle(input, nowMs);
    return this.drain();
  }

  /**
   * Feeds the traffic carried since the last tick and the quality it was forwarded at, then
   * the forwarder's timer at `nowMs`. Traffic only counts at a report, so one input per tick
   * carries it all. Flow-level media has no queues: a handler forwards in `forwardingMs` and
   * loses what it was asked to carry beyond its capacity.
   */
  tick(now: Micros, nowMs: number, forwardingMs: number): readonly MhOutput[] {
    this.meter(now);
    const elapsed = now - this.tickedAt;
    this.tickedAt = now;
    if (this.meteredBytes > 0 && this.healthy) {
      this.forwarder.handle({ type: 'traffic', bytes: this.meteredBytes }, nowMs);
      const carriedBps = (this.meteredBytes * 8_000_000) / elapsed;
      const lossRatio = Math.max(0, 1 - this.capacityBps / carriedBps);
      this.forwarder.handle(
        { type: 'quality-sample', sample: { p99LatencyMs: forwardingMs, lossRatio } },
        nowMs,
      );
    }
    this.meteredBytes = 0;
    this.forwarder.handleTimeout(nowMs);
    return this.drain();
  }

  /** The load changes by `bps` at `now`: what flowed until now is metered first. */
  carry(bps: number, now: Micros): void {
    this.meter(now);
    this.loadBps = Math.max(0, this.loadBps + bps);
  }

  /** A participant's session here ended (it left, moved or lost its connection). */
  closeSession(meeting: MeetingId, participant: ParticipantId, nowMs: number): void {
    if (!this.healthy) return;
    const connection = this.forwarder.connectionOf(meeting, participant);
    if (connection !== undefined) this.handle({ type: 'session-closed', connection }, nowMs);
  }

  /** Forgets everything and stops taking traffic: the handler failed. */
  crash(): void {
    this.healthy = false;
  }

  /** Back after a failure, with a fresh forwarder (nothing survives a crash). */
  restart(startMs: number, now: Micros): void {
    this.healthy = true;
    this.forwarder = this.newForwarder(startMs);
    this.meteredAt = now;
    this.tickedAt = now;
    this.meteredBytes = 0;
  }

  private meter(now: Micros): void {
    if (now <= this.meteredAt) return;
    this.meteredBytes += (this.loadBps * (now - this.meteredAt)) / 8_000_000;
    this.meteredAt = now;
  }

  private drain(): readonly MhOutput[] {
    const out = this.outputs;
    out.length = 0;
    for (let o = this.forwarder.pollOutput(); o !== null; o = this.forwarder.pollOutput())
      out.push(o);
    return out;
  }

  private newForwarder(startMs: number): Forwarder {
    return new Forwarder({
      handler: this.id,
      region: this.region,
      capacityBps: this.capacityBps,
      loadReportIntervalMs: this.reportIntervalMs,
      startMs,
    });
  }
}
