/**
 * A QUIC load run's report: a terminal summary and a small self-contained HTML page
 * (utilisation over time per handler with the 70 % and 80 % lines, as inline SVG).
 */
import type { LoadResult } from './load.ts';

const ms = (us: number | null) => (us === null ? '-' : (us / 1000).toFixed(3));
const pct = (value: number | null) => (value === null ? '-' : `${(100 * value).toFixed(3)} %`);

/** The run as lines for the terminal. */
export function renderLoadSummary(r: LoadResult): string {
  const lines = [
    `QUIC load run: ${r.scenario}, ${r.plan.meetings} meetings x ${r.plan.participantsPerMeeting} (${r.plan.publishersPerMeeting} publishing), ${r.plan.handlers} handlers, ${r.plan.datagramsPerSecond}/s x ${r.plan.datagramBytes} B per stream, ${r.plan.durationSeconds} s (${r.wallSeconds} s wall)`,
    `  sessions: ${r.sessions.attempted} hellos, ${r.sessions.accepted} accepted, ${r.sessions.redirectsFollowed} redirects followed, ${r.sessions.redirectedMidMeeting} redirected mid-meeting, refused ${JSON.stringify(r.sessions.refused)}, closed by handler ${JSON.stringify(r.sessions.closedByHandler)}`,
    `  meetings: ${r.meetings.started} started, ${r.meetings.refused} refused`,
    `  at a handler's hard limit: ${r.atHardLimit.accepted} accepted, ${r.atHardLimit.redirected} redirected, ${r.atHardLimit.refused} refused`,
    `  datagrams: ${r.datagrams.sent} sent (${r.datagrams.skippedByClient} skipped by a late client loop, ${r.datagrams.clientSendRefused} refused by the client's queue), ${r.datagrams.received} received of ${r.datagrams.expected} expected, loss ${pct(r.datagrams.lossRatio)}, ${r.datagrams.sequenceGaps} in sequence gaps, ${r.datagrams.late} late, ${r.datagrams.handlerDrops} dropped by handlers (counted), ${r.datagrams.unaccounted} unaccounted`,
    `  end-to-end latency (capture time to receipt, ms): p50 ${ms(r.endToEndLatencyUs.p50)}, p90 ${ms(r.endToEndLatencyUs.p90)}, p99 ${ms(r.endToEndLatencyUs.p99)}, p99.9 ${ms(r.endToEndLatencyUs.p999)}, max ${ms(r.endToEndLatencyUs.max)} (${r.endToEndLatencyUs.count} datagrams)`,
    `  load client: ${r.client.cpuSeconds} CPU-s, ${r.client.cpuMicrosPerDatagram ?? '-'} CPU-us per datagram sent or received`,
  ];
  for (const h of r.handlers) {
    lines.push(
      `  ${h.id}: ${h.meetings} meetings, ${h.datagramsIn} in, ${h.datagramsOut} out; forwarding p50 ${ms(h.forwardingLatencyUs.p50)} ms, p99 ${ms(h.forwardingLatencyUs.p99)} ms; utilisation mean ${h.utilisation.meanPercent} %, max ${h.utilisation.maxPercent} %; quality ${h.finalQuality} (${h.qualityChanges.length} changes); ${h.cpuSeconds ?? '-'} CPU-s, ${h.cpuMicrosPerDatagram ?? '-'} CPU-us per datagram in or out`,
      `    band crossings (${h.crossingsFrom}): ${h.bandCrossings.map((c) => `${c.atSeconds} s ${c.from}->${c.to} at ${(100 * c.utilisation).toFixed(1)} %`).join(', ') || 'none'}`,
      `    drops ${JSON.stringify(h.drops)}; hellos ${JSON.stringify(h.hellos)}${h.killedAtSeconds === null ? '' : `; killed at ${h.killedAtSeconds} s`}`,
    );
  }
  return lines.join('\n');
}

