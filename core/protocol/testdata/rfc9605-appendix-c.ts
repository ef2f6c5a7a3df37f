/**
 * The test vectors of RFC 9605 (Secure Frame), Appendix C, transcribed from the RFC's text:
 * C.1 header encoding, C.2 the AES-CTR with HMAC AEAD alone, C.3 whole SFrame encryption for
 * each of the five cipher suites. Byte strings are hex, as in the RFC (its line breaks joined);
 * numbers are bigint. Nothing here is computed: every value is the RFC's.
 *
 * C.1 lists all 289 pairs of 17 KID values and the same 17 CTR values, KID major. Here each KID
 * carries its 17 headers in the RFC's CTR order (`C1_VALUES`).
 */

/** The KID values of Appendix C.1, and its CTR values, in the order the RFC lists them. */
export const C1_VALUES: readonly bigint[] = [
  0x0n,
  0x1n,
  0xffn,
  0x100n,
  0xffffn,
  0x1_0000n,
  0xff_ffffn,
  0x100_0000n,
  0xffff_ffffn,
  0x1_0000_0000n,
  0xff_ffff_ffffn,
  0x100_0000_0000n,
  0xffff_ffff_ffffn,
  0x1_0000_0000_0000n,
  0xff_ffff_ffff_ffffn,
  0x100_0000_0000_0000n,
  0xffff_ffff_ffff_ffffn,
];

