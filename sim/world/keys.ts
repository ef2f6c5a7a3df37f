import { type ParticipantId } from '../../core/ids.ts';
import { DEFAULT_MEETING_TIMING } from '../../core/mc/meeting.ts';
import { ms, seconds, type Micros } from '../engine/time.ts';
import { checkTokenVerdict } from '../invariants/tokens.ts';
import { checkEpochs } from '../invariants/epochs.ts';
import type { TokenValidator } from './auth.ts';
import type { MeetingState } from './meeting.ts';
import type { World } from './world.ts';
import { type ControllerNode, type Client } from './nodes.ts';
import { toController } from './controllers.ts';
import { deliver } from './messaging.ts';

/**
 * Media keys on their way to the members, what each member holds, and the settle check.
 */

/**
 * Sends an epoch's key to each recipient over its signaling stream (the controller resends
 * until the client acknowledges); a fresh epoch's settle is checked later.
 */
export function distributeEpoch(
  w: World,
  controller: ControllerNode,
  meeting: MeetingState,
  epoch: number,
  recipients: readonly ParticipantId[],
  resend: boolean,
): void {
  for (const recipient of recipients) {
    const client = w.clients.get(recipient);
    if (client !== undefined) sendKey(w, controller, meeting, client, epoch);
  }
  if (resend) return;
  w.metrics.rotations.mediaKeys++;
  scheduleKeySettleCheck(w, meeting, epoch, w.sim.now);
}

/**
 * Checks an epoch's keys `keySettleSeconds` after it began, or, when a partition, heal,
 * failure or recovery came later, once the controller has had its longest resend interval
 * after it as well: a member cut off when the key went out gets it with a resend.
 */
function scheduleKeySettleCheck(
  w: World,
  meeting: MeetingState,
  epoch: number,
  startedAt: Micros,
  at?: Micros,
): void {
  const settle = seconds(w.scenario.invariants.keySettleSeconds);
  // A newer epoch supersedes the pending check of the previous one (it would stop at once).
  if (meeting.keySettleCheck !== undefined) w.sim.cancel(meeting.keySettleCheck);
  meeting.keySettleCheck = w.sim.at(
    at ?? startedAt + settle,
    'check.media-keys',
    `meeting/${meeting.id}`,
    () => {
      meeting.keySettleCheck = undefined;
      if (meeting.ended || meeting.machine?.currentEpoch() !== epoch) return;
      const changedAt = w.lastTopologyChange;
      const settledFrom =
        changedAt > startedAt ? changedAt + ms(DEFAULT_MEETING_TIMING.keyRetryCapMs) : startedAt;
      if (w.sim.now < settledFrom + settle)
        return scheduleKeySettleCheck(w, meeting, epoch, startedAt, settledFrom + settle);
      const members = [...meeting.memberIds()]
        .map((id) => w.clients.get(id))
        .filter(
          (c): c is Client =>
            c !== undefined && c.state === 'connected' && c.pendingKeys === 0 && keyReachable(w, c),
        );
      const removed = [...meeting.removed].flatMap(([participant, lastAllowedEpoch]) => {
        const gone = w.clients.get(participant);
        return gone === undefined
          ? []
          : [{ participant, held: heldEpochs(w, gone), lastAllowedEpoch }];
      });
      checkEpochs(
        w.violations,
        meeting.id,
        epoch,
        members.map((c) => ({ participant: c.id, held: heldEpochs(w, c) })),
        removed,
      );
    },
  );
}

/** One key message to a client, which acknowledges it to the controller. */
export function sendKey(
  w: World,
  controller: ControllerNode,
  meeting: MeetingState,
  client: Client,
  epoch: number,
): void {
  if (client.state === 'left') return;
  client.pendingKeys++;
  const delivered = deliver(
    w,
    controller.node,
    client.node,
    'client.media-key',
    client.entity,
    controller.id,
    0,
    () => {
      client.pendingKeys--;
      if (client.state === 'idle' || !meeting.isMember(client.id)) return;
      heldEpochs(w, client).add(epoch);
      // The key travels on the client's reliable signaling stream, whose acknowledgement
      // the controller's transport reports; the simulator hands it over on delivery rather
      // than simulate the stream's acknowledgement as a message of its own.
      toController(w, controller, {
        type: 'meeting',
        meeting: meeting.id,
        input: { type: 'key-ack', participant: client.id, epoch },
      });
    },
  );
  if (delivered) return;
  // Lost: the controller sends it again when the acknowledgement does not come.
  w.sim.after(
    ms(DEFAULT_MEETING_TIMING.keyRetryMs),
    'client.media-key-lost',
    client.entity,
    () => client.pendingKeys--,
  );
}

/**
 * The epochs the client holds: what it received, less every epoch the controller ordered its
 * members erased while the client was one. The erasures are applied here, in order, when the
 * keys are read or added (or the client leaves) rather than at every member when ordered: the
 * same sets at every read, without touching each member's keys at each erasure.
 */
export function heldEpochs(w: World, client: Client): Set<number> {
  const erased = client.meeting.erasedEpochs;
  if (client.meeting.isMember(client.id)) {
    for (let i = client.erasuresApplied; i < erased.length; i++)
      client.epochs.delete(erased[i] as number);
    client.erasuresApplied = erased.length;
  }
  return client.epochs;
}

/** A member the controller cannot currently reach is exempt from the settle check. */
export function keyReachable(w: World, client: Client): boolean {
  const controller = client.controller;
  return (
    controller !== undefined &&
    controller.healthy &&
    !client.signalingLost &&
    !w.network.isBlocked(controller.region, client.region)
  );
}

// ---------------------------------------------------------------- tokens

/** Verifies a client's token at a service; a refusal of an unexpired token is a violation. */
export function verifyToken(
  w: World,
  validator: TokenValidator,
  client: Client,
  service: string,
): boolean {
  const token = client.token;
  if (token === undefined) return false;
  const refusal = validator.verify(token);
  if (refusal === undefined) {
    w.metrics.tokens.verified++;
    return true;
  }
  checkTokenVerdict(w.violations, service, client.id, token, refusal);
  if (refusal.kind === 'expired') client.token = undefined;
  return false;
}
