import { describe, expect, it } from 'vitest';
import { builtinScenario, builtinScenarioNames } from './builtin.ts';
import {
  describeScenarioError,
  loadScenario,
  parseScenarioText,
  validateScenario,
} from './load.ts';

const minimal = {
  name: 'tiny',
  durationSeconds: 10,
  regions: [{ name: 'a' }, { name: 'b' }],
  network: { rttMs: { a: { b: 40 } } },
  workload: { concurrentMeetings: 2, participants: { mean: 3, min: 2, max: 5 } },
};

describe('scenario validation', () => {
  it('accepts a minimal scenario and fills in the defaults', () => {
    const result = validateScenario(minimal);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.value.regions[0]?.mediaHandlers).toBeGreaterThan(0);
  });

  it('names the path of each problem', () => {
    const result = validateScenario({
      ...minimal,
      durationSeconds: -1,
      workload: { ...minimal.workload, layouts: { mosaic: 1 } },
      faults: [{ kind: 'partition', atSeconds: 1, durationSeconds: 1, from: ['a'], to: ['mars'] }],
    });
    expect(result.ok).toBe(false);
    if (result.ok || result.error.kind !== 'invalid') return;
    const paths = result.error.issues.map((i) => i.path);
    expect(paths).toContain('durationSeconds');
    expect(paths).toContain('workload.layouts.mosaic');
    expect(paths).toContain('faults.0');
    expect(describeScenarioError(result.error)).toMatch(/unknown region "mars"/);
  });

  it('requires an RTT for every pair of regions', () => {
    const result = validateScenario({ ...minimal, network: { rttMs: {} } });
    expect(result.ok).toBe(false);
    if (!result.ok && result.error.kind === 'invalid') {
      expect(result.error.issues[0]?.message).toMatch(/no RTT between a and b/);
    }
  });

  it('rejects unknown fields and bad syntax', () => {
    const unknown = validateScenario({ ...minimal, extra: true });
    expect(unknown.ok).toBe(false);
    const syntax = parseScenarioText('name: [unclosed', 'broken.yaml');
    expect(syntax.ok).toBe(false);
    if (!syntax.ok) expect(syntax.error.kind).toBe('syntax');
  });

  it('parses YAML and JSON scenario text alike', () => {
    const json = parseScenarioText(JSON.stringify(minimal), 'tiny.json');
    const yaml = parseScenarioText(
      'name: tiny\ndurationSeconds: 10\nregions: [{name: a}, {name: b}]\nnetwork: {rttMs: {a: {b: 40}}}\nworkload: {concurrentMeetings: 2, participants: {mean: 3, min: 2, max: 5}}\n',
      'tiny.yaml',
    );
    expect(json).toEqual(yaml);
  });

  it('resolves built-in names and reports unknown ones', () => {
    for (const name of builtinScenarioNames()) expect(builtinScenario(name)?.name).toBe(name);
    const unknown = loadScenario('nonesuch');
    expect(unknown.ok).toBe(false);
    if (!unknown.ok) expect(unknown.error.kind).toBe('unknown-scenario');
    const missing = loadScenario('./missing.yaml');
    expect(!missing.ok && missing.error.kind).toBe('unreadable');
  });

  it('includes the ADR baseline: 1,000 concurrent meetings of 10 participants on average', () => {
    const baseline = builtinScenario('baseline');
    expect(baseline?.workload.concurrentMeetings).toBe(1000);
    expect(baseline?.workload.participants.mean).toBe(10);
  });
});

describe('example scenario file', () => {
  it('loads and validates the documented example', () => {
    const loaded = loadScenario('sim/scenario/examples/two-regions.yaml');
    expect(loaded.ok).toBe(true);
    if (loaded.ok)
      expect(loaded.value.faults.map((f) => f.kind)).toEqual(['partition', 'handler-crash']);
  });
});
