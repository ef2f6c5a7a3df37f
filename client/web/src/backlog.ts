/**
 * How a page keeps up with what it receives and sends in real time: a frame that cannot be
 * shown or sent soon is worth less than the next one, so queues stay short instead of growing
 * with every second the page (or its connection) is slower than the media.
 */

/**
 * One remote stream's frames between arrival and decoding (decrypting, or waiting behind a
 * frame that is). Past `max` waiting, frames that arrive are dropped, keyframes excepted; a
 * keyframe that arrives while `skipAt` or more wait makes everything before it stale, so
 * decoding jumps to it. Frames keep their order: each is `arrive`d, then `take`n in turn.
 */
export class FrameBacklog {
  private waiting = 0;
  private next = 0;
  private decodeFrom = 0;
  /** Frames dropped on arrival or skipped as stale. */
  dropped = 0;

  constructor(
    private readonly max: number,
    private readonly skipAt: number = Number.POSITIVE_INFINITY,
  ) {}

  /**
   * A frame arrives (`queued`: frames already handed further on and not done, as a decoder's
   * queue); its arrival number, or undefined when it is dropped.
   */
  arrive(keyframe: boolean, queued = 0): number | undefined {
    const behind = this.waiting + queued;
    if (!keyframe && behind >= this.max) {
      this.dropped++;
      return undefined;
    }
    const arrival = this.next++;
    if (keyframe && behind >= this.skipAt) this.decodeFrom = arrival;
    this.waiting++;
    return arrival;
  }

  /** The frame's turn came: true to decode it, false when a later keyframe made it stale. */
  take(arrival: number): boolean {
    this.waiting--;
    if (arrival >= this.decodeFrom) return true;
    this.dropped++;
    return false;
  }
}

/**
 * Writes into a sink that takes them at its own pace (a browser's datagram queue): at most
 * `max` writes not yet taken; past that, a write is dropped and counted rather than queued.
 */
export class WriteGate {
  private waiting = 0;
  dropped = 0;

  constructor(private readonly max: number) {}

  /** Starts `write` unless `max` writes are still waiting; false when dropped. */
  write(write: () => Promise<unknown>): boolean {
    if (this.waiting >= this.max) {
      this.dropped++;
      return false;
    }
    this.waiting++;
    const taken = () => {
      this.waiting--;
    };
    write().then(taken, taken);
    return true;
  }
}
