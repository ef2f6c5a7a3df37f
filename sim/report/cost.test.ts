import { describe, expect, it } from 'vitest';
import { builtinScenario } from '../scenario/builtin.ts';
import { runScenario } from '../run.ts';
import { renderTerminal } from './terminal.ts';
import { renderHtml } from './html.ts';

describe('the cost estimate against the ADR baseline', () => {
  it('lists each assumption that differs, whose effects add up to the difference', () => {
    const scenario = builtinScenario('default');
    if (scenario === undefined) throw new Error('no default scenario');
    const { report } = runScenario({ scenario, seed: 1, durationSeconds: 20 });
    const cost = report.cost;
    const versus = cost?.versusAdr;
    if (cost === null || versus === null || versus === undefined) throw new Error('no estimate');
    expect(versus.adrMonthlyUsd).toBe(16_995);
    // The model reproduces the ADR's figure for the ADR's workload within 5 %.
    expect(Math.abs(versus.modelMonthlyUsd - 16_995) / 16_995).toBeLessThan(0.05);
    expect(versus.differences.map((d) => d.assumption)).toEqual([
      'concurrent meetings',
      'participants per meeting',
      'peak factor',
    ]);
    const explained = versus.differences.reduce((sum, d) => sum + d.effectUsd, 0);
    // Each effect is rounded to a dollar.
    expect(Math.abs(versus.modelMonthlyUsd + explained - cost.monthlyUsd)).toBeLessThanOrEqual(
      versus.differences.length + 1,
    );
    const terminal = renderTerminal(report);
    expect(terminal).toContain('vs the ADR baseline $16,995');
    expect(terminal).toContain('peak factor 1.6 -> 1');
    const html = renderHtml(report);
    expect(html).toContain('peak factor 1.6 -&gt; 1');
    expect(html).toContain(`Compute $${cost.breakdown['compute']}`);
  });
});
