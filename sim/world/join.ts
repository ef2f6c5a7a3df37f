import { type MeetingInput, type MeetingOutput } from '../../core/mc/meeting.ts';
import type { ConnectionGrant } from '../../core/mh/claims.ts';
import type { MhOutput } from '../../core/mh/types.ts';
import { createConnectionId } from '../../core/protocol/connection-id.ts';
import { ms, seconds, type Micros } from '../engine/time.ts';
import type { MediaHandler } from './media-handler.ts';
import type { World } from './world.ts';
import { MAX_ATTEMPTS, type ControllerNode, type ClientState, type Client } from './nodes.ts';
import { toController, controllerFor, takeOver } from './controllers.ts';
import { heldEpochs, mlsKeyPackage, verifyToken } from './keys.ts';
import { checkFirstMedia, othersPublishing } from './checks.ts';
import { deliver, rpc } from './messaging.ts';
import { joinStepTime } from './service-times.ts';

/**
 * Clients walking the spec's join flow (003 steps 1-8) and their signaling afterwards: token,
 * meeting lookup, join, media connect, layout and screen-share requests, leaving, reconnecting.
 */

export function beginJoin(w: World, client: Client): void {
  if (client.meeting.ended || client.state !== 'idle') return;
  startJoin(w, client);
  w.metrics.joins.attempted++;
  requestToken(w, client, 1);
}

function startJoin(w: World, client: Client): void {
  client.state = 'joining';
  client.joinStartedAt = w.sim.now;
  client.joinStages.length = 0;
}

/** The join stages of `JOIN_STAGES` up to the media session, in order. */
const TOKEN = 0;
const MEETING_INFO = 1;
const CONTROLLER = 2;
const MEDIA_SESSION = 3;

/** Step 2: the client asks its region's Auth Controller for a user token. */
export function requestToken(w: World, client: Client, attempt: number): void {
  const region = w.regionOf(client.region);
  rpc(
    w,
    client,
    region.ac.node,
    ms(w.scenario.serviceTimes.tokenIssueMs),
    'ac.token',
    attempt,
    () => region.ac.issue(client.id),
    (token) => {
      if (token === undefined) return failJoin(w, client, 'no signing key available');
      w.metrics.tokens.issued++;
      client.token = token;
      client.joinStages[TOKEN] = w.sim.now;
      lookupMeeting(w, client, 1);
    },
    () => requestToken(w, client, attempt + 1),
  );
}

/** Step 3: the Global Controller validates the token and names the meeting's controller. */
export function lookupMeeting(w: World, client: Client, attempt: number): void {
  const region = w.regionOf(client.region);
  rpc(
    w,
    client,
    region.gcNode,
    joinStepTime(w, 'meetingLookup', w.scenario.serviceTimes.meetingLookupMs),
    'gc.lookup',
    attempt,
    () =>
      verifyToken(w, region.gcValidator, client, region.gcNode.id)
        ? controllerFor(w, client.meeting, region)
        : undefined,
    (controller) => {
      if (controller === undefined) return failJoin(w, client, 'meeting lookup refused');
      client.controller = controller;
      client.joinStages[MEETING_INFO] = w.sim.now;
      joinController(w, client, 1);
    },
    () => lookupMeeting(w, client, attempt + 1),
  );
}

/**
 * Step 4: the Meeting Controller validates the token, adds the member and plans routes. A
 * first attempt opens the signaling connection first when the scenario models its handshake
 * (`serviceTimes.signalingConnect`: its round trips and CPU).
 */
export function joinController(w: World, client: Client, attempt: number): void {
  const controller = client.controller;
  if (controller === undefined) return;
  const connect = w.scenario.serviceTimes.signalingConnect;
  if (attempt === 1 && connect !== undefined) {
    const generation = client.generation;
    const opening =
      connect.roundTrips * 2 * w.network.baseLatency(client.node, controller.node) +
      joinStepTime(w, 'signalingConnect', connect.cpuMs);
    w.sim.after(opening, 'client.signaling-open', client.entity, () => {
      if (generation === client.generation && client.controller === controller)
        sendJoin(w, client, controller, attempt);
    });
    return;
  }
  sendJoin(w, client, controller, attempt);
}

