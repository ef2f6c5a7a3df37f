import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HandlerId, ParticipantId } from '../ids.ts';
import { layoutRequestNamed } from '../layout/named.ts';
import type { LayoutRequest } from '../layout/types.ts';
import { RouteGraph } from '../routing/graph.ts';
import { routesOf } from '../routing/loads.ts';
import type { PlanStep } from '../routing/transition.ts';
import type { Route } from '../routing/types.ts';
import { holds, type MeetingMachine, type MeetingOutput } from './meeting.ts';
import {
  MBPS,
  OTHER_REGION,
  REGION,
  SOLO,
  TEST_TIMING,
  drain,
  h,
  newMeeting,
  p,
  report,
  viewOf,
} from './testing.ts';

const PEOPLE = ['a', 'b', 'c', 'd', 'e'];
const LAYOUTS: readonly LayoutRequest[] = [
  layoutRequestNamed('grid'),
  layoutRequestNamed('grid2x2'),
  layoutRequestNamed('speaker'),
  SOLO,
  SOLO,
];
/** h1 is never lost, so every member always has somewhere to go. */
const HANDLERS = ['h1', 'h2', 'h3'];
const LOSABLE = ['h2', 'h3'];

type Op =
  | { readonly type: 'join'; readonly who: number; readonly far: boolean; readonly layout: number }
  | { readonly type: 'leave'; readonly who: number }
  | { readonly type: 'layout'; readonly who: number; readonly layout: number }
  | { readonly type: 'speaker'; readonly who: number }
  | { readonly type: 'connected'; readonly who: number; readonly handler: number }
  | { readonly type: 'lose'; readonly handler: number }
  | { readonly type: 'deliver'; readonly pick: number }
  | { readonly type: 'drop'; readonly pick: number }
  | { readonly type: 'tick'; readonly dt: number };

const who = fc.nat(PEOPLE.length - 1);
const layout = fc.nat(LAYOUTS.length - 1);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({ type: fc.constant('join' as const), who, far: fc.boolean(), layout }),
    weight: 3,
  },
  { arbitrary: fc.record({ type: fc.constant('leave' as const), who }), weight: 2 },
  { arbitrary: fc.record({ type: fc.constant('layout' as const), who, layout }), weight: 1 },
  { arbitrary: fc.record({ type: fc.constant('speaker' as const), who }), weight: 2 },
  {
    arbitrary: fc.record({
      type: fc.constant('connected' as const),
      who,
      handler: fc.integer({ min: -1, max: 2 }),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      type: fc.constant('lose' as const),
      handler: fc.nat(LOSABLE.length - 1),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ type: fc.constant('deliver' as const), pick: fc.nat(20) }), weight: 5 },
  { arbitrary: fc.record({ type: fc.constant('drop' as const), pick: fc.nat(20) }), weight: 1 },
  {
    arbitrary: fc.record({
      type: fc.constant('tick' as const),
      dt: fc.integer({ min: 1, max: 900 }),
    }),
    weight: 3,
  },
);

type Message =
  | {
      readonly kind: 'command';
      readonly id: number;
      readonly handler: HandlerId;
      readonly steps: readonly PlanStep[];
    }
  | { readonly kind: 'ack'; readonly id: number }
  | { readonly kind: 'moved'; readonly who: ParticipantId; readonly handler: HandlerId };

interface Outstanding {
  readonly handler: HandlerId;
  readonly steps: readonly PlanStep[];
  lastSent: number;
}

const legKey = (r: Route) =>
  r.type === 'publish'
    ? `p ${r.publisher} ${r.kind} ${r.handler}`
    : r.type === 'cascade'
      ? `c ${r.publisher} ${r.kind} ${r.from}>${r.to}`
      : `d ${r.publisher} ${r.kind} ${r.handler}>${r.subscriber}`;

function installedLegs(graph: RouteGraph): string[] {
  const legs: string[] = [];
  for (const paths of graph.allPaths()) {
    const { publisher, kind } = paths.stream;
    for (const handler of paths.publishedAt)
      legs.push(legKey({ type: 'publish', publisher, kind, handler }));
    for (const cascade of paths.cascades.values()) legs.push(legKey(cascade));
    for (const [subscriber, handlers] of paths.deliveries)
      for (const handler of handlers)
        legs.push(legKey({ type: 'deliver', publisher, kind, handler, subscriber }));
  }
  return legs.sort();
}

/**
 * Drives one meeting the way a controller and its handlers would: route commands and their
 * acknowledgements travel as messages delivered in any order, or lost; handlers apply a command
 * id at most once; timers fire at the machine's deadlines. Checks the transition rules on every
 * output.
 */
class Harness {
  now = 0;
  readonly messages: Message[] = [];
  readonly installed = new RouteGraph();
  readonly applied = new Set<number>();
  readonly outstanding = new Map<number, Outstanding>();
  readonly acked = new Set<number>();
  readonly lost = new Set<HandlerId>();
  inFlight = false;
  additions: number[] = [];
  lastId = 0;
  readonly machine: MeetingMachine;
  readonly view = viewOf(['h1', 'h2']);