/** Appendix C.1: for each KID of `C1_VALUES`, the header for each CTR of `C1_VALUES`. */
export const C1_HEADERS: readonly (readonly string[])[] = [
  // kid 0x0
  [
    '00',
    '01',
    '08ff',
    '090100',
    '09ffff',
    '0a010000',
    '0affffff',
    '0b01000000',
    '0bffffffff',
    '0c0100000000',
    '0cffffffffff',
    '0d010000000000',
    '0dffffffffffff',
    '0e01000000000000',
    '0effffffffffffff',
    '0f0100000000000000',
    '0fffffffffffffffff',
  ],
  // kid 0x1
  [
    '10',
    '11',
    '18ff',
    '190100',
    '19ffff',
    '1a010000',
    '1affffff',
    '1b01000000',
    '1bffffffff',
    '1c0100000000',
    '1cffffffffff',
    '1d010000000000',
    '1dffffffffffff',
    '1e01000000000000',
    '1effffffffffffff',
    '1f0100000000000000',
    '1fffffffffffffffff',
  ],
  // kid 0xff
  [
    '80ff',
    '81ff',
    '88ffff',
    '89ff0100',
    '89ffffff',
    '8aff010000',
    '8affffffff',
    '8bff01000000',
    '8bffffffffff',
    '8cff0100000000',
    '8cffffffffffff',
    '8dff010000000000',
    '8dffffffffffffff',
    '8eff01000000000000',
    '8effffffffffffffff',
    '8fff0100000000000000',
    '8fffffffffffffffffff',
  ],
  // kid 0x100
  [
    '900100',
    '910100',
    '980100ff',
    '9901000100',
    '990100ffff',
    '9a0100010000',
    '9a0100ffffff',
    '9b010001000000',
    '9b0100ffffffff',
    '9c01000100000000',
    '9c0100ffffffffff',
    '9d0100010000000000',
    '9d0100ffffffffffff',
    '9e010001000000000000',
    '9e0100ffffffffffffff',
    '9f01000100000000000000',
    '9f0100ffffffffffffffff',
  ],
  // kid 0xffff
  [
    '90ffff',
    '91ffff',
    '98ffffff',
    '99ffff0100',
    '99ffffffff',
    '9affff010000',
    '9affffffffff',
    '9bffff01000000',
    '9bffffffffffff',
    '9cffff0100000000',
    '9cffffffffffffff',
    '9dffff010000000000',
    '9dffffffffffffffff',
    '9effff01000000000000',
    '9effffffffffffffffff',
    '9fffff0100000000000000',
    '9fffffffffffffffffffff',
  ],
  // kid 0x10000
  [
    'a0010000',
    'a1010000',
    'a8010000ff',
    'a90100000100',
    'a9010000ffff',
    'aa010000010000',
    'aa010000ffffff',
    'ab01000001000000',
    'ab010000ffffffff',
    'ac0100000100000000',
    'ac010000ffffffffff',
    'ad010000010000000000',
    'ad010000ffffffffffff',
    'ae01000001000000000000',
    'ae010000ffffffffffffff',
    'af0100000100000000000000',
    'af010000ffffffffffffffff',
  ],
  // kid 0xffffff
  [
    'a0ffffff',
    'a1ffffff',
    'a8ffffffff',
    'a9ffffff0100',
    'a9ffffffffff',
    'aaffffff010000',
    'aaffffffffffff',
    'abffffff01000000',
    'abffffffffffffff',
    'acffffff0100000000',
    'acffffffffffffffff',
    'adffffff010000000000',
    'adffffffffffffffffff',
    'aeffffff01000000000000',
    'aeffffffffffffffffffff',
    'afffffff0100000000000000',
    'afffffffffffffffffffffff',
  ],
  // kid 0x1000000
  [
    'b001000000',
    'b101000000',
    'b801000000ff',
    'b9010000000100',
    'b901000000ffff',
    'ba01000000010000',
    'ba01000000ffffff',
    'bb0100000001000000',
    'bb01000000ffffffff',
    'bc010000000100000000',
    'bc01000000ffffffffff',
    'bd01000000010000000000',
    'bd01000000ffffffffffff',
    'be0100000001000000000000',
    'be01000000ffffffffffffff',
    'bf010000000100000000000000',
    'bf01000000ffffffffffffffff',
  ],
  // kid 0xffffffff
  [
    'b0ffffffff',
    'b1ffffffff',
    'b8ffffffffff',
    'b9ffffffff0100',
    'b9ffffffffffff',
    'baffffffff010000',
    'baffffffffffffff',
    'bbffffffff01000000',
    'bbffffffffffffffff',
    'bcffffffff0100000000',
    'bcffffffffffffffffff',
    'bdffffffff010000000000',
    'bdffffffffffffffffffff',
    'beffffffff01000000000000',
    'beffffffffffffffffffffff',
    'bfffffffff0100000000000000',
    'bfffffffffffffffffffffffff',
  ],
  // kid 0x100000000
  [
    'c00100000000',
    'c10100000000',
    'c80100000000ff',
    'c901000000000100',
    'c90100000000ffff',
    'ca0100000000010000',
    'ca0100000000ffffff',
    'cb010000000001000000',
    'cb0100000000ffffffff',
    'cc01000000000100000000',
    'cc0100000000ffffffffff',
    'cd0100000000010000000000',
    'cd0100000000ffffffffffff',
    'ce010000000001000000000000',
    'ce0100000000ffffffffffffff',
    'cf01000000000100000000000000',
    'cf0100000000ffffffffffffffff',
  ],
  // kid 0xffffffffff
  [
    'c0ffffffffff',
    'c1ffffffffff',
    'c8ffffffffffff',
    'c9ffffffffff0100',
    'c9ffffffffffffff',
    'caffffffffff010000',
    'caffffffffffffffff',
    'cbffffffffff01000000',
    'cbffffffffffffffffff',
    'ccffffffffff0100000000',
    'ccffffffffffffffffffff',
    'cdffffffffff010000000000',
    'cdffffffffffffffffffffff',
    'ceffffffffff01000000000000',
    'ceffffffffffffffffffffffff',
    'cfffffffffff0100000000000000',
    'cfffffffffffffffffffffffffff',
  ],
  // kid 0x10000000000
  [
    'd0010000000000',
    'd1010000000000',
    'd8010000000000ff',
    'd90100000000000100',
    'd9010000000000ffff',
    'da010000000000010000',
    'da010000000000ffffff',
    'db01000000000001000000',
    'db010000000000ffffffff',
    'dc0100000000000100000000',
    'dc010000000000ffffffffff',
    'dd010000000000010000000000',
    'dd010000000000ffffffffffff',
    'de01000000000001000000000000',
    'de010000000000ffffffffffffff',
    'df0100000000000100000000000000',
    'df010000000000ffffffffffffffff',
  ],
  // kid 0xffffffffffff
  [
    'd0ffffffffffff',
    'd1ffffffffffff',
    'd8ffffffffffffff',
    'd9ffffffffffff0100',
    'd9ffffffffffffffff',
    'daffffffffffff010000',
    'daffffffffffffffffff',
    'dbffffffffffff01000000',
    'dbffffffffffffffffffff',
    'dcffffffffffff0100000000',
    'dcffffffffffffffffffffff',
    'ddffffffffffff010000000000',
    'ddffffffffffffffffffffffff',
    'deffffffffffff01000000000000',
    'deffffffffffffffffffffffffff',
    'dfffffffffffff0100000000000000',
    'dfffffffffffffffffffffffffffff',
  ],
  // kid 0x1000000000000
  [
    'e001000000000000',
    'e101000000000000',
    'e801000000000000ff',
    'e9010000000000000100',
    'e901000000000000ffff',
    'ea01000000000000010000',
    'ea01000000000000ffffff',
    'eb0100000000000001000000',
    'eb01000000000000ffffffff',
    'ec010000000000000100000000',
    'ec01000000000000ffffffffff',
    'ed01000000000000010000000000',
    'ed01000000000000ffffffffffff',
    'ee0100000000000001000000000000',
    'ee01000000000000ffffffffffffff',
    'ef010000000000000100000000000000',
    'ef01000000000000ffffffffffffffff',
  ],
  // kid 0xffffffffffffff
  [
    'e0ffffffffffffff',
    'e1ffffffffffffff',
    'e8ffffffffffffffff',
    'e9ffffffffffffff0100',
    'e9ffffffffffffffffff',
    'eaffffffffffffff010000',
    'eaffffffffffffffffffff',
    'ebffffffffffffff01000000',
    'ebffffffffffffffffffffff',
    'ecffffffffffffff0100000000',
    'ecffffffffffffffffffffffff',
    'edffffffffffffff010000000000',
    'edffffffffffffffffffffffffff',
    'eeffffffffffffff01000000000000',
    'eeffffffffffffffffffffffffffff',
    'efffffffffffffff0100000000000000',
    'efffffffffffffffffffffffffffffff',
  ],
  // kid 0x100000000000000
  [
    'f00100000000000000',
    'f10100000000000000',
    'f80100000000000000ff',
    'f901000000000000000100',
    'f90100000000000000ffff',
    'fa0100000000000000010000',
    'fa0100000000000000ffffff',
    'fb010000000000000001000000',
    'fb0100000000000000ffffffff',
    'fc01000000000000000100000000',
    'fc0100000000000000ffffffffff',
    'fd0100000000000000010000000000',
    'fd0100000000000000ffffffffffff',
    'fe010000000000000001000000000000',
    'fe0100000000000000ffffffffffffff',
    'ff01000000000000000100000000000000',
    'ff0100000000000000ffffffffffffffff',
  ],
  // kid 0xffffffffffffffff
  [
    'f0ffffffffffffffff',
    'f1ffffffffffffffff',
    'f8ffffffffffffffffff',
    'f9ffffffffffffffff0100',
    'f9ffffffffffffffffffff',
    'faffffffffffffffff010000',
    'faffffffffffffffffffffff',
    'fbffffffffffffffff01000000',
    'fbffffffffffffffffffffffff',
    'fcffffffffffffffff0100000000',
    'fcffffffffffffffffffffffffff',
    'fdffffffffffffffff010000000000',
    'fdffffffffffffffffffffffffffff',
    'feffffffffffffffff01000000000000',
    'feffffffffffffffffffffffffffffff',
    'ffffffffffffffffff0100000000000000',
    'ffffffffffffffffffffffffffffffffff',
  ],
];

