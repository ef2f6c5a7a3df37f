/**
 * One Media Handler's forwarding table: the route legs that concern it, grouped by stream,
 * with an open-addressing index from the datagram header's stream id (two 32-bit words) to the
 * stream, so the datagram path finds a stream without allocating.
 *
 * A leg concerns handler `me` when it is a publish leg to `me`, a cascade leg from or to `me`,
 * or a delivery leg at `me`; every other leg is ignored (counted by `apply`). Legs form a set:
 * adding a leg already present or removing one that is absent changes nothing.
 */
import type { HandlerId, MediaKind, MeetingId, ParticipantId } from '../ids.ts';
import { MEDIA_KINDS } from '../ids.ts';
import { routeKey, sortByKey } from '../routing/keys.ts';
import type { CascadeRoute, DeliverRoute, Route } from '../routing/types.ts';
import { publisherIdWords, streamIdWords } from './stream-id.ts';

/** One stream this handler holds legs for. Mutable only inside core/mh. */
export interface StreamEntry {
  readonly meeting: MeetingId;
  readonly publisher: ParticipantId;
  readonly kind: MediaKind;
  /** Stream id header words. */
  readonly high: number;
  readonly low: number;
  /** Publisher id header words. */
  readonly publisherHigh: number;
  readonly publisherLow: number;
  /** The index finds this entry (false only for an id that collided with another's). */
  indexed: boolean;
  /** A publish leg publisher -> this handler is installed. */
  published: boolean;
  /** Handlers cascading the stream to this handler (a set, in the order added). */
  readonly sources: HandlerId[];
  /** Handlers this handler cascades the stream to (likewise). */
  readonly targets: HandlerId[];
  /**
   * Subscribers this handler delivers the stream to (likewise). Arrays, not sets: a handler
   * holds thousands of streams of a few legs each, and small arrays take a fraction of a
   * set's memory.
   */
  readonly subscribers: ParticipantId[];
  /** Connection keys resolved from the sets above; valid while `epoch` is the forwarder's. */
  epoch: number;
  publisherConnection: number;
  sourceConnections: Int32Array;
  sourceCount: number;
  subscriberConnections: Int32Array;
  subscriberCount: number;
  targetConnections: Int32Array;
  targetCount: number;
}

/** Counts of what one `apply` did. */
export interface ApplyCounts {
  /** Legs that changed the table. */
  changed: number;
  /** Legs that do not concern this handler or are invalid (unknown kind, self cascade). */
  ignored: number;
}

/** An installed leg and the meeting it belongs to. */
export interface InstalledRoute {
  readonly meeting: MeetingId;
  readonly route: Route;
}

type Role = 'publish' | 'cascade-out' | 'cascade-in' | 'deliver';

/** What part `me` plays in `route`, or null when the leg does not concern it (or is a loop). */
function roleOf(route: Route, me: HandlerId): Role | null {
  switch (route.type) {
    case 'publish':
      return route.handler === me ? 'publish' : null;
    case 'cascade':
      if (route.from === route.to) return null;
      if (route.from === me) return 'cascade-out';
      return route.to === me ? 'cascade-in' : null;
    case 'deliver':
      return route.handler === me ? 'deliver' : null;
    default:
      return null;
  }
}

const EMPTY = new Int32Array(0);
const KINDS: ReadonlySet<string> = new Set(MEDIA_KINDS);

/** The slot a stream id's words hash to, for a table of 2^bits slots. */
export function slotOf(high: number, low: number, bits: number): number {
  return Math.imul(high ^ Math.imul(low, 0x9e3779b1), 0x85ebca6b) >>> (32 - bits);
}

export class ForwardingTable {
  readonly #me: HandlerId;
  /**
   * Streams by meeting, then publisher, then kind: a leg finds its stream without building a
   * key (route commands are the table's hot path in the simulator).
   */
  readonly #byMeeting = new Map<MeetingId, Map<ParticipantId, PublisherStreams>>();
  #size = 0;
  #slots: (StreamEntry | null)[] = [null, null];
  #bits = 1;
  /** Entries in the index. */
  #indexed = 0;
  /** Streams whose id collided with another installed stream's id; they are not indexed. */
  collisions = 0;
  /** Installed cascade legs (in and out) naming each peer handler. */
  readonly #peerLegs = new Map<HandlerId, number>();
  /** Counts the changes to which peers `#peerLegs` names (a peer named first, or no more). */
  #peerSetVersion = 0;

  constructor(me: HandlerId) {
    this.#me = me;
  }

  get size(): number {
    return this.#size;
  }

