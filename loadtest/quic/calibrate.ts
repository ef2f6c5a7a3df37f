/**
 * The loopback model's calibration: unit costs of the platform's operations measured on this
 * machine, apart from the scenario they will predict. On a local stack (AC, GC, a Meeting
 * Controller, the scenario's handlers), members join calibration meetings (the scenario's
 * meetings, at most four, of its size) one at a time, each publishing from its join at the
 * scenario's rate (its camera at a phase of its own), so that every join and move is timed with
 * the media of the members before it flowing, as in the scenario; the client library times each
 * step: the meeting lookup at GC, the signaling WebSocket's opening, the JoinRequest's round
 * trip, the media session (WebSocket and hello). The handlers' own time on the joins' route
 * commands is read from their `mh_route_command_seconds`. Each member then reports its media
 * session lost and is moved (report to move, move to the new session). The joins start one
 * every ramp / members seconds, as the scenario's, each round into meetings created for it;
 * their samples over their step's medians are the joins' spread, and the controller's own time
 * on them (`mc_join_seconds`) and this process's event-loop delay are kept beside them. Then
 * every member publishes, each at its own phase, for a few seconds, and the handlers'
 * `mh_forwarding_latency_seconds` over that run gives the distribution of a datagram's time
 * inside a handler; then every other member alone as long, and each handler's histogram in
 * each window, at its `mh_utilisation`, gives the time by handler load. Last, a throwaway process holding the handlers' resident memory is killed a
 * few times, to time how long a killed handler's host takes to close its connections
 * (teardown.ts), and a failover's batch of move tokens is signed (token-signing.ts). Its
 * members leave before the scenario.
 *
 * `npm run load:calibrate -- <scenario>` runs it on a stack of its own and writes
 * reports/loopback-calibration.json; `npm run load:compare` runs it on its stack before the
 * scenario (or reads a file given with `--calibration`). The simulator's loopback model
 * (sim/scenario/loopback.ts, `calibratedServiceTimes`) turns it into service times.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';
import { createMeeting, MeetingSession, type JoinStage } from '../../client/meeting/index.ts';
import { sframePayload, type WebSocketConstructor } from '../../client/media/index.ts';
import type { ForwardingAtLoad, LoopbackCalibration } from '../../sim/scenario/loopback.ts';
import { readLoadScenario } from './run.ts';
import type { LoadPlan } from './scenario.ts';
import {
  measuredLatency,
  runAgainstStack,
  scrapeControllerJoins,
  type StackHandle,
} from './stack-run.ts';
import { scrapeMetrics } from './scrape.ts';
import { watchEventLoopLag, type EventLoopLag } from './lag.ts';
import { measureTeardown } from './teardown.ts';
import { measureMoveTokens } from './token-signing.ts';
import {
  bucketDelta,
  histogramBuckets,
  histogramPercentile,
  medianOf,
  mergeBuckets,
  secondsToMs,
  type Buckets,
} from './stats.ts';

/**
 * Calibration meetings: as many as the scenario has, at most this many, each of the scenario's
 * size (at most `MAX_MEMBERS` members). Their media run is then the scenario's media: a
 * handler's time per datagram depends on how many datagrams it is handed (see the media run).
 */
const MAX_MEETINGS = 4;
const MAX_MEMBERS = 4;
/**
 * Rounds of joins: every calibration member joins (one at a time) and then they all leave. The
 * first round warms the processes up (V8 compiles the join's code paths, pools open their
 * connections) and is not counted, as the scenario's joins come after it.
 */
const ROUNDS = 4;
const WARM_UP_ROUNDS = 1;
/** Pause between two joins: each join has the machine to itself. */
const JOIN_GAP_MS = 100;
/** The media run: warm-up (not counted), then the measured part. */
const MEDIA_WARM_UP_MS = 1_000;
const MEDIA_MS = 3_000;
/**
 * A scenario shorter than this (a smoke run) gets a short calibration: the counted rounds of
 * joins that give each step a spread (one, unless its meetings are small) and half the media
 * run.
 */
const SHORT_SCENARIO_SECONDS = 15;
/** Kills of a throwaway process holding the handlers' memory (see teardown.ts). */
const TEARDOWN_ROUNDS = 3;
/** After the members leave, before the scenario: the handlers' load reports settle. */
const SETTLE_MS = 1_500;