/** One case of Appendix C.2: the AES-CTR with HMAC AEAD of section 4.5.1 on its own. */
export interface AesCtrHmacVector {
  readonly cipherSuite: number;
  readonly key: string;
  readonly encKey: string;
  readonly authKey: string;
  readonly nonce: string;
  readonly aad: string;
  readonly pt: string;
  readonly ct: string;
}

const C2_KEY =
  '000102030405060708090a0b0c0d0e0f' +
  '101112131415161718191a1b1c1d1e1f' +
  '202122232425262728292a2b2c2d2e2f';
const C2_ENC_KEY = '000102030405060708090a0b0c0d0e0f';
const C2_AUTH_KEY = '101112131415161718191a1b1c1d1e1f' + '202122232425262728292a2b2c2d2e2f';
/** "IETF SFrame WG" */
const METADATA = '4945544620534672616d65205747';
/** "draft-ietf-sframe-enc" */
const PLAINTEXT = '64726166742d696574662d736672616d' + '652d656e63';

export const C2_VECTORS: readonly AesCtrHmacVector[] = [
  {
    cipherSuite: 0x0001,
    key: C2_KEY,
    encKey: C2_ENC_KEY,
    authKey: C2_AUTH_KEY,
    nonce: '101112131415161718191a1b',
    aad: METADATA,
    pt: PLAINTEXT,
    ct: '6339af04ada1d064688a442b8dc69d5b' + '6bfa40f4bef0583e8081069cc60705',
  },
  {
    cipherSuite: 0x0002,
    key: C2_KEY,
    encKey: C2_ENC_KEY,
    authKey: C2_AUTH_KEY,
    nonce: '101112131415161718191a1b',
    aad: METADATA,
    pt: PLAINTEXT,
    ct: '6339af04ada1d064688a442b8dc69d5b' + '6bfa40f4be6e93b7da076927bb',
  },
  {
    cipherSuite: 0x0003,
    key: C2_KEY,
    encKey: C2_ENC_KEY,
    authKey: C2_AUTH_KEY,
    nonce: '101112131415161718191a1b',
    aad: METADATA,
    pt: PLAINTEXT,
    ct: '6339af04ada1d064688a442b8dc69d5b' + '6bfa40f4be09480509',
  },
];

