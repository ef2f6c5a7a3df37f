/**
 * The measuring process's own event-loop delay. A load process times its clients' requests on
 * its own event loop, so its delay (collections, its other work) is in every time it measures:
 * the calibration's joins and the scenario's each report it, to tell the two apart.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** The measuring process's own event-loop delay over a window (ms). */
export interface EventLoopLag {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/**
 * Starts timing this process's event-loop delay (1 ms resolution); the function returned stops
 * it and gives the window's percentiles. A load process that times its clients' requests adds
 * its own delay to each: this says how much.
 */
export function watchEventLoopLag(): () => EventLoopLag {
  const monitor = monitorEventLoopDelay({ resolution: 1 });
  monitor.enable();
  return () => {
    monitor.disable();
    const ms = (ns: number) => Math.round(ns / 1e3) / 1e3;
    return {
      p50Ms: ms(monitor.percentile(50)),
      p99Ms: ms(monitor.percentile(99)),
      maxMs: ms(monitor.max),
    };
  };
}