/** The calibration with the samples it came from. */
export interface CalibrationReport {
  readonly calibration: LoopbackCalibration;
  readonly samples: {
    readonly joins: number;
    readonly meetingLookupMs: readonly number[];
    readonly signalingOpenMs: readonly number[];
    readonly joinRoundTripMs: readonly number[];
    readonly mediaSessionMs: readonly number[];
    readonly lossReportMs: readonly number[];
    readonly moveSessionMs: readonly number[];
    readonly forwardingDatagrams: number;
    readonly forwardingBuckets: Buckets;
    /** The handlers' most resident memory after the media run, which the teardown held. */
    readonly handlerResidentBytes: number;
    readonly processTeardownMs: readonly number[];
    /** Per token, batches of a failover's moves signed at once (`measureMoveTokens`). */
    readonly moveTokenMs: readonly number[];
    /** The controller's route calls over the counted rounds (`mc_route_command_seconds`). */
    readonly routeCallBuckets: Buckets;
    /** The handlers' time on those route commands (`mh_route_command_seconds`, merged). */
    readonly routeCommandBuckets: Buckets;
    /**
     * Datagrams the handlers received over the counted rounds of joins: the earlier members'
     * media the joins were timed among (`mh_datagrams_in_total`).
     */
    readonly datagramsDuringJoins: number;
    /** When each counted join started, ms from the first (one every `joinEveryMs` or later). */
    readonly joinStartsMs: readonly number[];
  };
}

/** The median of `values` (ms); 0 with none. */
function median(values: readonly number[]): number {
  return measuredLatency(values).p50Ms ?? 0;
}

/**
 * A cumulative histogram (seconds) as the model's distribution (ms): each finite bound with the
 * fraction of observations at most it; what fell past the last bound is put at it.
 */
export function distributionOf(
  buckets: Buckets,
): { readonly upToMs: number; readonly fraction: number }[] {
  const total = buckets.cumulative[buckets.cumulative.length - 1] ?? 0;
  if (total <= 0) return [];
  const steps: { upToMs: number; fraction: number }[] = [];
  buckets.bounds.forEach((bound, i) => {
    if (!Number.isFinite(bound)) return;
    const fraction = Math.min(1, (buckets.cumulative[i] ?? 0) / total);
    steps.push({
      upToMs: Math.round(bound * 1e9) / 1e6,
      fraction: Math.round(fraction * 1e6) / 1e6,
    });
  });
  const last = steps[steps.length - 1];
  if (last !== undefined) last.fraction = 1;
  // Steps past the first that reaches 1 say nothing more.
  const full = steps.findIndex((s) => s.fraction >= 1);
  return steps.slice(0, full + 1);
}

/**
 * The calibration's publishers' phases (ms into the frame interval), spread evenly over one
 * interval: the scenario's members publish from their own joins, so their datagrams reach a
 * handler one by one, not in one burst per frame. A handler forwards a burst faster per
 * datagram (its process stays awake and its caches warm between them), so a calibration whose
 * publishers all sent at once measured a time per datagram the scenario never sees.
 */
export function publisherPhases(publishers: number, frameMs: number): number[] {
  return Array.from({ length: publishers }, (_, i) => (i * frameMs) / publishers);
}

/**
 * Frames a publisher at phase `offsetMs` has due `elapsedMs` after the start: its first at its
 * phase, then one every frame interval.
 */
export function framesDue(elapsedMs: number, offsetMs: number, frameMs: number): number {
  const since = elapsedMs - offsetMs;
  return since < 0 ? 0 : Math.floor(since / frameMs) + 1;
}

/** The controller's route-call histogram now (`mc_route_command_seconds`). */
async function scrapeRouteCalls(stack: StackHandle): Promise<Buckets> {
  return histogramBuckets(
    await scrapeMetrics(stack.controllerMetricsUrl),
    'mc_route_command_seconds',
  );
}

/** Fewest samples the join steps' spread is measured from. */
export const MIN_SPREAD_SAMPLES = 8;

/**
 * The fractions a join step's spread is kept at: every twentieth to 0.9, then every hundredth
 * and 0.995, so that the tail, where a few pauses of 10-25 ms sit, is not drawn by linear
 * steps across a twentieth of the requests (one sample at 18 times the median among 192 put
 * one draw in twenty-five above ten times it).
 */
