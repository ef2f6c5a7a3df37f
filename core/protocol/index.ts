// Public API of the protocol codecs: media datagram, SFrame header and encryption rules,
// connection id.
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
  SFRAME_AES_128_CTR_HMAC_SHA256_80,
  SFRAME_AES_128_CTR_HMAC_SHA256_64,
  SFRAME_AES_128_CTR_HMAC_SHA256_32,
  SFRAME_AES_128_GCM_SHA256_128,
  SFRAME_AES_256_GCM_SHA512_128,
  SFRAME_CIPHER_SUITES,
  constantTimeEqual,
  isSFrameValue,
  sframeAad,
  sframeCipherSuite,
  sframeInitialCounterBlock,
  sframeKeyLabel,
  sframeNonce,
  sframeSaltLabel,
  sframeSubkeys,
  sframeTagInput,
} from './sframe-crypto.ts';
export type {
  SFrameCipherSuite,
  SFrameCipherSuiteId,
  SFrameKeyLengthError,
  SFrameSubkeys,
  SFrameSuiteError,
} from './sframe-crypto.ts';
export {
  DEFAULT_SFRAME_REPLAY_WINDOW,
  SFrameReplayWindow,
  SFrameSendCounter,
} from './sframe-counters.ts';
export type { SFrameCounterError, SFrameReplayError } from './sframe-counters.ts';
export {
  SFRAME_MLS_EXPORTER_CONTEXT,
  SFRAME_MLS_EXPORTER_LABEL,
  SFrameMlsEpochs,
  parseSFrameMlsKid,
  sframeMlsIndexBits,
  sframeMlsKid,
} from './sframe-mls.ts';
export type {
  ParsedSFrameMlsKid,
  SFrameMlsKid,
  SFrameMlsKidError,
  SFrameMlsKidLayout,
} from './sframe-mls.ts';
export {
  CONNECTION_ID_LENGTH,
  CONNECTION_ID_TIMESTAMP_LENGTH,
  CONNECTION_ID_RANDOM_LENGTH,
  createConnectionId,
  parseConnectionId,
} from './connection-id.ts';
export type { ConnectionId, ConnectionIdError, ConnectionIdParts } from './connection-id.ts';
export {
  CAPSULE,
  H3_FRAME,
  H3_SETTING,
  H3_STREAM_TYPE,
  WEBTRANSPORT_BIDI_SIGNAL,
  datagramPrefix,
  decodeCloseSession,
  decodeSettings,
  encodeCloseSession,
  encodeFrame,
  encodeSettings,
  encodeVarint,
  readFrame,
  readHttpDatagram,
  readVarint,
  varintLength,
  writeVarint,
} from './h3.ts';
export type { Frame, H3WireError } from './h3.ts';
export { QPACK_STATIC_TABLE, decodeFieldSection, encodeFieldSection } from './qpack.ts';
export type { Field, FieldSectionLimits, HuffmanDecoder, QpackError } from './qpack.ts';
export { checkWebTransportRequest, refusalStatus } from './webtransport.ts';
export type { WebTransportRequest, WebTransportRequestRefusal } from './webtransport.ts';
