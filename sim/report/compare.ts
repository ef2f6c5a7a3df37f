import type { RunReport } from './summary.ts';

/**
 * Two runs side by side (`npm run sim -- --scenario a --compare b`): the service levels, where
 * the cross-region members stand against their network floor, how much cascading each did,
 * handler load and cost, with the difference in per cent where both have a value.
 */
export function renderComparison(a: RunReport, b: RunReport): string {
  const rows: [string, (r: RunReport) => number | null, string][] = [
    ['join-to-media p50', (r) => r.latency.joinToMedia.p50Ms, 'ms'],
    ['join-to-media p99', (r) => r.latency.joinToMedia.p99Ms, 'ms'],
    ['  cross region p99', (r) => r.locality.joinToMedia.crossRegion.p99Ms, 'ms'],
    ['  cross region floor p99', (r) => r.locality.joinToMedia.crossRegion.floorP99Ms, 'ms'],
    ['signaling p99', (r) => r.latency.signaling.p99Ms, 'ms'],
    ['media path p50', (r) => r.latency.mediaPath.p50Ms, 'ms'],
    ['media path p99', (r) => r.latency.mediaPath.p99Ms, 'ms'],
    ['deliveries via another handler', (r) => r.latency.betweenHandlers.count, ''],
    ['  between handlers p99', (r) => r.latency.betweenHandlers.p99Ms, 'ms'],
    ['cascade links', (r) => r.cascades.links, ''],
    ['route commands', (r) => r.reroutes.commands, ''],
    ['client moves', (r) => r.reroutes.moves, ''],
    ['handler utilisation max', (r) => r.utilisation.maxPercent, '%'],
    ['monthly cost', (r) => r.cost?.monthlyUsd ?? null, '$'],
    ['invariant violations', (r) => r.invariants.total, ''],
  ];
  const width = Math.max(24, a.scenario.length, b.scenario.length) + 2;
  const cell = (value: number | null, unit: string) =>
    value === null
      ? '-'
      : unit === '$'
        ? `$${Math.round(value).toLocaleString('en-US')}`
        : `${Number.isInteger(value) ? value : value.toFixed(1)}${unit === '' ? '' : ` ${unit}`}`;
  const lines = [
    `Comparison, seed ${a.seed}, ${a.simulatedSeconds}s simulated each`,
    `${''.padEnd(32)}${a.scenario.padStart(width)}${b.scenario.padStart(width)}  difference`,
  ];
  for (const [name, pick, unit] of rows) {
    const x = pick(a);
    const y = pick(b);
    const difference =
      x === null || y === null || x === 0
        ? ''
        : `${y >= x ? '+' : ''}${((100 * (y - x)) / x).toFixed(0)}%`;
    lines.push(
      `${name.padEnd(32)}${cell(x, unit).padStart(width)}${cell(y, unit).padStart(width)}  ${difference}`,
    );
  }
  return lines.join('\n');
}
