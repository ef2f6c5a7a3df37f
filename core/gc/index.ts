// The Global Controller's choice of Meeting Controller for a meeting.
export {
  currentController,
  placeMeeting,
  registryFrom,
  type ControllerRecord,
  type MeetingPlacement,
  type PlacementOptions,
} from './placement.ts';
