import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { breakerGaugeValue, type CircuitBreaker } from '../resilience/breaker.ts';

/** Metrics every HTTP service registers. Labels are bounded: no ids, no personal data. */
export interface HttpMetrics {
  readonly registry: Registry;
  /** Request latency by method, route template and status code; its `_count` is the rate. */
  readonly requestDuration: Histogram<'method' | 'route' | 'status_code'>;
  /** Rejected authentications by a fixed set of reasons. */
  readonly authFailures: Counter<'reason'>;
}

/** Creates a fresh registry (one per service instance, so tests never share counters). */
export function createHttpMetrics(prefix: string): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: `${prefix}_` });
  const requestDuration = new Histogram({
    name: `${prefix}_http_request_duration_seconds`,
    help: 'HTTP request latency by route template and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const authFailures = new Counter({
    name: `${prefix}_auth_failures_total`,
    help: 'Rejected authentications by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  return { registry, requestDuration, authFailures };
}

/**
 * `<prefix>_circuit_breaker_state{dependency}`: each breaker's state when scraped, 0 closed,
 * 1 half-open (an open breaker whose open time is over counts as half-open), 2 open.
 */
export function registerBreakerGauge(
  registry: Registry,
  prefix: string,
  breakers: readonly CircuitBreaker[],
): void {
  new Gauge({
    name: `${prefix}_circuit_breaker_state`,
    help: 'Circuit breaker state by dependency: 0 closed, 1 half-open, 2 open',
    labelNames: ['dependency'] as const,
    registers: [registry],
    collect() {
      for (const breaker of breakers) {
        this.set({ dependency: breaker.dependency }, breakerGaugeValue(breaker.current()));
      }
    },
  });
}

/** A gauge whose value `read` gives when `/metrics` is scraped. */
export function registerScrapedGauge(
  registry: Registry,
  name: string,
  help: string,
  read: () => number,
): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}
