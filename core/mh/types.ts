/**
 * Inputs, outputs and configuration of the Media Handler forwarder (core/mh/forwarder.ts).
 * Connection keys are driver-assigned integers in 0..2^31-1 naming one transport connection
 * (a client session or a link to a peer handler).
 */
import type { AdmissionPolicy, HandlerLoadReport } from '../backpressure/admission.ts';
import type { BackoffPolicy } from '../backpressure/backoff.ts';
import type { BandwidthPolicy, BandwidthState } from '../backpressure/bandwidth.ts';
import type { QualityPolicy, QualitySample, QualityStage } from '../backpressure/quality.ts';
import type { ControllerId, HandlerId, MeetingId, ParticipantId, RegionId } from '../ids.ts';
import type { Route } from '../routing/types.ts';
import type { ClaimsPolicy, ClaimsRefusal, ConnectionTokenClaims } from './claims.ts';

/** A controller's change to the legs this handler carries for one meeting. */
export interface RouteCommand {
  /** Unique per command; a retransmission carries the same id. */
  readonly id: string;
  readonly meeting: MeetingId;
  readonly controller: ControllerId;
  /** Applied first. */
  readonly add: readonly Route[];
  /** Applied after `add`. */
  readonly remove: readonly Route[];
}

export type MhInput =
  | ({ readonly type: 'route-command' } & RouteCommand)
  | {
      /** The meeting ended: its legs and its sessions here go. */
      readonly type: 'meeting-ended';
      readonly meeting: MeetingId;
      readonly controller: ControllerId;
    }
  | {
      /** A client presents its connection token (signature already verified by the driver). */
      readonly type: 'session-open';
      readonly connection: number;
      readonly claims: ConnectionTokenClaims;
    }
  | { readonly type: 'session-closed'; readonly connection: number }
  | {
      /** A link to a peer handler is up; cascades to and from `handler` use `connection`. */
      readonly type: 'peer-connected';
      readonly handler: HandlerId;
      readonly connection: number;
    }
  | { readonly type: 'peer-disconnected'; readonly connection: number }
  | {
      /** The driver's dial of a `peer-wanted` handler failed (unreachable, refused, no address). */
      readonly type: 'peer-dial-failed';
      readonly handler: HandlerId;
    }
  | { readonly type: 'peer-load-report'; readonly report: HandlerLoadReport }
  | {
      /** Bytes carried outside `forward()` (the simulator's flow-level media). */
      readonly type: 'traffic';
      readonly bytes: number;
    }
  | {
      /** The driver's measurement of p99 forwarding latency and loss, for the quality stage. */
      readonly type: 'quality-sample';
      readonly sample: QualitySample;
    }
  | {
      /**
       * The handler is going away (its process was told to stop): from now on no session is
       * admitted (each is redirected to the least-loaded eligible handler of the region, or
       * rejected `draining` with a retry-after), and the sessions still open at `deadlineMs`
       * are closed (`session-closed`, reason `draining`). A later drain keeps the earlier
       * deadline.
       */
      readonly type: 'drain';
      readonly deadlineMs: number;
    };

/** Why a session-open was refused. */
export type SessionRefusal =
  | ClaimsRefusal
  /** The connection key is not an integer in 0..2^31-1. */
  | 'invalid-connection'
  /** The connection key already names an open session or peer link. */
  | 'connection-in-use'
  /** At the hard limit with no other handler of the region able to take the participant. */
  | 'capacity'
  /** The handler is draining and no other handler of the region can take the participant. */
  | 'draining';

export type MhOutput =
  | {
      readonly type: 'route-ack';
      readonly id: string;
      readonly meeting: MeetingId;
      readonly controller: ControllerId;
      /** The id had been applied before: nothing was applied this time. */
      readonly duplicate: boolean;
      /** Legs that changed the table (0 for a duplicate). */
      readonly changed: number;
      /** Legs that do not concern this handler or are invalid (0 for a duplicate). */
      readonly ignored: number;
    }
  | {
      readonly type: 'session-accepted';
      readonly connection: number;
      readonly meeting: MeetingId;
      readonly participant: ParticipantId;
      /** The participant had a session here, which this one replaced. */
      readonly reconnect: boolean;
    }
  | {
      readonly type: 'session-redirected';
      readonly connection: number;
      readonly meeting: MeetingId;
      readonly participant: ParticipantId;
      readonly to: HandlerId;
    }
  | {
      readonly type: 'session-rejected';
      readonly connection: number;
      readonly reason: SessionRefusal;
      /** When to try again (capacity and draining); null: the token will not be accepted. */
      readonly retryAfterMs: number | null;
    }
  | {
      /** A session this handler ended: the driver closes the connection. */
      readonly type: 'session-closed';
      readonly connection: number;
      readonly meeting: MeetingId;
      readonly participant: ParticipantId;
      readonly reason: 'replaced' | 'meeting-ended' | 'draining';
    }
  | {
      readonly type: 'load-report';
      readonly report: HandlerLoadReport;
      readonly quality: QualityStage;
      /** Measured over the interval: bytes in and out, times 8, per second. */
      readonly bitsPerSecond: number;
      readonly sessions: number;
      readonly streams: number;
    }
  | {
      readonly type: 'band-changed';
      readonly from: BandwidthState;
      readonly to: BandwidthState;
      readonly utilisation: number;
    }
  | { readonly type: 'quality-changed'; readonly from: QualityStage; readonly to: QualityStage }
  | {
      /**
       * Open a link to `handler` (this end dials it: core/mh/peering.ts), then feed
       * `peer-connected` or `peer-dial-failed`. `attempt` counts from 1 since the last link up.
       */
      readonly type: 'peer-wanted';
      readonly handler: HandlerId;
      readonly attempt: number;
    }
  | {
      /** No cascade leg names `handler` any more: close the link this end dialed, if any. */
      readonly type: 'peer-unneeded';
      readonly handler: HandlerId;
    };

export interface ForwarderConfig {
  readonly handler: HandlerId;
  readonly region: RegionId;
  /** Network capacity in bits per second. */
  readonly capacityBps: number;
  /** Time between load reports (ms); default 1000. */
  readonly loadReportIntervalMs?: number;
  /**
   * When the first reporting interval starts (ms). Without it the interval starts at the first
   * `handle` or `handleTimeout`, and `pollTimeout` is null until then.
   */
  readonly startMs?: number;
  readonly bandwidthPolicy?: BandwidthPolicy;
  readonly admissionPolicy?: AdmissionPolicy;
  readonly qualityPolicy?: QualityPolicy;
  readonly claimsPolicy?: ClaimsPolicy;
  /** Redial backoff for peer links this handler dials; default PEER_DIAL_BACKOFF. */
  readonly peerDialBackoff?: BackoffPolicy;
  /** Route-command ids always remembered per (controller, meeting); default 64. */
  readonly routeIdWindow?: number;
  /** Route-command ids are also remembered this long (ms) after being applied; default 120 s. */
  readonly routeIdRetentionMs?: number;
}

export type ForwarderConfigError =
  | { readonly kind: 'empty-handler' }
  | { readonly kind: 'non-positive-capacity'; readonly capacityBps: number }
  | { readonly kind: 'non-positive-interval'; readonly loadReportIntervalMs: number }
  | {
      readonly kind: 'invalid-route-id-memory';
      readonly window: number;
      readonly retentionMs: number;
    };
