/**
 * Which participant each tile shows. The Meeting Controller decides who each member's layout shows
 * (core/mc/layouts.ts over core/layout's ranking) and routes media by it, but places no tiles and
 * sends no assignment (`Layout` is reserved, docs/protocol.md). Until it does, `LocalLayout` runs
 * the same engine, `assignLayout` from core/layout, on what the client knows: the member list in
 * join order, who shares a screen and the controller's speaker order from `Participants` (a sharer
 * publishes `screen`, which the engine ranks first and shows in the sharer's tile, as the
 * controller routes it; speaker view's main tile goes to the latest speaker, as the controller
 * routes it), the named layout it asked the controller for, and its own pins (a subscriber-side
 * option the controller's named layouts do not carry). A controller-sent assignment plugs in behind
 * `LayoutSource`.
 */
import { participantId, type ParticipantId } from '../../../core/ids.ts';
import { assignLayout } from '../../../core/layout/assign.ts';
import { layoutRequestNamed } from '../../../core/layout/named.ts';
import type { LayoutAssignment, LayoutRequest, SlotReason } from '../../../core/layout/types.ts';

export type LayoutName = 'grid' | 'speaker';

export interface Tile {
  readonly participant: string;
  /** What the tile shows of the participant: its camera or its shared screen. */
  readonly kind: 'camera' | 'screen';
  readonly reason: SlotReason;
  /** Speaker view's main tile. */
  readonly main: boolean;
}

export interface LayoutView {
  readonly name: LayoutName;
  readonly tiles: readonly Tile[];
}

export interface LayoutSource {
  view(): LayoutView;
}

export class LocalLayout implements LayoutSource {
  private members: readonly string[] = [];
  private sharing: readonly string[] = [];
  private speakers: readonly string[] = [];
  private pins: string[] = [];
  private previous: LayoutAssignment | undefined;
  name: LayoutName = 'grid';

  constructor(private readonly self: string) {}

  /** The members, who shares a screen and the controller's speaker order (latest first). */
  setMembers(
    members: readonly string[],
    sharing: readonly string[] = [],
    speakers: readonly string[] = [],
  ): void {
    this.members = members;
    this.sharing = sharing;
    this.speakers = speakers.filter((p) => members.includes(p));
    this.pins = this.pins.filter((p) => members.includes(p));
  }

  setName(name: LayoutName): void {
    if (name !== this.name) this.previous = undefined;
    this.name = name;
  }

  togglePin(participant: string): void {
    this.pins = this.pins.includes(participant)
      ? this.pins.filter((p) => p !== participant)
      : [participant, ...this.pins];
  }

  pinned(): readonly string[] {
    return this.pins;
  }

  view(): LayoutView {
    const base = layoutRequestNamed(this.name);
    const request: LayoutRequest = {
      ...base,
      pinnedUsers: this.pins.map((p) => participantId(p)),
    };
    const result = assignLayout({
      roster: {
        participants: this.members.map((id, joinOrder) => ({
          id: participantId(id),
          joinOrder,
          publishes: this.sharing.includes(id)
            ? ['screen', 'camera', 'audio']
            : ['camera', 'audio'],
        })),
        departed: [],
        activeSpeakers: this.speakers.map((p) => participantId(p)),
      },
      subscriber: participantId(this.self) as ParticipantId,
      request,
      ...(this.previous === undefined ? {} : { previous: this.previous }),
    });
    if (!result.ok) return { name: this.name, tiles: [] };
    this.previous = result.value;
    const tiles: Tile[] = [];
    result.value.slots.forEach((slot, index) => {
      if (slot.shows === null) return;
      tiles.push({
        participant: slot.shows.participant,
        kind: slot.shows.kind === 'screen' ? 'screen' : 'camera',
        reason: slot.reason,
        main: this.name === 'speaker' && index === 0,
      });
    });
    return { name: this.name, tiles };
  }
}
