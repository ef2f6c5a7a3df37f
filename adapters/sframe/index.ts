// SFrame (RFC 9605) over WebCrypto, shared by the browser client and Node clients.
export { SFrameContext } from './context.ts';
export type {
  EncryptOptions,
  SFrameContextError,
  SFrameContextOptions,
  SFrameDecrypted,
  SFrameDecryptError,
  SFrameEncryptError,
  SFrameKeyError,
  SFrameKeyUsage,
} from './context.ts';
export { SFrameMlsContext } from './mls.ts';
export type { SFrameMlsEpoch, SFrameMlsError, SFrameMlsOptions } from './mls.ts';
export {
  defaultSubtle,
  deriveSFrameKeyMaterial,
  hkdfExtract,
  importSFrameAead,
} from './webcrypto.ts';
export type { SFrameAead, SFrameKeyMaterial, Subtle, WebCryptoKey } from './webcrypto.ts';
