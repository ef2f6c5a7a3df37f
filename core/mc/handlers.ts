/**
 * What a Meeting Controller knows of the Media Handlers: only their load reports and their
 * silence (spec 003 "Media Handler", "Failure Scenarios" 3; ADR-0012 round 4). A handler is
 * known from its first report, is lost when no report has been heard for `detectionMs`, and is
 * back with its next report. Its load is the reported load plus what this controller's own
 * plans have put on it since that report (other controllers' plans reach it with the next
 * report), so a join storm between two reports does not plan every meeting onto the same
 * idle-looking handler. A handler whose report says it is draining stays alive (it still
 * acknowledges commands) but the planner sees it as unavailable, so plans move its members off
 * and place no one on it.
 */
import type { HandlerLoadReport } from '../backpressure/admission.ts';
import type { HandlerId, ParticipantId, RegionId } from '../ids.ts';
import type { HandlerCapability, HandlerLoad, RoutingHandler } from '../routing/types.ts';

/** A load report as the controller reads it: the handler's load plus what the planner needs. */
export interface HandlerReport extends HandlerLoadReport {
  /** The datacenter inside the region. */
  readonly site: string;
  /** Network capacity in bits per second. */
  readonly capacityBps: number;
}

export interface HandlerViewPolicy {
  /** How often handlers report (ms). */
  readonly reportIntervalMs: number;
  /** Silence (ms) after which a handler counts as lost. */
  readonly detectionMs: number;
  /**
   * How many members losing their media session to a handler, with no report from it since,
   * take it for lost before its silence would (default 2; 0: never). One member's loss is its
   * own network's as likely as the handler's.
   */
  readonly mediaLossReports?: number;
}

/** Members' media losses that take a handler for lost, unless the policy says otherwise. */
export const DEFAULT_MEDIA_LOSS_REPORTS = 2;

/** The capabilities the controller knows of a handler (none: load reports carry none). */
const NO_CAPABILITIES: readonly HandlerCapability[] = Object.freeze([]);

/** Handlers report every second (spec 001); two missed reports and half an interval is loss. */
export const DEFAULT_HANDLER_VIEW_POLICY: HandlerViewPolicy = {
  reportIntervalMs: 1_000,
  detectionMs: 2_500,
};

interface KnownHandler {
  readonly id: HandlerId;
  readonly region: RegionId;
  site: string;
  capacityBps: number;
  reportedBps: number;
  /** This controller's planned load on the handler when the last report was heard. */
  ownAtReport: number;
  /** This controller's planned load on the handler now. */
  own: number;
  heardAt: number;
  healthy: boolean;
  /** Its latest report says it is draining: it is going away and takes no one. */
  draining: boolean;
  /** Members who lost their media session to it since its latest report. */
  lostBy: Set<ParticipantId> | undefined;
}

/** A handler's estimated load in bits per second: last report plus own plans since. */
function estimatedLoad(known: KnownHandler): number {
  return Math.max(0, known.reportedBps + known.own - known.ownAtReport);
}

/** The handlers one controller has heard of, by region, with their estimated load and health. */
export class HandlerView {
  private readonly handlers = new Map<HandlerId, KnownHandler>();
  private readonly byRegion = new Map<RegionId, KnownHandler[]>();
  private nextExpiryAt: number | null = null;
  /** Bumped whenever a handler is lost or comes back: plans made before may need redoing. */
  healthVersion = 0;

  constructor(readonly policy: HandlerViewPolicy = DEFAULT_HANDLER_VIEW_POLICY) {}

  /**
   * Takes a report read at `now`. A handler counts as heard at the time it made its latest
   * report (`reportedAt`, on the clock the platform shares), so reading a store that still
   * holds a dead handler's last report does not keep it alive; a report no newer than the last
   * one changes nothing. True when the report brought back a handler that was lost.
   */
  report(report: HandlerReport, now: number): boolean {
    const at = Math.min(report.reportedAt, now);
    let known = this.handlers.get(report.handlerId);
    if (known === undefined) {
      known = {
        id: report.handlerId,
        region: report.region,
        site: report.site,
        capacityBps: report.capacityBps,
        reportedBps: 0,
        ownAtReport: 0,
        own: 0,
        heardAt: at,
        healthy: true,
        draining: false,
        lostBy: undefined,
      };
      this.handlers.set(known.id, known);
      const list = this.byRegion.get(known.region);
      if (list === undefined) this.byRegion.set(known.region, [known]);
      else list.push(known);
    } else if (at <= known.heardAt) {
      return false;
    }
    known.site = report.site;
    known.capacityBps = report.capacityBps;
    known.reportedBps = Math.max(0, report.utilisation) * report.capacityBps;
    known.ownAtReport = known.own;
    known.heardAt = at;
    // It spoke since: the losses members reported were not its own.
    known.lostBy = undefined;
    this.nextExpiryAt = null;
    const draining = report.draining === true;
    if (draining !== known.draining) {
      // Plans made before may place someone on it, or keep members there: redo them.
      known.draining = draining;
      this.healthVersion++;
    }
    if (known.healthy) return false;
    known.healthy = true;
    this.healthVersion++;
    return true;
  }

