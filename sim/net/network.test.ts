import { describe, expect, it } from 'vitest';
import { RandomStreams } from '../engine/random.ts';
import { Network, type NetworkConfig } from './network.ts';

const config: NetworkConfig = {
  regions: ['a', 'b', 'c'],
  rttMs: { a: { b: 60, c: 140 }, b: { c: 80 } },
  intraRegionMs: 0.5,
  clientAccessMs: 10,
  jitterMs: 0,
  loss: 0,
  clientBandwidthMbps: 50,
};
const node = (id: string, region: string, isClient = false) => ({ id, region, isClient });
const random = () => new RandomStreams(1).stream('net/test');

describe('Network', () => {
  it('uses half the RTT between regions, the intra-region latency and the last mile for clients', () => {
    const network = new Network(config);
    expect(network.baseLatency(node('x', 'a'), node('y', 'b'))).toBe(30_000);
    expect(network.baseLatency(node('x', 'b'), node('y', 'a'))).toBe(30_000);
    expect(network.baseLatency(node('x', 'a'), node('y', 'a'))).toBe(500);
    expect(network.baseLatency(node('x', 'a', true), node('y', 'c'))).toBe(10_000 + 70_000);
  });

  it('cuts both directions of a symmetric partition and one of an asymmetric one, until healed', () => {
    const network = new Network(config);
    const asymmetric = { from: ['a'], to: ['b'], symmetric: false };
    network.partition(asymmetric);
    expect(network.send(node('x', 'a'), node('y', 'b'), 100, true, random())).toEqual({
      delivered: false,
      reason: 'partition',
    });
    expect(network.send(node('y', 'b'), node('x', 'a'), 100, true, random()).delivered).toBe(true);
    const symmetric = { from: ['a'], to: ['b'], symmetric: true };
    network.partition(symmetric);
    expect(network.isBlocked('b', 'a')).toBe(true);
    network.heal(symmetric);
    expect(network.isBlocked('b', 'a')).toBe(false);
    expect(network.isBlocked('a', 'b')).toBe(true);
    network.heal(asymmetric);
    expect(network.isBlocked('a', 'b')).toBe(false);
  });

  it('drops lost datagrams but makes reliable messages pay a round trip per loss', () => {
    const lossy = new Network({ ...config, loss: 0.5 });
    const from = node('x', 'a');
    const to = node('y', 'b');
    const stream = random();
    const datagrams = Array.from({ length: 400 }, () => lossy.send(from, to, 100, false, stream));
    const lost = datagrams.filter((t) => !t.delivered).length;
    expect(lost).toBeGreaterThan(120);
    expect(lost).toBeLessThan(280);
    const reliable = Array.from({ length: 200 }, () => lossy.send(from, to, 100, true, stream));
    for (const transit of reliable) {
      if (transit.delivered) expect(transit.delay).toBe(30_000 * (1 + 2 * transit.retransmissions));
    }
    expect(reliable.some((t) => t.delivered && t.retransmissions > 0)).toBe(true);
  });

  it('delivers nothing to or from a failed node', () => {
    const network = new Network(config);
    network.fail('y');
    expect(network.send(node('x', 'a'), node('y', 'a'), 100, true, random())).toEqual({
      delivered: false,
      reason: 'node-down',
    });
    network.restore('y');
    expect(network.send(node('x', 'a'), node('y', 'a'), 100, true, random()).delivered).toBe(true);
  });
});
