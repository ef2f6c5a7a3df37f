import { formatTime, type Micros } from '../engine/time.ts';

/** The invariants the simulator checks while it runs. */
export const INVARIANTS = [
  'convergence',
  'make-before-break',
  'plan',
  'handler-limit',
  'cascade',
  'media-key-epoch',
  'token-verification',
  'failover',
] as const;
export type InvariantName = (typeof INVARIANTS)[number];

/** One broken rule: which, when (virtual time), on which entity, under which seed. */
export interface Violation {
  readonly invariant: InvariantName;
  readonly time: Micros;
  readonly entity: string;
  readonly seed: number;
  readonly message: string;
}

const KEPT_VIOLATIONS = 50;

/** `[t=12.000000s seed=7] convergence at client/m3/p2: ...` */
export function formatViolation(violation: Violation): string {
  return `[t=${formatTime(violation.time)} seed=${violation.seed}] ${violation.invariant} at ${violation.entity}: ${violation.message}`;
}

/** Collects violations: counts every one, keeps the first few in full. */
export class ViolationLog {
  private readonly kept: Violation[] = [];
  private readonly counts = new Map<InvariantName, number>();

  constructor(
    private readonly seed: number,
    private readonly clock: () => Micros,
  ) {}

  report(invariant: InvariantName, entity: string, message: string): void {
    this.counts.set(invariant, (this.counts.get(invariant) ?? 0) + 1);
    if (this.kept.length < KEPT_VIOLATIONS) {
      this.kept.push({ invariant, time: this.clock(), entity, seed: this.seed, message });
    }
  }

  get total(): number {
    let total = 0;
    for (const count of this.counts.values()) total += count;
    return total;
  }

  /** The first violations, in the order they happened. */
  get first(): readonly Violation[] {
    return this.kept;
  }

  /** Violation counts for every invariant, zero included. */
  countsByInvariant(): Record<InvariantName, number> {
    const result = {} as Record<InvariantName, number>;
    for (const name of INVARIANTS) result[name] = this.counts.get(name) ?? 0;
    return result;
  }
}