export const SPREAD_FRACTIONS: readonly number[] = [
  ...Array.from({ length: 19 }, (_, i) => i / 20),
  ...Array.from({ length: 9 }, (_, i) => (91 + i) / 100),
  0.995,
  1,
];

/**
 * How one join step's time varies from one request to the next: each sample over the step's
 * median, cumulative at `SPREAD_FRACTIONS` (nearest rank). Empty with fewer than
 * MIN_SPREAD_SAMPLES samples.
 */
export function spreadOf(
  samples: readonly number[],
): { readonly factor: number; readonly fraction: number }[] {
  const finite = samples.filter((v) => Number.isFinite(v));
  const middle = finite.length === 0 ? 0 : medianOf(finite);
  if (finite.length < MIN_SPREAD_SAMPLES || !(middle > 0)) return [];
  const ratios = finite.map((sample) => sample / middle).sort((a, b) => a - b);
  return SPREAD_FRACTIONS.map((fraction) => {
    const rank = Math.min(ratios.length - 1, Math.max(0, Math.ceil(fraction * ratios.length) - 1));
    return { factor: Math.round((ratios[rank] as number) * 1e4) / 1e4, fraction };
  });
}

/**
 * Each join step's spread, by the model's step: the lookups, the signaling openings (the
 * connection's CPU), the JoinRequest round trips (the join processing) and the media sessions
 * (the handler's CPU for them); a step with too few samples has none.
 */
export function joinStepSpreads(steps: {
  readonly lookup: readonly number[];
  readonly open: readonly number[];
  readonly roundTrip: readonly number[];
  readonly media: readonly number[];
}): NonNullable<LoopbackCalibration['serviceTimeSpread']> {
  return Object.fromEntries(
    (
      [
        ['meetingLookup', steps.lookup],
        ['signalingConnect', steps.open],
        ['joinProcessing', steps.roundTrip],
        ['mediaConnect', steps.media],
      ] as const
    )
      .map(([step, samples]) => [step, spreadOf(samples)] as const)
      .filter(([, spread]) => spread.length > 0),
  );
}

const FORWARDING = 'mh_forwarding_latency_seconds';

/** A seconds histogram's median in ms (to 0.1 us); undefined when it holds nothing. */
function medianMsOf(buckets: Buckets): number | undefined {
  return secondsToMs(histogramPercentile(buckets, 50)) ?? undefined;
}

/** Fewest datagrams a handler's window needs to give a point of `forwardingByLoad`. */
export const MIN_POINT_DATAGRAMS = 200;

/**
 * The forwarding time by handler load from each handler's window of the media run (its
 * histogram over the window and its utilisation at the end): one point per window with at least
 * MIN_POINT_DATAGRAMS datagrams, in increasing utilisation (windows at one utilisation, to 0.1 %,
 * merged).
 */
export function forwardingByLoad(
  windows: readonly { readonly buckets: Buckets; readonly utilisation: number }[],
): ForwardingAtLoad[] {
  const byUtilisation = new Map<number, Buckets[]>();
  for (const w of windows) {
    const count = w.buckets.cumulative[w.buckets.cumulative.length - 1] ?? 0;
    if (count < MIN_POINT_DATAGRAMS || !(w.utilisation >= 0)) continue;
    const at = Math.round(w.utilisation * 1000) / 1000;
    byUtilisation.set(at, [...(byUtilisation.get(at) ?? []), w.buckets]);
  }
  return [...byUtilisation.entries()]
    .sort(([a], [b]) => a - b)
    .map(([utilisation, all]) => {
      const buckets = mergeBuckets(all);
      return {
        utilisation,
        forwarding: distributionOf(buckets),
        medianMs: medianMsOf(buckets) ?? 0,
        datagrams: buckets.cumulative[buckets.cumulative.length - 1] ?? 0,
      };
    });
}

/** Histogram `name` of each handler now, one per handler. */
async function handlerHistograms(urls: readonly string[], name: string): Promise<Buckets[]> {
  return Promise.all(urls.map(async (url) => histogramBuckets(await scrapeMetrics(url), name)));
}

/** Series `name` of each handler now (0 where it has none), one per handler. */
async function handlerValues(urls: readonly string[], name: string): Promise<number[]> {
  return Promise.all(urls.map(async (url) => (await scrapeMetrics(url)).get(name) ?? 0));
}

