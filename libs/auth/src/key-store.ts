import { KeyStoreError } from './errors.ts';
import type { KeyStore, StreamKeyEntry, StreamRecord } from './types.ts';

/** A stream keeps its current key and, during a rotation's overlap, a few previous ones. */
export const MAX_KEYS_PER_STREAM = 8;
/** Ids are used as KV key tokens and in URLs: a conservative alphabet, bounded. */
const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** hashStreamKey's output: HMAC-SHA256 in lower-case hex. */
const HASH_PATTERN = /^[0-9a-f]{64}$/;

/** Rejects records the stores cannot hold safely (KEYSTORE_ERR_INVALID). */
export function validateStreamRecord(record: StreamRecord): void {
  const invalid = (why: string) => new KeyStoreError('KEYSTORE_ERR_INVALID', `invalid stream record: ${why}`);
  if (typeof record.id !== 'string' || !ID_PATTERN.test(record.id)) throw invalid('id');
  if (record.playback !== 'public' && record.playback !== 'signed') throw invalid('playback');
  if (!Array.isArray(record.keys) || record.keys.length > MAX_KEYS_PER_STREAM) throw invalid(`keys (at most ${MAX_KEYS_PER_STREAM})`);
  const seen = new Set<string>();
  for (const entry of record.keys) {
    if (typeof entry?.hash !== 'string' || !HASH_PATTERN.test(entry.hash)) throw invalid('key hash');
    if (seen.has(entry.hash)) throw invalid('duplicate key hash');
    seen.add(entry.hash);
  }
}

/** Parses a stored record; undefined for anything that is not one (a foreign or corrupt value). */
export function parseStreamRecord(data: Uint8Array): StreamRecord | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
    if (!isStreamRecord(value)) return undefined;
    validateStreamRecord(value);
    return value;
  } catch {
    return undefined;
  }
}

function isStreamRecord(value: unknown): value is StreamRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r['id'] === 'string' &&
    typeof r['createdAt'] === 'string' &&
    typeof r['updatedAt'] === 'string' &&
    Array.isArray(r['keys']) &&
    r['keys'].every((k: unknown) => typeof k === 'object' && k !== null && typeof (k as StreamKeyEntry).hash === 'string')
  );
}

/**
 * The single-process store of `firstmile up`: the same semantics as KvKeyStore (revisions from
 * one counter, compare-and-set, unique key hashes), held in Maps. Records are copied in and out so
 * a caller mutating its object cannot change the store behind its back.
 */
export class MemoryKeyStore implements KeyStore {
  readonly #records = new Map<string, { record: StreamRecord; revision: number }>();
  /** key hash -> stream id */
  readonly #byHash = new Map<string, string>();
  #revision = 0;
  #closed = false;

  async create(record: StreamRecord): Promise<number> {
    this.#open();
    validateStreamRecord(record);
    if (this.#records.has(record.id)) throw new KeyStoreError('KEYSTORE_ERR_EXISTS', `stream ${record.id} exists`);
    this.#assertHashesFree(record);
    for (const entry of record.keys) this.#byHash.set(entry.hash, record.id);
    const revision = ++this.#revision;
    this.#records.set(record.id, { record: structuredClone(record), revision });
    return revision;
  }

  async get(id: string): Promise<{ record: StreamRecord; revision: number } | undefined> {
    this.#open();
    const e = this.#records.get(id);
    return e ? { record: structuredClone(e.record), revision: e.revision } : undefined;
  }

  async findByKeyHash(hash: string): Promise<StreamRecord | undefined> {
    this.#open();
    const id = this.#byHash.get(hash);
    const e = id === undefined ? undefined : this.#records.get(id);
    if (!e || !e.record.keys.some((k) => k.hash === hash)) return undefined;
    return structuredClone(e.record);
  }

  async list(): Promise<StreamRecord[]> {
    this.#open();
    return [...this.#records.values()].map((e) => structuredClone(e.record));
  }

  async update(record: StreamRecord, revision: number): Promise<number> {
    this.#open();
    validateStreamRecord(record);
    const current = this.#records.get(record.id);
    if (!current) throw new KeyStoreError('KEYSTORE_ERR_NOT_FOUND', `stream ${record.id} not found`);
    if (current.revision !== revision) {
      throw new KeyStoreError('KEYSTORE_ERR_CONFLICT', `stream ${record.id} changed (revision ${current.revision}, expected ${revision})`);
    }
    this.#assertHashesFree(record);
    const kept = new Set(record.keys.map((k) => k.hash));
    for (const entry of current.record.keys) if (!kept.has(entry.hash)) this.#byHash.delete(entry.hash);
    for (const hash of kept) this.#byHash.set(hash, record.id);
    const next = ++this.#revision;
    this.#records.set(record.id, { record: structuredClone(record), revision: next });
    return next;
  }

  async delete(id: string): Promise<void> {
    this.#open();
    const current = this.#records.get(id);
    if (!current) throw new KeyStoreError('KEYSTORE_ERR_NOT_FOUND', `stream ${id} not found`);
    this.#records.delete(id);
    for (const entry of current.record.keys) {
      if (this.#byHash.get(entry.hash) === id) this.#byHash.delete(entry.hash);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#records.clear();
    this.#byHash.clear();
  }

  /** A key hash may belong to one stream only, or a key would open two streams. */
  #assertHashesFree(record: StreamRecord): void {
    for (const entry of record.keys) {
      const owner = this.#byHash.get(entry.hash);
      if (owner !== undefined && owner !== record.id) {
        throw new KeyStoreError('KEYSTORE_ERR_EXISTS', `a key of stream ${record.id} already belongs to another stream`);
      }
    }
  }

  #open(): void {
    if (this.#closed) throw new KeyStoreError('KEYSTORE_ERR_CLOSED', 'key store closed');
  }
}