  constructor() {
    this.view.report(report('h3', 0, { region: OTHER_REGION }), 0);
    this.machine = newMeeting([], {}, this.view).machine;
  }

  input(op: Op): void {
    const m = this.machine;
    switch (op.type) {
      case 'join':
        m.handle(
          {
            type: 'join',
            participant: p(PEOPLE[op.who] as string),
            region: op.far ? OTHER_REGION : REGION,
            layout: LAYOUTS[op.layout] as LayoutRequest,
          },
          this.now,
        );
        break;
      case 'leave':
        m.handle({ type: 'leave', participant: p(PEOPLE[op.who] as string) }, this.now);
        break;
      case 'layout':
        m.handle(
          {
            type: 'layout',
            participant: p(PEOPLE[op.who] as string),
            layout: LAYOUTS[op.layout] as LayoutRequest,
          },
          this.now,
        );
        break;
      case 'speaker':
        m.handle({ type: 'speaker', participant: p(PEOPLE[op.who] as string) }, this.now);
        break;
      case 'connected': {
        const handler = op.handler < 0 ? undefined : h(HANDLERS[op.handler] as string);
        if (handler !== undefined && this.lost.has(handler)) return;
        m.handle(
          { type: 'connected', participant: p(PEOPLE[op.who] as string), handler },
          this.now,
        );
        break;
      }
      case 'lose':
        this.lose(h(LOSABLE[op.handler] as string));
        break;
      case 'deliver':
        if (this.messages.length > 0) this.deliver(op.pick % this.messages.length);
        return;
      case 'drop':
        if (this.messages.length > 0) this.messages.splice(op.pick % this.messages.length, 1);
        return;
      case 'tick':
        this.advance(this.now + op.dt);
        return;
    }
    this.collect();
  }

  /** The endpoint's part: the view loses the handler, meetings using it are told. */
  lose(handler: HandlerId): void {
    if (!this.view.lose(handler)) return;
    this.lost.add(handler);
    // Its entries are gone, and nothing reaches it any more.
    for (const paths of [...this.installed.allPaths()]) {
      const { publisher, kind } = paths.stream;
      const routes: Route[] = [];
      for (const at of paths.publishedAt)
        routes.push({ type: 'publish', publisher, kind, handler: at });
      for (const c of paths.cascades.values()) routes.push(c);
      for (const [subscriber, hs] of paths.deliveries)
        for (const at of hs)
          routes.push({ type: 'deliver', publisher, kind, handler: at, subscriber });
      for (const route of routes) if (holds(handler, route)) this.installed.remove(route);
    }
    if (this.machine.uses(handler)) {
      for (const [id, command] of this.outstanding)
        if (command.handler === handler) this.outstanding.delete(id);
      this.machine.handle({ type: 'handler-lost', handler }, this.now);
      this.collect();
    }
  }

  deliver(index: number): void {
    const [message] = this.messages.splice(index, 1);
    if (message === undefined) return;
    if (message.kind === 'command') {
      if (this.lost.has(message.handler)) return;
      if (!this.applied.has(message.id)) {
        this.applied.add(message.id);
        for (const step of message.steps) {
          if (step.op === 'add') this.installed.add(step.route);
          else this.installed.remove(step.route);
        }
      }
      this.messages.push({ kind: 'ack', id: message.id });
      return;
    }
    if (message.kind === 'ack') {
      if (this.outstanding.delete(message.id)) this.acked.add(message.id);
      this.machine.handle({ type: 'route-ack', command: message.id }, this.now);
    } else {
      if (this.lost.has(message.handler)) return;
      this.machine.handle(
        { type: 'connected', participant: message.who, handler: message.handler },
        this.now,
      );
    }
    this.collect();
  }

  /** Time passes to `to`; the machine's timer fires at each of its deadlines on the way. */
  advance(to: number): void {
    for (let fired = 0; ; fired++) {
      expect(fired).toBeLessThan(1_000);
      const deadline = this.machine.pollTimeout();
      if (deadline === null || deadline > to) break;
      this.now = Math.max(this.now, deadline);
      this.machine.handleTimeout(this.now);
      this.collect();
    }
    this.now = to;
    // Every command not acknowledged was resent within the retry interval.
    for (const command of this.outstanding.values())
      expect(command.lastSent + TEST_TIMING.commandRetryMs).toBeGreaterThan(this.now);
  }

  collect(): void {
    for (const out of drain(this.machine)) this.check(out);
  }

