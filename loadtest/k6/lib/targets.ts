/**
 * The service levels the k6 thresholds hold the platform to, each from the spec (or, where the
 * spec names none, the bound chosen and why). Plain data: k6 scripts and tests read it.
 */
export const TARGETS = {
  /** spec 001 (MH): "P99 < 50 ms achievable"; core's quality stage `degraded` starts there. */
  mediaLatencyP99Ms: 50,
  /** spec 003: join-to-media under 250 ms, steps 1-8 (token, meeting, join, media, first frame). */
  joinToMediaMs: 250,
  /** spec 001 open item (MC): alert when signaling latency exceeds 100 ms. */
  signalingP99Ms: 100,
  /** spec 003 (AC): fast token issuance, under 50 ms p99. */
  tokenIssueP99Ms: 50,
  /**
   * GC's meeting API: the spec gives no latency; it sits on the join path before signaling,
   * so it gets the signaling bound.
   */
  meetingApiP99Ms: 100,
  /** Datagrams arriving in sequence order per stream (no gap): 99 %, core's `warning` loss is 1 %. */
  inOrderRate: 0.99,
  /** Failed requests or checks at most 1 %. */
  errorRate: 0.01,
} as const;
