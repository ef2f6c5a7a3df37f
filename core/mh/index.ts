// Public API of core/mh: the Media Handler forwarder machine, its inputs and outputs, the
// connection-token claims check and the datagram stream/publisher id derivation.
export {
  Forwarder,
  ForwarderCounters,
  ForwarderConfigException,
  DROP_MALFORMED,
  DROP_HOP_EXCEEDED,
  DROP_BAD_HOP,
  DROP_UNKNOWN_CONNECTION,
  DROP_UNKNOWN_STREAM,
  DROP_NOT_PUBLISHER,
  DROP_OUT_TOO_SMALL,
  DROP_REASONS,
  type DropReason,
} from './forwarder.ts';
export type {
  ForwarderConfig,
  ForwarderConfigError,
  MhInput,
  MhOutput,
  RouteCommand,
  SessionRefusal,
} from './types.ts';
export {
  checkConnectionClaims,
  DEFAULT_CLAIMS_POLICY,
  type ClaimsPolicy,
  type ClaimsRefusal,
  type ConnectionTokenClaims,
} from './claims.ts';
export {
  mediaPublisherId,
  mediaStreamId,
  publisherIdWords,
  streamIdWords,
  wordsToId,
  type IdWords,
} from './stream-id.ts';
export type { InstalledRoute } from './table.ts';
export {
  dialsPeer,
  PEER_DIAL_BACKOFF,
  PeerDialer,
  subjectNamesHandler,
  type PeerDialState,
  type PeerRequest,
} from './peering.ts';
