// TypeScript 5.9's DOM library narrows WebCrypto's BufferSource to ArrayBuffer-backed views;
// adapters/sframe (type-checked against Node's WebCrypto types) passes Uint8Array of any
// backing buffer, which browsers accept. These overloads let the browser build type-check the
// shared SFrame code as it is.
type AnyBytes = Uint8Array<ArrayBufferLike>;
type ByteParams = {
  readonly name: string;
  readonly hash?: string;
  readonly iv?: AnyBytes;
  readonly additionalData?: AnyBytes;
  readonly counter?: AnyBytes;
  readonly salt?: AnyBytes;
  readonly info?: AnyBytes;
  readonly length?: number;
  readonly tagLength?: number;
};

interface SubtleCrypto {
  importKey(
    format: 'raw',
    keyData: AnyBytes,
    algorithm: string | ByteParams,
    extractable: boolean,
    keyUsages: KeyUsage[],
  ): Promise<CryptoKey>;
  sign(algorithm: string | ByteParams, key: CryptoKey, data: AnyBytes): Promise<ArrayBuffer>;
  encrypt(algorithm: string | ByteParams, key: CryptoKey, data: AnyBytes): Promise<ArrayBuffer>;
  decrypt(algorithm: string | ByteParams, key: CryptoKey, data: AnyBytes): Promise<ArrayBuffer>;
  deriveBits(algorithm: ByteParams, baseKey: CryptoKey, length: number): Promise<ArrayBuffer>;
}
