import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BOUNDS, MIN_PERIOD_SECONDS } from './bounds.ts';
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

  it("takes a running stack's meeting and handler ids: distinct, and none of the generated form", () => {
    const named = (meetingIds: string[], mediaHandlerIds: string[]) =>
      validateScenario({
        ...minimal,
        regions: [{ name: 'a', mediaHandlers: 2, mediaHandlerIds }, { name: 'b' }],
        workload: { ...minimal.workload, meetingIds },
      });
    expect(named(['x', 'y'], ['load-mh-1', 'load-mh-2']).ok).toBe(true);
    const problems = (result: ReturnType<typeof validateScenario>) =>
      result.ok || result.error.kind !== 'invalid' ? [] : result.error.issues.map((i) => i.path);
    expect(problems(named(['x', 'x'], []))).toEqual(['workload.meetingIds']);
    expect(problems(named(['m3'], []))).toEqual(['workload.meetingIds']);
    expect(problems(named([], ['h', 'h']))).toEqual(['regions.0.mediaHandlerIds']);
    expect(problems(named([], ['mh/a/0']))).toEqual(['regions.0.mediaHandlerIds']);
    expect(problems(named([''], []))).toEqual(['workload.meetingIds.0']);
  });

  it('takes the forwarding time by load in increasing utilisation, each a distribution', () => {
    const steps = [
      { upToMs: 0.05, fraction: 0.5 },
      { upToMs: 0.1, fraction: 1 },
    ];
    const byLoad = (points: unknown) =>
      validateScenario({ ...minimal, serviceTimes: { forwardingByLoad: points } });
    const problems = (result: ReturnType<typeof validateScenario>) =>
      result.ok || result.error.kind !== 'invalid' ? [] : result.error.issues.map((i) => i.path);
    expect(
      byLoad([
        { utilisation: 0.1, distribution: steps },
        { utilisation: 0.5, distribution: steps },
      ]).ok,
    ).toBe(true);
    expect(
      problems(
        byLoad([
          { utilisation: 0.5, distribution: steps },
          { utilisation: 0.1, distribution: steps },
        ]),
      ),
    ).toEqual(['serviceTimes.forwardingByLoad']);
    expect(
      problems(
        byLoad([
          { utilisation: 0.5, distribution: steps },
          { utilisation: 0.5, distribution: steps },
        ]),
      ),
    ).toEqual(['serviceTimes.forwardingByLoad']);
    expect(problems(byLoad([{ utilisation: 0.1, distribution: steps.slice(0, 1) }]))).toEqual([
      'serviceTimes.forwardingByLoad.0.distribution',
    ]);
    expect(problems(byLoad([]))).toEqual(['serviceTimes.forwardingByLoad']);
  });

  it("takes each join step's spread as increasing factors ending at fraction 1", () => {
    const spread = (steps: unknown) =>
      validateScenario({
        ...minimal,
        serviceTimes: { serviceTimeSpread: { joinProcessing: steps } },
      });
    // By step: one list for every step, or a step the model does not have, is refused.
    const whole = (value: unknown) =>
      validateScenario({ ...minimal, serviceTimes: { serviceTimeSpread: value } }).ok;
    expect(whole({})).toBe(true);
    expect(
      whole([
        { factor: 0.8, fraction: 0 },
        { factor: 1.5, fraction: 1 },
      ]),
    ).toBe(false);
    expect(whole({ firstFrame: [{ factor: 1, fraction: 1 }] })).toBe(false);
    expect(
      spread([
        { factor: 0.8, fraction: 0 },
        { factor: 1.5, fraction: 1 },
      ]).ok,
    ).toBe(true);
    for (const steps of [
      [
        { factor: 1.5, fraction: 0 },
        { factor: 0.8, fraction: 1 },
      ],
      [{ factor: 1, fraction: 0.5 }],
      [{ factor: -1, fraction: 1 }],
      [],
    ])
      expect(spread(steps).ok, JSON.stringify(steps)).toBe(false);
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

describe('scenario bounds', () => {
  const issuesOf = (input: unknown) => {
    const result = validateScenario(input);
    return result.ok || result.error.kind !== 'invalid' ? [] : result.error.issues;
  };
  const withWorkload = (workload: object) => ({
    ...minimal,
    workload: { ...minimal.workload, ...workload },
  });
  const cases: [string, number, (value: number) => unknown][] = [
    ['durationSeconds', BOUNDS.durationSeconds, (v) => ({ ...minimal, durationSeconds: v })],
    [
      'workload.concurrentMeetings',
      BOUNDS.concurrentMeetings,
      (v) => withWorkload({ concurrentMeetings: v }),
    ],
    [
      'workload.participants.max',
      BOUNDS.participantsPerMeeting,
      (v) => withWorkload({ participants: { mean: 3, min: 2, max: v } }),
    ],
    [
      'regions.0.mediaHandlers',
      BOUNDS.mediaHandlersPerRegion,
      (v) => ({ ...minimal, regions: [{ name: 'a', mediaHandlers: v }, { name: 'b' }] }),
    ],
    [
      'regions.1.meetingControllers',
      BOUNDS.meetingControllersPerRegion,
      (v) => ({ ...minimal, regions: [{ name: 'a' }, { name: 'b', meetingControllers: v }] }),
    ],
    [
      'autoscaling.maxFactor',
      BOUNDS.autoscalingMaxFactor,
      (v) => ({ ...minimal, autoscaling: { maxFactor: v } }),
    ],
    [
      'media.packetsPerSecond',
      BOUNDS.packetsPerSecond,
      (v) => ({ ...minimal, media: { packetsPerSecond: v } }),
    ],
    [
      'network.rttMs.a.b',
      BOUNDS.latencyMs,
      (v) => ({ ...minimal, network: { rttMs: { a: { b: v } } } }),
    ],
    [
      'faults.0.atSeconds',
      BOUNDS.durationSeconds,
      (v) => ({
        ...minimal,
        faults: [{ kind: 'handler-crash', atSeconds: v, region: 'a', index: 0 }],
      }),
    ],
  ];

  it.each(cases)(
    '%s: accepted at its bound %d, refused above it naming value and bound',
    (path, bound, build) => {
      expect(issuesOf(build(bound))).toEqual([]);
      const over = bound + (Number.isInteger(bound) ? 1 : 0.5);
      const issues = issuesOf(build(over));
      expect(issues).toEqual([{ path, message: `${over} is above the bound ${bound}` }]);
    },
  );

  it('refuses 10 million meetings with a message naming the field, the value and the bound', () => {
    const result = validateScenario(withWorkload({ concurrentMeetings: 10_000_000 }), 'huge.yaml');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(describeScenarioError(result.error)).toBe(
      'invalid scenario huge.yaml: workload.concurrentMeetings: 10000000 is above the bound 100000',
    );
  });

  it('bounds the count of regions and faults', () => {
    const names = Array.from({ length: BOUNDS.regions + 1 }, (_, i) => `r${i}`);
    const issues = issuesOf({ ...minimal, regions: names.map((name) => ({ name })) });
    expect(issues).toContainEqual({
      path: 'regions',
      message: `${BOUNDS.regions + 1} items is above the bound ${BOUNDS.regions}`,
    });
    const fault = { kind: 'handler-crash', atSeconds: 1, region: 'a', index: 0 };
    expect(
      issuesOf({ ...minimal, faults: Array.from({ length: BOUNDS.faults + 1 }, () => fault) }),
    ).toEqual([
      { path: 'faults', message: `${BOUNDS.faults + 1} items is above the bound ${BOUNDS.faults}` },
    ]);
  });

  it('keeps recurring periods from shrinking to nothing', () => {
    const floors: [string, number, unknown][] = [
      [
        'workload.meanMeetingSeconds',
        MIN_PERIOD_SECONDS.meanMeetingSeconds,
        withWorkload({ meanMeetingSeconds: 1e-9 }),
      ],
      [
        'workload.meanSpeakerTurnSeconds',
        MIN_PERIOD_SECONDS.meanSpeakerTurnSeconds,
        withWorkload({ meanSpeakerTurnSeconds: 1e-9 }),
      ],
      [
        'autoscaling.intervalSeconds',
        MIN_PERIOD_SECONDS.autoscalingIntervalSeconds,
        { ...minimal, autoscaling: { intervalSeconds: 1e-9 } },
      ],
      [
        'keys.mediaKeyRotationSeconds',
        MIN_PERIOD_SECONDS.mediaKeyRotationSeconds,
        { ...minimal, keys: { mediaKeyRotationSeconds: 1e-9 } },
      ],
    ];
    for (const [path, floor, input] of floors)
      expect(issuesOf(input)).toEqual([{ path, message: `1e-9 is below the bound ${floor}` }]);
  });

  it('bounds grid layouts to core rows and columns', () => {
    expect(issuesOf(withWorkload({ layouts: { grid16x16: 1 } }))).toEqual([]);
    const issues = issuesOf(
      withWorkload({ layouts: { grid0x3: 1, [`grid2x${BOUNDS.gridDimension + 1}`]: 1 } }),
    );
    expect(issues.map((i) => i.message)).toEqual([
      `rows and columns must be 1 to ${BOUNDS.gridDimension}: 0 is below the bound 1`,
      `rows and columns must be 1 to ${BOUNDS.gridDimension}: ${BOUNDS.gridDimension + 1} is above the bound ${BOUNDS.gridDimension}`,
    ]);
  });

  it('property: a meeting count is valid exactly when it is a whole number from 1 to the bound', () => {
    fc.assert(
      fc.property(fc.integer({ min: -10, max: 3 * BOUNDS.concurrentMeetings }), (meetings) => {
        const valid = validateScenario(withWorkload({ concurrentMeetings: meetings })).ok;
        expect(valid).toBe(meetings >= 1 && meetings <= BOUNDS.concurrentMeetings);
      }),
    );
  });

  it('describes every problem on one line', () => {
    const result = validateScenario({ ...minimal, durationSeconds: -1, regions: [] });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(describeScenarioError(result.error)).not.toContain('\n');
    const syntax = parseScenarioText('name: [unclosed\n', 'broken.yaml');
    expect(syntax.ok).toBe(false);
    if (!syntax.ok) expect(describeScenarioError(syntax.error)).not.toContain('\n');
  });
});