  /** Marks a handler lost now (its connection closed, or it went silent). False if it was. */
  lose(handler: HandlerId): boolean {
    const known = this.handlers.get(handler);
    if (known === undefined || !known.healthy) return false;
    known.healthy = false;
    this.healthVersion++;
    this.nextExpiryAt = null;
    return true;
  }

  /**
   * A member lost its media session to `handler`. True when that makes enough members (the
   * policy's `mediaLossReports`) since the handler's latest report: the caller loses it (closed
   * connections say it sooner than missed reports). A report forgets the losses before it.
   */
  mediaLost(handler: HandlerId, participant: ParticipantId): boolean {
    const known = this.handlers.get(handler);
    const needed = this.policy.mediaLossReports ?? DEFAULT_MEDIA_LOSS_REPORTS;
    if (known === undefined || !known.healthy || needed <= 0) return false;
    known.lostBy ??= new Set();
    known.lostBy.add(participant);
    return known.lostBy.size >= needed;
  }

  /** Loses every handler silent for the detection time at `now`; returns the ones lost. */
  expire(now: number): HandlerId[] {
    const lost: HandlerId[] = [];
    for (const known of this.handlers.values()) {
      if (known.healthy && now - known.heardAt >= this.policy.detectionMs) {
        this.lose(known.id);
        lost.push(known.id);
      }
    }
    return lost;
  }

  /** When the next healthy handler goes silent for the detection time; null if none known. */
  nextExpiry(): number | null {
    if (this.nextExpiryAt !== null) return this.nextExpiryAt;
    let next: number | null = null;
    for (const known of this.handlers.values()) {
      if (!known.healthy) continue;
      const at = known.heardAt + this.policy.detectionMs;
      if (next === null || at < next) next = at;
    }
    this.nextExpiryAt = next;
    return next;
  }

  /** Whether the handler's latest report says it is draining. */
  isDraining(handler: HandlerId): boolean {
    return this.handlers.get(handler)?.draining === true;
  }

  isHealthy(handler: HandlerId): boolean {
    return this.handlers.get(handler)?.healthy === true;
  }

  /** Records that one of this controller's plans moved from `before` to `after` loads. */
  plannedChanged(before: readonly HandlerLoad[], after: readonly HandlerLoad[]): void {
    for (const load of before) {
      const known = this.handlers.get(load.handler);
      if (known !== undefined) known.own -= load.meetingBps;
    }
    for (const load of after) {
      const known = this.handlers.get(load.handler);
      if (known !== undefined) known.own += load.meetingBps;
    }
  }

  /** Estimated load of a handler in bits per second: last report plus own plans since. */
  estimatedBps(handler: HandlerId): number {
    const known = this.handlers.get(handler);
    return known === undefined ? 0 : estimatedLoad(known);
  }

  /**
   * The handlers of `region` as the planner reads them, their load less what `meetingLoads`
   * (the meeting being planned, in its plan in force) puts on them, in the order first heard.
   */
  routingHandlers(
    region: RegionId,
    meetingLoads: ReadonlyMap<HandlerId, number>,
    out: RoutingHandler[],
  ): void {
    for (const known of this.byRegion.get(region) ?? []) {
      out.push({
        id: known.id,
        region: known.region,
        site: known.site,
        capacityBps: known.capacityBps,
        loadBps: Math.max(0, estimatedLoad(known) - (meetingLoads.get(known.id) ?? 0)),
        // A draining handler is alive (it still acknowledges commands) but plans leave it.
        healthy: known.healthy && !known.draining,
        quality: 1,
        capabilities: NO_CAPABILITIES,
      });
    }
  }

  /** Every handler heard of, with its health, in the order first heard. */
  known(): { readonly id: HandlerId; readonly region: RegionId; readonly healthy: boolean }[] {
    return [...this.handlers.values()].map(({ id, region, healthy }) => ({ id, region, healthy }));
  }
}
