// The Meeting Controller's machines: a controller endpoint and one machine per meeting.
export {
  ControllerEndpoint,
  type ControllerConfig,
  type ControllerInput,
  type ControllerOutput,
} from './endpoint.ts';
export {
  DEFAULT_HANDLER_VIEW_POLICY,
  HandlerView,
  type HandlerReport,
  type HandlerViewPolicy,
} from './handlers.ts';
export {
  DEFAULT_MEETING_TIMING,
  KEYFRAME_REQUEST_INTERVAL_MS,
  MeetingMachine,
  homeIn,
  holds,
  handlersOf,
  sameDemand,
  type MeetingConfig,
  type MeetingInput,
  type MeetingMutations,
  type MeetingOutput,
} from './meeting.ts';
export { meetingDemand, type MeetingLayouts } from './layouts.ts';
export { emptyRoster, type MeetingRoster, type Member } from './roster.ts';
