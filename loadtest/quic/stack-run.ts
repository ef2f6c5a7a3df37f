/**
 * A load scenario against the local stack: AC and GC (in this process, on an isolated
 * PostgreSQL database and Redis key prefix), a Meeting Controller and the scenario's Media
 * Handlers (each a process of its own), all on loopback, started here and stopped at the end.
 * Members join through the controller with the Node client library (client/meeting: meeting
 * lookup at GC, join over signaling, media to the handler the controller chose, moves followed)
 * and publish camera frames at the scenario's rate.
 *
 * Measured, for `npm run load:compare`:
 * - each join by stage (client/meeting's `onStage`): meeting info (GC lookup), join at the
 *   controller (JoinRequest to its answer: the signaling round trip, join processing
 *   included), media session (connect and hello accepted), first frame (media up to the first
 *   frame from another member; only for members who join while another member publishes,
 *   as the simulator counts it), and join to first frame (lookup to first frame);
 * - forwarding latency (each handler's `mh_forwarding_latency_seconds` over the run) and
 *   utilisation (`mh_utilisation` once a second, from the first join to the run's end; a
 *   killed handler counts 0 from its kill, as in the simulator);
 * - failover: at a scenario's `handler-crash` fault the handler (by index, or the one with
 *   the most sessions) gets SIGKILL; the time from the kill to the first frame each of its
 *   members receives on its new handler.
 *
 * Members join one at a time, evenly over the ramp (meeting by meeting), so a member's first
 * frame comes from members already publishing. The user tokens are signed with AC's key (as
 * AC issues them; bench:mc does the same), so no password hashing is timed: the join starts
 * at the meeting lookup. Bounded: the scenario's bounds (scenario.ts) and its duration, each
 * join at most 15 s, the whole stack stopped in `finally`.
 */
import { type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join as joinPath } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import { WebSocket } from 'ws';
import { buildTokenClaims } from '../../core/auth/claims.ts';
import { parseScopeList } from '../../core/auth/scopes.ts';
import { unwrap } from '../../core/result.ts';
import { signClaims } from '../../adapters/jwt/tokens.ts';
import { createLogger } from '../../adapters/logging/logger.ts';
import {
  sframePayload,
  type StreamPublisher,
  type WebSocketConstructor,
} from '../../client/media/index.ts';
import { createMeeting, MeetingSession, type JoinStage } from '../../client/meeting/index.ts';
import {
  mcRawEnvironment,
  startControlPlane,
  type ControlPlane,
} from '../../services/mc/control-plane-testing.ts';
import { freePort } from '../../services/mc/failover-testing.ts';
import { mhRawEnvironment } from '../../services/mh/testing.ts';
import type { Fault } from '../../sim/scenario/schema.ts';
import { spawnService, stopChild } from './handlers.ts';
import { watchEventLoopLag, type EventLoopLag } from './lag.ts';
import type { LoadPlan } from './scenario.ts';
import { scrapeMetrics } from './scrape.ts';
import {
  bucketDelta,
  histogramBuckets,
  histogramPercentile,
  mergeBuckets,
  secondsToMs,
  type Buckets,
  type MetricSeries,
} from './stats.ts';

const MC_ID = 'load-mc';
const SCOPES = 'user.read.gc user.write.gc user.write.mc';
const JOIN_TIMEOUT_MS = 15_000;
const TICK_MS = 5;
const SCRAPE_MS = 1_000;
/** A publisher late by more than this skips the frames it missed (counted), as in load.ts. */
const CATCH_UP_MS = 50;

/** Percentiles of one measured latency, in milliseconds. */
export interface MeasuredLatency {
  readonly count: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
}

/**
 * A measured latency with the samples it was taken from (ms, one per join): several runs of a
 * comparison pool their joins' samples (compare-rows.ts `pooledRows`).
 */
export interface SampledLatency extends MeasuredLatency {
  readonly samplesMs: readonly number[];
}

