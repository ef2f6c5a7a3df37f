import * as hdr from 'hdr-histogram-js';
import type { Micros } from '../engine/time.ts';

/** Upper bounds (ms) of the buckets that latency charts draw. */
export const CHART_BUCKETS_MS = [
  1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 250, 300, 400, 500, 750, 1000, 2000, 5000,
];

/**
 * One latency, recorded in virtual microseconds (up to ten minutes): an hdr histogram for the
 * percentiles and fixed chart buckets (the last one counts everything beyond the bounds).
 */
export class LatencyRecorder {
  readonly histogram: hdr.Histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  readonly buckets = new Array<number>(CHART_BUCKETS_MS.length + 1).fill(0);

  record(latency: Micros): void {
    const micros = Math.min(600_000_000, Math.max(1, Math.round(latency)));
    this.histogram.recordValue(micros);
    let bucket = 0;
    while (bucket < CHART_BUCKETS_MS.length && micros > (CHART_BUCKETS_MS[bucket] as number) * 1000)
      bucket++;
    this.buckets[bucket] = (this.buckets[bucket] ?? 0) + 1;
  }
}

/**
 * One service level split by locality (the client and the service it talks to in the same
 * region or not), each with the floor the network imposes on every sample: the round trips of
 * that flow at base latency, without service times, jitter or queueing.
 */
export class LocalityLatency {
  readonly sameRegion = new LatencyRecorder();
  readonly crossRegion = new LatencyRecorder();
  readonly sameRegionFloor = new LatencyRecorder();
  readonly crossRegionFloor = new LatencyRecorder();

  record(latency: Micros, floor: Micros, crossRegion: boolean): void {
    (crossRegion ? this.crossRegion : this.sameRegion).record(latency);
    (crossRegion ? this.crossRegionFloor : this.sameRegionFloor).record(floor);
  }
}

/** The stages of a join to its first frame (spec 003 "Distributed Tracing"), in order. */
export const JOIN_STAGES = [
  'token',
  'meeting info',
  'join at controller',
  'media session',
  'first frame',
] as const;

/** One handler-utilisation sample: the time and each handler's load as a fraction of capacity. */
export interface UtilisationSample {
  readonly time: Micros;
  readonly byHandler: readonly number[];
}

/** Join outcomes counted at the meeting controller. */
export interface JoinCounters {
  attempted: number;
  admitted: number;
  redirected: number;
  rejected: number;
  failed: number;
  reconnects: number;
}

/**
 * Everything a run measures: latency histograms (hdr-histogram), join outcomes, cascades,
 * sampled-packet loss and handler utilisation over time.
 */
export class Metrics {
  readonly joinToMedia = new LatencyRecorder();
  readonly signaling = new LatencyRecorder();
  readonly forwarding = new LatencyRecorder();
  readonly mediaPath = new LatencyRecorder();
  readonly joinToMediaByLocality = new LocalityLatency();
  /** Join-to-media by stage, as `JOIN_STAGES` (a reconnect skips the stages it keeps). */
  readonly joinStages = JOIN_STAGES.map(() => new LatencyRecorder());
  readonly signalingByLocality = new LocalityLatency();
  /** The network between a stream's first and last handler, for cascaded deliveries. */
  readonly betweenHandlers = new LatencyRecorder();
  readonly joins: JoinCounters = {
    attempted: 0,
    admitted: 0,
    redirected: 0,
    rejected: 0,
    failed: 0,
    reconnects: 0,
  };
  readonly packets = { sent: 0, lost: 0 };
  readonly cascades = { links: 0, maxHops: 0 };
  readonly reroutes = { plans: 0, moves: 0, commands: 0, resends: 0, failovers: 0, stranded: 0 };
  readonly rotations = { signingKeys: 0, mediaKeys: 0 };
  readonly tokens = { issued: 0, verified: 0 };
  readonly utilisation: UtilisationSample[] = [];
  handlerNames: readonly string[] = [];
  peakParticipants = 0;
  peakMeetings = 0;
  peakStreams = 0;
  meetingsStarted = 0;
  /** Media handlers the autoscaler added. */
  scaleOuts = 0;
  /** Steps a handler's quality stage took towards critical (core/backpressure/quality). */
  qualityEscalations = 0;

  recordCascade(hops: number): void {
    this.cascades.links++;
    this.cascades.maxHops = Math.max(this.cascades.maxHops, hops);
  }
}
