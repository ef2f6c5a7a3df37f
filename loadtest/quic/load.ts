/**
 * The QUIC load run: meetings of media clients (client/media over adapters/quic's Node
 * connection) joining Media Handlers over a ramp, publishing SFrame-shaped camera datagrams at
 * a fixed rate with their capture time in the header, and receiving every other member's.
 *
 * The run stands in for the Meeting Controller only as far as a load needs: it mints each
 * member's connection token (development controller key) for the handler its meeting asks,
 * follows a redirect of a meeting's first member (the whole meeting then goes where the handler
 * sent it), and installs the meeting's legs on the handler that admitted it. A later member
 * redirected or refused is counted and stays out (no cascade is set up for it). Which handler
 * admits, redirects or refuses is the handler's decision (core's admission), never the run's.
 *
 * Measured: datagrams sent, received and expected (each datagram of an admitted publisher
 * once per other admitted member), sequence gaps per received stream, end-to-end latency from
 * the header's capture time (hdr histogram, microseconds), and each handler's /metrics once a
 * second (utilisation, band, quality stage, drops by reason, hellos, forwarding-latency
 * histogram), with CPU time of the handlers' processes and of this one.
 */
import * as hdr from 'hdr-histogram-js';
import { connectQuic, type QuicClientConnection } from '../../adapters/quic/client.ts';
import { MediaClient, sframePayload, type StreamPublisher } from '../../client/media/index.ts';
import { DATAGRAM_HEADER_LENGTH } from '../../core/protocol/datagram.ts';
import { MediaKind, type Leg } from '../../services/generated/darktower/mh/v1/route.ts';
import { DEV_CONTROLLER_ISSUER } from '../../services/mh/dev-controller.ts';
import { processCpuSeconds, type HandlerSet, type LoadHandler } from './handlers.ts';
import { firstHandlerOf, meetingStartSeconds, type LoadPlan } from './scenario.ts';
import { scrapeMetrics } from './scrape.ts';
import {
  bandCrossings,
  bucketDelta,
  byLabel,
  histogramBuckets,
  histogramPercentile,
  StreamReceiver,
  type BandCrossing,
  type Buckets,
  type MetricSeries,
  type UtilisationSample,
} from './stats.ts';

const TICK_MS = 10;
const SCRAPE_MS = 1_000;
/**
 * A publisher whose loop fell behind catches up at most 50 ms of its rate in one tick; what is
 * older is skipped (counted), so that a stalled load client does not offer bursts the scenario
 * does not have.
 */
const CATCH_UP_MS = 50;
const SFRAME_KID = 1n;
const QUALITY = ['optimal', 'warning', 'degraded', 'critical'] as const;

export interface Progress {
  readonly elapsedSeconds: number;
  readonly durationSeconds: number;
  readonly sessions: number;
  readonly sent: number;
  readonly received: number;
  readonly maxUtilisation: number;
}

export interface LoadRunOptions {
  readonly plan: LoadPlan;
  readonly handlers: HandlerSet;
  readonly onProgress?: (progress: Progress) => void;
  /** Kill this handler (index) at this second: failover runs. */
  readonly kill?: { readonly handler: number; readonly atSeconds: number };
}

interface Hello {
  readonly atMs: number;
  readonly handler: string;
  readonly outcome: string;
}

interface Member {
  readonly name: string;
  readonly publishes: boolean;
  client?: MediaClient;
  connection?: QuicClientConnection;
  publisher?: StreamPublisher;
  /** Datagrams due so far (sequence numbers used), and those skipped because the loop was late. */
  sent: number;
  skipped: number;
  startedMs: number;
  readonly receivers: Map<bigint, StreamReceiver>;
}

interface Meeting {
  readonly name: string;
  readonly members: Member[];
  handler?: LoadHandler;
  accepted: number;
  active: boolean;
}

interface HandlerSamples {
  readonly handler: LoadHandler;
  readonly samples: (UtilisationSample & { quality: number; sessions: number })[];
  first?: MetricSeries;
  last?: MetricSeries;
  cpuStart: number | null;
  cpuEnd: number | null;
  scrapeFailures: number;
}

