// The public API of the layout engine.
export { assignLayout, shownSources, type AssignLayoutInput } from './assign.ts';
export { changedSlots, layoutDemand } from './demand.ts';
export {
  indexParticipants,
  indexRoster,
  indexSpeakers,
  tileKind,
  type Candidate,
  type ParticipantIndex,
  type RosterIndex,
} from './roster.ts';
export {
  MAX_GRID_DIMENSION,
  MAX_SPEAKER_THUMBNAILS,
  type GridRequest,
  type LayoutAssignment,
  type LayoutError,
  type LayoutOptions,
  type LayoutRequest,
  type RequestError,
  type Roster,
  type RosterError,
  type RosterParticipant,
  type Slot,
  type SlotReason,
  type SourceRef,
  type SpeakerRequest,
  type StreamId,
} from './types.ts';
