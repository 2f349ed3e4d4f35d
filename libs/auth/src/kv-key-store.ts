import { isWrongLastSequence, retrying } from '@firstmile/bus';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { KeyStoreError } from './errors.ts';
import { parseStreamRecord, validateStreamRecord } from './key-store.ts';
import type { KeyStore, StreamRecord } from './types.ts';

export interface KvKeyStoreOptions {
  /** JetStream KV bucket, e.g. `fm_keys`. */
  bucket: string;
  /** 3 on a cluster: keys survive losing a NATS node. */
  replicas: number;
  /** How long one operation keeps retrying through a JetStream leader election. */
  retryForMs: number;
}

/** A stored record is a few hundred bytes; the cap refuses anything absurd at the server. */
const MAX_VALUE_BYTES = 64 * 1024;
/** Rounds of "a key hash entry changed under us" before giving up with a conflict. */
const MAX_HASH_CLAIM_ATTEMPTS = 5;

/**
 * Stream records in a JetStream KV bucket. Layout:
 *
 *   s.<id>    the StreamRecord, JSON
 *   h.<hash>  the id of the stream that has a key with this HMAC hash
 *
 * KV has no multi-key transactions, so the two are ordered to keep every crash state safe: hash
 * entries are written before the record that lists them, and deleted after the record stops
 * listing them. A dangling `h.` entry (its record does not list the hash) is ignored by
 * findByKeyHash and may be taken over by another stream, so a crash between the two writes can
 * only leave garbage, never let a key open a stream it does not belong to.
 * Reads go to the stream leader (allow_direct false): a revoke must not be undone by a replica
 * that has not seen it yet.
 */
export class KvKeyStore implements KeyStore {
  readonly #kv: KV;
  readonly #retryForMs: number;

  private constructor(kv: KV, options: KvKeyStoreOptions) {
    this.#kv = kv;
    this.#retryForMs = options.retryForMs;
  }

  static async open(nc: NatsConnection, options: KvKeyStoreOptions): Promise<KvKeyStore> {
    const kv = await retrying(options.retryForMs, () =>
      new Kvm(nc).create(options.bucket, {
        replicas: options.replicas,
        history: 1,
        allow_direct: false,
        maxValueSize: MAX_VALUE_BYTES,
        description: 'firstmile stream records and key hashes (keys are never stored)',
      }),
    );
    return new KvKeyStore(kv, options);
  }

