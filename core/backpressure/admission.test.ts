import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { handlerId, regionId } from '../ids.ts';
import { admitParticipant, canAccept } from './admission.ts';
import type { HandlerLoadReport, LocalHandler } from './admission.ts';
import { rawBandwidthState } from './bandwidth.ts';

const west = regionId('us-west-1');
const east = regionId('us-east-1');
const now = 100_000;

const report = (id: string, utilisation: number, over: Partial<HandlerLoadReport> = {}) => ({
  handlerId: handlerId(id),
  region: west,
  utilisation,
  state: rawBandwidthState(utilisation),
  reportedAt: now - 1_000,
  ...over,
});

const full: LocalHandler = {
  handlerId: handlerId('mh-self'),
  region: west,
  utilisation: 0.85,
  state: 'hard-limit',
};

describe('admission', () => {
  it('accepts below the hard limit, also in warning', () => {
    expect(admitParticipant({ ...full, utilisation: 0.75, state: 'warning' }, [], now)).toEqual({
      kind: 'accept',
    });
  });

  it('redirects to the least-loaded fresh handler of the same region', () => {
    const decision = admitParticipant(
      full,
      [
        report('mh-b', 0.5),
        report('mh-a', 0.3),
        report('mh-stale', 0.1, { reportedAt: now - 60_000 }),
        report('mh-east', 0.05, { region: east }),
        report('mh-full', 0.82),
        report('mh-self', 0.0),
      ],
      now,
    );
    expect(decision).toEqual({
      kind: 'redirect',
      to: handlerId('mh-a'),
      targetUtilisation: 0.3,
      requestScaleOut: true,
    });
  });

  it('rejects with a retry-after when no handler is eligible', () => {
    expect(admitParticipant(full, [report('mh-b', 0.9)], now)).toEqual({
      kind: 'reject',
      retryAfterMs: 5_000,
      requestScaleOut: true,
    });
  });

  it('does not accept at exactly the hard limit, even in warning', () => {
    const atLimit = { ...full, utilisation: 0.8, state: 'warning' as const };
    expect(admitParticipant(atLimit, [report('mh-b', 0.2)], now)).toMatchObject({
      kind: 'redirect',
      to: handlerId('mh-b'),
    });
  });

  it('does not redirect to a handler still in hard-limit by hysteresis', () => {
    const decision = admitParticipant(full, [report('mh-b', 0.77, { state: 'hard-limit' })], now);
    expect(decision.kind).toBe('reject');
  });

  const reportArb = fc.record({
    handlerId: fc.constantFrom('mh-1', 'mh-2', 'mh-3', 'mh-4', 'mh-self').map(handlerId),
    region: fc.constantFrom(west, east),
    utilisation: fc.double({ min: 0, max: 1.2, noNaN: true }),
    state: fc.constantFrom('ok' as const, 'warning' as const, 'hard-limit' as const),
    reportedAt: fc.integer({ min: now - 30_000, max: now }),
  });

  it('never accepts at or above the hard limit and always picks the least-loaded eligible', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1.2, noNaN: true }),
        fc.constantFrom('ok' as const, 'warning' as const, 'hard-limit' as const),
        fc.array(reportArb, { maxLength: 12 }),
        (utilisation, state, reports) => {
          const local = { ...full, utilisation, state };
          const decision = admitParticipant(local, reports, now);
          const eligible = reports.filter(
            (r) =>
              r.region === west &&
              r.handlerId !== full.handlerId &&
              now - r.reportedAt <= 10_000 &&
              r.state !== 'hard-limit' &&
              r.utilisation < 0.8,
          );
          if (decision.kind === 'accept') {
            expect(utilisation).toBeLessThan(0.8);
            expect(state).not.toBe('hard-limit');
          } else if (decision.kind === 'redirect') {
            const min = Math.min(...eligible.map((r) => r.utilisation));
            expect(decision.targetUtilisation).toBe(min);
            expect(eligible.some((r) => r.handlerId === decision.to)).toBe(true);
          } else {
            expect(eligible).toHaveLength(0);
            expect(canAccept(utilisation, state)).toBe(false);
          }
        },
      ),
    );
  });
});
