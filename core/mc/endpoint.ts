/**
 * A Meeting Controller instance as a sans-I/O machine: the meetings it runs (one
 * `MeetingMachine` each), what it knows of the Media Handlers (`HandlerView`, from their load
 * reports and their silence) and its heartbeats to the Global Controller. A driver decodes
 * what arrives, calls `handle`, sends what `pollOutput` gives and arms one timer for
 * `pollTimeout`. Times are milliseconds.
 */
import type { ControllerId, HandlerId, MeetingId, RegionId } from '../ids.ts';
import { DEFAULT_HANDLER_VIEW_POLICY, HandlerView, type HandlerReport } from './handlers.ts';
import type { HandlerViewPolicy } from './handlers.ts';
import {
  MeetingMachine,
  type MeetingConfig,
  type MeetingInput,
  type MeetingOutput,
} from './meeting.ts';

export interface ControllerConfig {
  readonly controller: ControllerId;
  readonly region: RegionId;
  /** How often the controller tells the Global Controller it is alive (ms). */
  readonly heartbeatIntervalMs: number;
  readonly handlerView?: HandlerViewPolicy;
  /** Settings of every meeting it runs, less the meeting's id and region. */
  readonly meetings: Omit<MeetingConfig, 'meeting' | 'region'>;
}

export type ControllerInput =
  /** An event of one meeting; `meetingRegion` creates the meeting if the controller lacks it. */
  | {
      readonly type: 'meeting';
      readonly meeting: MeetingId;
      readonly meetingRegion?: RegionId;
      readonly input: MeetingInput;
    }
  /** Load reports read from the regional stores. */
  | { readonly type: 'load-reports'; readonly reports: readonly HandlerReport[] }
  /** A handler's connection closed: lost without waiting for its silence. */
  | { readonly type: 'handler-lost'; readonly handler: HandlerId }
  /**
   * The Global Controller ended the meeting: it ends here (members told, sessions and stored
   * state deleted, handlers told), and any later input for it is answered as for an ended
   * meeting (a join is rejected `meeting-ended`), without starting it again. Acknowledged in
   * the next heartbeat (`ended`), whether the controller ran the meeting or not.
   */
  | { readonly type: 'end-meeting'; readonly meeting: MeetingId }
  /** Another controller took the meeting over: stop running it, without ending it. */
  | { readonly type: 'release'; readonly meeting: MeetingId }
  /**
   * Take over a meeting another controller ran (its state is read from the shared store after
   * that controller failed): commands it left unacknowledged are resent now.
   */
  | { readonly type: 'adopt'; readonly machine: MeetingMachine };

export type ControllerOutput =
  | { readonly type: 'meeting'; readonly meeting: MeetingMachine; readonly output: MeetingOutput }
  | {
      readonly type: 'heartbeat';
      readonly controller: ControllerId;
      readonly meetingCount: number;
      /** Meetings ended on the Global Controller's word since the last heartbeat (its ack). */
      readonly ended: readonly MeetingId[];
    }
  /** An event for a meeting the controller does not run and could not create. */
  | { readonly type: 'unknown-meeting'; readonly meeting: MeetingId }
  | { readonly type: 'handler-lost'; readonly handler: HandlerId };

/** Ended meetings remembered (the most recent): inputs for them are not taken for new ones. */
export const ENDED_MEETINGS_KEPT = 4_096;

export class ControllerEndpoint {
  readonly handlers: HandlerView;
  private readonly meetings = new Map<MeetingId, MeetingMachine>();
  /** Meetings ended here, oldest first (at most `ENDED_MEETINGS_KEPT`), each with the machine
   * answering its inputs once one came. */
  private readonly endedMeetings = new Map<MeetingId, MeetingMachine | null>();
  /** Meetings ended since the last heartbeat, to acknowledge in it. */
  private endedSinceHeartbeat: MeetingId[] = [];
  private readonly own: ControllerOutput[] = [];
  private ownHead = 0;
  /** Meetings that may have outputs waiting, in the order they got them. */
  private readonly dirty: MeetingMachine[] = [];
  private dirtyHead = 0;
  private readonly dirtySet = new Set<MeetingMachine>();
  private readonly deadlines = new DeadlineHeap();
  private nextHeartbeat: number;

