import { formatViolation } from '../invariants/violations.ts';
import type { LatencySummary, RunReport } from './summary.ts';
import { costVersusAdr } from './terminal.ts';

const WIDTH = 640;
const HEIGHT = 220;
const MARGIN = { left: 48, right: 12, top: 12, bottom: 40 };

/** A self-contained HTML report: tables and inline SVG charts, no external assets. */
export function renderHtml(report: RunReport, replay?: string): string {
  const l = report.latency;
  const rows = [
    ['join-to-media', l.joinToMedia],
    ['signaling', l.signaling],
    ['forwarding (in handlers)', l.forwarding],
    ['between handlers (network)', l.betweenHandlers],
    ['media path (end to end)', l.mediaPath],
  ] as const;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dark Tower simulation: ${esc(report.scenario)} seed ${report.seed}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:960px}
table{border-collapse:collapse;margin:8px 0 16px}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}.bad{color:#b00020;font-weight:600}.ok{color:#1b7f3a}
code{background:#f4f4f4;padding:1px 4px}svg text{font:11px system-ui,sans-serif;fill:#444}
</style></head><body>
<h1>Dark Tower simulation</h1>
<p>Scenario <b>${esc(report.scenario)}</b>, seed <b>${report.seed}</b>: ${report.simulatedSeconds}s simulated in ${report.wallSeconds}s (${report.speedup.toFixed(1)}x real time), ${report.events} events.<br>
Trace hash <code>${report.traceHash}</code>. Replay: <code>${esc(replay ?? `npm run sim -- --scenario ${report.scenario} --seed ${report.seed} --duration ${report.simulatedSeconds}`)}</code></p>
<h2>Service levels</h2>
<table><tr><th>latency (ms)</th><th>count</th><th>p50</th><th>p95</th><th>p99</th><th>max</th><th>target (p99)</th></tr>
${rows.map(([name, s]) => latencyRow(name, s)).join('\n')}
</table>
<h2>Latency distribution</h2>
${distributionChart('join-to-media', l.joinToMedia)}
${distributionChart('signaling', l.signaling)}
<h2>Handler utilisation over time</h2>
${utilisationChart(report)}
<p>Mean ${report.utilisation.meanPercent.toFixed(1)}%, p95 ${report.utilisation.p95Percent.toFixed(1)}%, max ${report.utilisation.maxPercent.toFixed(1)}% over ${report.utilisation.handlers.length} handlers.</p>
<h2>Join-to-media by stage</h2>
<table><tr><th>stage</th><th>count</th><th>p50 (ms)</th><th>p95 (ms)</th><th>p99 (ms)</th></tr>
${report.joinStages
  .map(
    ({ stage, latency }) =>
      `<tr><td>${stage}</td><td>${latency.count}</td><td>${ms(latency.p50Ms)}</td><td>${ms(latency.p95Ms)}</td><td>${ms(latency.p99Ms)}</td></tr>`,
  )
  .join('\n')}
</table>
<h2>Service levels by locality</h2>
<table><tr><th>level</th><th>locality</th><th>count</th><th>p50 (ms)</th><th>p99 (ms)</th><th>network floor p99 (ms)</th></tr>
${localityRows(report)}
</table>
${[report.locality.joinToMedia, report.locality.signaling]
  .flatMap((level) => (level.explanation === null ? [] : [`<p>${esc(level.explanation)}</p>`]))
  .join('\n')}
<h2>Load and outcomes</h2>
<table>
<tr><td>meetings started / peak concurrent</td><td>${report.load.meetingsStarted} / ${report.load.peakMeetings}</td></tr>
<tr><td>peak participants / streams</td><td>${report.load.peakParticipants} / ${report.load.peakStreams}</td></tr>
<tr><td>joins attempted / admitted / redirected / rejected / failed</td><td>${report.joins.attempted} / ${report.joins.admitted} / ${report.joins.redirected} / ${report.joins.rejected} / ${report.joins.failed}</td></tr>
<tr><td>handlers added by the autoscaler</td><td>${report.scaleOuts}</td></tr>
<tr><td>quality-stage escalations (loss past capacity)</td><td>${report.qualityEscalations}</td></tr>
<tr><td>reconnects</td><td>${report.joins.reconnects}</td></tr>
<tr><td>cascade links / max hops</td><td>${report.cascades.links} / ${report.cascades.maxHops}</td></tr>
<tr><td>packet loss (sampled)</td><td>${report.packetLoss.ratio === null ? 'no sample' : `${(100 * report.packetLoss.ratio).toFixed(3)}%`}</td></tr>
<tr><td>signing-key / media-key rotations</td><td>${report.rotations.signingKeys} / ${report.rotations.mediaKeys}</td></tr>
<tr><td>monthly cost estimate</td><td>${report.cost === null ? 'n/a' : `$${report.cost.monthlyUsd.toLocaleString('en-US')}`}</td></tr>
</table>
${report.cost === null ? '' : `<p>Cost basis: ${esc(report.cost.basis)}. Compute $${report.cost.breakdown['compute']}, database $${report.cost.breakdown['database']}, bandwidth $${report.cost.breakdown['bandwidth']} a month.</p>`}
${costVersusAdr(report).length === 0 ? '' : `<pre>${esc(costVersusAdr(report).join('\n'))}</pre>`}
<h2>Invariants</h2>
${
  report.invariants.total === 0
    ? '<p class="ok">All invariants held.</p>'
    : `<p class="bad">${report.invariants.total} violations.</p><ul>${report.invariants.first.map((v) => `<li><code>${esc(formatViolation(v))}</code></li>`).join('')}</ul>`
}
</body></html>
`;
}

function latencyRow(name: string, s: LatencySummary): string {
  const verdict =
    s.met === null ? '' : s.met ? '<span class="ok">met</span>' : '<span class="bad">missed</span>';
  return `<tr><td>${name}</td><td>${s.count}</td><td>${ms(s.p50Ms)}</td><td>${ms(s.p95Ms)}</td><td>${ms(s.p99Ms)}</td><td>${ms(s.maxMs)}</td><td>${s.targetMs === null ? '' : `${s.targetMs} ${verdict}`}</td></tr>`;
}

function distributionChart(title: string, s: LatencySummary): string {
  const buckets = s.distribution;
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const barW = plotW / buckets.length;
  const bars = buckets
    .map((b, i) => {
      const h = (b.count / max) * plotH;
      const x = MARGIN.left + i * barW;
      const label =
        b.upToMs === null ? '>' : `≤${b.upToMs >= 1000 ? `${b.upToMs / 1000}k` : b.upToMs}`;
      return `<rect x="${x + 1}" y="${MARGIN.top + plotH - h}" width="${barW - 2}" height="${h}" fill="#4a78c2"><title>${label} ms: ${b.count}</title></rect><text x="${x + barW / 2}" y="${HEIGHT - MARGIN.bottom + 14}" text-anchor="middle">${label}</text>`;
    })
    .join('');
  const target =
    s.targetMs === null
      ? ''
      : `<text x="${WIDTH - MARGIN.right}" y="${MARGIN.top + 10}" text-anchor="end">target p99 ${s.targetMs} ms; p99 ${ms(s.p99Ms)} ms</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${title} distribution">
<text x="${MARGIN.left}" y="${MARGIN.top + 10}">${title} (count per bucket, ms)</text>${target}
<line x1="${MARGIN.left}" y1="${MARGIN.top + plotH}" x2="${WIDTH - MARGIN.right}" y2="${MARGIN.top + plotH}" stroke="#888"/>${bars}</svg>`;
}

function utilisationChart(report: RunReport): string {
  const series = report.utilisation.series;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const end = Math.max(1, series[series.length - 1]?.timeSeconds ?? 1);
  const top = Math.max(100, ...series.map((p) => p.maxPercent));
  const x = (t: number) => MARGIN.left + (t / end) * plotW;
  const y = (v: number) => MARGIN.top + plotH - (v / top) * plotH;
  const path = (pick: (p: (typeof series)[number]) => number) =>
    series
      .map(
        (p, i) => `${i === 0 ? 'M' : 'L'}${x(p.timeSeconds).toFixed(1)},${y(pick(p)).toFixed(1)}`,
      )
      .join('');
  const threshold = (v: number, color: string) =>
    `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(v)}" y2="${y(v)}" stroke="${color}" stroke-dasharray="4 3"/><text x="${MARGIN.left - 4}" y="${y(v) + 4}" text-anchor="end">${v}%</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="handler utilisation over time">
<text x="${MARGIN.left}" y="${MARGIN.top + 10}">utilisation: max (red) and mean (blue) over handlers, % of capacity</text>
${threshold(70, '#e0a000')}${threshold(80, '#b00020')}
<line x1="${MARGIN.left}" y1="${MARGIN.top + plotH}" x2="${WIDTH - MARGIN.right}" y2="${MARGIN.top + plotH}" stroke="#888"/>
<text x="${WIDTH - MARGIN.right}" y="${HEIGHT - MARGIN.bottom + 14}" text-anchor="end">${end}s</text><text x="${MARGIN.left}" y="${HEIGHT - MARGIN.bottom + 14}">0s</text>
<path d="${path((p) => p.maxPercent)}" fill="none" stroke="#b00020" stroke-width="1.5"/>
<path d="${path((p) => p.meanPercent)}" fill="none" stroke="#4a78c2" stroke-width="1.5"/></svg>`;
}

function esc(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

function ms(value: number): string {
  return value.toFixed(1);
}

function localityRows(report: RunReport): string {
  const rows: string[] = [];
  for (const [name, level] of [
    ['join-to-media', report.locality.joinToMedia],
    ['signaling', report.locality.signaling],
  ] as const) {
    for (const [where, l] of [
      ['same region', level.sameRegion],
      ['cross region', level.crossRegion],
    ] as const) {
      rows.push(
        `<tr><td>${name}</td><td>${where}</td><td>${l.count}</td><td>${ms(l.p50Ms)}</td><td>${ms(l.p99Ms)}</td><td>${ms(l.floorP99Ms)}</td></tr>`,
      );
    }
  }
  return rows.join('\n');
}
