import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { handlerId, meetingId, participantId, type HandlerId } from '../ids.ts';
import { checkPlan } from './check.ts';
import { demandKey, describeStream } from './keys.ts';
import { makeHandler, makeParticipant, wants } from './testing.ts';
import {
  BANDWIDTH_HARD_LIMIT_RATIO,
  type CascadeRoute,
  type DeliverRoute,
  type PublishRoute,
  type Route,
  type RoutingInput,
  type RoutingPlan,
} from './types.ts';

const MBPS = 1_000_000;
const h = handlerId;
const ann = participantId('ann');
const bo = participantId('bo');

const publish = (handler: string): PublishRoute => ({
  type: 'publish',
  publisher: ann,
  kind: 'camera',
  handler: h(handler),
});
const cascade = (from: string, to: string): CascadeRoute => ({
  type: 'cascade',
  publisher: ann,
  kind: 'camera',
  from: h(from),
  to: h(to),
});
const deliver = (handler: string, subscriber = bo): DeliverRoute => ({
  type: 'deliver',
  publisher: ann,
  kind: 'camera',
  handler: h(handler),
  subscriber,
});

const input: RoutingInput = {
  meeting: meetingId('m'),
  participants: [makeParticipant('ann', 0), makeParticipant('bo', 1)],
  handlers: ['h1', 'h2', 'h3', 'h4'].map((id) => makeHandler(id)),
  demand: [wants('bo', 'ann', 'camera')],
  latencyMs: {},
};

function planOf(routes: Route[], home: HandlerId = h('h1')): RoutingPlan {
  return {
    meeting: input.meeting,
    hub: home,
    homes: [
      { participant: ann, handler: home },
      { participant: bo, handler: home },
    ],
    publishes: routes.filter((r): r is PublishRoute => r.type === 'publish'),
    cascades: routes.filter((r): r is CascadeRoute => r.type === 'cascade'),
    deliveries: routes.filter((r): r is DeliverRoute => r.type === 'deliver'),
    loads: [],
  };
}

const kinds = (routes: Route[], given = input) =>
  checkPlan(given, planOf(routes)).map((v) => v.kind);

