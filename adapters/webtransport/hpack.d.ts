declare module 'hpack.js' {
  interface Decoder {
    push(chunk: Buffer): void;
    decodeStr(): number[] | Buffer;
  }
  interface Encoder {
    encodeStr(value: Buffer, huffman: boolean): void;
    render(): Buffer[];
  }
  const hpack: {
    decoder: { create(): Decoder };
    encoder: { create(): Encoder };
  };
  export default hpack;
}
