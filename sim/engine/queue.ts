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
 * order never depends on heap internals. Each slot's time and sequence number are also kept in
 * typed arrays beside the events, so sifting compares numbers laid out in a row instead of
 * reading scattered event objects (a large world keeps tens of thousands of events queued).
 */
export class EventQueue {
  private readonly events: (ScheduledEvent | undefined)[] = [];
  private times = new Float64Array(1024);
  private seqs = new Float64Array(1024);
  private length = 0;

  get size(): number {
    return this.length;
  }

  /** The earliest event without removing it. */
  peek(): ScheduledEvent | undefined {
    return this.length === 0 ? undefined : this.events[0];
  }

  push(event: ScheduledEvent): void {
    if (this.length === this.times.length) this.grow();
    const { times, seqs } = this;
    const time = event.time;
    const seq = event.seq;
    let index = this.length++;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const parentTime = times[parent] as number;
      if (time > parentTime || (time === parentTime && seq > (seqs[parent] as number))) break;
      this.move(parent, index);
      index = parent;
    }
    this.place(index, event, time, seq);
  }

  /** Removes and returns the earliest event. */
  pop(): ScheduledEvent | undefined {
    if (this.length === 0) return undefined;
    const top = this.events[0];
    const lastIndex = --this.length;
    const last = this.events[lastIndex] as ScheduledEvent;
    this.events[lastIndex] = undefined;
    if (lastIndex > 0)
      this.siftDown(last, this.times[lastIndex] as number, this.seqs[lastIndex] as number);
    return top;
  }

  /** Puts `event` (time and sequence number given) at the root and sifts it down. */
  private siftDown(event: ScheduledEvent, time: number, seq: number): void {
    const { times, seqs, length } = this;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      let child = left;
      if (right < length && earlier(times, seqs, right, left)) child = right;
      const childTime = times[child] as number;
      if (childTime > time || (childTime === time && (seqs[child] as number) > seq)) break;
      this.move(child, index);
      index = child;
    }
    this.place(index, event, time, seq);
  }

  /** Copies slot `from` into slot `to`. */
  private move(from: number, to: number): void {
    this.events[to] = this.events[from];
    this.times[to] = this.times[from] as number;
    this.seqs[to] = this.seqs[from] as number;
  }

  private place(index: number, event: ScheduledEvent, time: number, seq: number): void {
    this.events[index] = event;
    this.times[index] = time;
    this.seqs[index] = seq;
  }

  private grow(): void {
    const times = new Float64Array(this.times.length * 2);
    const seqs = new Float64Array(this.seqs.length * 2);
    times.set(this.times);
    seqs.set(this.seqs);
    this.times = times;
    this.seqs = seqs;
  }
}

/** Whether slot `a` holds an earlier event than slot `b`. */
function earlier(times: Float64Array, seqs: Float64Array, a: number, b: number): boolean {
  const timeA = times[a] as number;
  const timeB = times[b] as number;
  return timeA < timeB || (timeA === timeB && (seqs[a] as number) < (seqs[b] as number));
}