/** Measures the unit costs on a running stack (see the module comment); leaves it idle. */
export async function calibrateOnStack(
  stack: StackHandle,
  plan: LoadPlan,
  say: (line: string) => void = () => undefined,
): Promise<CalibrationReport> {
  const loadAverage = loadavg()[0] ?? 0;
  const handlerUrls = stack.handlerMetricsUrls;
  const size = Math.max(2, Math.min(MAX_MEMBERS, plan.participantsPerMeeting));
  const meetingCount = Math.max(1, Math.min(MAX_MEETINGS, plan.meetings));
  const short = plan.durationSeconds < SHORT_SCENARIO_SECONDS;
  // A short calibration counts as few rounds as give each join step enough samples for its
  // spread (MIN_SPREAD_SAMPLES), at least one.
  const rounds = short
    ? Math.min(ROUNDS, WARM_UP_ROUNDS + Math.ceil(MIN_SPREAD_SAMPLES / (size * meetingCount)))
    : ROUNDS;
  const mediaMs = short ? MEDIA_MS / 2 : MEDIA_MS;
  // One join started every `joinEveryMs`, as the scenario's members join over its ramp: a
  // process's time on a request grows with the quiet before it (its caches cold), so joins
  // closer together than the scenario's are timed faster than its joins.
  const scenarioMembers = Math.max(1, plan.meetings * plan.participantsPerMeeting);
  const joinEveryMs = (plan.rampSeconds * 1000) / scenarioMembers;
  const meetings = [];
  for (let m = 0; m < meetingCount; m++)
    meetings.push(await createMeeting(stack.gcUrl, stack.organiser, `calibration ${m + 1}`));
  const sessions: MeetingSession[][] = meetings.map(() => []);
  const lookup: number[] = [];
  const open: number[] = [];
  const roundTrip: number[] = [];
  const media: number[] = [];
  const report: number[] = [];
  const reconnect: number[] = [];
  const joinStarts: number[] = [];
  let stopLag: (() => EventLoopLag) | undefined;
  // The controller's route calls over the counted rounds (each join sends some).
  let routeCallsBefore: Buckets | undefined;
  let controllerJoinsBefore: Awaited<ReturnType<typeof scrapeControllerJoins>> | undefined;
  let routeCommandsBefore: Buckets[] | undefined;
  let datagramsBefore = 0;
  // Members publish from their joins, as the scenario's do: each join and move is timed with
  // the media of the members before it flowing (each camera at a phase of its own).
  const frameMs = 1000 / plan.datagramsPerSecond;
  const frame = new Uint8Array(Math.max(1, plan.datagramBytes - 42 - 4)).fill(7);
  const cameras = new Map<MeetingSession, ReturnType<MeetingSession['publisher']>>();
  const cameraOf = (session: MeetingSession) => {
    let camera = cameras.get(session);
    if (camera === undefined) {
      camera = session.publisher('camera');
      cameras.set(session, camera);
    }
    return camera;
  };
  const live: { camera: ReturnType<MeetingSession['publisher']>; startMs: number; sent: number }[] =
    [];
  const liveTicker = setInterval(() => {
    const now = performance.now();
    for (const publisher of live) {
      const due = framesDue(now - publisher.startMs, 0, frameMs);
      for (; publisher.sent < due; publisher.sent++) {
        const n = publisher.sent;
        publisher.camera.publish(sframePayload(1n, BigInt(n), frame), { keyframe: n === 0 });
      }
    }
  }, 5);
  try {
    for (let round = 0; round < rounds; round++) {
      const counted = round >= WARM_UP_ROUNDS;
      if (round === WARM_UP_ROUNDS) {
        routeCallsBefore = await scrapeRouteCalls(stack);
        controllerJoinsBefore = await scrapeControllerJoins(stack.controllerMetricsUrl);
        routeCommandsBefore = await handlerHistograms(handlerUrls, 'mh_route_command_seconds');
        stopLag = watchEventLoopLag();
        datagramsBefore = sum(await handlerValues(handlerUrls, 'mh_datagrams_in_total'));
      }
      if (round > 0) {
        // Everyone leaves before the next round: its joins find the meetings empty again.
        live.length = 0;
        cameras.clear();
        await Promise.all(sessions.flat().map((s) => s.leave().catch(() => undefined)));
        for (const list of sessions) list.length = 0;
        // Meetings of its own, new as the scenario's are. (One sitting: the join round trip's
        // median fell from 10.5 ms to 8.3 and 7.2 over three rounds into the same meetings,
        // where the scenario's joins into new meetings took 9.9; the next run, with new
        // meetings each round, 9.6, 7.8 and 8.5 against the scenario's 9.4.)
        for (let m = 0; m < meetingCount; m++)
          meetings[m] = await createMeeting(
            stack.gcUrl,
            stack.organiser,
            `calibration ${m + 1}, round ${round + 1}`,
          );
        await sleep(JOIN_GAP_MS);
      }
      for (const [m, meeting] of meetings.entries()) {
        for (let k = 0; k < size; k++) {
          const stages: Partial<Record<JoinStage, number>> = {};
          const started = performance.now();
          const session = await MeetingSession.join({
            gcUrl: stack.gcUrl,
            token: await stack.tokenFor(`calibration-${randomUUID()}`),
            meetingId: meeting.meetingId,
            WebSocket: WebSocket as unknown as WebSocketConstructor,
            timeoutMs: 15_000,
            onStage: (stage, at) => {
              stages[stage] ??= at;
            },
          });
          sessions[m]?.push(session);
          live.push({
            camera: cameraOf(session),
            startMs: performance.now() + Math.random() * frameMs,
            sent: 0,
          });
          const at = (stage: JoinStage) => stages[stage] ?? NaN;
          for (const [into, value] of [
            [lookup, at('meeting-info') - started],
            [open, at('signaling-open') - at('meeting-info')],
            [roundTrip, at('join-answered') - at('join-sent')],
            [media, at('media-connected') - at('join-answered')],
          ] as const) {
            if (counted && Number.isFinite(value)) into.push(value);
          }
          if (counted) joinStarts.push(started);
          await sleep(Math.max(JOIN_GAP_MS, started + joinEveryMs - performance.now()));
        }
      }
    }
    const joinsLag = stopLag?.() ?? null;
    const spread = joinStepSpreads({ lookup, open, roundTrip, media });
    const datagramsDuringJoins =
      sum(await handlerValues(handlerUrls, 'mh_datagrams_in_total')) - datagramsBefore;
    const routeCalls = bucketDelta(routeCallsBefore, await scrapeRouteCalls(stack));
    const controllerJoinsAfter = await scrapeControllerJoins(stack.controllerMetricsUrl);
    const controllerJoinMs = medianMsOf(
      bucketDelta(controllerJoinsBefore?.joins, controllerJoinsAfter.joins),
    );
    const controllerLookupMs = medianMsOf(
      bucketDelta(controllerJoinsBefore?.lookups, controllerJoinsAfter.lookups),
    );
    const routeCommands = mergeBuckets(
      (await handlerHistograms(handlerUrls, 'mh_route_command_seconds')).map((after, i) =>
        bucketDelta(routeCommandsBefore?.[i], after),
      ),
    );
    const routeCommandMs = medianMsOf(routeCommands);
    const routeCallMs = medianMsOf(routeCalls);
    say(
      `calibration: ${routeCalls.cumulative[routeCalls.cumulative.length - 1] ?? 0} route calls from the controller to its handlers: p50 ${routeCallMs ?? 'n/a'} ms as the controller sees them, ${routeCommandMs ?? 'n/a'} ms in the handlers`,
    );
    // Moves, one at a time: a member reports its media session lost (as after its handler's
    // death); the controller answers with a move (home again: one report does not take a
    // handler for lost) and the member opens a new session there.
    for (const session of sessions.flat()) {
      const reported = performance.now();
      let told: number | undefined;
      const onMessage = session.signaling.onMessage;
      session.signaling.onMessage = (message) => {
        if (message.move?.mediaHandler !== undefined) told ??= performance.now();
        onMessage?.(message);
      };
      const moved = new Promise<number>((resolve) => {
        session.onMove = () => resolve(performance.now());
      });
      session.signaling.send({ mediaConnected: { handler: '' } });
      const done = await Promise.race([moved, sleep(5_000).then(() => undefined)]);
      session.signaling.onMessage = onMessage;
      session.onMove = null;
      if (done !== undefined && told !== undefined) {
        report.push(told - reported);
        reconnect.push(done - told);
      }
      await sleep(JOIN_GAP_MS);
    }
    say(
      `calibration: ${lookup.length} joins one at a time (after ${WARM_UP_ROUNDS * meetingCount * size} to warm up): lookup ${median(lookup)} ms, signaling open ${median(open)} ms, join round trip ${median(roundTrip)} ms, media session ${median(media)} ms; ${report.length} moves: report to move ${median(report)} ms, move to new session ${median(reconnect)} ms`,
    );

    // The media run: every calibration member publishing at the scenario's rate and size.
    // Each publisher at its own phase (`publisherPhases`), by the joins' publishing ticker.
    const phases = publisherPhases(sessions.flat().length, frameMs);
    const start = performance.now();
    const everyone = sessions.flat().map((s, i) => ({
      camera: cameraOf(s),
      startMs: start + (phases[i] ?? 0),
      sent: 1,
    }));
    live.splice(0, live.length, ...everyone);
    const window = async () => {
      await sleep(MEDIA_WARM_UP_MS);
      const before = await handlerHistograms(handlerUrls, FORWARDING);
      await sleep(mediaMs);
      const after = await handlerHistograms(handlerUrls, FORWARDING);
      const utilisation = await handlerValues(handlerUrls, 'mh_utilisation');
      return after.map((a, i) => ({
        buckets: bucketDelta(before[i], a),
        utilisation: utilisation[i] ?? 0,
      }));
    };
    const full = await window();
    // Then every other publisher alone: each handler at about half its load, for the forwarding
    // time's dependence on it (a handler forwarding fewer datagrams a second takes longer on
    // each).
    live.splice(0, live.length, ...everyone.filter((_, i) => i % 2 === 0));
    const half = await window();
    clearInterval(liveTicker);
    const buckets = mergeBuckets(full.map((h) => h.buckets));
    const byLoad = forwardingByLoad([...full, ...half]);
    say(
      `calibration: forwarding by handler load: ${byLoad.map((p) => `${(p.utilisation * 100).toFixed(1)} % ${p.medianMs.toFixed(4)} ms (${p.datagrams})`).join(', ')}`,
    );
    const datagrams = buckets.cumulative[buckets.cumulative.length - 1] ?? 0;
    const forwarding = distributionOf(buckets);
    if (forwarding.length === 0) throw new Error('calibration: no datagram forwarded');
    const forwardingMedianMs = medianMsOf(buckets) ?? 0;
    say(
      `calibration: ${datagrams} datagrams forwarded in ${mediaMs / 1000} s: p50 ${forwardingMedianMs.toFixed(4)} ms, p99 ${((histogramPercentile(buckets, 99) ?? 0) * 1000).toFixed(4)} ms`,
    );
    // A killed handler is heard dead once its host has freed its memory: a throwaway process
    // holding what the handlers hold now, killed a few times.
    const residentBytes = Math.max(
      0,
      ...(await handlerValues(handlerUrls, 'mh_process_resident_memory_bytes')),
    );
    const teardown = await measureTeardown(residentBytes, TEARDOWN_ROUNDS);
    say(
      `calibration: a killed process holding ${(residentBytes / 2 ** 20).toFixed(0)} MiB (the handlers' most) closes its connections ${median(teardown)} ms after the kill`,
    );
    // A failover's moves: one token per member of the busiest handler, signed at once.
    const moved = size * Math.ceil(plan.meetings / Math.max(1, plan.handlers));
    const moveTokens = await measureMoveTokens(moved);
    say(`calibration: ${moved} move tokens signed at once, ${median(moveTokens)} ms per token`);
    return {
      calibration: {
        measuredAt: new Date().toISOString(),
        loadAverage: Math.round(loadAverage * 100) / 100,
        source: `local stack on loopback: ${lookup.length} joins one at a time, one started every ${Math.max(JOIN_GAP_MS, Math.round(joinEveryMs))} ms or later (${meetingCount} meetings of ${size}, each member publishing from its join, after a round to warm up), then ${meetingCount * size} members publishing, each at its own phase, ${plan.datagramsPerSecond}/s of ${plan.datagramBytes} B for ${mediaMs / 1000} s, then every other one as long (each after ${MEDIA_WARM_UP_MS / 1000} s to warm up)`,
        meetingLookupMs: median(lookup),
        signalingOpenMs: median(open),
        joinRoundTripMs: median(roundTrip),
        mediaSessionMs: median(media),
        lossReportMs: median(report),
        moveSessionMs: median(reconnect),
        forwarding,
        forwardingMedianMs,
        ...(byLoad.length === 0 ? {} : { forwardingByLoad: byLoad }),
        ...(Object.keys(spread).length === 0 ? {} : { serviceTimeSpread: spread }),
        ...(joinsLag === null ? {} : { joinsEventLoopLag: joinsLag }),
        processTeardownMs: median(teardown),
        moveTokenMs: median(moveTokens),
        ...(routeCallMs === undefined ? {} : { routeCallMs }),
        ...(controllerJoinMs === undefined ? {} : { controllerJoinMs }),
        ...(controllerLookupMs === undefined ? {} : { controllerLookupMs }),
        ...(routeCommandMs === undefined ? {} : { routeCommandMs }),
      },
      samples: {
        joins: lookup.length,
        meetingLookupMs: lookup,
        signalingOpenMs: open,
        joinRoundTripMs: roundTrip,
        mediaSessionMs: media,
        lossReportMs: report,
        moveSessionMs: reconnect,
        forwardingDatagrams: datagrams,
        forwardingBuckets: buckets,
        handlerResidentBytes: residentBytes,
        processTeardownMs: teardown,
        moveTokenMs: moveTokens,
        routeCallBuckets: routeCalls,
        routeCommandBuckets: routeCommands,
        datagramsDuringJoins,
        joinStartsMs: joinStarts.map((t) => Math.round((t - (joinStarts[0] ?? t)) * 1000) / 1000),
      },
    };
  } finally {
    clearInterval(liveTicker);
    await Promise.all(sessions.flat().map((s) => s.leave().catch(() => undefined)));
    await sleep(SETTLE_MS);
  }
}