export interface HandlerResult {
  readonly id: string;
  readonly meetings: number;
  readonly datagramsIn: number;
  readonly datagramsOut: number;
  readonly forwardingLatencyUs: { readonly p50: number | null; readonly p99: number | null };
  readonly forwardingBuckets: Buckets;
  readonly utilisation: {
    readonly meanPercent: number;
    readonly maxPercent: number;
    readonly series: readonly { atSeconds: number; percent: number; band: number }[];
  };
  readonly bandCrossings: readonly BandCrossing[];
  /** Where the crossings came from: the handler's own log, or the once-a-second samples. */
  readonly crossingsFrom: 'log' | 'samples';
  readonly qualityChanges: readonly { atSeconds: number; from: string; to: string }[];
  readonly finalQuality: string;
  readonly drops: Record<string, number>;
  readonly hellos: Record<string, number>;
  readonly cpuSeconds: number | null;
  /** CPU time per datagram in or out of the handler's process. */
  readonly cpuMicrosPerDatagram: number | null;
  readonly scrapeFailures: number;
  readonly killedAtSeconds: number | null;
}

export interface LoadResult {
  readonly scenario: string;
  readonly startedAt: string;
  readonly wallSeconds: number;
  readonly plan: Omit<LoadPlan, 'scenario'>;
  readonly sessions: {
    readonly attempted: number;
    readonly accepted: number;
    readonly redirectsFollowed: number;
    /** Later members of a meeting that a handler redirected: not followed (no cascade). */
    readonly redirectedMidMeeting: number;
    readonly refused: Record<string, number>;
    readonly closedByHandler: Record<string, number>;
  };
  readonly meetings: { readonly started: number; readonly refused: number };
  /** Hellos answered while the asked handler was at its hard limit (from its band timeline). */
  readonly atHardLimit: {
    readonly accepted: number;
    readonly redirected: number;
    readonly refused: number;
  };
  readonly datagrams: {
    readonly sent: number;
    /** Due but not sent: the load client's loop fell behind by more than a burst. */
    readonly skippedByClient: number;
    readonly clientSendRefused: number;
    readonly expected: number;
    readonly received: number;
    readonly lossRatio: number | null;
    readonly sequenceGaps: number;
    readonly late: number;
    /** Handler-side drops of every reason on the forwarding path (send-* and transport-*). */
    readonly handlerDrops: number;
    /** expected - received - handler drops: what no counter explains (should be 0). */
    readonly unaccounted: number;
  };
  readonly endToEndLatencyUs: {
    readonly count: number;
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly p999: number;
    readonly max: number;
  };
  readonly handlers: readonly HandlerResult[];
  readonly client: { readonly cpuSeconds: number; readonly cpuMicrosPerDatagram: number | null };
  /** Seconds from the kill to the first datagram received again by every member (failover). */
  readonly failover: {
    readonly killedHandler: string;
    readonly atSeconds: number;
    readonly meetingsAffected: number;
  } | null;
}

const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

