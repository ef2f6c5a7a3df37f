import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'pino';
import type { Logger } from '../logging/logger.ts';

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type LogMethod = (this: FastifyBaseLogger, ...args: unknown[]) => void;

/**
 * A request's logger that becomes a pino child (with the request's bindings and a span id
 * of its own) only when the request first writes a line at an enabled level. Most requests
 * log nothing, and building a child per request (serialising and redacting its bindings,
 * drawing a span id) was a measurable part of a cached read's CPU time. A line, when
 * written, is exactly what an eagerly built child would have written.
 */
export class RequestLogger implements FastifyBaseLogger {
  private logger: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
    private readonly spanId: () => string,
  ) {
    // A route with a level of its own: build now, since the parent's level does not apply.
    if (options.level !== undefined) this.materialize();
  }

  get level(): string {
    return (this.logger ?? this.parent).level;
  }

  set level(level: string) {
    this.materialize().level = level;
  }

  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }

  error(...args: unknown[]): void {
    this.write('error', args);
  }

  warn(...args: unknown[]): void {
    this.write('warn', args);
  }

  info(...args: unknown[]): void {
    this.write('info', args);
  }

  debug(...args: unknown[]): void {
    this.write('debug', args);
  }

  trace(...args: unknown[]): void {
    this.write('trace', args);
  }

  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.materialize().child(bindings, options);
  }

  private write(level: Level, args: unknown[]): void {
    if (this.logger === undefined && !this.parent.isLevelEnabled(level)) return;
    const logger = this.materialize();
    (logger[level] as LogMethod).apply(logger, args);
  }

  private materialize(): Logger {
    this.logger ??= this.parent.child({ ...this.bindings, span_id: this.spanId() }, this.options);
    return this.logger;
  }
}
