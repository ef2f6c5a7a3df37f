import type { HandlerId, RegionId } from '../../core/ids.ts';
import type { BandwidthState } from '../../core/backpressure/bandwidth.ts';
import type { QualityStage } from '../../core/backpressure/quality.ts';
import type { HandlerLoadRecord, HandlerLoadStore } from '../../ports/mh.ts';
import type { Redis } from './client.ts';

/** A report lives this long (ms): a handler silent for it has no report to read. */
export const LOAD_REPORT_TTL_MS = 5_000;
/** Region index entries older than this (ms) are pruned by each write. */
const INDEX_RETENTION_MS = 30_000;

const handlerKey = (region: string, id: string) => `{${region}}:handler:${id}`;
const indexKey = (region: string) => `{${region}}:handlers`;

/** One atomic step: the report's hash with its TTL, its index entry, pruning of old entries. */
const PUBLISH = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2] - ${INDEX_RETENTION_MS})
redis.call('PEXPIRE', KEYS[2], ${INDEX_RETENTION_MS})
return 1`;

/**
 * Handler load reports in Redis: a hash per handler, `{<region>}:handler:<id>` (TTL 5 s), and a
 * sorted set per region, `{<region>}:handlers` (member: handler id, score: report time in ms).
 * The region in braces is the Redis Cluster hash tag, so one script writes both.
 */
export class RedisHandlerLoadStore implements HandlerLoadStore {
  constructor(private readonly redis: Redis) {}

  async publish(record: HandlerLoadRecord): Promise<void> {
    const fields: Record<string, string> = {
      id: record.handlerId,
      region: record.region,
      utilisation: String(record.utilisation),
      state: record.state,
      quality: record.quality,
      bitsPerSecond: String(record.bitsPerSecond),
      capacityBps: String(record.capacityBps),
      sessions: String(record.sessions),
      streams: String(record.streams),
      reportedAt: String(record.reportedAt),
      address: record.address,
      quicAddress: record.quicAddress,
      quicCertificateSha256: record.quicCertificateSha256,
      draining: record.draining ? '1' : '0',
    };
    await this.redis.eval(
      PUBLISH,
      2,
      handlerKey(record.region, record.handlerId),
      indexKey(record.region),
      String(LOAD_REPORT_TTL_MS),
      String(record.reportedAt),
      record.handlerId,
      ...Object.entries(fields).flat(),
    );
  }

  async list(region: string, now: number, maxAgeMs: number): Promise<HandlerLoadRecord[]> {
    const ids = await this.redis.zrangebyscore(indexKey(region), now - maxAgeMs, '+inf');
    const hashes = await Promise.all(ids.map((id) => this.redis.hgetall(handlerKey(region, id))));
    const records: HandlerLoadRecord[] = [];
    for (const hash of hashes) {
      const record = readRecord(hash);
      if (record !== undefined && now - record.reportedAt <= maxAgeMs) records.push(record);
    }
    return records;
  }
}

const BANDS = new Set(['ok', 'warning', 'hard-limit']);
const STAGES = new Set(['optimal', 'warning', 'degraded', 'critical']);

function readRecord(hash: Record<string, string>): HandlerLoadRecord | undefined {
  const number = (name: string) => Number(hash[name]);
  if (
    !hash.id ||
    !hash.region ||
    !BANDS.has(hash.state ?? '') ||
    !STAGES.has(hash.quality ?? '') ||
    !Number.isFinite(number('utilisation')) ||
    !Number.isFinite(number('reportedAt'))
  ) {
    return undefined;
  }
  return {
    handlerId: hash.id as HandlerId,
    region: hash.region as RegionId,
    utilisation: number('utilisation'),
    state: hash.state as BandwidthState,
    quality: hash.quality as QualityStage,
    bitsPerSecond: number('bitsPerSecond') || 0,
    capacityBps: number('capacityBps') || 0,
    sessions: number('sessions') || 0,
    streams: number('streams') || 0,
    reportedAt: number('reportedAt'),
    address: hash.address ?? '',
    quicAddress: hash.quicAddress ?? '',
    quicCertificateSha256: /^[0-9a-f]{64}$/.test(hash.quicCertificateSha256 ?? '')
      ? (hash.quicCertificateSha256 as string)
      : '',
    draining: hash.draining === '1',
  };
}
