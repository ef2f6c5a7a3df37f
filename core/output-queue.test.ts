import { describe, expect, it } from 'vitest';
import { OutputQueue } from './output-queue.ts';

describe('OutputQueue', () => {
  it('hands outputs out in order, then null, and takes more after being drained', () => {
    const queue = new OutputQueue<number>();
    expect(queue.poll()).toBeNull();
    queue.push(1);
    queue.push(2);
    expect(queue.poll()).toBe(1);
    queue.push(3);
    expect([queue.poll(), queue.poll(), queue.poll()]).toEqual([2, 3, null]);
    queue.push(4);
    expect([queue.poll(), queue.poll()]).toEqual([4, null]);
  });

  it('drops what was not polled on clear', () => {
    const queue = new OutputQueue<string>();
    queue.push('a');
    queue.push('b');
    expect(queue.poll()).toBe('a');
    queue.clear();
    expect(queue.poll()).toBeNull();
    queue.push('c');
    expect(queue.poll()).toBe('c');
  });

  it('says whether an output waits to be polled', () => {
    const queue = new OutputQueue<number>();
    expect(queue.waiting).toBe(false);
    queue.push(1);
    queue.push(2);
    expect(queue.waiting).toBe(true);
    queue.poll();
    expect(queue.waiting).toBe(true);
    queue.poll();
    expect(queue.waiting).toBe(false);
    queue.push(3);
    expect(queue.waiting).toBe(true);
    queue.clear();
    expect(queue.waiting).toBe(false);
  });
});
