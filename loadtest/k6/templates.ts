// Datagram header templates for the k6 script: the 42 header bytes of a participant's stream
// (derived ids, hop count 0, one fragment), which the script completes per datagram.
import { meetingId, participantId, type MediaKind } from '../../core/ids.ts';
import { mediaPublisherId, mediaStreamId } from '../../core/mh/stream-id.ts';
import { DATAGRAM_HEADER_LENGTH, encodeHeaderInto } from '../../core/protocol/datagram.ts';

export function headerTemplate(
  meeting: string,
  participant: string,
  kind: MediaKind,
): { hex: string; streamId: bigint; publisherId: bigint } {
  const streamId = mediaStreamId(meetingId(meeting), participantId(participant), kind);
  const publisherId = mediaPublisherId(meetingId(meeting), participantId(participant));
  const target = new Uint8Array(DATAGRAM_HEADER_LENGTH);
  const written = encodeHeaderInto(
    {
      keyframe: false,
      endOfFrame: true,
      discardable: false,
      hopCount: 0,
      spatialLayer: 0,
      temporalLayer: 0,
      streamId,
      publisherId,
      sequence: 0,
      frameId: 0,
      fragmentIndex: 0,
      fragmentCount: 1,
      captureTimeUs: 0,
    },
    1,
    target,
  );
  if (!written.ok) throw new Error(written.error.kind);
  return { hex: Buffer.from(target).toString('hex'), streamId, publisherId };
}
