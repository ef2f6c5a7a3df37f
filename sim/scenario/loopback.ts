/**
 * The simulator's model of one machine's loopback: the whole platform (AC, GC, a Meeting
 * Controller, Media Handlers and the clients) on 127.0.0.1, as `npm run load:compare` runs it
 * for real. One region, no jitter, no loss, 50 us one way, and the services' processing times.
 *
 * Those come from a calibration (`LoopbackCalibration`: unit costs measured on this machine by
 * loadtest/quic/calibrate.ts, apart from the scenario) when one is given: `loopbackModel(scenario,
 * calibration)` composes them (`calibratedServiceTimes`). Without one, the constants below,
 * each saying where it was measured (benchmarks on this kind of machine: 2 shared cores, Node
 * 20), as the built-in `loopback` scenario (sim/scenario/builtin.ts) has them. The simulator
 * reads no file: a calibration reaches it only inside the scenario it runs.
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
  /**
   * The simulator's default: a calibration measures the handlers' own time on a route command
   * (`mh_route_command_seconds`) and takes that instead.
   */
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
 * Unit costs measured on this machine by a calibration run (loadtest/quic/calibrate.ts: single
 * operations on an idle local stack, then a short media run of its own, before and apart from
 * the scenario they predict). Times are the client's medians of one operation at a time, round
 * trips included; `calibratedServiceTimes` takes the model's round trips out.
 */
export interface LoopbackCalibration {
  /** When and how it was measured (ISO time, the machine's load average, what ran). */
  readonly measuredAt: string;
  readonly loadAverage: number;
  readonly source: string;
  /** Meeting lookup at GC: request to answer (HTTP, token check, PostgreSQL). */
  readonly meetingLookupMs: number;
  /** Opening the signaling WebSocket to the controller (TCP and the HTTP upgrade). */
  readonly signalingOpenMs: number;
  /** JoinRequest to its answer on an open signaling connection. */
  readonly joinRoundTripMs: number;
  /** The media session: the handler's WebSocket opened and the hello accepted. */
  readonly mediaSessionMs: number;
  /**
   * A member's report of its media session lost to the controller's move (one report: the
   * member is sent home again), with the handler alive.
   */
  readonly lossReportMs: number;
  /** That move to the member's new session up (a media session opened while in the meeting). */
  readonly moveSessionMs: number;
  /**
   * Time per datagram inside a handler (`mh_forwarding_latency_seconds` over the calibration's
   * media run), cumulative: a `fraction` of datagrams took at most `upToMs`.
   */
  readonly forwarding: readonly { readonly upToMs: number; readonly fraction: number }[];
  /** Its median (ms). */
  readonly forwardingMedianMs: number;
  /**
   * The same by handler load: each handler's histogram over a window of the media run at its
   * utilisation then (all publishers, then half of them), in increasing utilisation. Absent
   * from calibrations made before it was measured (the model then draws from `forwarding`).
   */
  readonly forwardingByLoad?: readonly ForwardingAtLoad[];
  /**
   * How each join step's time varies: the counted joins' lookups, signaling openings, round
   * trips and media sessions, each over its own step's median (cumulative), by the model's step
   * (`serviceTimes.serviceTimeSpread`). Absent from calibrations made before it was measured
   * (the model then takes each step's median every time).
   */
  readonly serviceTimeSpread?: Scenario['serviceTimes']['serviceTimeSpread'];
  /**
   * Not a model parameter: the controller's own time on the counted joins (`mc_join_seconds`,
   * median, ms), its share of `joinRoundTripMs`.
   */
  readonly controllerJoinMs?: number;
  /**
   * Not a model parameter: the controller's meeting lookups at GC in those joins
   * (`mc_meeting_lookup_seconds`, median, ms), a part of `controllerJoinMs`.
   */
  readonly controllerLookupMs?: number;
  /**
   * Not a model parameter: the calibrating process's own event-loop delay over its counted
   * joins (ms), which is in every time it measured, beside the scenario's own.
   */
  readonly joinsEventLoopLag?: {
    readonly p50Ms: number;
    readonly p99Ms: number;
    readonly maxMs: number;
  };
  /**
   * A killed process holding the handlers' resident memory: SIGKILL to its host closing its
   * connections (the kernel frees the memory first). Absent from calibrations made before it was
   * measured (taken as 0).
   */
  readonly processTeardownMs?: number;
  /**
   * The controller's route call to a handler, sending to answer, as the controller sees it (its
   * `mc_route_command_seconds` over the calibration's joins): reported beside the model, not
   * part of it (the model's `routeCommandMs` is the handler's work). Absent from calibrations
   * made before it was measured.
   */
  readonly routeCallMs?: number;
  /**
   * The handlers' time on a route command, from the decoded call to its answer (their
   * `mh_route_command_seconds` over the calibration's joins): the model's `routeCommandMs`.
   * Absent from calibrations made before it was measured (the default stands).
   */
  readonly routeCommandMs?: number;
  /**
   * The controller's signing of a move's connection token, per token, a failover's batch of
   * moves signed at once (loadtest/quic/token-signing.ts): the model's `moveTokenMs`. Absent from
   * calibrations made before it was measured (no signing time).
   */
  readonly moveTokenMs?: number;
}