/** The join request on the signaling connection and its answer. */
function sendJoin(w: World, client: Client, controller: ControllerNode, attempt: number): void {
  const sentAt = w.sim.now;
  rpc(
    w,
    client,
    controller.node,
    joinStepTime(w, 'joinProcessing', w.scenario.serviceTimes.joinProcessingMs),
    'mc.join',
    attempt,
    () => admitToMeeting(w, client, controller),
    (home) => {
      recordSignaling(w, client, controller, sentAt);
      if (home === 'rejected')
        return failJoin(w, client, 'no room in the routing plan', 'rejected');
      if (home === undefined) return failJoin(w, client, 'meeting controller refused the join');
      client.signalingLost = false;
      client.gaveUp = false;
      client.lookedUpAgain = false;
      if (home.epoch !== undefined) client.epochs.add(home.epoch);
      client.joinStages[CONTROLLER] = w.sim.now;
      connectHandler(w, client, home.handler, home.token, 1);
    },
    () => {
      // Before its last attempt the client asks the Global Controller again: the controller
      // it remembers may have failed while it was away.
      if (attempt + 1 < MAX_ATTEMPTS || client.lookedUpAgain)
        return joinController(w, client, attempt + 1);
      client.lookedUpAgain = true;
      lookupMeeting(w, client, 1);
    },
  );
}

/**
 * The controller's answer to a join: the member's home handler, 'rejected' when the planner
 * finds no room, undefined when the controller refuses (down, token refused, meeting over).
 */
export function admitToMeeting(
  w: World,
  client: Client,
  controller: ControllerNode,
):
  | {
      readonly handler: MediaHandler;
      readonly epoch: number | undefined;
      readonly token: ConnectionGrant;
    }
  | 'rejected'
  | undefined {
  const meeting = client.meeting;
  if (!controller.healthy || meeting.ended || client.token === undefined) return undefined;
  if (!verifyToken(w, controller.validator, client, controller.node.id)) return undefined;
  takeOver(w, meeting, controller);
  const newMember = !meeting.isMember(client.id);
  const epochBefore = meeting.machine?.currentEpoch();
  w.joinReply = undefined;
  toController(w, controller, {
    type: 'meeting',
    meeting: meeting.id,
    meetingRegion: meeting.region,
    input: {
      type: 'join',
      participant: client.id,
      region: client.region,
      layout: client.layout,
      // With MLS every join brings a fresh key package (the client's earlier state, if any,
      // is dropped: it is added again).
      ...(w.scenario.keys.mls ? { keyPackage: mlsKeyPackage(client, w.sim.now) } : {}),
    },
  });
  meeting.machine ??= controller.endpoint.meeting(meeting.id);
  meeting.owner ??= controller.id;
  const reply = w.joinReply as MeetingOutput | undefined;
  w.joinReply = undefined;
  if (reply?.type === 'join-rejected')
    return reply.reason === 'no-capacity' ? 'rejected' : undefined;
  if (reply?.type !== 'join-accepted') return undefined;
  if (w.scenario.keys.mls) {
    // Its keys come from the group (a welcome into an epoch after its join): none from here.
    const handler = w.handlersById.get(reply.handler);
    return handler === undefined ? undefined : { handler, epoch: undefined, token: reply.token };
  }
  if (reply.epoch === undefined) {
    w.violations.report(
      'media-key-epoch',
      `client/${client.id}`,
      `admitted to ${meeting.id} without a media key`,
    );
  }
  if (newMember) {
    // Erasures ordered before the client was a member are not its to apply.
    client.erasuresApplied = meeting.erasedEpochs.length;
    if (epochBefore !== undefined && reply.epoch === epochBefore) {
      w.violations.report(
        'media-key-epoch',
        `client/${client.id}`,
        `joined ${meeting.id} and was given epoch ${epochBefore}, which began before it joined`,
      );
    }
  }
  const handler = w.handlersById.get(reply.handler);
  return handler === undefined ? undefined : { handler, epoch: reply.epoch, token: reply.token };
}

/**
 * Step 5: the client opens its media session with the connection token its controller granted;
 * the handler's forwarder (core/mh) checks the claims and admits, redirects or refuses. A
 * retry after a lost reply repeats the same connection (as a transport retransmits its
 * handshake), so a session the handler already accepted on it stands. When the scenario
 * models the transport's handshake (`serviceTimes.mediaHandshakeRoundTrips`), a first attempt
 * takes those round trips before its hello; `mediaConnectMs` is the handler's CPU for it.
 */
