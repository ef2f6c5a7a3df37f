import { randomFillSync } from 'node:crypto';

/** Bytes drawn from the kernel at a time: one system call serves a few hundred ids. */
const POOL_BYTES = 4096;

/**
 * Random hex identifiers for traces and spans, cut from a pool of random bytes that is
 * refilled when used up. Drawing 16 or 8 bytes per request straight from the kernel costs a
 * system call each, which showed up at several per cent of a request's CPU time. These ids
 * only correlate logs; nothing secret is derived from them.
 */
export class TraceIdSource {
  private readonly pool = Buffer.allocUnsafe(POOL_BYTES);
  private offset = POOL_BYTES;

  /** A W3C trace id: 16 random bytes as 32 lowercase hex characters. */
  traceId(): string {
    return this.hex(16);
  }

  /** A W3C span id: 8 random bytes as 16 lowercase hex characters. */
  spanId(): string {
    return this.hex(8);
  }

  private hex(bytes: number): string {
    if (this.offset + bytes > POOL_BYTES) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const id = this.pool.toString('hex', this.offset, this.offset + bytes);
    this.offset += bytes;
    return id;
  }
}
