import {
  CLOSED_BREAKER,
  breakerStateAt,
  breakerStep,
  type BreakerPolicy,
  type BreakerState,
} from '../../core/ops/circuit-breaker.ts';
import { DependencyUnavailableError, isDependencyUnavailable } from './dependency-errors.ts';

/** Thrown instead of calling a dependency whose breaker is open. */
export class BreakerOpenError extends DependencyUnavailableError {
  constructor(dependency: string) {
    super(dependency);
    this.name = 'BreakerOpenError';
    this.message = `${dependency} is not being called: its circuit breaker is open`;
  }
}

/**
 * Calls to one dependency through core's circuit breaker (`breakerStep`): this class only
 * holds the state, reads the clock and reports each call's outcome. A call that fails because
 * the dependency is unreachable or silent (`isDependencyUnavailable`) is a failure; any other
 * outcome, an error of the caller's own included, means the dependency answered.
 *
 * The clock is monotonic (`performance.now()`) unless one is given: the breaker measures
 * elapsed time, which wall-clock steps (or a service's test clock) must not stretch or skip.
 */
export class CircuitBreaker {
  private state: BreakerState = CLOSED_BREAKER;

  constructor(
    /** The dependency's name, as the metrics label it. */
    readonly dependency: string,
    private readonly policy: BreakerPolicy,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Runs `work` if the breaker lets it through, else throws {@link BreakerOpenError} at once.
   * `work` should bound its own wait (a command timeout): a call that never settles holds a
   * half-open breaker's probe forever.
   */
  async call<T>(work: () => Promise<T>): Promise<T> {
    const step = breakerStep(this.state, { kind: 'request' }, this.now(), this.policy);
    this.state = step.state;
    if (!step.allowed) throw new BreakerOpenError(this.dependency);
    try {
      const result = await work();
      this.report('success');
      return result;
    } catch (error) {
      this.report(isDependencyUnavailable(error) ? 'failure' : 'success');
      throw error;
    }
  }

  /** Whether a call now would be refused without a probe (open, its open time not over). */
  refusing(): boolean {
    return this.current().kind === 'open';
  }

  /** The state as of now (an open breaker whose time is over reads half-open). */
  current(): BreakerState {
    return breakerStateAt(this.state, this.now(), this.policy);
  }

  private report(outcome: 'success' | 'failure'): void {
    this.state = breakerStep(this.state, { kind: outcome }, this.now(), this.policy).state;
  }
}

/** A breaker's state as a gauge value: 0 closed, 1 half-open, 2 open. */
export function breakerGaugeValue(state: BreakerState): number {
  switch (state.kind) {
    case 'closed':
      return 0;
    case 'half-open':
      return 1;
    case 'open':
      return 2;
  }
}

/** The names of `T`'s methods that return a promise. */
export type AsyncMethodOf<T> = {
  [K in keyof T]-?: T[K] extends (...args: never[]) => Promise<unknown> ? K : never;
}[keyof T];

/**
 * The methods `methods` of `port`, each called through `breaker`: a port (or a part of one)
 * whose every call goes to the dependency the breaker guards.
 */
export function guarded<T extends object, K extends AsyncMethodOf<T>>(
  port: T,
  breaker: CircuitBreaker,
  methods: readonly K[],
): Pick<T, K> {
  const through: Partial<Record<K, unknown>> = {};
  for (const name of methods) {
    const method = port[name] as (...args: unknown[]) => Promise<unknown>;
    through[name] = (...args: unknown[]) => breaker.call(() => method.apply(port, args));
  }
  return through as Pick<T, K>;
}
