/**
 * The simulator's model of one machine's loopback: the whole platform (AC, GC, a Meeting
 * Controller, Media Handlers and the clients) on 127.0.0.1, as `npm run load:compare` runs it
 * for real. One region, no jitter, no loss, 50 us one way, and the services' processing times
 * calibrated on this kind of machine (2 shared cores, Node 20). Each constant says where it was
 * measured; the simulator never reads a measurement at run time.
 *
 * `loopbackModel(scenario)` puts this network and these service times into any one-region
 * scenario (the load scenarios in loadtest/quic/scenarios); the built-in `loopback` scenario
 * (sim/scenario/builtin.ts) is the comparison's default topology with it.
 */
import type { Scenario } from './schema.ts';

/** Loopback: one hop between two processes on this machine, as the simulator's network. */
export const LOOPBACK_NETWORK = {
  rttMs: {},
  intraRegionMs: 0.05,
  clientAccessMs: 0.05,
  jitterMs: 0,
  loss: 0,
  clientBandwidthMbps: 10_000,
} as const satisfies Scenario['network'];

/** The services' processing times on this machine, in milliseconds. */
export const LOOPBACK_SERVICE_TIMES = {
  /**
   * Not measured: the load run's clients hold a user token signed with AC's key (as
   * bench:mc's clients do), so the join starts at the meeting lookup; the comparison takes
   * this stage out of the prediction. The default stands.
   */
  tokenIssueMs: 4,
  /** Not calibrated (no benchmark of GC's lookup); the comparison's "meeting info" row shows it. */
  meetingLookupMs: 3,
  /**
   * bench:mc (2026-12-05, BENCH_MC_MEETINGS=20 BENCH_MC_SIZE=5), "oneAtATime": JoinRequest to
   * JoinResponse one join at a time over loopback WebSocket signaling, p50 11.66 ms; less the
   * two 50 us hops of this network.
   */
  joinProcessingMs: 11.5,
  /**
   * bench:mh (2026-12-05, ROUNDS=3), "admission": 1,157 hellos admitted per CPU-second of the
   * handler (WebSocket upgrade, Ed25519 token check, the forwarder's admission): 0.86 ms each.
   */
  mediaConnectMs: 0.9,
  /** Not calibrated (the route API's gRPC round trip); the default stands. */
  routeCommandMs: 1,
  /**
   * bench:mh-ingress (2026-12-05): arrival to the last send inside a running handler process
   * (`mh_forwarding_latency_seconds`), its WebSocket and UDP ingress, fan-out 1 to 2, mean
   * 31.5 us. The load clients' media goes over WebSocket to handler processes, which this
   * benchmark measures; bench:mh's in-process UDP path (p50 2.96 us at 50 % of capacity,
   * fan-out 1 to 8) leaves out the sends of a WebSocket and the process around the forwarder.
   */
  forwardingMs: 0.0315,
  /** Replaced per scenario by `loopbackModel`: a load client's next frame (see there). */
  firstFrameMs: 20,
} as const satisfies Scenario['serviceTimes'];

/**
 * `scenario` on loopback: its network and service times replaced by the model above. The
 * load clients publish a frame every 1 / `media.packetsPerSecond` seconds, so a new member's
 * first frame is up to one frame interval away: that interval is `firstFrameMs`.
 */
export function loopbackModel(scenario: Scenario): Scenario {
  return {
    ...scenario,
    network: { ...LOOPBACK_NETWORK },
    serviceTimes: {
      ...LOOPBACK_SERVICE_TIMES,
      firstFrameMs: 1000 / scenario.media.packetsPerSecond,
    },
  };
}
