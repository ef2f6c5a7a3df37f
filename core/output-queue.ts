/**
 * The outputs a poll-style machine has queued for its driver, handed out in order by `poll`.
 * The backing array is reused: it is emptied once everything queued has been polled.
 */
export class OutputQueue<T> {
  private readonly items: T[] = [];
  private head = 0;

  push(item: T): void {
    this.items.push(item);
  }

  /** Whether an output is queued that has not been polled. */
  get waiting(): boolean {
    return this.head < this.items.length;
  }

  /** Drops every output not yet polled. */
  clear(): void {
    this.items.length = 0;
    this.head = 0;
  }

  /** The next output, or null when none is queued. */
  poll(): T | null {
    if (this.head >= this.items.length) {
      if (this.head > 0) {
        this.items.length = 0;
        this.head = 0;
      }
      return null;
    }
    return this.items[this.head++] ?? null;
  }
}
