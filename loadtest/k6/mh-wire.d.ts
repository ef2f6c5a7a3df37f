// Types of mh-wire.js (plain JavaScript so that k6 runs it).
export function helloBytes(token: string): ArrayBuffer;
export function datagramBytes(
  templateHex: string,
  sequence: number,
  frameId: number,
  payloadLength: number,
): ArrayBuffer;
export function controlKind(
  bytes: Uint8Array,
): 'accepted' | 'redirected' | 'rejected' | 'session-closed' | 'unknown';
