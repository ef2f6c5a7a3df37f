/**
 * MurmurHash3 (x86, 32-bit) over the UTF-8 bytes of a string. Non-cryptographic, fast with
 * `Math.imul`, and with a final avalanche step, so near-identical keys ("mc-1#0", "mc-1#1")
 * land far apart on the ring. FNV-1a lacks that final mixing and clusters such keys; a 64-bit
 * hash would need `bigint` arithmetic, which is slower, and 32 bits are plenty for a ring of a
 * few thousand points. Being a published algorithm over UTF-8, any other language can
 * reproduce the placement.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

const utf8 = new TextEncoder();
/** UTF-8 of the key being hashed; grown on demand, so hashing allocates nothing. */
let scratch = new Uint8Array(256);

/** The unsigned 32-bit MurmurHash3 of `key`'s UTF-8 bytes. */
export function murmur3(key: string, seed = 0): number {
  // A UTF-16 code unit takes at most 3 UTF-8 bytes.
  if (scratch.length < key.length * 3) scratch = new Uint8Array(key.length * 3);
  const { written } = utf8.encodeInto(key, scratch);
  return murmur3Bytes(scratch, written, seed);
}

/** The unsigned 32-bit MurmurHash3 of the first `length` bytes of `bytes`. */
function murmur3Bytes(bytes: Uint8Array, length: number, seed: number): number {
  let hash = seed >>> 0;
  const blockEnd = length & ~3;
  for (let i = 0; i < blockEnd; i += 4) {
    const block =
      (bytes[i] ?? 0) |
      ((bytes[i + 1] ?? 0) << 8) |
      ((bytes[i + 2] ?? 0) << 16) |
      ((bytes[i + 3] ?? 0) << 24);
    hash ^= scramble(block);
    hash = rotateLeft(hash, 13);
    hash = (Math.imul(hash, 5) + 0xe6546b64) | 0;
  }
  const tailLength = length & 3;
  if (tailLength > 0) {
    let tail = 0;
    for (let i = tailLength - 1; i >= 0; i--) tail = (tail << 8) | (bytes[blockEnd + i] ?? 0);
    hash ^= scramble(tail);
  }
  hash ^= length;
  return finalMix(hash);
}

function scramble(block: number): number {
  return Math.imul(rotateLeft(Math.imul(block, C1), 15), C2);
}

function rotateLeft(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

function finalMix(value: number): number {
  let hash = value;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
