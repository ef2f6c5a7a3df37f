import { pino, type Logger, type DestinationStream } from 'pino';

/** The structured fields the spec asks every log line to carry when they apply. */
export interface LogContext {
  trace_id?: string;
  span_id?: string;
  meeting_id?: string;
  participant_id?: string;
}

export type { Logger };

/**
 * A JSON logger with the spec's fields: `timestamp` (ISO 8601), `level` (a name),
 * `component`, `message`, and the request's `trace_id`/`span_id` (plus `meeting_id`,
 * `participant_id` where known) bound by child loggers.
 */
export function createLogger(
  component: string,
  level: string,
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      level,
      base: { component },
      messageKey: 'message',
      timestamp: () => `,"timestamp":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ['password', 'client_secret', 'authorization', '*.password', '*.client_secret'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
