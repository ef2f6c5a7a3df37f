import { describe, expect, it } from 'vitest';
import { handlerId, regionId } from '../../core/ids.ts';
import { seconds } from '../engine/time.ts';
import { MediaHandler } from './media-handler.ts';

const MBPS = 1_000_000;

function handler(): MediaHandler {
  return new MediaHandler(handlerId('mh-1'), regionId('us-west-1'), 'dc1', 100 * MBPS, 1000, 0, 0);
}

describe('the simulated media handler', () => {
  it('reports the traffic its legs carried over the interval, averaged', () => {
    const h = handler();
    h.carry(40 * MBPS, 0);
    h.carry(40 * MBPS, seconds(0.5));
    const report = h.tick(seconds(1), 1000, 1).find((o) => o.type === 'load-report');
    expect(report).toMatchObject({ bitsPerSecond: 60 * MBPS, report: { utilisation: 0.6 } });
  });

  it('loses what it carries past capacity, and its quality stage escalates a step per report', () => {
    const h = handler();
    h.carry(120 * MBPS, 0);
    const stages: string[] = [];
    for (let s = 1; s <= 4; s++)
      for (const o of h.tick(seconds(s), s * 1000, 1))
        if (o.type === 'quality-changed') stages.push(o.to);
    expect(stages).toEqual(['warning', 'degraded', 'critical']);
  });

  it('keeps an optimal stage at full capacity and below', () => {
    const h = handler();
    h.carry(100 * MBPS, 0);
    const changes = [1, 2, 3].flatMap((s) =>
      h.tick(seconds(s), s * 1000, 1).filter((o) => o.type === 'quality-changed'),
    );
    expect(changes).toEqual([]);
    expect(h.forwarder.qualityStage).toBe('optimal');
  });
});
