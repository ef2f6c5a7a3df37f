import { EventQueue, type ScheduledEvent } from './queue.ts';
import { RandomStreams } from './random.ts';
import { TraceHasher, type HashCheckpoint } from './trace.ts';
import type { Micros } from './time.ts';

/** A scheduled event, as `at` and `after` return it: pass it to `cancel` to call it off. */
export type Timer = Pick<ScheduledEvent, 'time' | 'kind' | 'entity'>;

/** Options for the hash log that `--check-determinism` compares. */
export interface HashLogOptions {
  readonly every: number;
  readonly onCheckpoint?: (checkpoint: HashCheckpoint, window: readonly string[]) => void;
}

/**
 * The discrete-event engine: one virtual clock, one event queue ordered by (time, sequence),
 * seeded random sub-streams and the incremental trace hash. Single-threaded; an event's action
 * runs to completion before the next event is taken.
 */
export class Simulation {
  private readonly queue = new EventQueue();
  private sequence = 0;
  private clock: Micros = 0;
  private stopped = false;
  readonly random: RandomStreams;
  readonly trace: TraceHasher;

  constructor(
    readonly seed: number,
    hashLog?: HashLogOptions,
  ) {
    this.random = new RandomStreams(seed);
    this.trace = new TraceHasher(hashLog?.every ?? 0, hashLog?.onCheckpoint);
  }

  /** The current virtual time in microseconds. */
  get now(): Micros {
    return this.clock;
  }

  /** Events still waiting in the queue (cancelled ones included until their time comes). */
  get pending(): number {
    return this.queue.size;
  }

  /** Events fired so far. */
  get fired(): number {
    return this.trace.events;
  }

  /** Schedules `action` after `delay` microseconds (rounded to an integer, never negative). */
  after(delay: Micros, kind: string, entity: string, action: () => void): Timer {
    return this.at(this.clock + Math.max(0, Math.round(delay)), kind, entity, action);
  }

  /** Schedules `action` at an absolute virtual time (never earlier than now). */
  at(time: Micros, kind: string, entity: string, action: () => void): Timer {
    const when = Math.max(this.clock, Math.round(time));
    const event = { time: when, seq: this.sequence++, kind, entity, action, cancelled: false };
    this.queue.push(event);
    return event;
  }

  /**
   * Calls off a scheduled event: it will not fire and leaves no line in the trace (a timer
   * that would only find its work done, such as a retransmission after the acknowledgement).
   * Cancelling an event that already fired, or twice, does nothing.
   */
  cancel(timer: Timer): void {
    (timer as ScheduledEvent).cancelled = true;
  }

  /** Adds a detail line to the trace, e.g. a decision whose inputs are not visible in events. */
  note(detail: string): void {
    this.trace.record(`${this.clock} ! ${detail}`);
  }

  /** Stops the run after the current event. */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Fires events in order until the queue is empty, the next event is later than `until`, or
   * `stop()` is called. Returns the number of events fired. `onTick` is called about every
   * `tickEvents` events (for progress bars).
   */
  run(until: Micros, onTick?: (now: Micros) => void, tickEvents = 50_000): number {
    const queue = this.queue;
    let firedHere = 0;
    this.stopped = false;
    while (!this.stopped) {
      const next = queue.peek();
      if (next === undefined || next.time > until) break;
      queue.pop();
      if (next.cancelled) continue;
      this.clock = next.time;
      this.trace.record(`${next.time} ${next.kind} ${next.entity}`);
      next.action();
      firedHere++;
      if (onTick !== undefined && firedHere % tickEvents === 0) onTick(this.clock);
    }
    if (!this.stopped && this.clock < until) this.clock = until;
    return firedHere;
  }
}
