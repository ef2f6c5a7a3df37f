/**
 * The browser join report's shape and arithmetic: one join as a page timed it, the stages
 * between its steps, and the percentiles of a set of joins (reports/browser-join.json, written
 * by join.spec.ts; bench/browser-join.ts pools several runs of it).
 */
/** One join as the page timed it: ms from its start to each step (null: not reached). */
export interface JoinSample {
  reconnect: boolean;
  /** The first member: its first frame waited for someone else to join. */
  alone: boolean;
  loggedInMs: number | null;
  meetingMs: number | null;
  keyPackageMs: number | null;
  signalingOpenMs: number | null;
  joinSentMs: number | null;
  joinedMs: number | null;
  mediaMs: number | null;
  welcomeMs: number | null;
  keysMs: number | null;
  firstReceivedMs: number | null;
  firstDecryptedMs: number | null;
  firstKeyframeMs: number | null;
  joinToFirstFrameMs: number | null;
}

/**
 * The stages of a join after login, each from the step that starts it to the step that ends
 * it (ms; null when either was not reached). MLS keys and media connect run side by side after
 * the join answer; the first frame needs both.
 */
export const STAGES: Record<string, (j: JoinSample) => [number | null, number | null]> = {
  gc_lookup: (j) => [j.loggedInMs, j.meetingMs],
  key_package: (j) => [j.meetingMs, j.keyPackageMs],
  signaling_connect: (j) => [j.meetingMs, j.signalingOpenMs],
  join_processing: (j) => [j.joinSentMs, j.joinedMs],
  mls_keys_after_answer: (j) => [j.joinedMs, j.keysMs],
  // Of which: a member's commit and the controller's relay, then the joiner's own MLS work.
  mls_welcome_after_answer: (j) => [j.joinedMs, j.welcomeMs],
  mls_welcome_applied: (j) => [j.welcomeMs, j.keysMs],
  media_connect_after_answer: (j) => [j.joinedMs, j.mediaMs],
  first_frame_received_after_media: (j) => [j.mediaMs, j.firstReceivedMs],
  first_decrypted_after_received: (j) => [j.firstReceivedMs, j.firstDecryptedMs],
  first_keyframe_after_decrypted: (j) => [j.firstDecryptedMs, j.firstKeyframeMs],
  decode: (j) => [j.firstKeyframeMs, j.joinToFirstFrameMs],
  first_frame_after_keys_and_media: (j) => [
    j.keysMs === null || j.mediaMs === null ? null : Math.max(j.keysMs, j.mediaMs),
    j.joinToFirstFrameMs,
  ],
};

/** Each step's time from AC's answer (the first join) or from the loss (a reconnect). */
export const MILESTONES: Record<string, (j: JoinSample) => number | null> = {
  meeting_found: (j) => j.meetingMs,
  key_package: (j) => j.keyPackageMs,
  signaling_open: (j) => j.signalingOpenMs,
  join_answered: (j) => j.joinedMs,
  media_accepted: (j) => j.mediaMs,
  mls_welcome: (j) => j.welcomeMs,
  mls_keys: (j) => j.keysMs,
  first_frame_received: (j) => j.firstReceivedMs,
  first_decrypted: (j) => j.firstDecryptedMs,
  first_keyframe: (j) => j.firstKeyframeMs,
  first_frame: (j) => j.joinToFirstFrameMs,
};

/** The q-quantile (nearest rank) of the values present. */
export function quantile(values: readonly (number | null)[], q: number): number | null {
  const sorted = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  return Math.round(
    sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number,
  );
}

export function summary(samples: readonly JoinSample[]) {
  const first = samples.map((j) => j.joinToFirstFrameMs);
  // Steps 3 to 8: from AC's answer (GC lookup, MC join, MH hello, first frame decoded).
  const platform = samples.map((j) =>
    j.joinToFirstFrameMs === null || j.loggedInMs === null
      ? null
      : j.joinToFirstFrameMs - j.loggedInMs,
  );
  return {
    samples: samples.length,
    reached_first_frame: first.filter((v) => v !== null).length,
    p50_ms: quantile(first, 0.5),
    p99_ms: quantile(first, 0.99),
    platform_after_login_p50_ms: quantile(platform, 0.5),
    platform_after_login_p99_ms: quantile(platform, 0.99),
    login_p50_ms: quantile(
      samples.map((j) => j.loggedInMs),
      0.5,
    ),
    median_step_ms: {
      logged_in: quantile(
        samples.map((j) => j.loggedInMs),
        0.5,
      ),
      meeting_found: quantile(
        samples.map((j) => j.meetingMs),
        0.5,
      ),
      join_answered: quantile(
        samples.map((j) => j.joinedMs),
        0.5,
      ),
      media_accepted: quantile(
        samples.map((j) => j.mediaMs),
        0.5,
      ),
      first_frame: quantile(first, 0.5),
    },
    after_login_ms: Object.fromEntries(
      Object.entries(MILESTONES).map(([name, at]) => {
        const values = samples.map((j) => {
          const t = at(j);
          const origin = j.reconnect ? 0 : j.loggedInMs;
          return t === null || origin === null ? null : t - origin;
        });
        return [name, { p50: quantile(values, 0.5), p99: quantile(values, 0.99) }];
      }),
    ),
    stage_ms: Object.fromEntries(
      Object.entries(STAGES).map(([name, span]) => {
        const values = samples.map((j) => {
          const [from, to] = span(j);
          return from === null || to === null ? null : to - from;
        });
        return [name, { p50: quantile(values, 0.5), p99: quantile(values, 0.99) }];
      }),
    ),
  };
}