/**
 * Round trips of a WebSocket's opening on loopback before the first message: TCP's handshake
 * and the HTTP upgrade. The load clients' signaling and media both use WebSocket.
 */
export const WEBSOCKET_HANDSHAKE_ROUND_TRIPS = 2;

/** The forwarding time measured on one handler at one load. */
export interface ForwardingAtLoad {
  /** The handler's share of capacity, in and out (`mh_utilisation`). */
  readonly utilisation: number;
  readonly forwarding: readonly { readonly upToMs: number; readonly fraction: number }[];
  readonly medianMs: number;
  readonly datagrams: number;
}

/**
 * The service times of the calibrated loopback model: each measured time less the network
 * round trips the simulator adds itself (one client-service round trip per request, plus the
 * handshake's), never below 0; the forwarding time as the measured distribution (by handler
 * load where the calibration has it); and the parts
 * of the model a constant has not: queueing at each service process, the connections'
 * handshakes, and a handler's death noticed by the connection's close (WebSocket over TCP),
 * once its host has freed the killed process (`processTeardownMs`).
 */
export function calibratedServiceTimes(
  calibration: LoopbackCalibration,
  network: Scenario['network'] = LOOPBACK_NETWORK,
): Omit<Scenario['serviceTimes'], 'firstFrameMs'> {
  const roundTrip = 2 * (network.intraRegionMs + network.clientAccessMs);
  const less = (measured: number, roundTrips: number) =>
    Math.max(0, round(measured - roundTrips * roundTrip));
  return {
    tokenIssueMs: LOOPBACK_SERVICE_TIMES.tokenIssueMs,
    meetingLookupMs: less(calibration.meetingLookupMs, 1),
    joinProcessingMs: less(calibration.joinRoundTripMs, 1),
    mediaConnectMs: less(calibration.mediaSessionMs, 1 + WEBSOCKET_HANDSHAKE_ROUND_TRIPS),
    // The handler's work on a route command; the calibration's route call (`routeCallMs`) is
    // the controller's view of the whole call, mostly gRPC and the controller's own event loop.
    routeCommandMs: calibration.routeCommandMs ?? LOOPBACK_SERVICE_TIMES.routeCommandMs,
    connectionReportMs: less(calibration.lossReportMs, 1),
    forwardingMs: calibration.forwardingMedianMs,
    signalingConnect: {
      roundTrips: WEBSOCKET_HANDSHAKE_ROUND_TRIPS,
      cpuMs: less(calibration.signalingOpenMs, WEBSOCKET_HANDSHAKE_ROUND_TRIPS),
    },
    mediaHandshakeRoundTrips: WEBSOCKET_HANDSHAKE_ROUND_TRIPS,
    forwardingDistribution: calibration.forwarding.map((s) => ({ ...s })),
    ...(calibration.forwardingByLoad === undefined || calibration.forwardingByLoad.length === 0
      ? {}
      : {
          forwardingByLoad: calibration.forwardingByLoad.map((p) => ({
            utilisation: p.utilisation,
            distribution: p.forwarding.map((s) => ({ ...s })),
          })),
        }),
    ...(calibration.serviceTimeSpread === undefined ||
    Object.keys(calibration.serviceTimeSpread).length === 0
      ? {}
      : {
          serviceTimeSpread: Object.fromEntries(
            Object.entries(calibration.serviceTimeSpread).map(([step, spread]) => [
              step,
              spread.map((s) => ({ ...s })),
            ]),
          ),
        }),
    queueing: true,
    mediaLossNotice: 'connection-close',
    processTeardownMs: calibration.processTeardownMs ?? 0,
    ...(calibration.moveTokenMs === undefined ? {} : { moveTokenMs: calibration.moveTokenMs }),
  };
}

/**
 * `scenario` on loopback: its network and service times replaced by the model above. The
 * load clients publish a frame every 1 / `media.packetsPerSecond` seconds, so a new member's
 * first frame is up to one frame interval away: that interval is `firstFrameMs`.
 *
 * With a `calibration` the service times are `calibratedServiceTimes` of it, and every meeting
 * is simulated packet by packet (`media.packetSample` 1), so that the forwarding percentiles are
 * of datagrams, each with its own draw; without one, the constants above (the built-in
 * `loopback` scenario).
 */
export function loopbackModel(scenario: Scenario, calibration?: LoopbackCalibration): Scenario {
  const firstFrameMs = 1000 / scenario.media.packetsPerSecond;
  if (calibration === undefined) {
    return {
      ...scenario,
      network: { ...LOOPBACK_NETWORK },
      serviceTimes: { ...LOOPBACK_SERVICE_TIMES, firstFrameMs },
    };
  }
  return {
    ...scenario,
    network: { ...LOOPBACK_NETWORK },
    serviceTimes: { ...calibratedServiceTimes(calibration), firstFrameMs },
    media: { ...scenario.media, packetSample: 1 },
  };
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
