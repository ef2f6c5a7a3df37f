/**
 * The workload: meetings arriving and ending, their clients' arrivals, lives (layout changes,
 * screen shares, drops, leaves) and speaker turns, as the scenario draws them. It decides nothing
 * a service decides: each client only asks its controller, as a real client would.
 */
import { meetingId, participantId, regionId, type RegionId } from '../../core/ids.ts';
import { layoutRequestNamed } from '../../core/layout/named.ts';
import type { LayoutRequest } from '../../core/layout/types.ts';
import type { SimRandom } from '../engine/random.ts';
import { seconds, type Micros } from '../engine/time.ts';
import { toController } from './controllers.ts';
import { beginJoin, disconnect, dropAndReconnect, leave, setScreenShare, signal } from './join.ts';
import { MeetingState } from './meeting.ts';
import type { Client } from './nodes.ts';
import { schedulePacketRound } from './packets.ts';
import type { World } from './world.ts';

export { layoutRequestNamed };

/** A meeting size: the minimum plus an exponential excess with the configured mean, capped. */
export function drawMeetingSize(
  random: SimRandom,
  participants: { mean: number; min: number; max: number },
): number {
  const extra = random.exponential(participants.mean - participants.min);
  return Math.min(participants.max, participants.min + Math.round(extra));
}

export function scheduleWorkload(w: World): void {
  const workload = w.scenario.workload;
  const random = w.sim.random.stream('workload');
  const arrivalMean = seconds(workload.meanMeetingSeconds) / workload.concurrentMeetings;
  let index = 0;
  if (workload.warmStart) {
    for (; index < workload.concurrentMeetings; index++) {
      const start =
        workload.arrivals === 'even'
          ? (seconds(workload.joinSpreadSeconds) * index) / workload.concurrentMeetings
          : random.uniform(0, seconds(workload.joinSpreadSeconds));
      const meetingIndex = index;
      w.sim.at(start, 'meeting.start', `meeting/m${meetingIndex}`, () =>
        startMeeting(w, meetingIndex),
      );
    }
  }
  const arrive = (at: Micros): void => {
    const meetingIndex = index++;
    w.sim.at(at, 'meeting.start', `meeting/m${meetingIndex}`, () => {
      startMeeting(w, meetingIndex);
      arrive(w.sim.now + random.exponential(arrivalMean));
    });
  };
  arrive(random.exponential(arrivalMean));
}

export function startMeeting(w: World, index: number): void {
  const workload = w.scenario.workload;
  const random = w.sim.random.stream(`meeting/m${index}`);
  const region = pickRegion(w, random);
  const meeting = new MeetingState(
    meetingId(workload.meetingIds?.[index] ?? `m${index}`),
    region,
    random.chance(w.scenario.media.packetSample),
  );
  w.meetings.set(meeting.id, meeting);
  w.activeMeetings++;
  w.metrics.meetingsStarted++;
  w.metrics.peakMeetings = Math.max(w.metrics.peakMeetings, w.activeMeetings);
  const size = drawMeetingSize(random, workload.participants);
  const duration = random.exponential(seconds(workload.meanMeetingSeconds));
  // Evenly: the meeting's members one after another over its share of the spread, each at the
  // middle of its slot (so none arrives at the instant the platform starts).
  const evenGap =
    seconds(workload.joinSpreadSeconds) / (workload.concurrentMeetings * Math.max(1, size));
  for (let p = 0; p < size; p++) {
    const client = createClient(w, meeting, p, random);
    w.sim.after(
      workload.arrivals === 'even'
        ? evenGap * (p + 0.5)
        : random.uniform(0, seconds(workload.joinSpreadSeconds)),
      'client.arrive',
      client.entity,
      () => beginJoin(w, client),
    );
    scheduleClientLife(w, client, duration);
  }
  w.sim.after(duration, 'meeting.end', `meeting/${meeting.id}`, () => endMeeting(w, meeting));
  scheduleSpeakerTurn(w, meeting, random);
  if (meeting.packetSampled) schedulePacketRound(w, meeting);
}

export function pickRegion(w: World, random: SimRandom): RegionId {
  const specs = w.scenario.regions;
  const total = specs.reduce((sum, r) => sum + r.userWeight, 0);
  let draw = random.uniform(0, total);
  for (const spec of specs) {
    draw -= spec.userWeight;
    if (draw < 0) return regionId(spec.name);
  }
  return regionId(specs[specs.length - 1]?.name ?? '');
}

