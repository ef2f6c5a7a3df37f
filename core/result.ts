/**
 * Results for operations that can fail on bad input. Errors are values with a `kind`
 * discriminant, never exceptions, so callers must handle every failure they can meet.
 */
export type Ok<T> = { readonly ok: true; readonly value: T };
export type Err<E> = { readonly ok: false; readonly error: E };
export type Result<T, E> = Ok<T> | Err<E>;

export const ok = <T>(value: T): Ok<T> => ({ ok: true, value });
export const err = <E>(error: E): Err<E> => ({ ok: false, error });

/** Unwraps a result or throws; for tests and for callers that have already validated input. */
export function unwrap<T, E>(result: Result<T, E>): T {
  if (result.ok) return result.value;
  throw new Error(`unwrap on error: ${JSON.stringify(result.error)}`);
}