export function connectHandler(
  w: World,
  client: Client,
  handler: MediaHandler,
  grant: ConnectionGrant,
  attempt: number,
  redirected = false,
  connection = w.nextConnection++,
  nonce = `n${w.nextNonce++}`,
): void {
  const roundTrips = w.scenario.serviceTimes.mediaHandshakeRoundTrips ?? 0;
  if (attempt === 1 && roundTrips > 0) {
    const generation = client.generation;
    const handshake = roundTrips * 2 * w.network.baseLatency(client.node, handler.node);
    w.sim.after(handshake, 'client.media-handshake', client.entity, () => {
      if (generation === client.generation && client.state !== 'left')
        helloHandler(w, client, handler, grant, attempt, redirected, connection, nonce);
    });
    return;
  }
  helloHandler(w, client, handler, grant, attempt, redirected, connection, nonce);
}

/** The session's hello on an open connection, and the handler's answer. */
function helloHandler(
  w: World,
  client: Client,
  handler: MediaHandler,
  grant: ConnectionGrant,
  attempt: number,
  redirected: boolean,
  connection: number,
  nonce: string,
): void {
  const generation = client.generation;
  rpc(
    w,
    client,
    handler.node,
    joinStepTime(w, 'mediaConnect', w.scenario.serviceTimes.mediaConnectMs),
    'mh.connect',
    attempt,
    () => {
      if (!handler.healthy) return undefined;
      const connectionId = createConnectionId(w.epochMs(), client.random);
      if (!connectionId.ok) return undefined;
      if (handler.forwarder.connectionOf(client.meeting.id, client.id) === connection)
        return ACCEPTED;
      const claims = { ...grant, nonce };
      let answer: SessionAnswer | undefined;
      for (const out of handler.handle({ type: 'session-open', connection, claims }, w.epochMs())) {
        if (out.type === 'session-accepted') answer = ACCEPTED;
        else if (out.type === 'session-redirected' || out.type === 'session-rejected') {
          answer = out;
        }
      }
      return answer;
    },
    (answer) => {
      if (generation !== client.generation || client.state === 'left') return;
      if (answer === undefined) return failJoin(w, client, `handler ${handler.id} unavailable`);
      if (answer.type === 'session-accepted') return sessionEstablished(w, client, handler);
      if (answer.type === 'session-redirected' && !redirected) {
        w.metrics.joins.redirected++;
        const target = w.handlersById.get(answer.to);
        if (target !== undefined) return requestHandlerToken(w, client, target, 1);
      }
      const reason = answer.type === 'session-rejected' ? answer.reason : 'a second redirect';
      failJoin(w, client, `handler ${handler.id} refused the session (${reason})`, 'rejected');
    },
    () => connectHandler(w, client, handler, grant, attempt + 1, redirected, connection, nonce),
  );
}

type SessionAnswer =
  typeof ACCEPTED | Extract<MhOutput, { type: 'session-redirected' | 'session-rejected' }>;
const ACCEPTED = { type: 'session-accepted' } as const;

/**
 * A handler redirected the client: it asks its controller for a token for the handler it was
 * sent to (the controller decides whether to grant one) and connects there.
 */
function requestHandlerToken(
  w: World,
  client: Client,
  target: MediaHandler,
  attempt: number,
): void {
  const controller = client.controller;
  if (controller === undefined) return failJoin(w, client, 'no controller to ask for a token');
  rpc(
    w,
    client,
    controller.node,
    ms(w.scenario.serviceTimes.joinProcessingMs / 2),
    'mc.token',
    attempt,
    () => {
      if (!controller.healthy) return undefined;
      w.tokenReply = undefined;
      toController(w, controller, {
        type: 'meeting',
        meeting: client.meeting.id,
        input: { type: 'token-request', participant: client.id, handler: target.id },
      });
      const reply = w.tokenReply as MeetingOutput | undefined;
      w.tokenReply = undefined;
      return reply;
    },
    (reply) => {
      if (reply?.type === 'connection-token')
        return connectHandler(w, client, target, reply.token, 1, true);
      failJoin(w, client, `no token for ${target.id}`, 'rejected');
    },
    () => requestHandlerToken(w, client, target, attempt + 1),
  );
}

