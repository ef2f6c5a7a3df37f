/**
 * The Media Handler's metrics (docs/services.md, "Media Handler"). Nothing is recorded per
 * datagram through prom-client: the forwarder and the driver count in plain fields, and these
 * collectors read them when `/metrics` is scraped. Labels are bounded sets; no ids.
 */
import { Counter, Gauge, Histogram, type Metric, type Registry } from 'prom-client';
import { registerScrapedGauge } from '../../adapters/metrics/registry.ts';
import { QUALITY_STAGES } from '../../core/backpressure/quality.ts';
import { DROP_REASONS, type Forwarder } from '../../core/mh/forwarder.ts';
import { DriverCounters, type MediaHandlerDriver } from './driver.ts';

const BANDS = { ok: 0, warning: 1, 'hard-limit': 2 } as const;

/** Transport drops that are datagrams; the others are connections refused or cut. */
const DATAGRAM_TRANSPORT_DROPS = new Set(['oversized-datagram', 'malformed-packet', 'send-failed']);

/** A counter whose value is read from a source at scrape time. */
function readCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** Registers every MH metric on `registry` (the service's HTTP metrics registry). */
export function registerMhMetrics(
  registry: Registry,
  driver: MediaHandlerDriver,
  transportDrops: () => ReadonlyMap<string, number>,
): void {
  const forwarder: Forwarder = driver.forwarder;
  const f = forwarder.counters;
  const d = driver.counters;
  readCounter(registry, 'mh_datagrams_in_total', 'Datagrams received', () => f.datagramsIn);
  readCounter(registry, 'mh_bytes_in_total', 'Datagram bytes received', () => f.bytesIn);
  readCounter(registry, 'mh_datagrams_out_total', 'Datagrams sent', () => d.datagramsSent);
  readCounter(registry, 'mh_bytes_out_total', 'Datagram bytes sent', () => d.bytesSent);
  readCounter(
    registry,
    'mh_cascade_suppressed_total',
    'Datagrams at the hop limit whose cascade legs were skipped',
    () => f.cascadeSuppressed,
  );
  new Counter({
    name: 'mh_datagram_drops_total',
    help:
      'Datagrams dropped, by reason: the forwarder decision (malformed, hop-exceeded, bad-hop, ' +
      'unknown-connection, unknown-stream, not-publisher, out-too-small), a failed send ' +
      '(send-too-large, send-queue-full, send-closed) or the transport (transport-*)',
    labelNames: ['reason'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (let i = 1; i < DROP_REASONS.length; i++) {
        this.inc({ reason: DROP_REASONS[i] }, f.drops[i] as number);
      }
      for (const [failure, count] of Object.entries(d.sendFailures)) {
        this.inc({ reason: `send-${failure}` }, count);
      }
      for (const [reason, count] of transportDrops()) {
        if (DATAGRAM_TRANSPORT_DROPS.has(reason))
          this.inc({ reason: `transport-${reason}` }, count);
      }
    },
  });
  new Counter({
    name: 'mh_transport_refusals_total',
    help:
      'Connections a transport refused or cut on its own, by reason (malformed-frame, ' +
      'malformed-control, refused-upgrade, keepalive-timeout, connection-limit)',
    labelNames: ['reason'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, count] of transportDrops()) {
        if (!DATAGRAM_TRANSPORT_DROPS.has(reason)) this.inc({ reason }, count);
      }
    },
  });
  new Counter({
    name: 'mh_hellos_total',
    help: 'Connection hellos by outcome: accepted, redirected, or the refusal reason',
    labelNames: ['outcome'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [outcome, count] of d.hellos) this.inc({ outcome }, count);
    },
  });
  readCounter(
    registry,
    'mh_control_malformed_total',
    'Control messages that did not decode or came out of place (connection closed)',
    () => d.malformedControl,
  );
  readCounter(
    registry,
    'mh_load_reports_published_total',
    'Load reports written to Redis',
    () => d.loadReportsPublished,
  );
  readCounter(
    registry,
    'mh_load_report_failures_total',
    'Load reports that could not be written to Redis',
    () => d.loadReportFailures,
  );
  const gauge = (name: string, help: string, read: () => number) =>
    registerScrapedGauge(registry, name, help, read);
  gauge('mh_sessions', 'Open client sessions', () => forwarder.sessionCount);
  gauge('mh_streams', 'Streams in the forwarding table', () => forwarder.streamCount);
  gauge('mh_utilisation', 'Bandwidth over capacity at the last load report', () =>
    Number.isFinite(forwarder.utilisation) ? forwarder.utilisation : 0,
  );
  gauge(
    'mh_bandwidth_band',
    'Bandwidth band: 0 ok, 1 warning, 2 hard limit',
    () => BANDS[forwarder.band],
  );
  gauge('mh_quality_stage', 'Quality stage: 0 optimal, 1 warning, 2 degraded, 3 critical', () =>
    QUALITY_STAGES.indexOf(forwarder.qualityStage),
  );
  gauge('mh_draining', '1 while the handler drains', () => (forwarder.draining ? 1 : 0));
  gauge(
    'mh_send_queue_bytes_max',
    'The most bytes of datagrams one connection has queued and not sent (a congested or slow ' +
      'receiver: at its send rate, how far behind its media is)',
    () => driver.largestSendQueueBytes(),
  );
  new Gauge({
    name: 'mh_connections',
    help: 'Open transport connections by transport',
    labelNames: ['transport'] as const,
    registers: [registry],
    collect() {
      for (const [transport, count] of Object.entries(driver.connectionCounts())) {
        this.set({ transport }, count);
      }
    },
  });
  for (const [name, help, map] of [
    [
      'mh_peer_hellos_total',
      'Peer hellos received, by outcome (accepted or why refused)',
      d.peerHellos,
    ],
    ['mh_peer_dials_total', 'Peer links dialed, by outcome (connected or why not)', d.peerDials],
  ] as const) {
    new Counter({
      name,
      help,
      labelNames: ['outcome'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [outcome, count] of map) this.inc({ outcome }, count);
      },
    });
  }
  registerLatencyHistogram(registry, d);
}