  check(out: MeetingOutput): void {
    switch (out.type) {
      case 'transition':
        expect(this.inFlight, 'a transition started while one is in flight').toBe(false);
        this.inFlight = true;
        this.additions = [];
        return;
      case 'transition-done':
        expect(this.inFlight).toBe(true);
        this.inFlight = false;
        return;
      case 'route-command': {
        expect(this.inFlight).toBe(true);
        const kinds = new Set(out.steps.map((s) => s.op));
        expect(kinds.size).toBe(1);
        expect(out.steps.every((s) => holds(out.handler, s.route))).toBe(true);
        if (out.resend) {
          const known = this.outstanding.get(out.id);
          expect(known, `resent command ${out.id} was acknowledged`).toBeDefined();
          expect(known?.steps).toEqual(out.steps);
          expect(known?.handler).toBe(out.handler);
          expect(this.now - (known?.lastSent ?? 0)).toBe(TEST_TIMING.commandRetryMs);
          if (known !== undefined) known.lastSent = this.now;
        } else {
          expect(out.id).toBeGreaterThan(this.lastId);
          this.lastId = out.id;
          if (kinds.has('add')) this.additions.push(out.id);
          else
            for (const id of this.additions)
              expect(
                this.acked.has(id) || !this.outstanding.has(id),
                `removal before addition ${id} was acknowledged`,
              ).toBe(true);
          this.outstanding.set(out.id, {
            handler: out.handler,
            steps: out.steps,
            lastSent: this.now,
          });
        }
        this.messages.push({ kind: 'command', id: out.id, handler: out.handler, steps: out.steps });
        return;
      }
      case 'move':
        this.messages.push({ kind: 'moved', who: out.participant, handler: out.handler });
        return;
      default:
        return;
    }
  }

  /** No more input: every message arrives, timers fire, until the meeting is idle. */
  settle(): void {
    for (let round = 0; round < 2_000; round++) {
      if (this.messages.length > 0) {
        this.deliver(0);
        continue;
      }
      const deadline = this.machine.pollTimeout();
      if (!this.machine.transitionInFlight && this.outstanding.size === 0) return;
      expect(deadline, 'a transition waits with nothing to wait for').not.toBeNull();
      this.advance(deadline as number);
    }
    throw new Error('the meeting never settled');
  }
}

describe('MeetingMachine properties', () => {
  it('moves the handlers make-before-break, one transition at a time, to exactly the plan in force', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 100 }), (ops) => {
        const harness = new Harness();
        for (const op of ops) harness.input(op);
        harness.settle();
        const machine = harness.machine;
        expect(machine.transitionInFlight).toBe(false);
        expect(harness.outstanding.size).toBe(0);
        const plan = machine.plan;
        const expected = plan === null ? [] : routesOf(plan).map(legKey).sort();
        expect(installedLegs(harness.installed)).toEqual(expected);
        for (const handler of harness.lost) expect(machine.uses(handler)).toBe(false);
      }),
      { numRuns: 400 },
    );
  });

  it('never changes the roster, the plan or the key epochs on a rejected join', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            {
              arbitrary: fc.record({
                type: fc.constant('join' as const),
                who,
                far: fc.boolean(),
                layout,
              }),
              weight: 4,
            },
            { arbitrary: fc.record({ type: fc.constant('leave' as const), who }), weight: 1 },
            {
              arbitrary: fc.record({ type: fc.constant('layout' as const), who, layout }),
              weight: 1,
            },
          ),
          { maxLength: 40 },
        ),
        (ops) => {
          const view = viewOf(['h1'], 0, { capacityBps: 12 * MBPS });
          view.report(report('h3', 0, { region: OTHER_REGION, capacityBps: 8 * MBPS }), 0);
          const { machine } = newMeeting([], { mutations: { noRetransmit: true } }, view);
          let rejected = 0;
          ops.forEach((op, t) => {
            const who = p(PEOPLE[op.who] as string);
            const before = JSON.stringify([...machine.roster.members.values()]);
            const plan = machine.plan;
            const epochs = machine.liveEpochs();
            if (op.type === 'join')
              machine.handle(
                {
                  type: 'join',
                  participant: who,
                  region: op.far ? OTHER_REGION : REGION,
                  layout: LAYOUTS[op.layout] as LayoutRequest,
                },
                t,
              );
            else if (op.type === 'leave') machine.handle({ type: 'leave', participant: who }, t);
            else
              machine.handle(
                { type: 'layout', participant: who, layout: LAYOUTS[op.layout] as LayoutRequest },
                t,
              );
            const out = drain(machine);
            if (out.some((o) => o.type === 'join-rejected')) {
              rejected++;
              const layoutOnly = op.type === 'join' && before.includes(`"id":"${who}"`);
              if (!layoutOnly)
                expect(JSON.stringify([...machine.roster.members.values()])).toBe(before);
              expect(machine.plan).toBe(plan);
              expect(machine.liveEpochs()).toEqual(epochs);
              expect(out.map((o) => o.type).filter((t) => t !== 'plan-failed')).toEqual([
                'join-rejected',
              ]);
            }
          });
          return rejected >= 0;
        },
      ),
      { numRuns: 200 },
    );
  });
});
