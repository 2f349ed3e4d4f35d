import { BusError } from './bus.ts';
import { encodeSubjectToken } from './subjects.ts';

/** One live stream in the cluster-wide index: which edge owns it, since when, what it carries. */
export interface LiveStreamRecord {
  app: string;
  streamId: string;
  /** The public play name (control's stream id in `keys` mode; never a stream key). */
  stream?: string | undefined;
  /** The owning edge's id. */
  edge: string;
  /** The publisher session (same as the frames' epoch). */
  epoch: number;
  /** ISO time the publisher session started. */
  since: string;
  video?: string | undefined;
  audio?: string | undefined;
  /** ISO time of the owner's last heartbeat. */
  heartbeatAt: string;
}

export type ClaimResult = { ok: true; revision: number } | { ok: false; owner: LiveStreamRecord };

/**
 * The live-stream index and the ownership of stream keys. Ownership is a record with a revision:
 * claiming creates it, or replaces an existing one by compare-and-set when its owner is no longer
 * alive, so two edges can never both believe they own a stream. Owners renew by CAS on the
 * revision they hold; a failed CAS means someone took the stream over.
 */
export interface StreamIndex {
  /** Records without a heartbeat for this long disappear (a dead edge's streams). */
  readonly ttlMs: number;
  claim(record: LiveStreamRecord, ownerAlive: (owner: LiveStreamRecord) => Promise<boolean>): Promise<ClaimResult>;
  /** The new revision, or undefined if ownership was lost (the caller must stop publishing). */
  renew(record: LiveStreamRecord, revision: number): Promise<number | undefined>;
  release(app: string, streamId: string, revision: number): Promise<void>;
  get(app: string, streamId: string): Promise<{ record: LiveStreamRecord; revision: number } | undefined>;
  list(): Promise<LiveStreamRecord[]>;
  close(): Promise<void>;
}

/** The index key of a stream: valid as a KV key and scoped by app for per-app permissions. */
export function indexKey(app: string, streamId: string): string {
  return `${encodeSubjectToken(app)}.${encodeSubjectToken(streamId)}`;
}

/** The single-process index of `firstmile up`: same semantics, a Map with revisions and expiry. */
export class MemoryStreamIndex implements StreamIndex {
  readonly ttlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { record: LiveStreamRecord; revision: number; putAt: number }>();
  #revision = 0;

  constructor(options: { ttlMs: number; now?: () => number }) {
    this.ttlMs = options.ttlMs;
    this.#now = options.now ?? Date.now;
  }

  #live(key: string) {
    const e = this.#entries.get(key);
    if (e && this.#now() - e.putAt > this.ttlMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  async claim(record: LiveStreamRecord, ownerAlive: (owner: LiveStreamRecord) => Promise<boolean>): Promise<ClaimResult> {
    const key = indexKey(record.app, record.streamId);
    for (;;) {
      const existing = this.#live(key);
      if (existing) {
        if (await ownerAlive(existing.record)) return { ok: false, owner: existing.record };
        // CAS: replace only the record we judged dead; if it changed meanwhile, judge again.
        if (this.#entries.get(key) !== existing) continue;
      }
      const revision = ++this.#revision;
      this.#entries.set(key, { record: { ...record }, revision, putAt: this.#now() });
      return { ok: true, revision };
    }
  }

  async renew(record: LiveStreamRecord, revision: number): Promise<number | undefined> {
    const key = indexKey(record.app, record.streamId);
    const e = this.#live(key);
    if (e && e.revision !== revision) {
      // As in KV: a stale revision of the same session is an update that already landed.
      return e.record.edge === record.edge && e.record.epoch === record.epoch ? e.revision : undefined;
    }
    if (!e && this.#entries.has(key)) return undefined;
    const next = ++this.#revision;
    this.#entries.set(key, { record: { ...record }, revision: next, putAt: this.#now() });
    return next;
  }

  async release(app: string, streamId: string, revision: number): Promise<void> {
    const key = indexKey(app, streamId);
    if (this.#entries.get(key)?.revision === revision) this.#entries.delete(key);
  }

  async get(app: string, streamId: string) {
    const e = this.#live(indexKey(app, streamId));
    return e ? { record: { ...e.record }, revision: e.revision } : undefined;
  }

  async list(): Promise<LiveStreamRecord[]> {
    const out: LiveStreamRecord[] = [];
    for (const key of [...this.#entries.keys()]) {
      const e = this.#live(key);
      if (e) out.push({ ...e.record });
    }
    return out;
  }

  async close(): Promise<void> {
    this.#entries.clear();
  }
}

export function parseRecord(data: Uint8Array): LiveStreamRecord {
  try {
    const r = JSON.parse(Buffer.from(data).toString()) as LiveStreamRecord;
    if (typeof r.app !== 'string' || typeof r.streamId !== 'string' || typeof r.edge !== 'string') throw new Error('fields');
    return r;
  } catch (error) {
    throw new BusError('BUS_ERR_FRAME', 'malformed live stream record', { cause: error });
  }
}
