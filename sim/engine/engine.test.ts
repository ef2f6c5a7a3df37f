import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EventQueue, type ScheduledEvent } from './queue.ts';
import { RandomStreams } from './random.ts';
import { Simulation } from './simulation.ts';

const event = (time: number, seq: number): ScheduledEvent => ({
  time,
  seq,
  kind: 'k',
  entity: 'e',
  action: () => undefined,
  cancelled: false,
});

describe('EventQueue', () => {
  it('pops events in (time, sequence) order whatever the push order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 200 }), (times) => {
        const queue = new EventQueue();
        times.forEach((time, seq) => queue.push(event(time, seq)));
        const popped: ScheduledEvent[] = [];
        for (let e = queue.pop(); e !== undefined; e = queue.pop()) popped.push(e);
        const expected = times
          .map((time, seq) => ({ time, seq }))
          .sort((a, b) => a.time - b.time || a.seq - b.seq);
        expect(popped.map((e) => ({ time: e.time, seq: e.seq }))).toEqual(expected);
      }),
    );
  });
});

describe('RandomStreams', () => {
  it('gives a named stream the same draws however many other streams exist', () => {
    const alone = new RandomStreams(7).stream('client/m1/p1');
    const crowded = new RandomStreams(7);
    for (let i = 0; i < 20; i++) crowded.stream(`client/m0/p${i}`).next();
    const target = crowded.stream('client/m1/p1');
    expect(Array.from({ length: 5 }, () => target.next())).toEqual(
      Array.from({ length: 5 }, () => alone.next()),
    );
  });

  it('gives different seeds different draws', () => {
    expect(new RandomStreams(1).stream('x').next()).not.toEqual(
      new RandomStreams(2).stream('x').next(),
    );
  });
});

describe('Simulation', () => {
  it('fires events in time order, FIFO at equal times, and stops at the horizon', () => {
    const sim = new Simulation(1);
    const fired: string[] = [];
    sim.at(20, 'b', 'x', () => fired.push('b'));
    sim.at(10, 'a1', 'x', () => fired.push('a1'));
    sim.at(10, 'a2', 'x', () => {
      fired.push('a2');
      sim.after(5, 'c', 'x', () => fired.push('c'));
    });
    sim.at(100, 'late', 'x', () => fired.push('late'));
    sim.run(50);
    expect(fired).toEqual(['a1', 'a2', 'c', 'b']);
    expect(sim.now).toBe(50);
    expect(sim.pending).toBe(1);
  });

  it('never fires a cancelled event, leaves it out of the trace, and keeps the order of the rest', () => {
    const sim = new Simulation(1);
    const fired: string[] = [];
    const retry = sim.at(10, 'retry', 'x', () => fired.push('retry'));
    sim.at(5, 'ack', 'x', () => {
      fired.push('ack');
      sim.cancel(retry);
    });
    sim.at(10, 'other', 'x', () => fired.push('other'));
    sim.run(50);
    expect(fired).toEqual(['ack', 'other']);
    expect(sim.fired).toBe(2);

    const same = new Simulation(1);
    same.at(5, 'ack', 'x', () => undefined);
    same.at(10, 'other', 'x', () => undefined);
    same.run(50);
    expect(sim.trace.digest()).toBe(same.trace.digest());
  });

  it('ignores cancelling an event that already fired', () => {
    const sim = new Simulation(1);
    const fired: string[] = [];
    const once = sim.at(1, 'once', 'x', () => fired.push('once'));
    sim.run(5);
    sim.cancel(once);
    sim.at(6, 'next', 'x', () => fired.push('next'));
    sim.run(10);
    expect(fired).toEqual(['once', 'next']);
  });

  it('hashes the event log: the same events give the same hash, another order another hash', () => {
    const hashOf = (order: string[]) => {
      const sim = new Simulation(1);
      order.forEach((kind, i) => sim.at(i, kind, 'x', () => undefined));
      sim.run(100);
      return sim.trace.digest();
    };
    expect(hashOf(['a', 'b'])).toBe(hashOf(['a', 'b']));
    expect(hashOf(['a', 'b'])).not.toBe(hashOf(['b', 'a']));
  });
});