/** Reads the calibration of a file `writeCalibration` or `npm run load:compare` wrote. */
export function readCalibration(path: string): LoopbackCalibration {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as {
    readonly calibration?: Partial<CalibrationReport> & Partial<LoopbackCalibration>;
  };
  // A calibration report holds { calibration, samples }; a comparison report holds that whole.
  const inner = parsed.calibration?.calibration ?? parsed.calibration;
  if (
    inner === undefined ||
    !Array.isArray((inner as Partial<LoopbackCalibration>).forwarding) ||
    typeof (inner as Partial<LoopbackCalibration>).joinRoundTripMs !== 'number'
  )
    throw new Error(`${path}: no loopback calibration in it`);
  // A calibration made before the steps had spreads of their own kept one, pooled: every step
  // takes it, as the model did then.
  const pooled: unknown = (inner as { serviceTimeSpread?: unknown }).serviceTimeSpread;
  if (Array.isArray(pooled)) {
    const spread = pooled as { factor: number; fraction: number }[];
    return {
      ...(inner as LoopbackCalibration),
      serviceTimeSpread: {
        meetingLookup: spread,
        signalingConnect: spread,
        joinProcessing: spread,
        mediaConnect: spread,
      },
    };
  }
  return inner as LoopbackCalibration;
}

