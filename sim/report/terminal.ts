import { formatViolation } from '../invariants/violations.ts';
import type { LatencySummary, LevelByLocality, RunReport } from './summary.ts';

/**
 * The run summary printed on the terminal. `replay` is the command that replays the run; by
 * default it is built from the report (a built-in scenario's name, the seed and the duration).
 */
export function renderTerminal(report: RunReport, replay?: string): string {
  const lines: string[] = [];
  const l = report.latency;
  lines.push(
    `Dark Tower simulation: scenario ${report.scenario}, seed ${report.seed}`,
    `  ${report.simulatedSeconds}s simulated in ${report.wallSeconds}s (${report.speedup.toFixed(1)}x real time), ${report.events} events`,
    `  load: ${report.load.meetingsStarted} meetings started, peak ${report.load.peakMeetings} concurrent, ${report.load.peakParticipants} participants, ${report.load.peakStreams} streams`,
    '',
    'Service levels (ms)            count      p50      p95      p99  target',
    latencyLine('join-to-media', l.joinToMedia),
    latencyLine('signaling', l.signaling),
    latencyLine('forwarding (in handlers)', l.forwarding),
    latencyLine('between handlers (network)', l.betweenHandlers),
    latencyLine('media path (end to end)', l.mediaPath),
    '',
    'Join-to-media by stage (ms)    count      p50      p95      p99',
    ...report.joinStages.map(({ stage, latency }) => latencyLine(stage, latency)),
    '',
    'By locality (ms)               count      p50      p99  network floor p99',
    ...localityLines('join-to-media', report.locality.joinToMedia),
    ...localityLines('signaling', report.locality.signaling),
    ...[report.locality.joinToMedia, report.locality.signaling].flatMap((level) =>
      level.explanation === null ? [] : [`  ${level.explanation}`],
    ),
    '',
    `Joins: ${report.joins.attempted} attempted, ${report.joins.admitted} admitted, ${report.joins.redirected} redirected, ${report.joins.rejected} rejected, ${report.joins.failed} failed, ${report.joins.reconnects} reconnects`,
    `Packet loss (sampled meetings): ${report.packetLoss.ratio === null ? 'no packet sample (use --packet-sample)' : `${(100 * report.packetLoss.ratio).toFixed(3)}% of ${report.packetLoss.sent}`}`,
    `Cascades: ${report.cascades.links} handler-to-handler links, max ${report.cascades.maxHops} hops; ${report.reroutes.plans} plans, ${report.reroutes.moves} client moves, ${report.reroutes.commands} route commands (${report.reroutes.resends} resent), ${report.reroutes.failovers} meetings taken over from a failed controller, ${report.reroutes.stranded} stranded on a failed handler for want of room`,
    `Handler utilisation: mean ${percent(report.utilisation.meanPercent)}, p95 ${percent(report.utilisation.p95Percent)}, max ${percent(report.utilisation.maxPercent)}; samples over 70%: ${report.utilisation.samplesOverWarningPercent}%, over 80%: ${report.utilisation.samplesOverHardLimitPercent}%; ${report.scaleOuts} handlers added by the autoscaler; ${report.qualityEscalations} quality-stage escalations`,
    `Keys: ${report.rotations.signingKeys} signing-key rotations, ${report.rotations.mediaKeys} media-key rotations; ${report.tokens.issued} tokens issued, ${report.tokens.verified} verifications`,
    report.cost === null
      ? 'Cost: no load to estimate'
      : `Cost estimate: $${report.cost.monthlyUsd.toLocaleString('en-US')}/month (compute $${report.cost.breakdown['compute']}, database $${report.cost.breakdown['database']}, bandwidth $${report.cost.breakdown['bandwidth']}) for ${report.cost.basis}`,
    ...costVersusAdr(report),
    '',
  );
  if (report.invariants.total === 0) {
    lines.push('Invariants: all held');
  } else {
    const counts = Object.entries(report.invariants.byInvariant)
      .filter(([, count]) => count > 0)
      .map(([name, count]) => `${name} ${count}`)
      .join(', ');
    lines.push(`Invariants: ${report.invariants.total} violations (${counts})`);
    for (const violation of report.invariants.first.slice(0, 10))
      lines.push(`  ${formatViolation(violation)}`);
  }
  lines.push(`Trace hash: ${report.traceHash}`);
  lines.push(
    `Replay: ${replay ?? `npm run sim -- --scenario ${report.scenario} --seed ${report.seed} --duration ${report.simulatedSeconds}`}`,
  );
  return lines.join('\n');
}

function latencyLine(name: string, s: LatencySummary): string {
  const verdict = s.met === null ? '' : s.met ? ' ok' : ' MISSED';
  const target = s.targetMs === null ? '' : `p99<${s.targetMs}${verdict}`;
  return `  ${name.padEnd(27)} ${String(s.count).padStart(7)} ${fmt(s.p50Ms)} ${fmt(s.p95Ms)} ${fmt(s.p99Ms)}  ${target}`;
}

function fmt(value: number): string {
  return value.toFixed(1).padStart(8);
}

function percent(value: number): string {
  return `${value.toFixed(1)}%`;
}

function localityLines(name: string, level: LevelByLocality): string[] {
  return (
    [
      ['same region', level.sameRegion],
      ['cross region', level.crossRegion],
    ] as const
  ).map(
    ([where, l]) =>
      `  ${`${name}, ${where}`.padEnd(28)}${String(l.count).padStart(6)}${l.p50Ms.toFixed(1).padStart(9)}${l.p99Ms.toFixed(1).padStart(9)}${l.floorP99Ms.toFixed(1).padStart(19)}`,
  );
}

/** How the run's estimate comes from the ADR's baseline, one assumption at a time. */
export function costVersusAdr(report: RunReport): string[] {
  const versus = report.cost?.versusAdr;
  if (versus === null || versus === undefined) return [];
  const usd = (n: number) => `$${Math.round(n).toLocaleString('en-US')}`;
  const signed = (n: number) => `${n < 0 ? '-' : '+'}${usd(Math.abs(n))}`;
  return [
    `  vs the ADR baseline ${usd(versus.adrMonthlyUsd)} (the model gives ${usd(versus.modelMonthlyUsd)} for its workload):`,
    ...versus.differences.map(
      (d) =>
        `    ${d.assumption} ${round2(d.adr)} -> ${round2(d.run)} (${d.why}): ${signed(d.effectUsd)}`,
    ),
  ];
}

const round2 = (n: number): string => String(Math.round(n * 100) / 100);