/** Runs the plan against the handlers to its end; closes every client it opened. */
export async function runLoad(options: LoadRunOptions): Promise<LoadResult> {
  const { plan, handlers } = options;
  const runId = Math.random().toString(36).slice(2, 8);
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const clientCpuStart = process.cpuUsage();
  const latency = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const hellos: Hello[] = [];
  const refused: Record<string, number> = {};
  const closedByHandler: Record<string, number> = {};
  let redirectsFollowed = 0;
  let redirectedMidMeeting = 0;
  let received = 0;
  let clientSendRefused = 0;
  let expected = 0;
  let killedAt: number | null = null;

  const meetings: Meeting[] = Array.from({ length: plan.meetings }, (_, m) => ({
    name: `load-${runId}-m${m + 1}`,
    members: Array.from({ length: plan.participantsPerMeeting }, (_, k) => ({
      name: `p${k + 1}`,
      publishes: k < plan.publishersPerMeeting,
      sent: 0,
      skipped: 0,
      startedMs: 0,
      receivers: new Map(),
    })),
    accepted: 0,
    active: false,
  }));
  const samples: HandlerSamples[] = handlers.handlers.map((handler) => ({
    handler,
    samples: [],
    cpuStart: null,
    cpuEnd: null,
    scrapeFailures: 0,
  }));

  const scrape = async (entry: HandlerSamples, final = false) => {
    try {
      const series = await scrapeMetrics(entry.handler.metricsUrl);
      entry.first ??= series;
      entry.last = series;
      if (!final) {
        entry.samples.push({
          atSeconds: (performance.now() - started) / 1000,
          utilisation: series.get('mh_utilisation') ?? 0,
          band: series.get('mh_bandwidth_band') ?? 0,
          quality: series.get('mh_quality_stage') ?? 0,
          sessions: series.get('mh_sessions') ?? 0,
        });
      }
    } catch {
      entry.scrapeFailures++;
    }
  };
  await Promise.all(samples.map((entry) => scrape(entry, true)));
  for (const entry of samples) entry.cpuStart = await processCpuSeconds(entry.handler.pid);

  const connect = async (
    meeting: Meeting,
    member: Member,
    handler: LoadHandler,
  ): Promise<
    | { kind: 'accepted'; client: MediaClient; connection: QuicClientConnection }
    | { kind: 'redirected'; to: string }
    | { kind: 'refused'; reason: string }
  > => {
    const token = await handlers.token(meeting.name, member.name, handler.id);
    let connection: QuicClientConnection;
    try {
      connection = await connectQuic(handler.quicHost, handler.quicPort, {
        serverCertificateHash: handler.certificateSha256,
        handshakeTimeoutMs: 5_000,
      });
    } catch (error) {
      const reason = `connect-${(error as { kind?: string }).kind ?? 'failed'}`;
      hellos.push({ atMs: Date.now(), handler: handler.id, outcome: reason });
      return { kind: 'refused', reason };
    }
    const { client, outcome } = await MediaClient.connectLink({
      link: connection,
      token,
      timeoutMs: 5_000,
    });
    const label =
      outcome.kind === 'rejected'
        ? `rejected-${outcome.reason}`
        : outcome.kind === 'closed'
          ? `closed-${outcome.reason || outcome.code}`
          : outcome.kind;
    hellos.push({ atMs: Date.now(), handler: handler.id, outcome: label });
    if (outcome.kind === 'accepted' && client !== undefined) {
      return { kind: 'accepted', client, connection };
    }
    if (outcome.kind === 'redirected') return { kind: 'redirected', to: outcome.handler };
    return { kind: 'refused', reason: label };
  };

  const attach = (
    meeting: Meeting,
    member: Member,
    client: MediaClient,
    connection: QuicClientConnection,
  ) => {
    member.client = client;
    member.connection = connection;
    meeting.accepted++;
    client.onSessionClosed = (reason) => {
      closedByHandler[reason] = (closedByHandler[reason] ?? 0) + 1;
    };
    client.onDatagram = (header) => {
      received++;
      let receiver = member.receivers.get(header.streamId);
      if (receiver === undefined) {
        receiver = new StreamReceiver();
        member.receivers.set(header.streamId, receiver);
      }
      receiver.receive(header.sequence);
      const took = nowUs() - header.captureTimeUs;
      latency.recordValue(Math.max(1, Math.min(took, 60_000_000)));
    };
  };

  const installRoutes = async (meeting: Meeting, handler: LoadHandler) => {
    const kind = MediaKind.MEDIA_KIND_CAMERA;
    const names = meeting.members.map((m) => m.name);
    const legs: Leg[] = meeting.members
      .filter((m) => m.publishes)
      .flatMap((publisher) => [
        { publish: { publisher: publisher.name, kind, handler: handler.id } },
        ...names
          .filter((n) => n !== publisher.name)
          .map((subscriber) => ({
            deliver: { publisher: publisher.name, kind, handler: handler.id, subscriber },
          })),
      ]);
    await handler.route.applyRouteCommand({
      id: `${meeting.name}-routes`,
      meeting: meeting.name,
      controller: DEV_CONTROLLER_ISSUER,
      add: legs,
      remove: [],
    });
  };

  const joinMeeting = async (index: number) => {
    const meeting = meetings[index] as Meeting;
    const [first, ...rest] = meeting.members as [Member, ...Member[]];
    let handler = handlers.handlers[firstHandlerOf(plan, index)] as LoadHandler;
    let answer = await connect(meeting, first, handler);
    if (answer.kind === 'redirected') {
      const target = answer.to;
      const to = handlers.handlers.find((h) => h.id === target);
      if (to === undefined) {
        refused[`redirected-to-unknown`] = (refused['redirected-to-unknown'] ?? 0) + 1;
        return;
      }
      redirectsFollowed++;
      handler = to;
      answer = await connect(meeting, first, handler);
    }
    if (answer.kind !== 'accepted') {
      const reason = answer.kind === 'refused' ? answer.reason : 'redirected-twice';
      refused[reason] = (refused[reason] ?? 0) + 1;
      return;
    }
    meeting.handler = handler;
    attach(meeting, first, answer.client, answer.connection);
    await installRoutes(meeting, handler);
    for (const member of rest) {
      const next = await connect(meeting, member, handler);
      if (next.kind === 'accepted') attach(meeting, member, next.client, next.connection);
      else if (next.kind === 'redirected') redirectedMidMeeting++;
      else refused[next.reason] = (refused[next.reason] ?? 0) + 1;
    }
    const at = performance.now();
    for (const member of meeting.members) {
      if (member.publishes && member.client !== undefined) {
        member.publisher = member.client.publisher(meeting.name, member.name, 'camera');
        member.startedMs = at;
      }
    }
    meeting.active = true;
  };

  // Publishing: every tick, each active publisher sends what its rate says is due.
  const payloadBytes = plan.datagramBytes - DATAGRAM_HEADER_LENGTH;
  const MAX_BURST = Math.max(1, Math.ceil((plan.datagramsPerSecond * CATCH_UP_MS) / 1000));
  const ciphertext = new Uint8Array(payloadBytes).map((_, i) => (i * 31 + 7) & 0xff);
  const publishing = setInterval(() => {
    const now = performance.now();
    for (const meeting of meetings) {
      if (!meeting.active) continue;
      const others = meeting.accepted - 1;
      for (const member of meeting.members) {
        const publisher = member.publisher;
        if (publisher === undefined || member.client === undefined) continue;
        const due =
          Math.floor(((now - member.startedMs) * plan.datagramsPerSecond) / 1000) - member.sent;
        for (let i = 0; i < Math.min(due, MAX_BURST); i++) {
          const ctr = BigInt(member.sent);
          const header = 1 + (ctr < 8n ? 0 : ctr < 256n ? 1 : ctr < 65_536n ? 2 : 3);
          const payload = sframePayload(
            SFRAME_KID,
            ctr,
            ciphertext.subarray(0, payloadBytes - header),
          );
          const [datagram] = publisher.datagrams(payload, { captureTimeUs: nowUs() });
          member.sent++;
          if (member.client.sendDatagram(datagram as Uint8Array)) expected += others;
          else clientSendRefused++;
        }
        if (due > MAX_BURST) {
          // Skipped, never sent (the client's loop fell behind): not expected either.
          member.sent += due - MAX_BURST;
          member.skipped += due - MAX_BURST;
        }
      }
    }
  }, TICK_MS);

  const scraping = setInterval(() => {
    for (const entry of samples) void scrape(entry);
    options.onProgress?.({
      elapsedSeconds: Math.min(plan.durationSeconds, (performance.now() - started) / 1000),
      durationSeconds: plan.durationSeconds,
      sessions: meetings.reduce((n, m) => n + m.accepted, 0),
      sent: meetings.reduce((n, m) => n + m.members.reduce((k, x) => k + x.sent, 0), 0),
      received,
      maxUtilisation: Math.max(0, ...samples.map((s) => s.samples.at(-1)?.utilisation ?? 0)),
    });
  }, SCRAPE_MS);

  let killTimer: NodeJS.Timeout | undefined;
  if (options.kill !== undefined) {
    const { handler, atSeconds } = options.kill;
    killTimer = setTimeout(() => {
      killedAt = (performance.now() - started) / 1000;
      handlers.handlers[handler]?.kill();
    }, atSeconds * 1000);
  }

  const joins: Promise<void>[] = [];
  const joinTimers = meetings.map((_, index) =>
    setTimeout(
      () =>
        joins.push(joinMeeting(index).catch(() => void (refused.error = (refused.error ?? 0) + 1))),
      meetingStartSeconds(plan, index) * 1000,
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, plan.durationSeconds * 1000));
  for (const timer of joinTimers) clearTimeout(timer);
  clearInterval(publishing);
  clearInterval(scraping);
  clearTimeout(killTimer);
  await Promise.all(joins);
  await new Promise((resolve) => setTimeout(resolve, plan.settleSeconds * 1000));
  await Promise.all(samples.map((entry) => scrape(entry, true)));
  for (const entry of samples) entry.cpuEnd = await processCpuSeconds(entry.handler.pid);
  const clientCpu = process.cpuUsage(clientCpuStart);
  await Promise.all(
    meetings.flatMap((m) => m.members.map((member) => member.client?.close(1000, 'load run over'))),
  );
  const wallSeconds = (performance.now() - started) / 1000;

  // ---- results --------------------------------------------------------------------------
  const sent = meetings.reduce(
    (n, m) => n + m.members.reduce((k, x) => k + (x.publisher ? x.sent - x.skipped : 0), 0),
    0,
  );
  const skipped = meetings.reduce((n, m) => n + m.members.reduce((k, x) => k + x.skipped, 0), 0);
  let gaps = 0;
  let late = 0;
  for (const meeting of meetings) {
    for (const member of meeting.members) {
      for (const receiver of member.receivers.values()) {
        gaps += receiver.missing;
        late += receiver.late;
      }
    }
  }
  const handlerResults = samples.map((entry, index) =>
    handlerResult(entry, index, meetings, started, killedAt, options),
  );
  const handlerDrops = handlerResults.reduce(
    (n, h) =>
      n +
      Object.entries(h.drops)
        .filter(([reason]) => reason.startsWith('send-') || reason.startsWith('transport-'))
        .reduce((k, [, v]) => k + v, 0),
    0,
  );
  const atHardLimit = { accepted: 0, redirected: 0, refused: 0 };
  for (const hello of hellos) {
    const result = handlerResults.find((h) => h.id === hello.handler);
    if (
      result === undefined ||
      !atHardLimitAt(result, (hello.atMs - (performance.timeOrigin + started)) / 1000)
    )
      continue;
    if (hello.outcome === 'accepted') atHardLimit.accepted++;
    else if (hello.outcome === 'redirected') atHardLimit.redirected++;
    else atHardLimit.refused++;
  }
  const { scenario: _scenario, ...planSummary } = plan;
  const clientCpuSeconds = (clientCpu.user + clientCpu.system) / 1e6;
  return {
    scenario: plan.name,
    startedAt,
    wallSeconds: round(wallSeconds),
    plan: planSummary,
    sessions: {
      attempted: hellos.length,
      accepted: hellos.filter((h) => h.outcome === 'accepted').length,
      redirectsFollowed,
      redirectedMidMeeting,
      refused,
      closedByHandler,
    },
    meetings: {
      started: meetings.filter((m) => m.active).length,
      refused: meetings.filter((m) => m.handler === undefined).length,
    },
    atHardLimit,
    datagrams: {
      sent,
      skippedByClient: skipped,
      clientSendRefused,
      expected,
      received,
      lossRatio: expected === 0 ? null : round(1 - received / expected, 6),
      sequenceGaps: gaps,
      late,
      handlerDrops,
      unaccounted: expected - received - handlerDrops,
    },
    endToEndLatencyUs: {
      count: latency.totalCount,
      p50: latency.getValueAtPercentile(50),
      p90: latency.getValueAtPercentile(90),
      p99: latency.getValueAtPercentile(99),
      p999: latency.getValueAtPercentile(99.9),
      max: latency.maxValue,
    },
    handlers: handlerResults,
    client: {
      cpuSeconds: round(clientCpuSeconds),
      cpuMicrosPerDatagram:
        sent + received === 0 ? null : round((clientCpuSeconds * 1e6) / (sent + received)),
    },
    failover:
      options.kill === undefined || killedAt === null
        ? null
        : {
            killedHandler: handlers.handlers[options.kill.handler]?.id ?? '?',
            atSeconds: round(killedAt),
            meetingsAffected: meetings.filter(
              (m) => m.handler === handlers.handlers[options.kill?.handler ?? -1],
            ).length,
          },
  };
}

