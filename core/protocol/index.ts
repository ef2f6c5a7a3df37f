// Public API of the protocol codecs: media datagram, SFrame header, connection id.
export {
  DATAGRAM_VERSION,
  DATAGRAM_HEADER_LENGTH,
  MAX_HOP_COUNT,
  MAX_PAYLOAD_LENGTH,
  FLAG_KEYFRAME,
  FLAG_END_OF_FRAME,
  FLAG_DISCARDABLE,
  decodeDatagram,
  encodeDatagram,
  encodeHeaderInto,
  incrementHopCount,
} from './datagram.ts';
export type { Datagram, DatagramError, DatagramHeader, HopCount } from './datagram.ts';
export { MAX_SFRAME_VALUE, parseSFrameHeader, serializeSFrameHeader } from './sframe.ts';
export type { ParsedSFrame, SFrameError, SFrameField, SFrameHeader } from './sframe.ts';
export {
  CONNECTION_ID_LENGTH,
  CONNECTION_ID_TIMESTAMP_LENGTH,
  CONNECTION_ID_RANDOM_LENGTH,
  createConnectionId,
  parseConnectionId,
} from './connection-id.ts';
export type { ConnectionId, ConnectionIdError, ConnectionIdParts } from './connection-id.ts';
