import type { Micros } from './time.ts';

/** One scheduled event: when it fires, its tie-breaking sequence number, and what it does. */
export interface ScheduledEvent {
  readonly time: Micros;
  readonly seq: number;
  /** A stable label for the trace, e.g. `client.join`. */
  readonly kind: string;
  /** The entity the event belongs to, e.g. `client/m42/p7`. */
  readonly entity: string;
  readonly action: () => void;
  /** Set by `Simulation.cancel`: the event stays queued but never fires. */
  cancelled: boolean;
}

/**
 * A binary min-heap of events ordered by (time, seq). Sequence numbers are unique and grow
 * with every push, so events at the same time fire in the order they were scheduled and the
 * order never depends on heap internals.
 */
export class EventQueue {
  private readonly heap: ScheduledEvent[] = [];

  get size(): number {
    return this.heap.length;
  }

  /** The earliest event without removing it. */
  peek(): ScheduledEvent | undefined {
    return this.heap[0];
  }

  push(event: ScheduledEvent): void {
    const heap = this.heap;
    let index = heap.length;
    heap.push(event);
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex] as ScheduledEvent;
      if (!before(event, parent)) break;
      heap[index] = parent;
      index = parentIndex;
    }
    heap[index] = event;
  }

  /** Removes and returns the earliest event. */
  pop(): ScheduledEvent | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    this.siftDown(last);
    return top;
  }

  private siftDown(event: ScheduledEvent): void {
    const heap = this.heap;
    const length = heap.length;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      let child = left;
      let childEvent = heap[left] as ScheduledEvent;
      if (right < length) {
        const rightEvent = heap[right] as ScheduledEvent;
        if (before(rightEvent, childEvent)) {
          child = right;
          childEvent = rightEvent;
        }
      }
      if (!before(childEvent, event)) break;
      heap[index] = childEvent;
      index = child;
    }
    heap[index] = event;
  }
}

function before(a: ScheduledEvent, b: ScheduledEvent): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
