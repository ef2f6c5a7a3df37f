/**
 * Small integer ids for a transport's live connections: released ids are reused first, so
 * ids stay small (the service combines them with a transport number into forwarder keys).
 */
export class IdAllocator {
  private next = 0;
  private readonly free: number[] = [];

  take(): number {
    return this.free.pop() ?? this.next++;
  }

  release(id: number): void {
    this.free.push(id);
  }
}
