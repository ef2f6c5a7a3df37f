import type { CacheCoherence } from '../cache/local-cache.ts';
import type { Logger } from '../logging/logger.ts';
import type { Redis } from './client.ts';

/**
 * Cache invalidations between replicas over Redis pub/sub. A replica that changes something
 * other replicas may hold in process publishes its key on `channel`; every replica (itself
 * included) drops that key from the caches of its {@link CacheCoherence}.
 *
 * The subscription has a connection of its own. The coherence is live only while that
 * connection is subscribed: when it closes, the caches are emptied and bypassed, and on
 * reconnection it subscribes again and starts from empty caches, since messages published
 * in between were never seen.
 *
 * Channels are not key-prefixed by ioredis, so `channel` should carry the deployment's prefix.
 */
export class RedisInvalidations {
  private readonly subscriber: Redis;
  private readonly firstSubscription: Promise<void>;
  private subscribed: () => void = () => undefined;

  constructor(
    private readonly publisher: Redis,
    private readonly channel: string,
    private readonly coherence: CacheCoherence,
    private readonly logger: Logger,
  ) {
    this.firstSubscription = new Promise((resolve) => (this.subscribed = resolve));
    // Resubscription is done here on every `ready`, so liveness follows the subscription.
    this.subscriber = publisher.duplicate({
      autoResubscribe: false,
      enableAutoPipelining: false,
      connectionName: `${channel}:subscriber`,
    });
    this.subscriber.on('ready', () => void this.subscribe());
    this.subscriber.on('close', () => this.coherence.suspend());
    this.subscriber.on('error', (error: Error) =>
      this.logger.warn({ err: error }, 'cache invalidation subscription failed'),
    );
    this.subscriber.on('message', (channel: string, key: string) => {
      if (channel === this.channel) this.coherence.invalidate(key);
    });
  }

  /**
   * Waits up to `timeoutMs` for the first subscription; true once subscribed. Until then
   * the caches are bypassed, so a replica that starts without it is slower, not wrong.
   */
  async subscribedWithin(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([this.firstSubscription.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Drops `key` here and tells every other replica to drop it (resolves once Redis took it). */
  async publish(key: string): Promise<void> {
    this.coherence.invalidate(key);
    await this.publisher.publish(this.channel, key);
  }

  async close(): Promise<void> {
    this.coherence.suspend();
    this.subscriber.removeAllListeners('close');
    await this.subscriber.quit();
  }

  private async subscribe(): Promise<void> {
    try {
      await this.subscriber.subscribe(this.channel);
      this.coherence.resume();
      this.subscribed();
    } catch (error) {
      this.logger.warn({ err: error }, 'cache invalidation subscription failed');
    }
  }
}
