/**
 * Branded identifiers. A participant id can never be passed where a meeting id is expected,
 * even though both are strings at run time.
 */
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

export type MeetingId = Brand<string, 'MeetingId'>;
export type ParticipantId = Brand<string, 'ParticipantId'>;
export type HandlerId = Brand<string, 'HandlerId'>;
export type ControllerId = Brand<string, 'ControllerId'>;
export type RegionId = Brand<string, 'RegionId'>;

export const meetingId = (s: string) => s as MeetingId;
export const participantId = (s: string) => s as ParticipantId;
export const handlerId = (s: string) => s as HandlerId;
export const controllerId = (s: string) => s as ControllerId;
export const regionId = (s: string) => s as RegionId;

/** The three kinds of media a participant can publish. */
export type MediaKind = 'camera' | 'screen' | 'audio';
export const MEDIA_KINDS: readonly MediaKind[] = ['camera', 'screen', 'audio'];
