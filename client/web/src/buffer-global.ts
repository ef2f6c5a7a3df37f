// The generated protobuf code (ts-proto, `env=node`) builds `bytes` fields with Node's Buffer.
// Browsers have none: the `buffer` package's Buffer (a Uint8Array subclass) stands in for it.
import { Buffer } from 'buffer';

const scope = globalThis as unknown as { Buffer?: unknown };
scope.Buffer ??= Buffer;