export interface StackFailover {
  readonly killedHandler: string;
  readonly killedAtSeconds: number;
  /** Members on the killed handler at the kill. */
  readonly members: number;
  /** Kill to each member's first frame on its new handler (ms); null: none within the run. */
  readonly killToFirstFrameMs: readonly (number | null)[];
  /** The last member's (the failover is over when every member receives again). */
  readonly maxMs: number | null;
  /** Each member's moves after the kill: ms from the kill and the handler moved to. */
  readonly moves: readonly (readonly { readonly ms: number; readonly handler: string }[])[];
  /** Each member's moves the controller sent after the kill (followed or not). */
  readonly told: readonly (readonly { readonly ms: number; readonly handler: string }[])[];
  /** Kill to each member's media session closing under it (ms; null: not seen). */
  readonly noticedMs: readonly (number | null)[];
  /**
   * The killed handler's resident memory at its last scrape before the kill (bytes; null: not
   * scraped): its host frees that before it closes the connections (teardown.ts).
   */
  readonly residentBytes: number | null;
  /**
   * Kill to the killed process's exit as the load process (its parent) heard it (ms; null: not
   * heard within the run): the kernel has freed its memory and closed its sockets by then.
   */
  readonly exitedMs: number | null;
}

export interface StackHandlerResult {
  readonly id: string;
  readonly forwardingBuckets: Buckets;
  readonly forwardingP50Ms: number | null;
  readonly forwardingP99Ms: number | null;
  readonly utilisationMeanPercent: number;
  readonly utilisationMaxPercent: number;
  readonly killed: boolean;
  /**
   * The forwarding histogram between successive scrapes (about one a second): seconds from the
   * first join at the scrape, datagrams forwarded since the one before and their median (ms).
   */
  readonly forwardingByScrape: readonly {
    readonly atSeconds: number;
    readonly datagrams: number;
    readonly p50Ms: number | null;
  }[];
}

export interface StackResult {
  readonly scenario: string;
  readonly startedAt: string;
  readonly wallSeconds: number;
  /** The machine's 1-minute load average at the first join and at the end (2 cores here). */
  readonly loadAverage: { readonly atStart: number; readonly atEnd: number };
  /** This process's own event-loop delay while the joins went on (it times them). */
  readonly joinsEventLoopLag: EventLoopLag | null;
  /** The controller's own time on the joins (`mc_join_seconds`): median, ms; null: not read. */
  readonly controllerJoinMs: number | null;
  /**
   * The controller's meeting lookups at GC in those joins (`mc_meeting_lookup_seconds`): median,
   * ms; null: not read.
   */
  readonly controllerLookupMs: number | null;
  readonly joins: {
    readonly attempted: number;
    readonly joined: number;
    /** Joins that failed, by the client library's error kind. */
    readonly failed: Record<string, number>;
  };
  /** Each stage as the simulator names them (`JOIN_STAGES` less `token`). */
  readonly stages: {
    readonly meetingInfo: SampledLatency;
    readonly joinAtController: SampledLatency;
    readonly mediaSession: SampledLatency;
    readonly firstFrame: SampledLatency;
  };
  /** JoinRequest sent to its answer. */
  readonly signalingRoundTrip: SampledLatency;
  /** Meeting lookup to the first frame from another member. */
  readonly joinToFirstFrame: SampledLatency;
  readonly forwarding: { readonly p50Ms: number | null; readonly p99Ms: number | null };
  readonly utilisation: { readonly meanPercent: number; readonly maxPercent: number };
  readonly handlers: readonly StackHandlerResult[];
  readonly frames: { readonly sent: number; readonly received: number; readonly skipped: number };
  readonly failover: StackFailover | null;
}

interface Member {
  readonly meeting: number;
  readonly index: number;
  readonly publishes: boolean;
  session?: MeetingSession;
  camera?: StreamPublisher;
  startedMs: number;
  sent: number;
  /** When the join began (the meeting lookup sent). */
  joinStartedAt?: number;
  readonly stages: Partial<Record<JoinStage, number>>;
  /** Whether another member of its meeting was publishing when its media came up. */
  othersPublishing: boolean;
  firstFrameAt?: number;
  /** Frames received, with the handler the session was on. */
  readonly frames: { at: number; handler: string }[];
  /** Moves it followed, with when the new media session was up. */
  readonly moves: { at: number; handler: string }[];
  /** Moves the controller told it of (followed or not), with when they came. */
  readonly told: { at: number; handler: string }[];
  /** When its media session closed under it (the client library then tells the controller). */
  readonly lost: number[];
}

interface RunningHandler {
  readonly id: string;
  readonly child: ChildProcess;
  readonly metricsUrl: string;
  first?: MetricSeries;
  last?: MetricSeries;
  readonly utilisation: number[];
  readonly forwardingByScrape: { atSeconds: number; datagrams: number; p50Ms: number | null }[];
  killedAt?: number;
}