  constructor(
    readonly config: ControllerConfig,
    now: number,
  ) {
    this.handlers = new HandlerView(config.handlerView ?? DEFAULT_HANDLER_VIEW_POLICY);
    this.nextHeartbeat = now;
  }

  get id(): ControllerId {
    return this.config.controller;
  }

  meeting(id: MeetingId): MeetingMachine | undefined {
    return this.meetings.get(id);
  }

  get meetingCount(): number {
    return this.meetings.size;
  }

  /**
   * Whether the meeting ended here: its inputs are answered by this endpoint as they are (a
   * join rejected), and the meeting is neither started nor taken over for them.
   */
  hasEnded(meeting: MeetingId): boolean {
    return this.endedMeetings.has(meeting);
  }

  handle(input: ControllerInput, now: number): void {
    switch (input.type) {
      case 'meeting': {
        let machine = this.meetings.get(input.meeting);
        if (machine === undefined && this.endedMeetings.has(input.meeting)) {
          // An ended meeting answers (a join is rejected `meeting-ended`) and stays ended.
          const ended =
            this.endedMeetings.get(input.meeting) ?? this.endedMachine(input.meeting, input);
          ended.handle(input.input, now);
          this.markDirty(ended);
          return;
        }
        if (machine === undefined) {
          if (input.meetingRegion === undefined) {
            this.own.push({ type: 'unknown-meeting', meeting: input.meeting });
            return;
          }
          machine = new MeetingMachine(
            { ...this.config.meetings, meeting: input.meeting, region: input.meetingRegion },
            this.handlers,
          );
          this.meetings.set(input.meeting, machine);
        }
        const meetingInput = input.input;
        // A member telling of its media session lost: the handler it was on may be gone.
        const lostBy =
          meetingInput.type === 'connected' && meetingInput.handler === undefined
            ? meetingInput.participant
            : undefined;
        const lostFrom =
          lostBy === undefined ? undefined : machine.roster.members.get(lostBy)?.connectedHandler;
        machine.handle(meetingInput, now);
        this.touched(machine);
        if (
          lostBy !== undefined &&
          lostFrom !== undefined &&
          this.handlers.mediaLost(lostFrom, lostBy) &&
          this.handlers.lose(lostFrom)
        )
          this.handlerLost(lostFrom, now);
        return;
      }
      case 'load-reports':
        for (const report of input.reports) {
          const wasDraining = this.handlers.isDraining(report.handlerId);
          this.handlers.report(report, now);
          if (!wasDraining && this.handlers.isDraining(report.handlerId))
            this.handlerDraining(report.handlerId, now);
        }
        return;
      case 'handler-lost':
        if (this.handlers.lose(input.handler)) this.handlerLost(input.handler, now);
        return;
      case 'end-meeting': {
        if (!this.endedSinceHeartbeat.includes(input.meeting))
          this.endedSinceHeartbeat.push(input.meeting);
        const machine = this.meetings.get(input.meeting);
        if (machine === undefined) {
          if (!this.endedMeetings.has(input.meeting)) this.rememberEnded(input.meeting);
          return;
        }
        machine.end();
        this.meetings.delete(input.meeting);
        this.deadlines.forget(machine);
        this.rememberEnded(input.meeting);
        // Its last outputs (sessions, members and handlers to tell) are still to be polled.
        this.markDirty(machine);
        return;
      }
      case 'release': {
        const machine = this.meetings.get(input.meeting);
        if (machine === undefined) return;
        this.meetings.delete(input.meeting);
        this.deadlines.forget(machine);
        return;
      }
      case 'adopt': {
        const machine = input.machine;
        machine.adoptedBy(this.handlers, now);
        this.meetings.set(machine.id, machine);
        this.touched(machine);
        return;
      }
    }
  }

