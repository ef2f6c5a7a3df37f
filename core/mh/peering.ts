/**
 * Peer links between Media Handlers: which links this handler opens, when it opens one again,
 * and when it lets one go. The forwarder (core/mh/forwarder.ts) holds one `PeerDialer` and
 * feeds it its table's cascade legs; the driver only dials and closes what it is told.
 *
 * Rules (docs/protocol.md, "Peer links"):
 *
 * - A peer handler is needed while at least one installed cascade leg (to or from this
 *   handler) names it.
 * - Of the two ends of a leg, which both receive it, only the one whose handler id is smaller
 *   (code-unit order, `dialsPeer`) dials; the other accepts. So one link per pair.
 * - The dialer asks for a needed link once (`peer-wanted`), then waits for `peer-connected`
 *   or `peer-dial-failed`. A failed dial, or a link that went down while still needed, is
 *   asked for again after a backoff: `backoffCeiling(failures, PEER_DIAL_BACKOFF)`, no jitter
 *   (the forwarder has no random source; the pair's dialer is one handler anyway). A link that
 *   comes up resets the failures.
 * - A link no longer needed is let go (`peer-unneeded`): the dialer closes it. The accepting
 *   end never closes a link on its own.
 */
import { backoffCeiling, type BackoffPolicy } from '../backpressure/backoff.ts';
import type { HandlerId } from '../ids.ts';

/** Redial backoff: 250 ms doubling to 5 s; a needed link is never given up. */
export const PEER_DIAL_BACKOFF: BackoffPolicy = {
  baseMs: 250,
  factor: 2,
  capMs: 5_000,
  deadlineMs: Number.POSITIVE_INFINITY,
};

/** Whether `me` is the end that dials the link between `me` and `peer`. */
export function dialsPeer(me: HandlerId, peer: HandlerId): boolean {
  return me < peer;
}

export type PeerDialState = 'dialing' | 'up' | 'waiting';

interface Dial {
  state: PeerDialState;
  failures: number;
  /** When a waiting dial is asked for again (ms). */
  retryAt: number;
}

/** What the dialer asks of the driver. */
export type PeerRequest =
  | { readonly type: 'peer-wanted'; readonly handler: HandlerId; readonly attempt: number }
  | { readonly type: 'peer-unneeded'; readonly handler: HandlerId };

export class PeerDialer {
  readonly #me: HandlerId;
  readonly #policy: BackoffPolicy;
  readonly #dials = new Map<HandlerId, Dial>();

  constructor(me: HandlerId, policy: BackoffPolicy = PEER_DIAL_BACKOFF) {
    this.#me = me;
    this.#policy = policy;
  }

  /**
   * Brings the links in line with the peers the table names (`needed`); `isUp` tells whether
   * a link to a peer is bound now. Returns the requests, in peer order.
   */
  reconcile(
    needed: ReadonlyMap<HandlerId, number>,
    isUp: (peer: HandlerId) => boolean,
  ): PeerRequest[] {
    const requests: PeerRequest[] = [];
    for (const peer of [...needed.keys()].sort()) {
      if (!dialsPeer(this.#me, peer) || this.#dials.has(peer)) continue;
      if (isUp(peer)) {
        this.#dials.set(peer, { state: 'up', failures: 0, retryAt: 0 });
      } else {
        this.#dials.set(peer, { state: 'dialing', failures: 0, retryAt: 0 });
        requests.push({ type: 'peer-wanted', handler: peer, attempt: 1 });
      }
    }
    for (const peer of [...this.#dials.keys()]) {
      if (needed.has(peer)) continue;
      this.#dials.delete(peer);
      requests.push({ type: 'peer-unneeded', handler: peer });
    }
    return requests;
  }

  /** A link to `peer` is up (dialed by this end, or accepted). */
  connected(peer: HandlerId): void {
    const dial = this.#dials.get(peer);
    if (dial === undefined) return;
    dial.state = 'up';
    dial.failures = 0;
  }

  /** The link to `peer` went down, or a dial failed: a still-needed peer is retried later. */
  failed(peer: HandlerId, nowMs: number): void {
    const dial = this.#dials.get(peer);
    if (dial === undefined || dial.state === 'waiting') return;
    dial.failures++;
    dial.state = 'waiting';
    dial.retryAt = nowMs + backoffCeiling(dial.failures, this.#policy);
  }

  /** The waiting dials whose time has come, asked for again. */
  due(nowMs: number): PeerRequest[] {
    const requests: PeerRequest[] = [];
    for (const [peer, dial] of this.#dials) {
      if (dial.state !== 'waiting' || dial.retryAt > nowMs) continue;
      dial.state = 'dialing';
      requests.push({ type: 'peer-wanted', handler: peer, attempt: dial.failures + 1 });
    }
    return requests;
  }

  /** The earliest retry (ms), or null. */
  nextDeadline(): number | null {
    let next: number | null = null;
    for (const dial of this.#dials.values()) {
      if (dial.state === 'waiting' && (next === null || dial.retryAt < next)) next = dial.retryAt;
    }
    return next;
  }

  /** The state of the link to `peer` as this end dials it, or undefined when it does not. */
  stateOf(peer: HandlerId): PeerDialState | undefined {
    return this.#dials.get(peer)?.state;
  }
}

/**
 * Whether a service token's subject (an AC client id, `<stem>-<16 hex digits>` where the stem
 * is the registered name lowercased, runs of other characters than a-z, 0-9 and `-` made one
 * `-`, cut to 32 characters and trimmed of dashes) is the account of handler `handler`: a
 * handler dialing a peer proves its id by a token of a service registered under that id.
 */
export function subjectNamesHandler(subject: string, handler: string): boolean {
  const match = /^(.+)-[0-9a-f]{16}$/.exec(subject);
  if (match === null) return false;
  const stem = handler
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .slice(0, 32)
    .replace(/^-+|-+$/g, '');
  return stem !== '' && match[1] === stem;
}