  *entries(): IterableIterator<StreamEntry> {
    for (const publishers of this.#byMeeting.values())
      for (const streams of publishers.values())
        for (const kind of MEDIA_KINDS) {
          const entry = streams[kind];
          if (entry !== undefined) yield entry;
        }
  }

  /** Adds `add`, then removes `remove`; returns what changed. Keeps the index up to date. */
  apply(meeting: MeetingId, add: readonly Route[], remove: readonly Route[]): ApplyCounts {
    const counts: ApplyCounts = { changed: 0, ignored: 0 };
    for (const route of add) this.#leg(meeting, route, true, counts);
    for (const route of remove) this.#leg(meeting, route, false, counts);
    return counts;
  }

  /** Peer handlers named by at least one installed cascade leg, with how many legs each. */
  get peerLegs(): ReadonlyMap<HandlerId, number> {
    return this.#peerLegs;
  }

  /**
   * Changes whenever a peer handler comes to be named by a cascade leg or stops being named:
   * while it stays the same, `peerLegs` names the same peers (their counts may differ).
   */
  get peerSetVersion(): number {
    return this.#peerSetVersion;
  }

  #countPeer(handler: HandlerId, delta: number): void {
    const before = this.#peerLegs.get(handler) ?? 0;
    const count = before + delta;
    if (count > 0) this.#peerLegs.set(handler, count);
    else this.#peerLegs.delete(handler);
    if (before > 0 !== count > 0) this.#peerSetVersion++;
  }

  /** Removes every leg of `meeting`; returns how many streams went. */
  dropMeeting(meeting: MeetingId): number {
    const publishers = this.#byMeeting.get(meeting);
    if (publishers === undefined) return 0;
    this.#byMeeting.delete(meeting);
    let dropped = 0;
    for (const streams of publishers.values()) {
      for (const kind of MEDIA_KINDS) {
        const entry = streams[kind];
        if (entry === undefined) continue;
        for (const from of entry.sources) this.#countPeer(from, -1);
        for (const to of entry.targets) this.#countPeer(to, -1);
        this.#size--;
        this.#unindex(entry);
        dropped++;
      }
    }
    return dropped;
  }

  /** The stream with these header words, or null. Allocation-free. */
  lookup(high: number, low: number): StreamEntry | null {
    const slots = this.#slots;
    const mask = slots.length - 1;
    let slot = slotOf(high, low, this.#bits);
    for (;;) {
      const entry = slots[slot];
      if (entry === null || entry === undefined) return null;
      if (entry.high === high && entry.low === low) return entry;
      slot = (slot + 1) & mask;
    }
  }

  /** Every installed leg with its meeting, in (meeting, route key) order (for tests and logs). */
  routes(): InstalledRoute[] {
    const keyed: { key: string; installed: InstalledRoute }[] = [];
    const me = this.#me;
    for (const e of this.entries()) {
      const push = (route: Route) =>
        keyed.push({
          key: `${e.meeting}\u0000${routeKey(route)}`,
          installed: { meeting: e.meeting, route },
        });
      const stream = { publisher: e.publisher, kind: e.kind };
      if (e.published) push({ type: 'publish', ...stream, handler: me });
      for (const from of e.sources) push({ type: 'cascade', ...stream, from, to: me });
      for (const to of e.targets) push({ type: 'cascade', ...stream, from: me, to });
      for (const subscriber of e.subscribers) {
        push({ type: 'deliver', ...stream, handler: me, subscriber });
      }
    }
    return sortByKey(keyed, (k) => k.key).map((k) => k.installed);
  }

  #leg(meeting: MeetingId, route: Route, adding: boolean, counts: ApplyCounts): void {
    const me = this.#me;
    const role = roleOf(route, me);
    if (role === null || !KINDS.has(route.kind)) {
      counts.ignored++;
      return;
    }
    const entry = this.#entry(meeting, route.publisher, route.kind, adding);
    if (entry === null) return;
    let changed: boolean;
    switch (role) {
      case 'publish':
        changed = entry.published !== adding;
        entry.published = adding;
        break;
      case 'cascade-out': {
        const to = (route as CascadeRoute).to;
        changed = toggle(entry.targets, to, adding);
        if (changed) this.#countPeer(to, adding ? 1 : -1);
        break;
      }
      case 'cascade-in': {
        const from = (route as CascadeRoute).from;
        changed = toggle(entry.sources, from, adding);
        if (changed) this.#countPeer(from, adding ? 1 : -1);
        break;
      }
      case 'deliver':
        changed = toggle(entry.subscribers, (route as DeliverRoute).subscriber, adding);
        break;
    }
    if (changed) {
      counts.changed++;
      entry.epoch = -1;
    }
    if (isEmpty(entry)) {
      this.#delete(entry);
      this.#unindex(entry);
    }
  }

