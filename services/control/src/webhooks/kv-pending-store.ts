import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { isWrongLastSequence, retrying } from '@firstmile/bus';
import type { Logger } from '@firstmile/observability';
import {
  DEFAULT_MAX_PENDING,
  MAX_PENDING_BODY_BYTES,
  checkBody,
  parsePendingDelivery,
  summary,
  type PendingDelivery,
  type PendingDeliveryStore,
  type PendingEntry,
  type PendingSummary,
} from './pending-store.ts';

export const PENDING_BUCKET = 'fm_webhooks';

export interface KvPendingDeliveryStoreOptions {
  /** Default `fm_webhooks`. */
  bucket?: string;
  /** 3 on a cluster: pending retries survive losing a NATS node. */
  replicas: number;
  /** How long one operation keeps retrying through a JetStream leader election. */
  retryForMs: number;
  /** Default 10 000; beyond it the oldest is evicted and counted. */
  maxPending?: number;
  /** Entries untouched this long are aged out by the bucket (default 24 h): a safety net only. */
  ttlMs?: number;
  logger: Logger;
}

/**
 * Pending deliveries in a JetStream KV bucket. Each replica mirrors the bucket (without bodies)
 * through a watch, so `list()` is local and the API of every replica shows the pending retries;
 * claims, updates and removals are CAS writes against the stream leader (allow_direct false).
 */
export class KvPendingDeliveryStore implements PendingDeliveryStore {
  readonly #kv: KV;
  readonly #retryForMs: number;
  readonly #maxPending: number;
  readonly #log: Logger;
  readonly #mirror = new Map<string, PendingEntry<PendingSummary>>();
  #watch: { stop(): void } | undefined;
  #dropped = 0;

  private constructor(kv: KV, options: KvPendingDeliveryStoreOptions) {
    this.#kv = kv;
    this.#retryForMs = options.retryForMs;
    this.#maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    this.#log = options.logger;
  }

  static async open(nc: NatsConnection, options: KvPendingDeliveryStoreOptions): Promise<KvPendingDeliveryStore> {
    const kv = await retrying(options.retryForMs, () =>
      new Kvm(nc).create(options.bucket ?? PENDING_BUCKET, {
        replicas: options.replicas,
        history: 1,
        ttl: options.ttlMs ?? 24 * 3600_000,
        allow_direct: false,
        // The body cap plus room for the attempts and metadata.
        maxValueSize: MAX_PENDING_BODY_BYTES * 2 + 64 * 1024,
        description: 'firstmile webhook deliveries waiting for a retry',
      }),
    );
    const store = new KvPendingDeliveryStore(kv, options);
    await store.#startWatch();
    return store;
  }

  get dropped(): number {
    return this.#dropped;
  }

  async add(delivery: PendingDelivery): Promise<void> {
    checkBody(delivery.body);
    while (this.#mirror.size >= this.#maxPending) {
      const [id, oldest] = this.#mirror.entries().next().value ?? [];
      if (id === undefined || oldest === undefined) break;
      this.#mirror.delete(id);
      this.#dropped++;
      try {
        await this.#retry(() => this.#kv.delete(id, { previousSeq: oldest.revision }));
      } catch (error) {
        if (!isWrongLastSequence(error)) throw error;
      }
    }
    const revision = await this.#retry(() => this.#kv.put(delivery.id, encode(delivery)));
    this.#see(delivery.id, summary(delivery), revision);
  }

  list(): readonly PendingEntry<PendingSummary>[] {
    return [...this.#mirror.values()];
  }

  async get(id: string): Promise<PendingEntry | undefined> {
    const e = await this.#retry(() => this.#kv.get(id));
    if (!e || e.operation !== 'PUT') {
      this.#mirror.delete(id);
      return undefined;
    }
    const delivery = parsePendingDelivery(e.value);
    return delivery ? { delivery, revision: e.revision } : undefined;
  }

  async update(delivery: PendingDelivery, revision: number): Promise<number | undefined> {
    checkBody(delivery.body);
    try {
      const next = await this.#retry(() => this.#kv.update(delivery.id, encode(delivery), revision));
      this.#see(delivery.id, summary(delivery), next);
      return next;
    } catch (error) {
      if (isWrongLastSequence(error)) return undefined;
      throw error;
    }
  }

  async remove(id: string, revision: number): Promise<boolean> {
    try {
      await this.#retry(() => this.#kv.delete(id, { previousSeq: revision }));
      this.#mirror.delete(id);
      return true;
    } catch (error) {
      if (isWrongLastSequence(error)) return false;
      throw error;
    }
  }

  async close(): Promise<void> {
    this.#watch?.stop();
    this.#watch = undefined;
    this.#mirror.clear();
  }

  /** Records a value unless the mirror already holds a newer one (the watch and our own writes race). */
  #see(id: string, s: PendingSummary, revision: number): void {
    const known = this.#mirror.get(id);
    if (known && known.revision >= revision) return;
    if (known) {
      known.delivery = s;
      known.revision = revision;
    } else if (this.#mirror.size < this.#maxPending * 2) {
      // Writers evict beyond maxPending; the slack covers their races, and bounds the mirror if one does not.
      this.#mirror.set(id, { delivery: s, revision });
    }
  }

  async #startWatch(): Promise<void> {
    const watcher = await this.#retry(() => this.#kv.watch());
    this.#watch = watcher;
    void (async () => {
      try {
        for await (const e of watcher) {
          if (e.operation !== 'PUT') {
            const known = this.#mirror.get(e.key);
            if (!known || known.revision <= e.revision) this.#mirror.delete(e.key);
            continue;
          }
          const d = parsePendingDelivery(e.value);
          if (!d) {
            this.#log.warn({ delivery: e.key }, 'malformed pending webhook delivery ignored');
            continue;
          }
          this.#see(e.key, summary(d), e.revision);
        }
      } catch (error) {
        this.#log.error({ err: (error as Error).message }, 'pending webhook watch ended');
      }
    })();
  }

  #retry<T>(op: () => Promise<T>): Promise<T> {
    return retrying(this.#retryForMs, op);
  }
}

function encode(d: PendingDelivery): Uint8Array {
  return Buffer.from(JSON.stringify(d));
}
