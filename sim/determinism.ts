import type { HashCheckpoint } from './engine/trace.ts';
import { runScenario, type RunOptions, type RunOutcome } from './run.ts';

/** Runs one simulation; tests substitute a runner that perturbs a run on purpose. */
export type Runner = (options: RunOptions) => RunOutcome;

/** The first event at which two runs of the same seed differ. */
export interface Divergence {
  /** 1-based index of the first differing event in the canonical event log. */
  readonly event: number;
  /** That event's trace line in the first and in the second run (`(none)` past the end). */
  readonly first: string;
  readonly second: string;
}

export interface DeterminismReport {
  readonly identical: boolean;
  readonly firstHash: string;
  readonly secondHash: string;
  readonly events: number;
  readonly divergence: Divergence | null;
}

/** Thrown inside a run to stop it once the wanted hash-log window has been seen. */
class WindowFound extends Error {
  constructor(readonly lines: readonly string[]) {
    super('window found');
  }
}

/**
 * Runs the same options twice and compares trace hashes. Both runs keep a hash log (the
 * running digest every `every` events); on a mismatch the first differing checkpoint names the
 * window, the first run is replayed up to that window, and the two windows' event lines are
 * compared to name the first divergent event.
 */
export function checkDeterminism(
  options: RunOptions,
  every = 1000,
  runner: Runner = runScenario,
): DeterminismReport {
  const first = runner({ ...options, hashLog: { every } });
  const checkpoints = first.simulation.trace.checkpoints;
  let secondWindow: readonly string[] | null = null;
  let mismatchAt: HashCheckpoint | null = null;
  let second: RunOutcome | null = null;
  try {
    second = runner({
      ...options,
      hashLog: {
        every,
        onCheckpoint: (checkpoint, window) => {
          const expected = checkpoints[checkpoint.events / every - 1];
          if (expected?.digest !== checkpoint.digest) {
            mismatchAt = checkpoint;
            throw new WindowFound([...window]);
          }
        },
      },
    });
  } catch (error) {
    if (!(error instanceof WindowFound)) throw error;
    secondWindow = error.lines;
  }
  const firstHash = first.report.traceHash;
  if (second !== null && second.report.traceHash === firstHash) {
    return {
      identical: true,
      firstHash,
      secondHash: firstHash,
      events: first.report.events,
      divergence: null,
    };
  }
  const secondHash = second?.report.traceHash ?? '(stopped at the first divergent window)';
  const divergence =
    mismatchAt === null || secondWindow === null
      ? trailingDivergence(options, every, runner, first, second)
      : compareWindows(
          (mismatchAt as HashCheckpoint).events - every,
          replayWindow(options, every, (mismatchAt as HashCheckpoint).events, runner, first),
          secondWindow,
        );
  return { identical: false, firstHash, secondHash, events: first.report.events, divergence };
}

/** Every full window matched: the runs differ after the second run's last checkpoint. */
function trailingDivergence(
  options: RunOptions,
  every: number,
  runner: Runner,
  first: RunOutcome,
  second: RunOutcome | null,
): Divergence | null {
  const secondWindows = second?.simulation.trace.checkpoints.length ?? 0;
  const secondTail = second?.simulation.trace.openWindow ?? [];
  const firstTail =
    first.simulation.trace.checkpoints.length > secondWindows
      ? replayWindow(options, every, (secondWindows + 1) * every, runner, first)
      : first.simulation.trace.openWindow;
  return compareWindows(secondWindows * every, firstTail, secondTail);
}

/** The event lines of the hash-log window ending at `windowEnd` in a replay of the first run. */
function replayWindow(
  options: RunOptions,
  every: number,
  windowEnd: number,
  runner: Runner,
  first: RunOutcome,
): readonly string[] {
  if (windowEnd > first.simulation.fired) return first.simulation.trace.openWindow;
  try {
    runner({
      ...options,
      hashLog: {
        every,
        onCheckpoint: (checkpoint, window) => {
          if (checkpoint.events === windowEnd) throw new WindowFound([...window]);
        },
      },
    });
  } catch (error) {
    if (error instanceof WindowFound) return error.lines;
    throw error;
  }
  return [];
}

function compareWindows(
  offset: number,
  a: readonly string[],
  b: readonly string[],
): Divergence | null {
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) {
    if (a[i] !== b[i])
      return { event: offset + i + 1, first: a[i] ?? '(none)', second: b[i] ?? '(none)' };
  }
  return null;
}