/** Steps 6-8: media flows once the session exists and the handlers forward to it. */
export function sessionEstablished(w: World, client: Client, handler: MediaHandler): void {
  const joining = client.state === 'joining';
  client.state = 'connected';
  client.handler = handler;
  if (joining) {
    client.joinStages[MEDIA_SESSION] = w.sim.now;
    if (!client.admitted) w.metrics.joins.admitted++;
    client.admitted = true;
    w.connectedParticipants++;
    w.metrics.peakParticipants = Math.max(w.metrics.peakParticipants, w.connectedParticipants);
    client.awaitingFirstMedia = othersPublishing(w, client);
  }
  if (client.reportedHandler !== handler.id) {
    client.reportedHandler = handler.id;
    signal(w, client, 'mc.connected', {
      type: 'connected',
      participant: client.id,
      handler: handler.id,
    });
  }
  checkFirstMedia(w, client.meeting);
}

export function failJoin(
  w: World,
  client: Client,
  reason: string,
  outcome: 'failed' | 'rejected' = 'failed',
): void {
  if (client.state !== 'joining') return;
  w.metrics.joins[outcome]++;
  // A refusal for capacity is the platform working as designed, not a failed join.
  client.gaveUp = outcome === 'failed';
  w.sim.note(`join-failed ${client.id} ${reason}`);
  disconnect(w, client, 'left');
}

// ---------------------------------------------------------------- signaling after join

/** A client-to-controller request (layout change, connection report) measured as signaling. */
export function signal(w: World, client: Client, kind: string, input: MeetingInput): void {
  const controller = client.controller;
  if (controller === undefined) return;
  const sentAt = w.sim.now;
  const generation = client.generation;
  const times = w.scenario.serviceTimes;
  const processing =
    input.type === 'connected' && times.connectionReportMs !== undefined
      ? times.connectionReportMs
      : times.joinProcessingMs / 2;
  rpc(
    w,
    client,
    controller.node,
    ms(processing),
    kind,
    MAX_ATTEMPTS,
    () => {
      if (!controller.healthy || generation !== client.generation) return false;
      toController(w, controller, { type: 'meeting', meeting: client.meeting.id, input });
      return true;
    },
    () => recordSignaling(w, client, controller, sentAt),
    () => undefined,
  );
}

/** A signaling round trip, with its locality and the round trip's network floor. */
function recordSignaling(w: World, client: Client, controller: ControllerNode, sentAt: Micros) {
  const took = w.sim.now - sentAt;
  w.metrics.signaling.record(took);
  w.metrics.signalingByLocality.record(
    took,
    2 * w.network.baseLatency(client.node, controller.node),
    client.region !== controller.region,
  );
}

export function setScreenShare(w: World, client: Client, sharing: boolean): void {
  if (client.state !== 'connected') return;
  signal(w, client, sharing ? 'mc.share-start' : 'mc.share-stop', {
    type: 'screen-share',
    participant: client.id,
    sharing,
  });
}

/** The client leaves: it tells its controller (reliably) and hangs up. */
export function leave(w: World, client: Client): void {
  if (client.state === 'left') return;
  const meeting = client.meeting;
  const controller = client.controller;
  disconnect(w, client, 'left');
  client.gaveUp = false;
  // The erasures ordered while it was a member are its last.
  heldEpochs(w, client);
  if (!meeting.isMember(client.id)) return;
  meeting.removed.set(client.id, meeting.machine?.currentEpoch() ?? -1);
  if (controller === undefined) return;
  deliver(
    w,
    client.node,
    controller.node,
    'mc.leave',
    controller.id,
    client.entity,
    ms(w.scenario.serviceTimes.joinProcessingMs / 2),
    () => {
      if (controller.healthy)
        toController(w, controller, {
          type: 'meeting',
          meeting: meeting.id,
          input: { type: 'leave', participant: client.id },
        });
    },
  );
}

export function dropAndReconnect(w: World, client: Client): void {
  if (client.state !== 'connected') return;
  disconnect(w, client, 'idle');
  w.metrics.joins.reconnects++;
  w.sim.after(
    client.random.uniform(seconds(1), seconds(5)),
    'client.reconnect',
    client.entity,
    () => {
      if (client.meeting.ended || client.state !== 'idle') return;
      startJoin(w, client);
      if (client.token !== undefined && client.controller !== undefined)
        joinController(w, client, 1);
      else requestToken(w, client, 1);
    },
  );
}

export function disconnect(w: World, client: Client, next: ClientState): void {
  if (client.state === 'connected') w.connectedParticipants--;
  client.handler?.closeSession(client.meeting.id, client.id, w.epochMs());
  client.handler = undefined;
  client.awaitingFirstMedia = false;
  client.generation++;
  client.state = next;
  client.reportedHandler = undefined;
}