const histogram = () =>
  hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });

/** Percentiles of `values` (ms), recorded in microseconds. */
export function measuredLatency(values: readonly number[]): MeasuredLatency {
  if (values.length === 0) return { count: 0, p50Ms: null, p99Ms: null, maxMs: null };
  const h = histogram();
  for (const v of values) h.recordValue(Math.max(1, Math.round(v * 1000)));
  const at = (p: number) => round(Math.min(h.getValueAtPercentile(p), h.maxValue) / 1000);
  return { count: values.length, p50Ms: at(50), p99Ms: at(99), maxMs: round(h.maxValue / 1000) };
}

/** `measuredLatency` with the samples kept (ms, to the microsecond). */
export function sampledLatency(values: readonly number[]): SampledLatency {
  return { ...measuredLatency(values), samplesMs: values.map((v) => round(v)) };
}

/**
 * A controller's join-time histogram now (`mc_join_seconds`), and its meeting lookups' at GC in
 * those joins (`mc_meeting_lookup_seconds`), from its metrics URL.
 */
export async function scrapeControllerJoins(
  metricsUrl: string,
): Promise<{ readonly joins: Buckets; readonly lookups: Buckets }> {
  const series = await scrapeMetrics(metricsUrl);
  return {
    joins: histogramBuckets(series, 'mc_join_seconds'),
    lookups: histogramBuckets(series, 'mc_meeting_lookup_seconds'),
  };
}

/** The handler-crash fault of the scenario, if it has one (the first). */
export function handlerCrashOf(
  plan: LoadPlan,
): Extract<Fault, { kind: 'handler-crash' }> | undefined {
  return plan.scenario.faults.find(
    (f): f is Extract<Fault, { kind: 'handler-crash' }> => f.kind === 'handler-crash',
  );
}

/** What a step before the scenario (the calibration) gets of the running stack. */
export interface StackHandle {
  readonly gcUrl: string;
  /** A user token signed with AC's key, for a new user. */
  readonly tokenFor: (user: string) => Promise<string>;
  /** A token to create meetings with. */
  readonly organiser: string;
  /** Each handler's metrics endpoint (http://host:port). */
  readonly handlerMetricsUrls: readonly string[];
  /** The controller's metrics endpoint (http://host:port). */
  readonly controllerMetricsUrl: string;
  /** The scenario's meetings' ids, in the order their members join, and the handlers' ids. */
  readonly names: StackNames;
}

/** The ids the stack gave the scenario's meetings and its handlers, in order. */
export interface StackNames {
  readonly meetings: readonly string[];
  readonly handlers: readonly string[];
}

/**
 * Runs `plan` against a local stack it starts and stops. `beforeScenario` runs once the stack is
 * up and before the scenario's clock starts (its work is over before the first join).
 */
