/**
 * The SFrame metadata of a media frame (docs/protocol.md, "Client media frames"): the stream id
 * then the publisher id, 8 bytes each, big-endian. It is authenticated with the frame, not
 * carried, so a frame cannot be passed off as another stream's or another publisher's.
 */
export function frameMetadata(streamId: bigint, publisherId: bigint): Uint8Array {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, streamId);
  view.setBigUint64(8, publisherId);
  return bytes;
}
