import { z } from 'zod';
import { DEFAULT_OWNERSHIP_POLICY } from '../../core/mc/ownership.ts';
import { parseClusterNodes } from '../../adapters/redis/cluster.ts';

/**
 * The Meeting Controller's shared-state settings (docs/services.md, "Meeting Controller"): where
 * meeting state lives when it is a Redis Cluster, and the controller's lease. Read beside
 * `mcEnvironment` by `main.ts`.
 */
export const mcFailoverEnvironment = z
  .object({
    /**
     * Seed nodes of a Redis Cluster, `host:port,...`: meeting state and sessions go there
     * (load reports stay on REDIS_URL). Empty: REDIS_URL holds everything.
     */
    MC_REDIS_CLUSTER_NODES: z
      .string()
      .default('')
      .refine((value) => {
        try {
          parseClusterNodes(value);
          return true;
        } catch {
          return false;
        }
      }, 'expected host:port,...'),
    /** How long the controller's lease (and so its meetings') lives without renewal (ms). */
    MC_MEETING_LEASE_MS: z.coerce
      .number()
      .int()
      .min(500)
      .max(60_000)
      .default(DEFAULT_OWNERSHIP_POLICY.leaseMs),
    /** How often the lease is renewed (ms): at most a third of the lease. */
    MC_MEETING_LEASE_RENEW_MS: z.coerce
      .number()
      .int()
      .min(100)
      .max(20_000)
      .default(DEFAULT_OWNERSHIP_POLICY.renewEveryMs),
  })
  .refine(
    (env) => env.MC_MEETING_LEASE_RENEW_MS * 3 <= env.MC_MEETING_LEASE_MS,
    'MC_MEETING_LEASE_RENEW_MS must be at most a third of MC_MEETING_LEASE_MS',
  );

export type McFailoverEnvironment = z.infer<typeof mcFailoverEnvironment>;