/** One case of Appendix C.3: key derivation, then SFrame encryption of one plaintext. */
export interface SFrameVector {
  readonly cipherSuite: number;
  readonly kid: bigint;
  readonly ctr: bigint;
  readonly baseKey: string;
  readonly sframeKeyLabel: string;
  readonly sframeSaltLabel: string;
  readonly sframeSecret: string;
  readonly sframeKey: string;
  readonly sframeSalt: string;
  readonly metadata: string;
  readonly nonce: string;
  readonly aad: string;
  readonly pt: string;
  readonly ct: string;
}

const C3_BASE_KEY = '000102030405060708090a0b0c0d0e0f';
/** "SFrame 1.0 Secret key " and "SFrame 1.0 Secret salt ", then KID 0x123 in 8 bytes. */
const C3_KEY_LABEL_PREFIX = '534672616d6520312e30205365637265' + '74206b657920000000000000012300';
const C3_SALT_LABEL_PREFIX =
  '534672616d6520312e30205365637265' + '742073616c7420000000000000012300';
const C3_SHA256_SECRET = 'd926952ca8b7ec4a95941d1ada3a5203' + 'ceff8cceee34f574d23909eb314c40c0';
const C3_AAD = '99012345674945544620534672616d65' + '205747';

export const C3_VECTORS: readonly SFrameVector[] = [
  {
    cipherSuite: 0x0001,
    kid: 0x123n,
    ctr: 0x4567n,
    baseKey: C3_BASE_KEY,
    sframeKeyLabel: C3_KEY_LABEL_PREFIX + '01',
    sframeSaltLabel: C3_SALT_LABEL_PREFIX + '01',
    sframeSecret: C3_SHA256_SECRET,
    sframeKey:
      '3f7d9a7c83ae8e1c8a11ae695ab59314' +
      'b367e359fadac7b9c46b2bc6f81f46e1' +
      '6b96f0811868d59402b7e870102720b3',
    sframeSalt: '50b29329a04dc0f184ac3168',
    metadata: METADATA,
    nonce: '50b29329a04dc0f184ac740f',
    aad: C3_AAD,
    pt: PLAINTEXT,
    ct: '9901234567449408b6f490086165b9d6' + 'f62b24ae1a59a56486b4ae8ed036b889' + '12e24f11',
  },
  {
    cipherSuite: 0x0002,
    kid: 0x123n,
    ctr: 0x4567n,
    baseKey: C3_BASE_KEY,
    sframeKeyLabel: C3_KEY_LABEL_PREFIX + '02',
    sframeSaltLabel: C3_SALT_LABEL_PREFIX + '02',
    sframeSecret: C3_SHA256_SECRET,
    sframeKey:
      'e2ec5c797540310483b16bf6e7a570d2' +
      'a27d192fe869c7ccd8584a8d9dab9154' +
      '9fbe553f5113461ec6aa83bf3865553e',
    sframeSalt: 'e68ac8dd3d02fbcd368c5577',
    metadata: METADATA,
    nonce: 'e68ac8dd3d02fbcd368c1010',
    aad: C3_AAD,
    pt: PLAINTEXT,
    ct: '99012345673f31438db4d09434e43afa' + '0f8a2f00867a2be085046a9f5cb4f101' + 'd607',
  },
  {
    cipherSuite: 0x0003,
    kid: 0x123n,
    ctr: 0x4567n,
    baseKey: C3_BASE_KEY,
    sframeKeyLabel: C3_KEY_LABEL_PREFIX + '03',
    sframeSaltLabel: C3_SALT_LABEL_PREFIX + '03',
    sframeSecret: C3_SHA256_SECRET,
    sframeKey:
      '2c5703089cbb8c583475e4fc461d97d1' +
      '8809df79b6d550f78eb6d50ffa80d892' +
      '11d57909934f46f5405e38cd583c69fe',
    sframeSalt: '38c16e4f5159700c00c7f350',
    metadata: METADATA,
    nonce: '38c16e4f5159700c00c7b637',
    aad: C3_AAD,
    pt: PLAINTEXT,
    ct: '990123456717fc8af28a5a695afcfc6c' + '8df6358a17e26b2fcb3bae32e443',
  },
  {
    cipherSuite: 0x0004,
    kid: 0x123n,
    ctr: 0x4567n,
    baseKey: C3_BASE_KEY,
    sframeKeyLabel: C3_KEY_LABEL_PREFIX + '04',
    sframeSaltLabel: C3_SALT_LABEL_PREFIX + '04',
    sframeSecret: C3_SHA256_SECRET,
    sframeKey: 'd34f547f4ca4f9a7447006fe7fcbf768',
    sframeSalt: '75234edefe07819026751816',
    metadata: METADATA,
    nonce: '75234edefe07819026755d71',
    aad: C3_AAD,
    pt: PLAINTEXT,
    ct:
      '9901234567b7412c2513a1b66dbb4884' +
      '1bbaf17f598751176ad847681a69c6d0' +
      'b091c07018ce4adb34eb',
  },
  {
    cipherSuite: 0x0005,
    kid: 0x123n,
    ctr: 0x4567n,
    baseKey: C3_BASE_KEY,
    sframeKeyLabel: C3_KEY_LABEL_PREFIX + '05',
    sframeSaltLabel: C3_SALT_LABEL_PREFIX + '05',
    sframeSecret:
      '0fc3ea6de6aac97a35f194cf9bed94d4' +
      'b5230f1cb45a785c9fe5dce9c188938a' +
      'b6ba005bc4c0a19181599e9d1bcf7b74' +
      'aca48b60bf5e254e546d809313e083a3',
    sframeKey: 'd3e27b0d4a5ae9e55df01a70e6d4d28d' + '969b246e2936f4b7a5d9b494da6b9633',
    sframeSalt: '84991c167b8cd23c93708ec7',
    metadata: METADATA,
    nonce: '84991c167b8cd23c9370cba0',
    aad: C3_AAD,
    pt: PLAINTEXT,
    ct:
      '990123456794f509d36e9beacb0e261d' +
      '99c7d1e972f1fed787d4049f17ca2135' +
      '3c1cc24d56ceabced279',
  },
];
