/**
 * The MLS delivery service's outputs (core/mls/delivery) as MC signaling messages
 * (docs/protocol.md, "Controller and client: MLS"): who receives what. The bytes go as they
 * are; the controller reads no MLS.
 */
import type { ParticipantId } from '../../core/ids.ts';
import type { CommitRejection, MlsDeliveryOutput } from '../../core/mls/delivery.ts';
import { MlsRejectReason, type ServerMessage } from '../generated/darktower/mc/v1/signaling.ts';

const MLS_REJECTIONS: Record<CommitRejection, MlsRejectReason> = {
  superseded: MlsRejectReason.MLS_REJECT_REASON_SUPERSEDED,
  'stale-epoch': MlsRejectReason.MLS_REJECT_REASON_STALE_EPOCH,
  'future-epoch': MlsRejectReason.MLS_REJECT_REASON_FUTURE_EPOCH,
  'not-requested': MlsRejectReason.MLS_REJECT_REASON_NOT_REQUESTED,
  'missing-welcome': MlsRejectReason.MLS_REJECT_REASON_MISSING_WELCOME,
  'not-a-member': MlsRejectReason.MLS_REJECT_REASON_NOT_A_MEMBER,
};

/** The message an output sends and its recipients; undefined for what no member hears. */
export function mlsMessage(
  output: MlsDeliveryOutput,
): { readonly to: readonly ParticipantId[]; readonly message: ServerMessage } | undefined {
  switch (output.type) {
    case 'create-group':
      return { to: [output.to], message: { mlsCreateGroup: { group: output.group } } };
    case 'request-commit':
      return {
        to: [output.to],
        message: {
          mlsCommitRequest: {
            request: output.request,
            epoch: output.epoch,
            adds: output.adds.map((a) => ({
              participant: a.participant,
              keyPackage: Buffer.from(a.keyPackage),
            })),
            removes: [...output.removes],
          },
        },
      };
    case 'broadcast-commit':
      return {
        to: output.to,
        message: {
          mlsCommit: {
            from: output.from,
            epoch: output.epoch,
            commit: Buffer.from(output.commit),
            adds: [...output.adds],
            removes: [...output.removes],
          },
        },
      };
    case 'deliver-welcome':
      return {
        to: [output.to],
        message: { mlsWelcome: { epoch: output.epoch, welcome: Buffer.from(output.welcome) } },
      };
    case 'commit-rejected':
      return {
        to: [output.to],
        message: {
          mlsCommitRejected: {
            request: output.request,
            epoch: output.epoch,
            reason: MLS_REJECTIONS[output.reason],
          },
        },
      };
    case 'epoch-started':
      return undefined;
  }
}
