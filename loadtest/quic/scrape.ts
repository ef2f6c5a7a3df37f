/** A service's `/metrics`, fetched now from its metrics URL and parsed (stats.ts `parseMetrics`). */
import { parseMetrics, type MetricSeries } from './stats.ts';

export async function scrapeMetrics(metricsUrl: string, timeoutMs = 2_000): Promise<MetricSeries> {
  const response = await fetch(`${metricsUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  return parseMetrics(await response.text());
}
