import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { indexKey, parseRecord, type ClaimResult, type LiveStreamRecord, type StreamIndex } from './stream-index.ts';
import { isWrongLastSequence, retrying } from './jetstream-retry.ts';

export interface KvStreamIndexOptions {
  bucket: string;
  /** 3 on a cluster: the index survives losing a NATS node. */
  replicas: number;
  ttlMs: number;
  /** How long one operation keeps retrying through a JetStream leader election. */
  retryForMs: number;
}

/**
 * The index in a JetStream KV bucket. The bucket's max age is the TTL, so an edge that dies stops
 * renewing and its records age out. Reads that decide ownership go to the stream leader
 * (allow_direct false), never to a possibly stale replica.
 */
export class KvStreamIndex implements StreamIndex {
  readonly ttlMs: number;
  readonly #kv: KV;
  readonly #retryForMs: number;

  private constructor(kv: KV, options: KvStreamIndexOptions) {
    this.#kv = kv;
    this.ttlMs = options.ttlMs;
    this.#retryForMs = options.retryForMs;
  }

  static async open(nc: NatsConnection, options: KvStreamIndexOptions): Promise<KvStreamIndex> {
    const kv = await retrying(options.retryForMs, () =>
      new Kvm(nc).create(options.bucket, {
        replicas: options.replicas,
        history: 1,
        ttl: options.ttlMs,
        allow_direct: false,
        description: 'firstmile live streams and their owning edges',
      }),
    );
    return new KvStreamIndex(kv, options);
  }

  async claim(record: LiveStreamRecord, ownerAlive: (owner: LiveStreamRecord) => Promise<boolean>): Promise<ClaimResult> {
    const key = indexKey(record.app, record.streamId);
    const value = Buffer.from(JSON.stringify(record));
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        return { ok: true, revision: await this.#retry(() => this.#kv.create(key, value)) };
      } catch (error) {
        if (!isWrongLastSequence(error)) throw error;
      }
      const current = await this.#retry(() => this.#kv.get(key));
      if (!current || current.operation !== 'PUT') continue; // deleted meanwhile: create again
      const owner = parseRecord(current.value);
      if (await ownerAlive(owner)) return { ok: false, owner };
      try {
        return { ok: true, revision: await this.#retry(() => this.#kv.update(key, value, current.revision)) };
      } catch (error) {
        if (!isWrongLastSequence(error)) throw error;
        // Someone else changed it between our read and our CAS: look again.
      }
    }
    const current = await this.get(record.app, record.streamId);
    if (current) return { ok: false, owner: current.record };
    throw new Error(`could not claim ${key}: contended`);
  }

  async renew(record: LiveStreamRecord, revision: number): Promise<number | undefined> {
    const key = indexKey(record.app, record.streamId);
    const value = Buffer.from(JSON.stringify(record));
    try {
      return await this.#retry(() => this.#kv.update(key, value, revision));
    } catch (error) {
      if (!isWrongLastSequence(error)) throw error;
    }
    // A retried update whose first attempt landed (its reply lost in a leader election) also fails
    // the CAS: if the record is still this owner's session, we still own it.
    const current = await this.get(record.app, record.streamId);
    if (current && current.record.edge === record.edge && current.record.epoch === record.epoch) return current.revision;
    if (current) return undefined;
    // Our record aged out (a long pause); if nobody took the stream, take it back.
    try {
      return await this.#retry(() => this.#kv.create(key, value));
    } catch (error) {
      if (isWrongLastSequence(error)) return undefined;
      throw error;
    }
  }

  async release(app: string, streamId: string, revision: number): Promise<void> {
    try {
      await this.#retry(() => this.#kv.delete(indexKey(app, streamId), { previousSeq: revision }));
    } catch (error) {
      if (!isWrongLastSequence(error)) throw error;
    }
  }

  async get(app: string, streamId: string) {
    const e = await this.#retry(() => this.#kv.get(indexKey(app, streamId)));
    if (!e || e.operation !== 'PUT') return undefined;
    return { record: parseRecord(e.value), revision: e.revision };
  }

  async list(): Promise<LiveStreamRecord[]> {
    const keys: string[] = [];
    for await (const k of await this.#retry(() => this.#kv.keys())) keys.push(k);
    const out: LiveStreamRecord[] = [];
    for (const k of keys) {
      const e = await this.#retry(() => this.#kv.get(k));
      if (e && e.operation === 'PUT') out.push(parseRecord(e.value));
    }
    return out;
  }

  async close(): Promise<void> {}

  #retry<T>(op: () => Promise<T>): Promise<T> {
    return retrying(this.#retryForMs, op);
  }
}

