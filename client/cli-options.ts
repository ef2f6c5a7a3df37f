// Option parsing of the command-line client (client/cli.ts), kept apart so it is tested alone.

/** `10s`, `500ms`, `2m` or a bare number of seconds, as milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d{1,9}(?:\.\d{1,3})?)(ms|s|m)?$/.exec(text.trim());
  if (match?.[1] === undefined) return undefined;
  const value = Number(match[1]);
  const unit = match[2] ?? 's';
  const ms = unit === 'ms' ? value : unit === 'm' ? value * 60_000 : value * 1_000;
  return Number.isFinite(ms) && ms > 0 && ms <= 24 * 3_600_000 ? Math.round(ms) : undefined;
}

/** A synthetic SFrame ciphertext length for frame `index`: a keyframe every `gop` frames is larger. */
export function syntheticFrameBytes(index: number, frameBytes: number, gop = 30): number {
  return index % gop === 0 ? frameBytes * 4 : frameBytes;
}