export async function runAgainstStack(
  plan: LoadPlan,
  options: {
    readonly onProgress?: (line: string) => void;
    readonly beforeScenario?: (stack: StackHandle) => Promise<void>;
  } = {},
): Promise<StackResult> {
  const say = options.onProgress ?? (() => undefined);
  const logger = createLogger('load-compare', 'silent');
  const cleanups: (() => Promise<unknown>)[] = [];
  const wallStart = performance.now();
  const startedAt = new Date().toISOString();
  try {
    const plane: ControlPlane = await startControlPlane(logger);
    cleanups.push(() => plane.close());
    const prefix = plane.backends.redisPrefix;

    // Ports chosen first: the handlers trust the controller's JWKS (fetched at the first
    // hello) and the controller reaches each handler's route API at the address it is given.
    const mcPort = await freePort();
    const mcUrl = `http://127.0.0.1:${mcPort}`;
    const ids = Array.from({ length: plan.handlers }, (_, i) => `load-mh-${i + 1}`);
    const grpcPorts: number[] = [];
    for (const _ of ids) grpcPorts.push(await freePort());
    const mcStart = spawnService(MC_ID, 'services/mc/main.ts', 'mc-service listening', {
      ...mcRawEnvironment(plane, MC_ID, {
        BIND_ADDRESS: `127.0.0.1:${mcPort}`,
        // The planner's rate per stream: the scenario's (media.streamKbps), as the simulator's
        // controller plans with it; the service's default is 1.5 Mbit/s.
        MC_STREAM_BITRATE_BPS: String(plan.scenario.media.streamKbps * 1000),
        MC_MH_ROUTE_ADDRESSES: ids.map((id, i) => `${id}=127.0.0.1:${grpcPorts[i]}`).join(','),
        LOG_LEVEL: 'info',
      }),
    });
    mcStart.catch(() => undefined); // awaited below, once the handlers are up

    const handlers: RunningHandler[] = [];
    const started = await Promise.allSettled(
      ids.map((id, i) => {
        return spawnService(id, 'services/mh/main.ts', 'mh-service listening', {
          ...mhRawEnvironment({
            id,
            acUrl: plane.ac.url,
            controllers: [{ issuer: MC_ID, jwksUrl: `${mcUrl}/.well-known/jwks.json` }],
            redisPrefix: `${prefix}mh:`,
            extra: {
              MH_CAPACITY_BPS: String(plan.capacityBps),
              MH_GRPC_BIND_ADDRESS: `127.0.0.1:${grpcPorts[i]}`,
              MH_DRAIN_GRACE_MS: '0',
              LOG_LEVEL: 'info',
            },
          }),
        });
      }),
    );
    for (const s of started) {
      if (s.status === 'fulfilled') {
        cleanups.push(() => stopChild(s.value.child));
        handlers.push({
          id: s.value.id,
          child: s.value.child,
          metricsUrl: String(s.value.listening.metrics_url),
          utilisation: [],
          forwardingByScrape: [],
        });
      }
    }
    const mc = await mcStart;
    cleanups.push(() => stopChild(mc.child));
    // LOAD_COMPARE_LOGS=<dir>: each service's log lines kept there (for a failover that goes wrong).
    const logs = process.env.LOAD_COMPARE_LOGS;
    if (logs !== undefined && logs !== '') {
      mkdirSync(logs, { recursive: true });
      for (const [id, child] of [
        [MC_ID, mc.child] as const,
        ...started.flatMap((s) =>
          s.status === 'fulfilled' ? [[s.value.id, s.value.child] as const] : [],
        ),
      ]) {
        const out = createWriteStream(joinPath(logs, `${id}.log`));
        child.stdout?.pipe(out);
        child.stderr?.pipe(out);
      }
    }
    const failedStart = started.find((s) => s.status === 'rejected');
    if (failedStart !== undefined) throw (failedStart as PromiseRejectedResult).reason;
    await until(
      async () => (await readyHandlers(mcUrl)) === plan.handlers,
      30_000,
      'the controller to know every handler',
    );
    say(`stack up: AC, GC, ${MC_ID}, ${handlers.map((h) => h.id).join(', ')}`);

    // Users and meetings, before the clock starts.
    const key = plane.ac.keys.signingKey();
    if (key === undefined || key === null) throw new Error('AC has no signing key');
    const tokenFor = async (user: string) =>
      signClaims(
        unwrap(
          buildTokenClaims({
            subject: user,
            kind: 'user',
            scopes: unwrap(parseScopeList(SCOPES)),
            org: 'default',
            issuer: 'dark-tower-ac',
            audience: 'dark-tower',
            now: Date.now(),
            jti: randomUUID(),
          }),
        ),
        key,
      );
    const organiser = await tokenFor(`organiser-${randomUUID()}`);
    const meetings = await Promise.all(
      Array.from({ length: plan.meetings }, (_, m) =>
        createMeeting(plane.gc.url, organiser, `load ${plan.name} ${m + 1}`),
      ),
    );
    const members: Member[] = [];
    const tokens: string[] = [];
    for (let m = 0; m < plan.meetings; m++) {
      for (let k = 0; k < plan.participantsPerMeeting; k++) {
        members.push({
          meeting: m,
          index: k,
          publishes: k < plan.publishersPerMeeting,
          startedMs: 0,
          sent: 0,
          stages: {},
          othersPublishing: false,
          frames: [],
          moves: [],
          told: [],
          lost: [],
        });
        tokens.push(await tokenFor(`load-${randomUUID()}`));
      }
    }

    await options.beforeScenario?.({
      gcUrl: plane.gc.url,
      tokenFor,
      organiser,
      handlerMetricsUrls: handlers.map((h) => h.metricsUrl),
      controllerMetricsUrl: String(mc.listening.metrics_url),
      names: { meetings: meetings.map((m) => m.meetingId), handlers: ids },
    });

    const frame = new Uint8Array(Math.max(1, plan.datagramBytes - 42 - 4)).fill(7);
    let skipped = 0;
    let received = 0;
    const failed: Record<string, number> = {};
    const t0 = performance.now();
    const loadAtStart = loadavg()[0] ?? 0;
    const elapsed = () => (performance.now() - t0) / 1000;
    const publishingIn = (meeting: number, except: Member) =>
      members.some(
        (o) => o !== except && o.meeting === meeting && o.camera !== undefined && o.sent > 0,
      );

    const join = async (member: Member, token: string) => {
      const meeting = meetings[member.meeting];
      if (meeting === undefined) return;
      member.joinStartedAt = performance.now();
      try {
        const session = await MeetingSession.join({
          gcUrl: plane.gc.url,
          token,
          meetingId: meeting.meetingId,
          WebSocket: WebSocket as unknown as WebSocketConstructor,
          timeoutMs: JOIN_TIMEOUT_MS,
          onStage: (stage, at) => {
            member.stages[stage] = at;
            if (stage === 'media-connected')
              member.othersPublishing = publishingIn(member.meeting, member);
          },
        });
        member.session = session;
        session.onFrame = () => {
          const now = performance.now();
          received++;
          member.firstFrameAt ??= now;
          member.frames.push({ at: now, handler: session.handler.id });
        };
        const onMessage = session.signaling.onMessage;
        session.signaling.onMessage = (message) => {
          const target = message.move?.mediaHandler?.id;
          if (target !== undefined) member.told.push({ at: performance.now(), handler: target });
          onMessage?.(message);
        };
        session.onMove = (handler) =>
          member.moves.push({ at: performance.now(), handler: handler.id });
        session.onMediaLost = () => member.lost.push(performance.now());
        if (member.publishes) {
          member.camera = session.publisher('camera');
          // Its camera's clock at a phase of its own within one frame time, as independent
          // cameras are: the members join on an even schedule (a whole number of half frame
          // times apart), which would otherwise line their frames up.
          member.startedMs = performance.now() + Math.random() * (1000 / plan.datagramsPerSecond);
        }
      } catch (error) {
        const kind = (error as { kind?: string }).kind ?? (error as Error).name;
        failed[kind] = (failed[kind] ?? 0) + 1;
      }
    };

    // Publishing: each publisher's frames due by now, at most CATCH_UP_MS behind.
    const publish = setInterval(() => {
      const now = performance.now();
      for (const member of members) {
        if (member.camera === undefined) continue;
        const due = Math.floor(((now - member.startedMs) * plan.datagramsPerSecond) / 1000) + 1;
        const floor = due - Math.ceil((CATCH_UP_MS * plan.datagramsPerSecond) / 1000);
        if (member.sent < floor) {
          skipped += floor - member.sent;
          member.sent = floor;
        }
        for (; member.sent < due; member.sent++) {
          member.camera.publish(sframePayload(1n, BigInt(member.sent), frame), {
            keyframe: member.sent === 0,
          });
        }
      }
    }, TICK_MS);
    cleanups.push(async () => clearInterval(publish));

    // Scraping: each handler's metrics once a second.
    const scrape = async (handler: RunningHandler, sample: boolean) => {
      if (handler.killedAt !== undefined) {
        if (sample) handler.utilisation.push(0);
        return;
      }
      try {
        const series = await scrapeMetrics(handler.metricsUrl, 900);
        if (handler.last !== undefined) {
          const since = bucketDelta(
            histogramBuckets(handler.last, FORWARDING),
            histogramBuckets(series, FORWARDING),
          );
          handler.forwardingByScrape.push({
            atSeconds: round(elapsed()),
            datagrams: since.cumulative[since.cumulative.length - 1] ?? 0,
            p50Ms: secondsToMs(histogramPercentile(since, 50)),
          });
        }
        handler.first ??= series;
        handler.last = series;
        if (sample) handler.utilisation.push(series.get('mh_utilisation') ?? 0);
      } catch {
        if (sample) handler.utilisation.push(0);
      }
    };
    await Promise.all(handlers.map((h) => scrape(h, false)));
    const scraper = setInterval(
      () => void Promise.all(handlers.map((h) => scrape(h, true))),
      SCRAPE_MS,
    );
    cleanups.push(async () => clearInterval(scraper));

    // Joins, one at a time, evenly over the ramp; this process's own event-loop delay while
    // they go on (it times them).
    const stopLag = watchEventLoopLag();
    let joinsLag: EventLoopLag | undefined;
    // The controller's own time on them (`mc_join_seconds`) and its lookups at GC in them
    // (`mc_meeting_lookup_seconds`), before and after.
    const controllerMetrics = String(mc.listening.metrics_url);
    const controllerJoins = () => scrapeControllerJoins(controllerMetrics).catch(() => undefined);
    const joinsBefore = await controllerJoins();
    let joinsInController: Buckets | undefined;
    let lookupsInController: Buckets | undefined;
    const joins: Promise<void>[] = [];
    const spacingMs = members.length <= 1 ? 0 : (plan.rampSeconds * 1000) / members.length;
    const joiner = (async () => {
      for (let i = 0; i < members.length; i++) {
        const wait = t0 + i * spacingMs - performance.now();
        if (wait > 0) await sleep(wait);
        joins.push(join(members[i] as Member, tokens[i] as string));
      }
      await Promise.all(joins);
      joinsLag = stopLag();
      const after = await controllerJoins();
      if (after !== undefined) {
        joinsInController = bucketDelta(joinsBefore?.joins, after.joins);
        lookupsInController = bucketDelta(joinsBefore?.lookups, after.lookups);
      }
    })();

    // The handler kill, if the scenario has one.
    const crash = handlerCrashOf(plan);
    let failover: StackFailover | null = null;
    let killedAt: number | undefined;
    let victim: RunningHandler | undefined;
    let onVictim: Member[] = [];
    let victimResident: number | undefined;
    let victimExitedAt: number | undefined;
    if (crash !== undefined) {
      const wait = t0 + crash.atSeconds * 1000 - performance.now();
      if (wait > 0) await sleep(wait);
      victim =
        crash.index === 'busiest'
          ? busiest(handlers, members)
          : handlers[Math.min(crash.index, handlers.length - 1)];
      if (victim !== undefined) {
        onVictim = members.filter((m) => m.session?.handler.id === victim?.id);
        victimResident = victim.last?.get('mh_process_resident_memory_bytes');
        killedAt = performance.now();
        victim.killedAt = killedAt;
        victim.child.once('exit', () => (victimExitedAt = performance.now()));
        victim.child.kill('SIGKILL');
        say(`killed ${victim.id} at ${elapsed().toFixed(1)} s (${onVictim.length} members on it)`);
      }
    }

    const end = t0 + plan.durationSeconds * 1000;
    if (end > performance.now()) await sleep(end - performance.now());
    clearInterval(scraper);
    clearInterval(publish);
    await joiner;
    await Promise.all(joins);
    await sleep(plan.settleSeconds * 1000);
    await Promise.all(handlers.map((h) => scrape(h, false)));

    if (victim !== undefined && killedAt !== undefined) {
      const at = killedAt;
      const id = victim.id;
      const times = onVictim.map((m) => {
        const first = m.frames.find((f) => f.at > at && f.handler !== id);
        return first === undefined ? null : round(first.at - at);
      });
      const all = times.every((t) => t !== null);
      failover = {
        killedHandler: id,
        killedAtSeconds: round((at - t0) / 1000),
        members: onVictim.length,
        killToFirstFrameMs: times,
        residentBytes: victimResident ?? null,
        exitedMs: victimExitedAt === undefined ? null : round(victimExitedAt - at),
        maxMs: all && times.length > 0 ? Math.max(...(times as number[])) : null,
        moves: onVictim.map((m) =>
          m.moves
            .filter((move) => move.at > at)
            .map((move) => ({ ms: round(move.at - at), handler: move.handler })),
        ),
        noticedMs: onVictim.map((m) => {
          const lost = m.lost.find((t) => t > at);
          return lost === undefined ? null : round(lost - at);
        }),
        told: onVictim.map((m) =>
          m.told
            .filter((move) => move.at > at)
            .map((move) => ({ ms: round(move.at - at), handler: move.handler })),
        ),
      };
    }

    const stagesOf = (from: JoinStage, to: JoinStage, filter = (_m: Member) => true) =>
      members
        .filter((m) => m.session !== undefined && filter(m))
        .map((m) => (m.stages[to] ?? NaN) - (m.stages[from] ?? NaN))
        .filter((v) => Number.isFinite(v));
    const firstFrameMembers = (m: Member) =>
      m.othersPublishing &&
      m.firstFrameAt !== undefined &&
      m.stages['media-connected'] !== undefined;
    const handlerResults = handlers.map((h) => handlerResult(h));
    const allBuckets = handlerResults.map((h) => h.forwardingBuckets);
    const merged = mergeBuckets(allBuckets);
    const means = handlerResults.map((h) => h.utilisationMeanPercent);
    return {
      scenario: plan.name,
      startedAt,
      wallSeconds: round((performance.now() - wallStart) / 1000),
      loadAverage: { atStart: round(loadAtStart, 2), atEnd: round(loadavg()[0] ?? 0, 2) },
      joinsEventLoopLag: joinsLag ?? null,
      controllerJoinMs:
        joinsInController === undefined
          ? null
          : secondsToMs(histogramPercentile(joinsInController, 50)),
      controllerLookupMs:
        lookupsInController === undefined
          ? null
          : secondsToMs(histogramPercentile(lookupsInController, 50)),
      joins: {
        attempted: members.length,
        joined: members.filter((m) => m.session !== undefined).length,
        failed,
      },
      stages: {
        meetingInfo: sampledLatency(
          members
            .filter((m) => m.session !== undefined)
            .map((m) => (m.stages['meeting-info'] ?? NaN) - (m.joinStartedAt ?? NaN))
            .filter((v) => Number.isFinite(v)),
        ),
        joinAtController: sampledLatency(stagesOf('meeting-info', 'join-answered')),
        mediaSession: sampledLatency(stagesOf('join-answered', 'media-connected')),
        firstFrame: sampledLatency(
          members
            .filter(firstFrameMembers)
            .map((m) => (m.firstFrameAt as number) - (m.stages['media-connected'] as number)),
        ),
      },
      signalingRoundTrip: sampledLatency(stagesOf('join-sent', 'join-answered')),
      joinToFirstFrame: sampledLatency(
        members
          .filter(firstFrameMembers)
          .map((m) => (m.firstFrameAt as number) - (m.joinStartedAt ?? NaN))
          .filter((v) => Number.isFinite(v)),
      ),
      forwarding: {
        p50Ms: secondsToMs(histogramPercentile(merged, 50)),
        p99Ms: secondsToMs(histogramPercentile(merged, 99)),
      },
      utilisation: {
        meanPercent: round(means.reduce((a, b) => a + b, 0) / Math.max(1, means.length)),
        maxPercent: Math.max(0, ...handlerResults.map((h) => h.utilisationMaxPercent)),
      },
      handlers: handlerResults,
      frames: {
        sent: members.reduce((sum, m) => sum + m.sent, 0),
        received,
        skipped,
      },
      failover,
    };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}

const FORWARDING = 'mh_forwarding_latency_seconds';

function handlerResult(h: RunningHandler): StackHandlerResult {
  const name = FORWARDING;
  const buckets =
    h.last === undefined
      ? { bounds: [], cumulative: [] }
      : bucketDelta(
          h.first === undefined ? undefined : histogramBuckets(h.first, name),
          histogramBuckets(h.last, name),
        );
  const u = h.utilisation;
  return {
    id: h.id,
    forwardingBuckets: buckets,
    forwardingP50Ms: secondsToMs(histogramPercentile(buckets, 50)),
    forwardingP99Ms: secondsToMs(histogramPercentile(buckets, 99)),
    utilisationMeanPercent: round((100 * u.reduce((a, b) => a + b, 0)) / Math.max(1, u.length)),
    utilisationMaxPercent: round(100 * Math.max(0, ...u)),
    killed: h.killedAt !== undefined,
    forwardingByScrape: h.forwardingByScrape,
  };
}

/** The handler most members are on now (the first such). */
function busiest(handlers: readonly RunningHandler[], members: readonly Member[]) {
  let best: RunningHandler | undefined;
  let most = -1;
  for (const h of handlers) {
    const count = members.filter((m) => m.session?.handler.id === h.id).length;
    if (count > most) {
      best = h;
      most = count;
    }
  }
  return best;
}

async function readyHandlers(mcUrl: string): Promise<number> {
  try {
    const response = await fetch(`${mcUrl}/ready`, { signal: AbortSignal.timeout(2_000) });
    const body = (await response.json()) as { media_handlers?: string };
    return Number(body.media_handlers ?? 0);
  } catch {
    return 0;
  }
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
