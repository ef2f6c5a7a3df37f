import { describe, expect, it } from 'vitest';
import { toErrorResponse } from '../http/errors.ts';
import { isDependencyUnavailable } from './dependency-errors.ts';

const withCode = (message: string, code: string, extra: object = {}) =>
  Object.assign(new Error(message), { code, ...extra });

describe('isDependencyUnavailable', () => {
  it('recognises lost, refused and silent PostgreSQL and Redis connections', () => {
    for (const error of [
      withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Query read timeout'),
      withCode('terminating connection due to administrator command', '57P01', {
        severity: 'FATAL',
      }),
      withCode('the database system is starting up', '57P03', { severity: 'FATAL' }),
      withCode('connection failure', '08006', { severity: 'FATAL' }),
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      new Error('Command timed out'),
      new Error('Connection is closed.'),
      Object.assign(new Error('Reached the max retries per request limit (which is 1).'), {
        name: 'MaxRetriesPerRequestError',
      }),
      new AggregateError([withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED')], ''),
      new Error('wrapped', { cause: withCode('read ECONNRESET', 'ECONNRESET') }),
    ]) {
      expect(isDependencyUnavailable(error), String(error)).toBe(true);
    }
  });

  it('leaves bugs and rejected statements alone', () => {
    for (const error of [
      new TypeError("Cannot read properties of undefined (reading 'x')"),
      withCode('duplicate key value violates unique constraint', '23505', { severity: 'ERROR' }),
      withCode('syntax error at or near "SELEC"', '42601', { severity: 'ERROR' }),
      // A SQLSTATE-looking code without pg's severity is not a PostgreSQL error.
      withCode('something', '08006'),
      'ECONNREFUSED',
      undefined,
    ]) {
      expect(isDependencyUnavailable(error), String(error)).toBe(false);
    }
  });

  it('is answered 503 temporarily_unavailable with Retry-After; other errors stay 500', () => {
    expect(toErrorResponse(new Error('Connection terminated unexpectedly'))).toEqual({
      status: 503,
      body: { error: 'temporarily_unavailable', error_description: expect.any(String) },
      headers: { 'retry-after': '2' },
    });
    expect(toErrorResponse(new TypeError('bug')).status).toBe(500);
  });
});