export function writeCalibration(report: CalibrationReport, path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
}

const sum = (values: readonly number[]) => values.reduce((total, v) => total + v, 0);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const CALIBRATION_PATH = 'reports/loopback-calibration.json';

async function main(): Promise<number> {
  const name = process.argv[2];
  if (name === undefined || name.startsWith('-')) {
    console.error(
      'usage: npm run load:calibrate -- <scenario name in loadtest/quic/scenarios or file>',
    );
    return 2;
  }
  const read = readLoadScenario(name);
  if (!read.ok) {
    console.error(read.message);
    return 2;
  }
  const say = (line: string) => console.log(line);
  let report: CalibrationReport | undefined;
  // The stack is started for the calibration alone: a scenario of no duration after it.
  await runAgainstStack(
    {
      ...read.plan,
      durationSeconds: 0,
      rampSeconds: 0,
      meetings: 0,
      settleSeconds: 0,
      scenario: { ...read.plan.scenario, faults: [] },
    },
    {
      onProgress: say,
      beforeScenario: async (stack) => {
        report = await calibrateOnStack(stack, read.plan, say);
      },
    },
  );
  if (report === undefined) throw new Error('calibration did not run');
  writeCalibration(report, CALIBRATION_PATH);
  console.log(`calibration: ${CALIBRATION_PATH}`);
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error((error as Error).message);
      process.exit(1);
    },
  );
}