describe('checkPlan', () => {
  it('accepts a direct route and a two-hop cascade', () => {
    expect(checkPlan(input, planOf([publish('h1'), deliver('h1')]))).toEqual([]);
    const twoHops = [publish('h1'), cascade('h1', 'h2'), cascade('h2', 'h3'), deliver('h3')];
    expect(checkPlan(input, planOf(twoHops))).toEqual([]);
  });

  it('reports an undelivered pair by name', () => {
    const violations = checkPlan(input, planOf([publish('h1')]));
    expect(violations).toMatchObject([{ kind: 'undelivered', subscriber: bo }]);
    expect(violations[0]?.message).toBe('subscriber bo does not receive ann/camera');
  });

  it('reports a delivery fed by nothing as undelivered', () => {
    expect(kinds([publish('h1'), deliver('h2')])).toEqual(['undelivered']);
  });

  it('reports a subscriber receiving a stream twice', () => {
    const routes = [publish('h1'), publish('h2'), deliver('h1'), deliver('h2')];
    const violations = checkPlan(input, planOf(routes));
    expect(violations).toMatchObject([{ kind: 'delivered-twice', handlers: ['h1', 'h2'] }]);
    expect(violations[0]?.message).toContain('bo receives ann/camera from h1, h2');
  });

  it('reports three handler-to-handler hops', () => {
    const routes = [
      publish('h1'),
      cascade('h1', 'h2'),
      cascade('h2', 'h3'),
      cascade('h3', 'h4'),
      deliver('h4'),
    ];
    expect(checkPlan(input, planOf(routes))).toMatchObject([{ kind: 'too-many-hops', hops: 3 }]);
  });

  it('reports a forwarding loop and the handler fed twice by it', () => {
    const routes = [
      publish('h1'),
      cascade('h1', 'h2'),
      cascade('h2', 'h3'),
      cascade('h3', 'h2'),
      deliver('h3'),
    ];
    const violations = checkPlan(input, planOf(routes));
    expect(violations.map((v) => v.kind).sort()).toEqual(['loop', 'received-twice']);
    expect(violations.find((v) => v.kind === 'received-twice')?.message).toBe(
      'handler h2 receives ann/camera from 2 sources',
    );
  });

  it('reports a delivery nobody asked for', () => {
    const routes = [publish('h1'), deliver('h1'), deliver('h1', participantId('ann'))];
    expect(kinds(routes)).toEqual(['undemanded-delivery']);
  });

  it('reports unhealthy and unknown handlers', () => {
    const sick = { ...input, handlers: [makeHandler('h1', { healthy: false })] };
    const routes = [publish('h1'), cascade('h1', 'hx'), deliver('hx')];
    const violations = checkPlan(sick, planOf(routes));
    expect(violations.map((v) => v.message)).toEqual([
      'handler h1 is unhealthy but used',
      'handler hx is not a candidate',
    ]);
  });

  it('reports a participant without a home', () => {
    const withCarl = {
      ...input,
      participants: [...input.participants, makeParticipant('carl', 2)],
    };
    expect(checkPlan(withCarl, planOf([publish('h1'), deliver('h1')]))).toMatchObject([
      { kind: 'missing-home', participant: 'carl' },
    ]);
  });

  it('reports a handler over its hard limit only while another has room', () => {
    // Two streams on h1 (5 Mbps) against a 4 Mbps hard limit.
    const tight = makeHandler('h1', { capacityBps: 5 * MBPS });
    const roomy = { ...input, handlers: [tight, makeHandler('h2')] };
    expect(checkPlan(roomy, planOf([publish('h1'), deliver('h1')]))).toMatchObject([
      { kind: 'over-hard-limit', handler: 'h1', roomOn: 'h2', plannedBps: 5 * MBPS },
    ]);
    const full = { ...input, handlers: [tight, makeHandler('h2', { capacityBps: 3 * MBPS })] };
    expect(checkPlan(full, planOf([publish('h1'), deliver('h1')]))).toEqual([]);
  });

  it('counts a load exactly at the hard limit as within it, on the planned and on the other handlers', () => {
    const plan = planOf([publish('h1'), deliver('h1')]);
    // Two 2.5 Mbps streams: 5 Mbps against a hard limit of exactly 5 Mbps.
    const atLimit = makeHandler('h1', { capacityBps: (5 * MBPS) / BANDWIDTH_HARD_LIMIT_RATIO });
    expect(checkPlan({ ...input, handlers: [atLimit, makeHandler('h2')] }, plan)).toEqual([]);
    // Room for exactly one more stream is room.
    const tight = makeHandler('h1', { capacityBps: 5 * MBPS });
    const oneStream = makeHandler('h2', { capacityBps: (2.5 * MBPS) / BANDWIDTH_HARD_LIMIT_RATIO });
    expect(checkPlan({ ...input, handlers: [tight, oneStream] }, plan)).toMatchObject([
      { kind: 'over-hard-limit', handler: 'h1', roomOn: 'h2' },
    ]);
  });

  it('names the lowest healthy handler with room, and none that is unhealthy', () => {
    const plan = planOf([publish('h1'), deliver('h1')]);
    const tight = makeHandler('h1', { capacityBps: 5 * MBPS });
    const handlers = [tight, makeHandler('h4'), makeHandler('h3'), makeHandler('h2')];
    expect(checkPlan({ ...input, handlers }, plan)).toMatchObject([
      { kind: 'over-hard-limit', roomOn: 'h2' },
    ]);
    const onlyUnhealthy = [tight, makeHandler('h2', { healthy: false })];
    expect(checkPlan({ ...input, handlers: onlyUnhealthy }, plan)).toEqual([]);
  });
});

describe('checkPlan against pair keys', () => {
  const participant = fc.constantFrom('ann', 'bo', 'cy').map(participantId);
  const handler = fc.constantFrom('h1', 'h2').map(handlerId);
  const kind = fc.constantFrom('camera' as const, 'audio' as const);
  const delivery: fc.Arbitrary<DeliverRoute> = fc.record({
    type: fc.constant('deliver' as const),
    publisher: participant,
    kind,
    handler,
    subscriber: participant,
  });
  const pair = fc.record({ subscriber: participant, publisher: participant, kind });

  it('reports the undemanded deliveries and the undelivered pairs that keys name, repeats included', () => {
    fc.assert(
      fc.property(
        fc.array(delivery, { maxLength: 12 }),
        fc.array(pair, { maxLength: 12 }),
        (deliveries, demand) => {
          // Every stream is published wherever it is delivered, so only demand decides.
          const publishes = deliveries.map((d): PublishRoute => ({
            type: 'publish',
            publisher: d.publisher,
            kind: d.kind,
            handler: d.handler,
          }));
          const plan = { ...planOf([]), publishes, deliveries };
          const violations = checkPlan({ ...input, demand }, plan);
          const demanded = new Set(demand.map(demandKey));
          const delivered = new Set(deliveries.map(demandKey));
          const undemanded = violations.filter((v) => v.kind === 'undemanded-delivery');
          expect(undemanded.map((v) => v.message)).toEqual(
            deliveries
              .filter((d) => !demanded.has(demandKey(d)))
              .map(
                (d) => `subscriber ${d.subscriber} is sent ${describeStream(d)} without showing it`,
              ),
          );
          const undelivered = violations.filter((v) => v.kind === 'undelivered');
          expect(undelivered.map((v) => v.message)).toEqual(
            [...new Set(demand.map(demandKey))]
              .filter((key) => !delivered.has(key))
              .map((key) => {
                const d = demand.find((p) => demandKey(p) === key) as (typeof demand)[number];
                return `subscriber ${d.subscriber} does not receive ${describeStream(d)}`;
              }),
          );
        },
      ),
    );
  });
});
