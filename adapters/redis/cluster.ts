import { Cluster } from 'ioredis';
import type { Logger } from '../logging/logger.ts';
import {
  REDIS_COMMAND_TIMEOUT_MS,
  createRedis,
  logConnectionErrors,
  type Redis,
} from './client.ts';

export { Cluster };

/** A connection to one Redis or to a Redis Cluster: what the Meeting Controller's state uses. */
export type StateConnection = Redis | Cluster;

/** `host:port` pairs separated by commas: a Redis Cluster's seed nodes. */
export function parseClusterNodes(value: string): { host: string; port: number }[] {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const separator = entry.lastIndexOf(':');
      const port = Number(entry.slice(separator + 1));
      const host = entry.slice(0, separator).replace(/^\[|\]$/g, '');
      if (separator <= 0 || !Number.isInteger(port) || port < 1 || port > 65_535)
        throw new Error(`"${entry}": expected host:port`);
      return { host, port };
    });
}

/**
 * A Redis Cluster client with the single-node client's bounds: a command fails after
 * {@link REDIS_COMMAND_TIMEOUT_MS}; while a master fails over, commands to its slots wait in the
 * offline queue and are retried (MOVED, CLUSTERDOWN, TRYAGAIN) every 100 ms, and the slot map is
 * refreshed, so the replica's promotion is picked up as soon as the cluster announces it.
 */
export function createRedisCluster(
  nodes: readonly { host: string; port: number }[],
  keyPrefix: string,
  options: { readonly logger?: Logger } = {},
): Cluster {
  const cluster = new Cluster([...nodes], {
    keyPrefix,
    enableAutoPipelining: true,
    enableOfflineQueue: true,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    retryDelayOnMoved: 0,
    maxRedirections: 32,
    slotsRefreshTimeout: 1_000,
    slotsRefreshInterval: 2_000,
    clusterRetryStrategy: (times: number) => Math.min(100 * times, 1_000),
    redisOptions: {
      commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
      connectTimeout: 1_000,
      maxRetriesPerRequest: 1,
    },
  });
  logConnectionErrors(cluster as unknown as Redis, options.logger);
  return cluster;
}

/** The Meeting Controller's state connection: a Cluster when seed nodes are given, else REDIS_URL. */
export function createStateConnection(
  url: string,
  clusterNodes: string | undefined,
  keyPrefix: string,
  options: { readonly logger?: Logger } = {},
): StateConnection {
  if (clusterNodes !== undefined && clusterNodes.trim() !== '')
    return createRedisCluster(parseClusterNodes(clusterNodes), keyPrefix, options);
  return createRedis(url, keyPrefix, { ...options, cache: true });
}