  async create(record: StreamRecord): Promise<number> {
    validateStreamRecord(record);
    const key = recordKey(record.id);
    const value = JSON.stringify(record);
    if (await this.#getEntry(key)) throw new KeyStoreError('KEYSTORE_ERR_EXISTS', `stream ${record.id} exists`);
    const claimed = await this.#claimHashes(record.id, record.keys.map((k) => k.hash));
    try {
      return await this.#retry(() => this.#kv.create(key, value));
    } catch (error) {
      if (!isWrongLastSequence(error)) throw error;
      // A retried create whose first attempt landed also fails: it is ours if the value is.
      const current = await this.#getEntry(key);
      if (current && decode(current) === value) return current.revision;
      await this.#releaseHashes(record.id, claimed, current);
      throw new KeyStoreError('KEYSTORE_ERR_EXISTS', `stream ${record.id} exists`, { cause: error });
    }
  }

  async get(id: string): Promise<{ record: StreamRecord; revision: number } | undefined> {
    if (!validId(id)) return undefined;
    const entry = await this.#getEntry(recordKey(id));
    if (!entry) return undefined;
    const record = parseStreamRecord(entry.value);
    if (!record || record.id !== id) throw new KeyStoreError('KEYSTORE_ERR_INVALID', `stored stream ${id} is malformed`);
    return { record, revision: entry.revision };
  }

  async findByKeyHash(hash: string): Promise<StreamRecord | undefined> {
    if (!/^[0-9a-f]{64}$/.test(hash)) return undefined;
    const pointer = await this.#getEntry(hashKey(hash));
    if (!pointer) return undefined;
    const current = await this.get(decode(pointer));
    // A dangling pointer (a crash mid-update, or a hash rotated out) opens nothing.
    return current && current.record.keys.some((k) => k.hash === hash) ? current.record : undefined;
  }

  async list(): Promise<StreamRecord[]> {
    const keys: string[] = [];
    for await (const k of await this.#retry(() => this.#kv.keys('s.>'))) keys.push(k);
    const out: StreamRecord[] = [];
    for (const k of keys) {
      const current = await this.get(k.slice(2));
      if (current) out.push(current.record);
    }
    return out;
  }

  async update(record: StreamRecord, revision: number): Promise<number> {
    validateStreamRecord(record);
    const key = recordKey(record.id);
    const value = JSON.stringify(record);
    const before = await this.#getEntry(key);
    if (!before) throw new KeyStoreError('KEYSTORE_ERR_NOT_FOUND', `stream ${record.id} not found`);
    if (before.revision !== revision) {
      throw new KeyStoreError('KEYSTORE_ERR_CONFLICT', `stream ${record.id} changed (revision ${before.revision}, expected ${revision})`);
    }
    const oldHashes = new Set((parseStreamRecord(before.value)?.keys ?? []).map((k) => k.hash));
    const newHashes = record.keys.map((k) => k.hash).filter((h) => !oldHashes.has(h));
    const claimed = await this.#claimHashes(record.id, newHashes);
    let next: number;
    try {
      next = await this.#retry(() => this.#kv.update(key, value, revision));
    } catch (error) {
      if (!isWrongLastSequence(error)) throw error;
      const current = await this.#getEntry(key);
      if (current && decode(current) === value) {
        next = current.revision;
      } else {
        await this.#releaseHashes(record.id, claimed, current);
        if (!current) throw new KeyStoreError('KEYSTORE_ERR_NOT_FOUND', `stream ${record.id} not found`, { cause: error });
        throw new KeyStoreError('KEYSTORE_ERR_CONFLICT', `stream ${record.id} changed`, { cause: error });
      }
    }
    const kept = new Set(record.keys.map((k) => k.hash));
    await this.#releaseHashes(
      record.id,
      [...oldHashes].filter((h) => !kept.has(h)),
      undefined,
    );
    return next;
  }

  async delete(id: string): Promise<void> {
    const current = validId(id) ? await this.#getEntry(recordKey(id)) : undefined;
    if (!current) throw new KeyStoreError('KEYSTORE_ERR_NOT_FOUND', `stream ${id} not found`);
    await this.#retry(() => this.#kv.delete(recordKey(id)));
    const hashes = (parseStreamRecord(current.value)?.keys ?? []).map((k) => k.hash);
    await this.#releaseHashes(id, hashes, undefined);
  }

  async close(): Promise<void> {}

  /**
   * Points `h.<hash>` at `id` for each hash. A hash that a live record of another stream lists is
   * refused (KEYSTORE_ERR_EXISTS) and what was claimed so far is released; a dangling pointer is
   * taken over by compare-and-set. Returns the hashes this call pointed (to release on failure).
   */
  async #claimHashes(id: string, hashes: string[]): Promise<string[]> {
    const claimed: string[] = [];
    try {
      for (const hash of hashes) {
        if (await this.#claimHash(id, hash)) claimed.push(hash);
      }
    } catch (error) {
      await this.#releaseHashes(id, claimed, undefined);
      throw error;
    }
    return claimed;
  }

  /** True when this call wrote the pointer, false when it already pointed at `id`. */
  async #claimHash(id: string, hash: string): Promise<boolean> {
    const key = hashKey(hash);
    for (let attempt = 0; attempt < MAX_HASH_CLAIM_ATTEMPTS; attempt++) {
      const pointer = await this.#getEntry(key);
      if (!pointer) {
        try {
          await this.#retry(() => this.#kv.create(key, id));
          return true;
        } catch (error) {
          if (!isWrongLastSequence(error)) throw error;
          continue;
        }
      }
      const owner = decode(pointer);
      if (owner === id) return false;
      const ownerRecord = validId(owner) ? await this.#getEntry(recordKey(owner)) : undefined;
      const listed = ownerRecord ? (parseStreamRecord(ownerRecord.value)?.keys ?? []).some((k) => k.hash === hash) : false;
      if (listed) throw new KeyStoreError('KEYSTORE_ERR_EXISTS', `a key of stream ${id} already belongs to another stream`);
      try {
        await this.#retry(() => this.#kv.update(key, id, pointer.revision));
        return true;
      } catch (error) {
        if (!isWrongLastSequence(error)) throw error;
      }
    }
    throw new KeyStoreError('KEYSTORE_ERR_CONFLICT', `a key hash of stream ${id} is contended`);
  }

  /**
   * Best-effort removal of `h.` pointers to `id`, by compare-and-set so a pointer another stream
   * took over meanwhile is left alone. Hashes the current record (`keep`) lists stay. A failure
   * leaves a dangling pointer, which findByKeyHash ignores.
   */
  async #releaseHashes(id: string, hashes: string[], keep: KvEntry | undefined): Promise<void> {
    const listed = new Set(keep ? (parseStreamRecord(keep.value)?.keys ?? []).map((k) => k.hash) : []);
    for (const hash of hashes) {
      if (listed.has(hash)) continue;
      try {
        const pointer = await this.#getEntry(hashKey(hash));
        if (pointer && decode(pointer) === id) {
          await this.#retry(() => this.#kv.delete(hashKey(hash), { previousSeq: pointer.revision }));
        }
      } catch {
        // Dangling pointers are harmless by construction (see the class comment).
      }
    }
  }

  async #getEntry(key: string): Promise<KvEntry | undefined> {
    const entry = await this.#retry(() => this.#kv.get(key));
    return entry && entry.operation === 'PUT' ? entry : undefined;
  }

  #retry<T>(op: () => Promise<T>): Promise<T> {
    return retrying(this.#retryForMs, op);
  }
}

function recordKey(id: string): string {
  return `s.${id}`;
}

function hashKey(hash: string): string {
  return `h.${hash}`;
}

function validId(id: string): boolean {
  return /^[A-Za-z0-9_-]{1,64}$/.test(id);
}

function decode(entry: KvEntry): string {
  return Buffer.from(entry.value.buffer, entry.value.byteOffset, entry.value.byteLength).toString('utf8');
}