function handlerResult(
  entry: HandlerSamples,
  index: number,
  meetings: readonly Meeting[],
  started: number,
  killedAt: number | null,
  options: LoadRunOptions,
): HandlerResult {
  const first = entry.first ?? new Map<string, number>();
  const last = entry.last ?? first;
  const delta = (name: string) => (last.get(name) ?? 0) - (first.get(name) ?? 0);
  const labelDelta = (name: string, label: string) => {
    const before = byLabel(first, name, label);
    const out: Record<string, number> = {};
    for (const [key, value] of Object.entries(byLabel(last, name, label))) {
      const d = value - (before[key] ?? 0);
      if (d !== 0) out[key] = d;
    }
    return out;
  };
  const buckets = bucketDelta(
    histogramBuckets(first, 'mh_forwarding_latency_seconds'),
    histogramBuckets(last, 'mh_forwarding_latency_seconds'),
  );
  const us = (value: number | null) => (value === null ? null : round(value * 1e6, 1));
  const utilisations = entry.samples.map((s) => s.utilisation);
  const origin = performance.timeOrigin + started;
  const logged = entry.handler.logged;
  const fromLog = entry.handler.pid !== undefined;
  const crossings: BandCrossing[] = fromLog
    ? logged
        .filter((l) => l.what === 'band')
        .map((l) => ({
          atSeconds: round((l.at - origin) / 1000),
          from: l.from,
          to: l.to,
          utilisation: round(l.utilisation ?? 0, 4),
        }))
    : bandCrossings(entry.samples);
  const qualityChanges = fromLog
    ? logged
        .filter((l) => l.what === 'quality')
        .map((l) => ({ atSeconds: round((l.at - origin) / 1000), from: l.from, to: l.to }))
    : entry.samples
        .filter((s, i) => s.quality !== (entry.samples[i - 1]?.quality ?? 0))
        .map((s, i, all) => ({
          atSeconds: round(s.atSeconds),
          from: QUALITY[all[i - 1]?.quality ?? 0] ?? '?',
          to: QUALITY[s.quality] ?? '?',
        }));
  const out = delta('mh_datagrams_out_total');
  const cpu =
    entry.cpuStart === null || entry.cpuEnd === null ? null : round(entry.cpuEnd - entry.cpuStart);
  const killed = options.kill !== undefined && killedAt !== null && index === options.kill.handler;
  return {
    id: entry.handler.id,
    meetings: meetings.filter((m) => m.handler === entry.handler).length,
    datagramsIn: delta('mh_datagrams_in_total'),
    datagramsOut: out,
    forwardingLatencyUs: {
      p50: us(histogramPercentile(buckets, 50)),
      p99: us(histogramPercentile(buckets, 99)),
    },
    forwardingBuckets: buckets,
    utilisation: {
      meanPercent: round(
        (100 * utilisations.reduce((a, b) => a + b, 0)) / Math.max(1, utilisations.length),
      ),
      maxPercent: round(100 * Math.max(0, ...utilisations)),
      series: entry.samples.map((s) => ({
        atSeconds: round(s.atSeconds),
        percent: round(100 * s.utilisation),
        band: s.band,
      })),
    },
    bandCrossings: crossings,
    crossingsFrom: fromLog ? 'log' : 'samples',
    qualityChanges,
    finalQuality: QUALITY[entry.samples.at(-1)?.quality ?? 0] ?? '?',
    drops: labelDelta('mh_datagram_drops_total', 'reason'),
    hellos: labelDelta('mh_hellos_total', 'outcome'),
    cpuSeconds: cpu,
    cpuMicrosPerDatagram:
      cpu === null || out === 0
        ? null
        : round((cpu * 1e6) / (out + delta('mh_datagrams_in_total'))),
    scrapeFailures: entry.scrapeFailures,
    killedAtSeconds: killed ? round(killedAt as number) : null,
  };
}

/** Whether the handler was at its hard limit at `atSeconds` (its band timeline). */
function atHardLimitAt(result: HandlerResult, atSeconds: number): boolean {
  let band = 'ok';
  for (const crossing of result.bandCrossings) {
    if (crossing.atSeconds > atSeconds) break;
    band = crossing.to;
  }
  return band === 'hard-limit';
}

function round(value: number, digits = 3): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
