import { KeyStoreError, type KeyStore, type StreamKeyEntry } from '@firstmile/auth';
import type { StreamIndex } from '@firstmile/bus';
import type { Logger } from '@firstmile/observability';

export interface SweeperOptions {
  index: StreamIndex;
  store: KeyStore;
  /** Only the leader sweeps (leader election: Kubernetes Lease or a NATS KV lock). */
  isLeader: () => boolean;
  logger: Logger;
  /** Default 30 000 ms. */
  intervalMs?: number;
  now?: () => number;
}

export interface SweepResult {
  /** Index records removed because their owner stopped renewing them. */
  indexRecords: number;
  /** Rotated-out key entries removed after their overlap ended. */
  keyEntries: number;
}

/** Whether a rotated-out key's overlap has ended. */
export function isExpired(entry: StreamKeyEntry, now: number): boolean {
  return entry.expiresAt !== undefined && Date.parse(entry.expiresAt) <= now;
}

/**
 * Control's singleton housekeeping, run by the leader only. Index records of a dead edge also
 * expire by the bucket's TTL; the sweep is belt and braces for stores where that lags (and for the
 * in-memory index). Expired key entries are already refused by their `expiresAt`; pruning them only
 * keeps records small and the hash index exact. Both deletions are compare-and-set, so a sweep
 * racing a renewal or an API write loses instead of undoing it.
 */
export class Sweeper {
  readonly #o: Required<Omit<SweeperOptions, 'now'>> & { now: () => number };
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<SweepResult> | undefined;

  constructor(options: SweeperOptions) {
    this.#o = { ...options, intervalMs: options.intervalMs ?? 30_000, now: options.now ?? Date.now };
  }

  start(): this {
    if (this.#timer) return this;
    this.#timer = setInterval(() => {
      void this.sweep().catch((error: unknown) => this.#o.logger.warn({ err: (error as Error).message }, 'sweep failed; retrying at the next interval'));
    }, this.#o.intervalMs);
    this.#timer.unref();
    return this;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => {});
  }

  /** One sweep now (a no-op on a follower); overlapping calls share one run. */
  sweep(): Promise<SweepResult> {
    if (!this.#o.isLeader()) return Promise.resolve({ indexRecords: 0, keyEntries: 0 });
    this.#running ??= this.#sweep().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #sweep(): Promise<SweepResult> {
    const { index, store, logger } = this.#o;
    const result: SweepResult = { indexRecords: 0, keyEntries: 0 };
    const stale = (heartbeatAt: string) => this.#o.now() - Date.parse(heartbeatAt) > index.ttlMs;
    for (const r of await index.list()) {
      if (!stale(r.heartbeatAt)) continue;
      const current = await index.get(r.app, r.streamId);
      if (!current || !stale(current.record.heartbeatAt)) continue;
      await index.release(r.app, r.streamId, current.revision);
      if (!(await index.get(r.app, r.streamId))) {
        result.indexRecords++;
        logger.info({ app: r.app, stream: r.streamId, edge: r.edge, heartbeatAt: r.heartbeatAt }, 'swept a stale live-stream record');
      }
    }
    for (const r of await store.list()) {
      if (!r.keys.some((k) => isExpired(k, this.#o.now()))) continue;
      const current = await store.get(r.id);
      if (!current) continue;
      const now = this.#o.now();
      const keys = current.record.keys.filter((k) => !isExpired(k, now));
      const removed = current.record.keys.length - keys.length;
      if (removed === 0) continue;
      try {
        await store.update({ ...current.record, keys }, current.revision);
        result.keyEntries += removed;
      } catch (error) {
        // Someone wrote the record meanwhile; their write pruned it too, or the next sweep will.
        if (!(error instanceof KeyStoreError && (error.code === 'KEYSTORE_ERR_CONFLICT' || error.code === 'KEYSTORE_ERR_NOT_FOUND'))) throw error;
      }
    }
    if (result.indexRecords + result.keyEntries > 0) logger.info({ ...result }, 'sweep done');
    return result;
  }
}
