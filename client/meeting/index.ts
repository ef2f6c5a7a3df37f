// The client library for joining meetings (browser and Node): login and meeting calls
// (http.ts), Meeting Controller signaling (signaling.ts) and the whole join (session.ts). The
// command-line client (client/cli.ts), tests and load clients build on it.
export {
  ClientError,
  createMeeting,
  login,
  lookupMeeting,
  type ClientErrorKind,
  type HttpOptions,
  controllerOf,
  type Meeting,
  type MeetingController,
  type WebTransportEndpoint,
  type UserToken,
} from './http.ts';
export {
  SIGNALING_SUBPROTOCOL,
  SignalingConnection,
  SignalingTimeout,
  type SignalingPort,
} from './signaling.ts';
export {
  JoinError,
  MeetingSession,
  tokenSubject,
  type JoinErrorKind,
  type JoinOptions,
  type MediaConnect,
  type JoinStage,
} from './session.ts';