  /** Takes an emptied stream out of the table (the index is the caller's). */
  #delete(entry: StreamEntry): void {
    const publishers = this.#byMeeting.get(entry.meeting);
    const streams = publishers?.get(entry.publisher);
    if (publishers === undefined || streams === undefined) return;
    streams[entry.kind] = undefined;
    this.#size--;
    if (streams.camera !== undefined || streams.screen !== undefined || streams.audio !== undefined)
      return;
    publishers.delete(entry.publisher);
    if (publishers.size === 0) this.#byMeeting.delete(entry.meeting);
  }

  #entry(
    meeting: MeetingId,
    publisher: ParticipantId,
    kind: MediaKind,
    create: boolean,
  ): StreamEntry | null {
    let publishers = this.#byMeeting.get(meeting);
    let streams = publishers?.get(publisher);
    const found = streams?.[kind];
    if (found !== undefined || !create) return found ?? null;
    const id = streamIdWords(meeting, publisher, kind);
    const pub = publisherIdWords(meeting, publisher);
    const entry: StreamEntry = {
      meeting,
      publisher,
      kind,
      high: id.high,
      low: id.low,
      publisherHigh: pub.high,
      publisherLow: pub.low,
      indexed: false,
      published: false,
      sources: [],
      targets: [],
      subscribers: [],
      epoch: -1,
      publisherConnection: -1,
      sourceConnections: EMPTY,
      sourceCount: 0,
      subscriberConnections: EMPTY,
      subscriberCount: 0,
      targetConnections: EMPTY,
      targetCount: 0,
    };
    if (publishers === undefined) {
      publishers = new Map();
      this.#byMeeting.set(meeting, publishers);
    }
    if (streams === undefined) {
      streams = { camera: undefined, screen: undefined, audio: undefined };
      publishers.set(publisher, streams);
    }
    streams[kind] = entry;
    this.#size++;
    if ((this.#indexed + 1) * 2 > this.#slots.length) this.#rebuildIndex(this.#size);
    else this.#insert(entry);
    return entry;
  }

  /** Puts `entry` in the index, unless another entry holds its id (a collision). */
  #insert(entry: StreamEntry): void {
    const slots = this.#slots;
    const mask = slots.length - 1;
    let slot = slotOf(entry.high, entry.low, this.#bits);
    for (;;) {
      const there = slots[slot];
      if (there === null || there === undefined) {
        slots[slot] = entry;
        entry.indexed = true;
        this.#indexed++;
        return;
      }
      if (there.high === entry.high && there.low === entry.low) {
        entry.indexed = false;
        this.collisions++;
        return;
      }
      slot = (slot + 1) & mask;
    }
  }

  /**
   * Takes a removed entry out of the index: backward-shift deletion keeps every probe chain
   * unbroken without tombstones. An entry whose id another entry shares is re-indexed by a
   * rebuild (ids are 64-bit hashes: this does not happen in practice).
   */
  #unindex(entry: StreamEntry): void {
    if (!entry.indexed) {
      this.collisions--;
      return;
    }
    if (this.collisions > 0) {
      entry.indexed = false;
      this.#rebuildIndex(this.#size);
      return;
    }
    const slots = this.#slots;
    const mask = slots.length - 1;
    const bits = this.#bits;
    let hole = slotOf(entry.high, entry.low, bits);
    while (slots[hole] !== entry) hole = (hole + 1) & mask;
    slots[hole] = null;
    entry.indexed = false;
    this.#indexed--;
    for (let next = (hole + 1) & mask; ; next = (next + 1) & mask) {
      const moving = slots[next];
      if (moving === null || moving === undefined) return;
      const home = slotOf(moving.high, moving.low, bits);
      // `moving` may fill the hole unless its home lies cyclically in (hole, next].
      const stays = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (stays) continue;
      slots[hole] = moving;
      slots[next] = null;
      hole = next;
    }
  }

  /** A fresh index sized for `count` entries (at most half full). */
  #rebuildIndex(count: number): void {
    let bits = 1;
    while (1 << bits < count * 2) bits++;
    this.#slots = new Array<StreamEntry | null>(1 << bits).fill(null);
    this.#bits = bits;
    this.#indexed = 0;
    this.collisions = 0;
    for (const entry of this.entries()) this.#insert(entry);
  }
}

/** Adds `value` to (or removes it from) the set held in `list`; whether that changed it. */
/** One publisher's streams in a meeting, by media kind. */
type PublisherStreams = { [K in MediaKind]: StreamEntry | undefined };

function toggle<T>(list: T[], value: T, adding: boolean): boolean {
  const at = list.indexOf(value);
  if (at >= 0 === adding) return false;
  if (adding) list.push(value);
  else list.splice(at, 1);
  return true;
}

function isEmpty(entry: StreamEntry): boolean {
  return (
    !entry.published &&
    entry.sources.length === 0 &&
    entry.targets.length === 0 &&
    entry.subscribers.length === 0
  );
}