export function createClient(
  w: World,
  meeting: MeetingState,
  index: number,
  meetingRandom: SimRandom,
): Client {
  const id = participantId(`${meeting.id}/p${index}`);
  const entity = `client/${id}`;
  const random = w.sim.random.stream(entity);
  const region = meetingRandom.chance(w.scenario.workload.crossRegionFraction)
    ? pickRegion(w, random)
    : meeting.region;
  const client: Client = {
    id,
    entity,
    meeting,
    region,
    node: { id: entity, region, isClient: true },
    random,
    layout: drawLayout(w, random),
    state: 'idle',
    token: undefined,
    controller: undefined,
    handler: undefined,
    joinStartedAt: 0,
    joinStages: [],
    awaitingFirstMedia: false,
    generation: 0,
    admitted: false,
    epochs: new Set(),
    erasuresApplied: 0,
    pendingKeys: 0,
    mlsEpoch: undefined,
    mlsAhead: new Set(),
    signalingLost: false,
    gaveUp: false,
    reportedHandler: undefined,
    lookedUpAgain: false,
  };
  w.clients.set(id, client);
  meeting.clients.set(id, client);
  return client;
}

export function drawLayout(w: World, random: SimRandom): LayoutRequest {
  const total = w.layoutWeights.reduce((a, b) => a + b, 0);
  let draw = random.uniform(0, total);
  let name = w.layoutNames[0] ?? 'grid';
  for (let i = 0; i < w.layoutNames.length; i++) {
    draw -= w.layoutWeights[i] ?? 0;
    if (draw < 0) {
      name = w.layoutNames[i] ?? name;
      break;
    }
  }
  return layoutRequestNamed(name);
}

/** Leaves, reconnects, layout changes and screen shares of one client. */
export function scheduleClientLife(w: World, client: Client, meetingDuration: Micros): void {
  const workload = w.scenario.workload;
  const random = client.random;
  if (random.chance(workload.earlyLeaveProbability)) {
    w.sim.after(random.uniform(0, meetingDuration), 'client.leave', client.entity, () =>
      leave(w, client),
    );
  }
  if (random.chance(workload.reconnectProbability)) {
    w.sim.after(random.uniform(0, meetingDuration), 'client.drop', client.entity, () =>
      dropAndReconnect(w, client),
    );
  }
  if (random.chance(workload.screenShareProbability)) {
    const start = random.uniform(0, meetingDuration);
    const stop = start + random.exponential(seconds(workload.meanScreenShareSeconds));
    w.sim.after(start, 'client.share-start', client.entity, () => setScreenShare(w, client, true));
    w.sim.after(stop, 'client.share-stop', client.entity, () => setScreenShare(w, client, false));
  }
  const changeLayout = (): void => {
    if (client.state === 'left') return;
    if (client.state === 'connected') {
      client.layout = drawLayout(w, random);
      signal(w, client, 'mc.layout', {
        type: 'layout',
        participant: client.id,
        layout: client.layout,
      });
    }
    w.sim.after(
      random.exponential(seconds(workload.meanLayoutChangeSeconds)),
      'client.layout',
      client.entity,
      changeLayout,
    );
  };
  w.sim.after(
    random.exponential(seconds(workload.meanLayoutChangeSeconds)),
    'client.layout',
    client.entity,
    changeLayout,
  );
}

export function scheduleSpeakerTurn(w: World, meeting: MeetingState, random: SimRandom): void {
  w.sim.after(
    random.exponential(seconds(w.scenario.workload.meanSpeakerTurnSeconds)),
    'meeting.speaker',
    `meeting/${meeting.id}`,
    () => {
      if (meeting.ended) return;
      // Voice activity: a connected client starts speaking (every simulated client publishes
      // audio) and tells its controller.
      const speakers = w.speakerCandidates;
      speakers.length = 0;
      for (const client of meeting.clients.values()) {
        if (client.state === 'connected') speakers.push(client);
      }
      if (speakers.length > 0) {
        const speaker = random.pick(speakers);
        signal(w, speaker, 'mc.speaker', { type: 'speaker', participant: speaker.id });
      }
      scheduleSpeakerTurn(w, meeting, random);
    },
  );
}

export function endMeeting(w: World, meeting: MeetingState): void {
  meeting.ended = true;
  for (const member of meeting.memberIds()) {
    const client = w.clients.get(member);
    if (client !== undefined) disconnect(w, client, 'left');
  }
  // The Global Controller ends the meeting at its controller; the handlers drop its entries.
  const owner = meeting.owner === undefined ? undefined : w.controllersById.get(meeting.owner);
  if (owner !== undefined) toController(w, owner, { type: 'end-meeting', meeting: meeting.id });
  meeting.machine?.end();
  for (const [handlerId, bps] of meeting.handlerLoads) {
    const handler = w.handlersById.get(handlerId);
    handler?.carry(-bps, w.sim.now);
    handler?.meetings.delete(meeting.id);
  }
  meeting.handlerLoads.clear();
  w.activeMeetings--;
  w.meetings.delete(meeting.id);
  w.controllerOf.delete(meeting.id);
  for (const [id, client] of meeting.clients) {
    if (w.clients.get(id) !== client) continue;
    w.clients.delete(id);
    w.sim.random.release(client.entity);
    w.sim.random.release(`net/${client.entity}`);
    w.networkStreams.delete(client.entity);
  }
  w.sim.random.release(`packets/${meeting.id}`);
}
