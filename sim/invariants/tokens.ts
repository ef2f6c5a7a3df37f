import type { SimToken, TokenRefusal } from '../world/auth.ts';
import type { ViolationLog } from './violations.ts';

/**
 * The token invariant: a token inside its lifetime keeps verifying, whatever signing-key
 * rotations happened since it was issued. Any refusal other than expiry is a violation.
 */
export function checkTokenVerdict(
  log: ViolationLog,
  service: string,
  holder: string,
  token: SimToken,
  refusal: TokenRefusal | undefined,
): void {
  if (refusal === undefined || refusal.kind === 'expired') return;
  log.report(
    'token-verification',
    service,
    `refused the unexpired token of ${holder} signed by ${token.kid}: ${refusal.kind}`,
  );
}
