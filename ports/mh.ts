/**
 * The Media Handler's shared store (docs/protocol.md, "Handler load reports in Redis"): each
 * handler publishes its forwarder's load report every second; Meeting Controllers read them
 * for their least-loaded choice, and handlers read their region's for admission redirects.
 */
import type { HandlerLoadReport } from '../core/backpressure/admission.ts';
import type { QualityStage } from '../core/backpressure/quality.ts';

/** A handler's load report as published: core's report plus what readers need to use it. */
export interface HandlerLoadRecord extends HandlerLoadReport {
  readonly quality: QualityStage;
  readonly bitsPerSecond: number;
  readonly capacityBps: number;
  readonly sessions: number;
  readonly streams: number;
  /** Where clients connect (the WebSocket URL); empty when unknown. */
  readonly address: string;
  /** Where clients and peer handlers reach the QUIC transport (`host:port`); empty when off. */
  readonly quicAddress: string;
  /** SHA-256 of the QUIC certificate's DER bytes, lowercase hex; empty when QUIC is off. */
  readonly quicCertificateSha256: string;
  /** The handler is draining: no new sessions. */
  readonly draining: boolean;
}

export interface HandlerLoadStore {
  /** Publishes one handler's latest report (kept for a few seconds only). */
  publish(record: HandlerLoadRecord): Promise<void>;
  /** The region's reports published within the last `maxAgeMs` before `now`. */
  list(region: string, now: number, maxAgeMs: number): Promise<HandlerLoadRecord[]>;
}
