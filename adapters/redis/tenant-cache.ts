import type { TenantConfig, TenantConfigCache } from '../../ports/gc.ts';
import type { Redis } from './client.ts';

/** Tenant configuration cached in Redis under `tenant:<org>` for `ttlMs` (5 minutes in GC). */
export class RedisTenantConfigCache implements TenantConfigCache {
  constructor(
    private readonly redis: Redis,
    private readonly ttlMs: number,
  ) {}

  async get(orgId: string): Promise<TenantConfig | undefined> {
    const raw = await this.redis.get(`tenant:${orgId}`);
    if (raw === null) return undefined;
    const value = JSON.parse(raw) as Partial<TenantConfig>;
    if (
      typeof value.orgId !== 'string' ||
      typeof value.displayName !== 'string' ||
      typeof value.maxParticipants !== 'number'
    ) {
      return undefined;
    }
    return {
      orgId: value.orgId,
      displayName: value.displayName,
      maxParticipants: value.maxParticipants,
    };
  }

  async put(config: TenantConfig): Promise<void> {
    await this.redis.set(`tenant:${config.orgId}`, JSON.stringify(config), 'PX', this.ttlMs);
  }
}
