import { type ParticipantId } from '../../core/ids.ts';
import type { MlsDeliveryOutput } from '../../core/mls/delivery.ts';
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
export function scheduleKeySettleCheck(
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
      // With MLS the members to check are the group's in this epoch (a joiner not yet added
      // holds no epoch until its welcome).
      const members = [
        ...(w.scenario.keys.mls ? (meeting.machine?.mlsMembers() ?? []) : meeting.memberIds()),
      ]
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

// ---------------------------------------------------------------- MLS

const encoder = new TextEncoder();

/** A simulated client's key package: opaque bytes, fresh per join. */
export function mlsKeyPackage(client: Client, now: Micros): Uint8Array {
  client.mlsEpoch = undefined;
  client.mlsAhead.clear();
  return encoder.encode(`kp/${client.id}/${now}`);
}

/**
 * Carries the controller's MLS delivery output to the clients over their signaling streams
 * (reliable: a lost message is sent again while the client is a member), and has the clients
 * answer as real ones do: the asked member commits (opaque bytes) and every member reports the
 * epoch it reached. Members apply commits in epoch order.
 */
export function mlsOutput(
  w: World,
  controller: ControllerNode,
  meeting: MeetingState,
  output: MlsDeliveryOutput,
): void {
  switch (output.type) {
    case 'create-group':
      return toClient(w, controller, meeting, output.to, 'client.mls-create', (client) =>
        enterEpoch(w, controller, meeting, client, 0),
      );
    case 'request-commit':
      return toClient(w, controller, meeting, output.to, 'client.mls-request', (client) => {
        if (client.mlsEpoch !== output.epoch) return;
        const answer = () =>
          toController(w, controller, {
            type: 'meeting',
            meeting: meeting.id,
            input: {
              type: 'mls-commit',
              participant: client.id,
              request: output.request,
              epoch: output.epoch,
              commit: encoder.encode(`commit/${output.request}`),
              welcome:
                output.adds.length > 0 ? encoder.encode(`welcome/${output.request}`) : undefined,
            },
          });
        // A lost commit is the committer's silence: the controller asks the next member.
        deliver(
          w,
          client.node,
          controller.node,
          'mc.mls-commit',
          controller.id,
          client.entity,
          0,
          answer,
        );
      });
    case 'broadcast-commit':
      for (const to of output.to) {
        toClient(w, controller, meeting, to, 'client.mls-commit', (client) => {
          if (client.mlsEpoch === undefined || output.epoch <= client.mlsEpoch) return;
          client.mlsAhead.add(output.epoch);
          for (let next = client.mlsEpoch + 1; client.mlsAhead.delete(next); next++)
            enterEpoch(w, controller, meeting, client, next);
        });
      }
      return;
    case 'deliver-welcome':
      return toClient(w, controller, meeting, output.to, 'client.mls-welcome', (client) => {
        if (client.mlsEpoch !== undefined) return;
        enterEpoch(w, controller, meeting, client, output.epoch);
        for (let next = output.epoch + 1; client.mlsAhead.delete(next); next++)
          enterEpoch(w, controller, meeting, client, next);
      });
    case 'commit-rejected':
      return;
    case 'epoch-started': {
      w.metrics.rotations.mediaKeys++;
      // No epoch holds a participant the meeting does not have.
      for (const member of output.members) {
        if (controller.endpoint.meeting(meeting.id)?.roster.members.has(member) !== true)
          w.violations.report(
            'media-key-epoch',
            `client/${member}`,
            `MLS epoch ${output.epoch} of ${meeting.id} holds a participant that is not a member`,
          );
      }
      return scheduleKeySettleCheck(w, meeting, output.epoch, w.sim.now);
    }
  }
}

/** A client reaches an MLS epoch: holds its keys (and the one before), tells the controller. */
function enterEpoch(
  w: World,
  controller: ControllerNode,
  meeting: MeetingState,
  client: Client,
  epoch: number,
): void {
  client.mlsEpoch = epoch;
  client.epochs.add(epoch);
  for (const held of client.epochs) if (held < epoch - 1) client.epochs.delete(held);
  toController(w, controller, {
    type: 'meeting',
    meeting: meeting.id,
    input: { type: 'mls-processed', participant: client.id, epoch },
  });
}

/** Whether the client is a member of the meeting as its controller runs it. */
const member = (controller: ControllerNode, meeting: MeetingState, client: Client): boolean =>
  controller.endpoint.meeting(meeting.id)?.roster.members.has(client.id) === true;

/** One MLS message over a client's signaling stream, sent again after a loss. */
function toClient(
  w: World,
  controller: ControllerNode,
  meeting: MeetingState,
  to: ParticipantId,
  kind: string,
  arrive: (client: Client) => void,
): void {
  const client = w.clients.get(to);
  if (client === undefined || client.state === 'left' || client.meeting !== meeting) return;
  const send = (): void => {
    if (client.state === 'left' || !controller.healthy || !member(controller, meeting, client))
      return;
    const delivered = deliver(
      w,
      controller.node,
      client.node,
      kind,
      client.entity,
      controller.id,
      0,
      () => {
        if (client.state === 'left' || !member(controller, meeting, client)) return;
        arrive(client);
      },
    );
    if (!delivered)
      w.sim.after(ms(DEFAULT_MEETING_TIMING.keyRetryMs), `${kind}-lost`, client.entity, send);
  };
  send();
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
