import type { HandlerId, ParticipantId, RegionId } from '../../core/ids.ts';
import { nextBandwidthState, type BandwidthState } from '../../core/backpressure/bandwidth.ts';
import type { LocalHandler } from '../../core/backpressure/admission.ts';
import type { MeetingId } from '../../core/ids.ts';
import type { NetworkNode } from '../net/network.ts';
import type { Micros } from '../engine/time.ts';

/**
 * A simulated Media Handler: its client sessions, the meetings it holds forwarding entries for
 * (the entries themselves live in each meeting's data-plane graph) and its bandwidth state
 * (core/backpressure, with hysteresis). Media is flow-level: the handler carries the bandwidth
 * the routing plans put on it.
 */
export class MediaHandler {
  readonly node: NetworkNode;
  /** Meetings this handler holds forwarding entries for. */
  readonly meetings = new Set<MeetingId>();
  /** By meeting, the id of the last route command applied (each is applied at most once). */
  readonly appliedCommands = new Map<MeetingId, number>();
  /** When each connected participant's session was established. */
  readonly sessions = new Map<ParticipantId, Micros>();
  /** Bits per second carried, summed over the meetings that use this handler. */
  loadBps = 0;
  bandwidthState: BandwidthState = 'ok';
  healthy = true;

  constructor(
    readonly id: HandlerId,
    readonly region: RegionId,
    readonly site: string,
    readonly capacityBps: number,
  ) {
    this.node = { id, region, isClient: false };
  }

  get utilisation(): number {
    return this.loadBps / this.capacityBps;
  }

  /** Refreshes the bandwidth state from the current load (called at each load report). */
  updateBandwidthState(): BandwidthState {
    this.bandwidthState = nextBandwidthState(this.bandwidthState, this.utilisation);
    return this.bandwidthState;
  }

  /** The handler as core's admission sees itself. */
  asLocal(): LocalHandler {
    return {
      handlerId: this.id,
      region: this.region,
      utilisation: this.utilisation,
      state: this.bandwidthState,
    };
  }

  /** Forgets its sessions and stops taking traffic: the handler failed. */
  crash(): void {
    this.healthy = false;
    this.sessions.clear();
    this.appliedCommands.clear();
  }
}