  handleTimeout(now: number): void {
    if (now >= this.nextHeartbeat) {
      this.own.push({
        type: 'heartbeat',
        controller: this.config.controller,
        meetingCount: this.meetings.size,
        ended: this.endedSinceHeartbeat,
      });
      this.endedSinceHeartbeat = [];
      this.nextHeartbeat = now + this.config.heartbeatIntervalMs;
    }
    const expiry = this.handlers.nextExpiry();
    if (expiry !== null && expiry <= now) {
      for (const handler of this.handlers.expire(now)) this.handlerLost(handler, now);
    }
    for (;;) {
      const machine = this.deadlines.due(now);
      if (machine === undefined) break;
      machine.handleTimeout(now);
      this.markDirty(machine);
      this.deadlines.reset(machine, machine.pollTimeout());
    }
  }

  pollOutput(): ControllerOutput | null {
    if (this.ownHead < this.own.length) return this.own[this.ownHead++] ?? null;
    if (this.ownHead > 0) {
      this.own.length = 0;
      this.ownHead = 0;
    }
    while (this.dirtyHead < this.dirty.length) {
      const machine = this.dirty[this.dirtyHead] as MeetingMachine;
      const output = machine.pollOutput();
      if (output !== null) return { type: 'meeting', meeting: machine, output };
      this.dirtyHead++;
      this.dirtySet.delete(machine);
    }
    this.dirty.length = 0;
    this.dirtyHead = 0;
    return null;
  }

  pollTimeout(): number | null {
    let next: number | null = this.nextHeartbeat;
    const expiry = this.handlers.nextExpiry();
    if (expiry !== null && expiry < next) next = expiry;
    const meeting = this.deadlines.peek();
    if (meeting !== null && meeting < next) next = meeting;
    return next;
  }

  /**
   * Keeps the most recent ended meetings. Not their machines (which hold the roster): an input
   * for one is answered by a small machine ended from the start, made when it comes.
   */
  private rememberEnded(meeting: MeetingId): void {
    this.endedMeetings.delete(meeting);
    this.endedMeetings.set(meeting, null);
    if (this.endedMeetings.size > ENDED_MEETINGS_KEPT) {
      const oldest = this.endedMeetings.keys().next();
      if (oldest.done !== true) this.endedMeetings.delete(oldest.value);
    }
  }

  /** A machine for an ended meeting, ended from the start (it has nothing to tell anyone). */
  private endedMachine(
    meeting: MeetingId,
    input: Extract<ControllerInput, { type: 'meeting' }>,
  ): MeetingMachine {
    const machine = new MeetingMachine(
      { ...this.config.meetings, meeting, region: input.meetingRegion ?? this.config.region },
      this.handlers,
    );
    machine.end();
    while (machine.pollOutput() !== null);
    this.endedMeetings.set(meeting, machine);
    return machine;
  }

  /** Meetings that use a handler now draining move off it (core's planner leaves it out). */
  private handlerDraining(handler: HandlerId, now: number): void {
    for (const machine of this.meetings.values()) {
      if (!machine.uses(handler)) continue;
      machine.handle({ type: 'handler-draining', handler }, now);
      this.touched(machine);
    }
  }

  private handlerLost(handler: HandlerId, now: number): void {
    this.own.push({ type: 'handler-lost', handler });
    for (const machine of this.meetings.values()) {
      if (!machine.uses(handler)) continue;
      machine.handle({ type: 'handler-lost', handler }, now);
      this.touched(machine);
    }
  }

  /**
   * Queues the machine's outputs (an acknowledgement mostly gives none) and files its next
   * deadline.
   */
  private touched(machine: MeetingMachine): void {
    if (machine.hasOutput) this.markDirty(machine);
    this.deadlines.set(machine, machine.pollTimeout());
  }

