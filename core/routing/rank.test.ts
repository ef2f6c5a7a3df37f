import { describe, expect, it } from 'vitest';
import { handlerId, regionId } from '../ids.ts';
import { latencyBetween, loadTier, rankHandlers, type RankRequest } from './rank.ts';
import { makeHandler, makeParticipant } from './testing.ts';
import type { RoutingHandler } from './types.ts';

const MBPS = 1_000_000;
const near = regionId('us-west-1');
const far = regionId('eu-west-1');
const latencyMs = { [near]: { [far]: 140 } };

function request(overrides: Partial<RankRequest> = {}): RankRequest {
  return {
    participant: makeParticipant('ann', 0),
    costBps: 10 * MBPS,
    latencyMs,
    ...overrides,
  };
}

const ranked = (handlers: RoutingHandler[], req = request()) =>
  rankHandlers(req, handlers).map((s) => s.handler.id);

describe('rankHandlers: the spec order', () => {
  it('puts proximity before load', () => {
    const busyNear = makeHandler('busy-near', { capacityBps: 100 * MBPS, loadBps: 65 * MBPS });
    const idleFar = makeHandler('idle-far', { region: far });
    expect(ranked([idleFar, busyNear])).toEqual(['busy-near', 'idle-far']);
  });

  it('puts load before existing connections: past the hard limit, a connection is left', () => {
    const current = makeHandler('current', { capacityBps: 100 * MBPS, loadBps: 79.5 * MBPS });
    const idle = makeHandler('idle');
    const req = request({ participant: makeParticipant('ann', 0, { currentHandler: current.id }) });
    expect(ranked([current, idle], req)).toEqual(['idle', 'current']);
  });

  it('keeps an existing connection in the warning band (it steers new placements only)', () => {
    const current = makeHandler('current', { capacityBps: 100 * MBPS, loadBps: 65 * MBPS });
    const idle = makeHandler('idle');
    const connected = request({
      participant: makeParticipant('ann', 0, { currentHandler: current.id }),
    });
    expect(ranked([current, idle], connected)).toEqual(['current', 'idle']);
    const placedBefore = request({ previousHandlers: [current.id] });
    expect(ranked([current, idle], placedBefore)).toEqual(['current', 'idle']);
    // A participant new to both goes below the warning band.
    expect(ranked([current, idle], request({}))).toEqual(['idle', 'current']);
  });

  it('breaks full ties by the spread key, not always towards the lowest id', () => {
    const handlers = ['a', 'b', 'c', 'd'].map((id) => makeHandler(id));
    const firsts = new Set<string | undefined>();
    for (let i = 0; i < 40; i++) firsts.add(ranked(handlers, request({ spreadKey: `m-${i}` }))[0]);
    expect(firsts.size).toBe(4);
    expect(ranked(handlers, request({}))[0]).toBe('a');
  });

  it('puts existing connections before quality', () => {
    const previous = makeHandler('previous', { quality: 0.2 });
    const better = makeHandler('better', { quality: 0.9 });
    const req = request({ previousHandlers: [previous.id] });
    expect(ranked([better, previous], req)).toEqual(['previous', 'better']);
  });

  it('puts quality before capabilities', () => {
    const capable = makeHandler('capable', { quality: 0.5, capabilities: ['transcoding'] });
    const stable = makeHandler('stable', { quality: 0.9 });
    const req = request({ participant: makeParticipant('ann', 0, { wants: ['transcoding'] }) });
    expect(ranked([capable, stable], req)).toEqual(['stable', 'capable']);
  });

  it('prefers the handler with the wanted capabilities when all else ties', () => {
    const plain = makeHandler('a-plain');
    const mixing = makeHandler('b-mixing', { capabilities: ['audio-mixing'] });
    const req = request({ participant: makeParticipant('ann', 0, { wants: ['audio-mixing'] }) });
    expect(ranked([plain, mixing], req)).toEqual(['b-mixing', 'a-plain']);
  });

  it('breaks full ties by handler id, whatever the load below the warning band', () => {
    const fuller = makeHandler('a', { loadBps: 50 * MBPS });
    const emptier = makeHandler('b');
    const twin = makeHandler('c');
    expect(ranked([twin, emptier, fuller])).toEqual(['a', 'b', 'c']);
  });

  it('ranks handlers the participant would overload last, and leaves unhealthy ones out', () => {
    const full = makeHandler('full-near', { capacityBps: 20 * MBPS, loadBps: 10 * MBPS });
    const far1 = makeHandler('far', { region: far });
    const down = makeHandler('down', { healthy: false });
    const scores = rankHandlers(request(), [full, far1, down]);
    expect(scores.map((s) => [s.handler.id, s.fits])).toEqual([
      ['far', true],
      ['full-near', false],
    ]);
  });

  it('counts meeting load already planned on a handler', () => {
    const a = makeHandler('a', { capacityBps: 100 * MBPS });
    const b = makeHandler('b', { capacityBps: 100 * MBPS });
    const req = request({ plannedBps: new Map([[handlerId('a'), 65 * MBPS]]) });
    expect(ranked([a, b], req)).toEqual(['b', 'a']);
  });
});

describe('load bands and latency', () => {
  const h = makeHandler('h', { capacityBps: 100 * MBPS });

  it('bands load at 70% and 80% of capacity', () => {
    expect(loadTier(69 * MBPS, h)).toBe('below-warning');
    expect(loadTier(70 * MBPS, h)).toBe('below-hard-limit');
    expect(loadTier(80 * MBPS, h)).toBe('below-hard-limit');
    expect(loadTier(81 * MBPS, h)).toBe('over-hard-limit');
  });

  it('reads the table, defaults a region to itself at 0 and unknown pairs to infinity', () => {
    expect(latencyBetween(latencyMs, near, far)).toBe(140);
    expect(latencyBetween(latencyMs, far, far)).toBe(0);
    expect(latencyBetween(latencyMs, far, near)).toBe(Number.POSITIVE_INFINITY);
  });
});
