import type { Logger } from '../../adapters/logging/logger.ts';
import type { Clock } from '../shared/clock.ts';
import type { MeetingPlacement } from './placement.ts';
import type { PlacementBacklog } from '../../ports/gc.ts';

/** Meetings placed per backlog read, and backlog reads per sweep. */
const BATCH = 200;
const MAX_BATCHES = 25;

/**
 * Places the meetings of the placement backlog (created while no controller could be
 * chosen: Redis unreachable, or no controller available) once controllers register again, so
 * they have a controller before anyone reads them. One sweep runs at a time; asking during a
 * sweep runs one more after it. A sweep stops at the first meeting that still cannot be
 * placed, leaving it and the rest for the next registration.
 */
export class PlacementSweeper {
  private running: Promise<number> | undefined;
  private again = false;

  constructor(
    private readonly backlog: PlacementBacklog,
    private readonly placement: Pick<MeetingPlacement, 'controllerFor'>,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Sweeps the backlog (after any sweep under way); resolves with the meetings placed. */
  sweep(): Promise<number> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    const run = async (): Promise<number> => {
      let placed = 0;
      do {
        this.again = false;
        placed += await this.sweepOnce();
      } while (this.again);
      return placed;
    };
    this.running = run().finally(() => (this.running = undefined));
    return this.running;
  }

  private async sweepOnce(): Promise<number> {
    let placed = 0;
    try {
      for (let batch = 0; batch < MAX_BATCHES; batch++) {
        const pending = await this.backlog.pendingPlacements(BATCH);
        for (const meetingId of pending) {
          const chosen = await this.placement.controllerFor(meetingId, this.clock.now());
          if (!chosen.ok) return placed;
          await this.backlog.removePendingPlacement(meetingId);
          placed++;
        }
        if (pending.length < BATCH) break;
      }
    } catch (error) {
      this.logger.warn({ err: error, placed }, 'placement backlog sweep stopped');
    } finally {
      if (placed > 0) this.logger.info({ placed }, 'meetings from the placement backlog placed');
    }
    return placed;
  }
}