const escape = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Utilisation over time, one line per handler, the 70 % and 80 % bands marked. */
function utilisationChart(r: LoadResult): string {
  const width = 640;
  const height = 220;
  const pad = 36;
  const top = Math.max(100, ...r.handlers.map((h) => h.utilisation.maxPercent)) * 1.1;
  const end = Math.max(1, r.plan.durationSeconds + r.plan.settleSeconds);
  const x = (s: number) => pad + ((width - 2 * pad) * s) / end;
  const y = (p: number) => height - pad - ((height - 2 * pad) * p) / top;
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
  const band = (p: number, colour: string, label: string) =>
    `<line x1="${pad}" x2="${width - pad}" y1="${y(p)}" y2="${y(p)}" stroke="${colour}" stroke-dasharray="4 3"/><text x="${width - pad + 2}" y="${y(p) + 4}" font-size="10">${label}</text>`;
  const lines = r.handlers.map((h, i) => {
    const points = h.utilisation.series.map(
      (s) => `${x(s.atSeconds).toFixed(1)},${y(s.percent).toFixed(1)}`,
    );
    return `<polyline fill="none" stroke="${colours[i % colours.length]}" stroke-width="2" points="${points.join(' ')}"/><text x="${pad + 4 + i * 90}" y="14" font-size="11" fill="${colours[i % colours.length]}">${escape(h.id)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="handler utilisation over time">
<rect x="${pad}" y="${pad}" width="${width - 2 * pad}" height="${height - 2 * pad}" fill="none" stroke="#999"/>
${band(70, '#e6a000', '70 %')}${band(80, '#c00', '80 %')}
${lines.join('\n')}
<text x="${pad}" y="${height - 8}" font-size="10">0 s</text><text x="${width - pad - 20}" y="${height - 8}" font-size="10">${end} s</text>
<text x="4" y="${pad + 4}" font-size="10">${Math.round(top)} %</text>
</svg>`;
}

/** The run as a self-contained HTML page. */
export function renderLoadHtml(r: LoadResult): string {
  const rows = r.handlers
    .map(
      (h) =>
        `<tr><td>${escape(h.id)}</td><td>${h.meetings}</td><td>${h.datagramsIn}</td><td>${h.datagramsOut}</td><td>${ms(h.forwardingLatencyUs.p50)}</td><td>${ms(h.forwardingLatencyUs.p99)}</td><td>${h.utilisation.meanPercent}</td><td>${h.utilisation.maxPercent}</td><td>${escape(h.bandCrossings.map((c) => `${c.atSeconds} s ${c.from}→${c.to}`).join(', ') || 'none')}</td><td>${escape(h.finalQuality)} (${h.qualityChanges.length})</td><td>${escape(JSON.stringify(h.drops))}</td><td>${h.cpuMicrosPerDatagram ?? '-'}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>QUIC load run: ${escape(r.scenario)}</title>
<style>body{font-family:system-ui,sans-serif;margin:24px;max-width:1100px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}pre{background:#f7f7f7;padding:8px;white-space:pre-wrap}</style>
</head><body>
<h1>QUIC load run: ${escape(r.scenario)}</h1>
<p>${escape(r.plan.description)}</p>
<p>Started ${escape(r.startedAt)}; ${r.plan.meetings} meetings of ${r.plan.participantsPerMeeting} (${r.plan.publishersPerMeeting} publishing) on ${r.plan.handlers} handlers of ${r.plan.capacityBps / 1e6} Mbps, ${r.plan.datagramsPerSecond} datagrams/s of ${r.plan.datagramBytes} bytes per stream, ${r.plan.durationSeconds} s.</p>
<h2>Handler utilisation</h2>
${utilisationChart(r)}
<h2>Handlers</h2>
<table><tr><th>handler</th><th>meetings</th><th>in</th><th>out</th><th>forwarding p50 ms</th><th>p99 ms</th><th>util mean %</th><th>max %</th><th>band crossings</th><th>quality (changes)</th><th>drops</th><th>CPU µs/datagram</th></tr>
${rows}</table>
<h2>Admission</h2>
<table><tr><th></th><th>accepted</th><th>redirected</th><th>refused</th></tr>
<tr><td>every hello</td><td>${r.sessions.accepted}</td><td>${r.sessions.redirectsFollowed + r.sessions.redirectedMidMeeting}</td><td>${Object.values(r.sessions.refused).reduce((a, b) => a + b, 0)}</td></tr>
<tr><td>at the asked handler's hard limit</td><td>${r.atHardLimit.accepted}</td><td>${r.atHardLimit.redirected}</td><td>${r.atHardLimit.refused}</td></tr></table>
<p>Datagrams: ${r.datagrams.received} received of ${r.datagrams.expected} expected, ${r.datagrams.handlerDrops} dropped by handlers and counted, ${r.datagrams.unaccounted} unaccounted.</p>
<h2>Summary</h2>
<pre>${escape(renderLoadSummary(r))}</pre>
</body></html>
`;
}
