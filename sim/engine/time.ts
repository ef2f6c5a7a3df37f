/**
 * Virtual time. The simulator counts integer microseconds from the start of a run; nothing in
 * the simulation reads a wall clock.
 */
export type Micros = number;

export const MICROS_PER_MS = 1_000;
export const MICROS_PER_SECOND = 1_000_000;

/** Milliseconds to virtual microseconds, rounded to an integer. */
export const ms = (milliseconds: number): Micros => Math.round(milliseconds * MICROS_PER_MS);

/** Seconds to virtual microseconds, rounded to an integer. */
export const seconds = (s: number): Micros => Math.round(s * MICROS_PER_SECOND);

/** Virtual microseconds to milliseconds (fractional). */
export const toMs = (t: Micros): number => t / MICROS_PER_MS;

/** A virtual time as `12.345678s`, for messages that name when something happened. */
export const formatTime = (t: Micros): string => `${(t / MICROS_PER_SECOND).toFixed(6)}s`;