  private markDirty(machine: MeetingMachine): void {
    if (!this.dirtySet.has(machine)) {
      this.dirtySet.add(machine);
      this.dirty.push(machine);
    }
  }
}

/**
 * Each meeting's next deadline, earliest first: a binary heap that knows where each meeting's
 * entry is, so a deadline that moves (most do, at every command sent and acknowledged) is
 * moved in place. Equal deadlines come out in the order they were last set.
 */
export class DeadlineHeap {
  private readonly heap: DeadlineEntry[] = [];
  private readonly entries = new Map<MeetingMachine, DeadlineEntry>();
  private seq = 0;

  set(machine: MeetingMachine, at: number | null): void {
    const entry = this.entries.get(machine);
    if (at === null) {
      if (entry !== undefined) this.remove(entry);
      return;
    }
    if (entry === undefined) {
      const added = { at, seq: this.seq++, machine, index: this.heap.length };
      this.entries.set(machine, added);
      this.heap.push(added);
      this.up(added.index);
      return;
    }
    if (entry.at === at) return;
    const earlier = at < entry.at;
    entry.at = at;
    entry.seq = this.seq++;
    if (earlier) this.up(entry.index);
    else this.down(entry.index);
  }

  forget(machine: MeetingMachine): void {
    const entry = this.entries.get(machine);
    if (entry !== undefined) this.remove(entry);
  }

  peek(): number | null {
    return this.heap[0]?.at ?? null;
  }

  popDue(now: number): MeetingMachine | undefined {
    const top = this.heap[0];
    if (top === undefined || top.at > now) return undefined;
    this.remove(top);
    return top.machine;
  }

  /** The machine with the earliest deadline if that is at or before `now`, left in the heap. */
  due(now: number): MeetingMachine | undefined {
    const top = this.heap[0];
    return top === undefined || top.at > now ? undefined : top.machine;
  }

  /**
   * Files `machine`'s deadline as if it had been popped and set afresh (it comes after every
   * other at the same deadline), moving its entry in place rather than dropping and adding it.
   */
  reset(machine: MeetingMachine, at: number | null): void {
    const entry = this.entries.get(machine);
    if (entry === undefined || at === null) {
      this.set(machine, at);
      return;
    }
    const earlier = at < entry.at;
    entry.at = at;
    entry.seq = this.seq++;
    if (earlier) this.up(entry.index);
    else this.down(entry.index);
  }

  private remove(entry: DeadlineEntry): void {
    this.entries.delete(entry.machine);
    const last = this.heap.pop() as DeadlineEntry;
    if (last === entry) return;
    this.heap[entry.index] = last;
    last.index = entry.index;
    if (this.less(last, entry)) this.up(last.index);
    else this.down(last.index);
  }

  private less(x: DeadlineEntry, y: DeadlineEntry): boolean {
    return x.at < y.at || (x.at === y.at && x.seq < y.seq);
  }

  private up(index: number): void {
    const heap = this.heap;
    const entry = heap[index] as DeadlineEntry;
    let i = index;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = heap[parentIndex] as DeadlineEntry;
      if (!this.less(entry, parent)) break;
      heap[i] = parent;
      parent.index = i;
      i = parentIndex;
    }
    heap[i] = entry;
    entry.index = i;
  }

  private down(index: number): void {
    const heap = this.heap;
    const entry = heap[index] as DeadlineEntry;
    let i = index;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      let child = left;
      let smallest = heap[left] as DeadlineEntry;
      const right = left + 1;
      if (right < heap.length && this.less(heap[right] as DeadlineEntry, smallest)) {
        child = right;
        smallest = heap[right] as DeadlineEntry;
      }
      if (!this.less(smallest, entry)) break;
      heap[i] = smallest;
      smallest.index = i;
      i = child;
    }
    heap[i] = entry;
    entry.index = i;
  }
}

interface DeadlineEntry {
  at: number;
  seq: number;
  readonly machine: MeetingMachine;
  index: number;
}
