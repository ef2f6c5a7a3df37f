import { createHash, type Hash } from 'node:crypto';

/** A hash log entry: the running trace hash after `events` events. */
export interface HashCheckpoint {
  readonly events: number;
  readonly digest: string;
}

const FLUSH_BYTES = 64 * 1024;

/**
 * The trace hash: SHA-256 over the canonical event log (one line per event), computed
 * incrementally. Lines are buffered and fed to the hash in large chunks, so hashing costs a
 * string append per event. With `checkpointEvery` set, the running digest is recorded every
 * that many events: the hash log that pins the first divergence between two runs.
 */
export class TraceHasher {
  private readonly hash: Hash = createHash('sha256');
  private buffer = '';
  private eventCount = 0;
  readonly checkpoints: HashCheckpoint[] = [];
  private windowLines: string[] = [];

  constructor(
    private readonly checkpointEvery = 0,
    private readonly onCheckpoint?: (checkpoint: HashCheckpoint, window: readonly string[]) => void,
  ) {}

  get events(): number {
    return this.eventCount;
  }

  /** Appends one canonical event line (without the trailing newline). */
  record(line: string): void {
    this.buffer += line;
    this.buffer += '\n';
    this.eventCount++;
    if (this.checkpointEvery > 0) {
      this.windowLines.push(line);
      if (this.eventCount % this.checkpointEvery === 0) this.checkpoint();
    } else if (this.buffer.length >= FLUSH_BYTES) {
      this.flush();
    }
  }

  /** Lines recorded since the last checkpoint (empty unless checkpoints are on). */
  get openWindow(): readonly string[] {
    return this.windowLines;
  }

  /** The hex digest of everything recorded so far. The hasher stays usable. */
  digest(): string {
    this.flush();
    return this.hash.copy().digest('hex');
  }

  private checkpoint(): void {
    const checkpoint = { events: this.eventCount, digest: this.digest() };
    this.checkpoints.push(checkpoint);
    this.onCheckpoint?.(checkpoint, this.windowLines);
    this.windowLines = [];
  }

  private flush(): void {
    if (this.buffer.length === 0) return;
    this.hash.update(this.buffer);
    this.buffer = '';
  }
}
