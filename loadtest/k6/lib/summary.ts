/**
 * `handleSummary` for the k6 scripts: the end-of-test data k6 passes in, reduced to a JSON
 * report (each metric's values, each threshold and whether it held) and a few lines for the
 * terminal. Pure, no imports: k6 and vitest run it alike.
 */

/** The part of k6's summary data this reads (k6 docs, "End-of-test summary"). */
export interface SummaryData {
  readonly metrics: Record<
    string,
    {
      readonly type: string;
      readonly contains?: string;
      readonly values: Record<string, number>;
      readonly thresholds?: Record<string, { readonly ok: boolean }>;
    }
  >;
  readonly state?: { readonly testRunDurationMs?: number };
}

export interface SummaryReport {
  readonly script: string;
  readonly durationSeconds: number | null;
  readonly passed: boolean;
  readonly thresholds: readonly { metric: string; expression: string; ok: boolean }[];
  readonly metrics: Record<string, Record<string, number>>;
}

/** The JSON report of a run of `script`. */
export function summaryReport(script: string, data: SummaryData): SummaryReport {
  const thresholds: { metric: string; expression: string; ok: boolean }[] = [];
  const metrics: Record<string, Record<string, number>> = {};
  for (const name of Object.keys(data.metrics).sort()) {
    const metric = data.metrics[name];
    if (metric === undefined) continue;
    metrics[name] = { ...metric.values };
    for (const [expression, result] of Object.entries(metric.thresholds ?? {})) {
      thresholds.push({ metric: name, expression, ok: result.ok });
    }
  }
  const duration = data.state?.testRunDurationMs;
  return {
    script,
    durationSeconds: duration === undefined ? null : Math.round(duration) / 1000,
    passed: thresholds.every((t) => t.ok),
    thresholds,
    metrics,
  };
}

/** The report as lines for the terminal: every threshold, then the verdict. */
export function summaryText(report: SummaryReport): string {
  const lines = [
    `${report.script}: ${report.passed ? 'all thresholds held' : 'THRESHOLDS MISSED'}`,
  ];
  for (const t of report.thresholds) {
    const values = report.metrics[t.metric] ?? {};
    const shown = Object.entries(values)
      .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(3)}`)
      .join(' ');
    lines.push(`  ${t.ok ? 'ok  ' : 'MISS'} ${t.metric} ${t.expression}  (${shown})`);
  }
  return `${lines.join('\n')}\n`;
}

/** What `handleSummary` returns: the JSON file under reports/ and the lines on stdout. */
export function handleSummaryFor(
  script: string,
  data: SummaryData,
  dir = 'reports',
): Record<string, string> {
  const report = summaryReport(script, data);
  return {
    [`${dir}/k6-${script}.json`]: `${JSON.stringify(report, null, 2)}\n`,
    stdout: summaryText(report),
  };
}