/**
 * `mh_route_command_seconds`: the handler's time on each route command it answered, from the
 * decoded call (bearer check included) to the answer handed back. Returns the observer to give
 * the route API.
 */
export function routeCommandTimer(registry: Registry): (seconds: number) => void {
  const histogram = new Histogram({
    name: 'mh_route_command_seconds',
    help: "A route command's time in the handler, from the decoded call to its answer",
    buckets: [
      0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
      0.1,
    ],
    registers: [registry],
  });
  return (seconds) => histogram.observe(seconds);
}

/** `mh_forwarding_latency_seconds`: arrival to the last send of a datagram, inside the handler. */
function registerLatencyHistogram(registry: Registry, d: DriverCounters): void {
  const name = 'mh_forwarding_latency_seconds';
  const help = 'Time from a datagram arriving to its last copy handed to the transport';
  const collect = () => {
    const values: { metricName: string; labels: Record<string, string>; value: number }[] = [];
    let cumulative = 0;
    DriverCounters.LATENCY_BOUNDS.forEach((bound, i) => {
      cumulative += d.latencyBuckets[i] as number;
      values.push({
        metricName: `${name}_bucket`,
        labels: { le: String(bound) },
        value: cumulative,
      });
    });
    values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: d.latencyCount });
    values.push({ metricName: `${name}_sum`, labels: {}, value: d.latencySum });
    values.push({ metricName: `${name}_count`, labels: {}, value: d.latencyCount });
    return values;
  };
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => ({ name, help, type: 'histogram', aggregator: 'sum', values: collect() }),
    reset: () => undefined,
  };
  registry.registerMetric(metric as unknown as Metric);
}
