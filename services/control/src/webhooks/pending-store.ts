import type { DeliveryAttempt, WebhookEventType } from './dispatcher.ts';

/** Longest webhook body a pending delivery may carry (the store is shared, so every entry is capped). */
export const MAX_PENDING_BODY_BYTES = 64 * 1024;
export const DEFAULT_MAX_PENDING = 10_000;
/** Attempts kept per delivery (the oldest go first); maxAttempts is usually far below. */
export const MAX_ATTEMPTS_KEPT = 50;
const MAX_ERROR_CHARS = 300;

/** A delivery waiting for a retry, as the shared store holds it. */
export interface PendingDelivery {
  /** Also the body's `id` and the store key. */
  id: string;
  type: WebhookEventType;
  /**
   * HMAC-SHA256 of the receiver's full URL under the webhook secret: the store never holds a
   * receiver's URL query (it may carry the receiver's token); each replica maps it back from config.
   */
  urlId: string;
  /** The URL without query or credentials, for the API. */
  shownUrl: string;
  body: string;
  /** `delivering`: claimed by a leader for one attempt; `nextAttemptAt` is then when the claim lapses. */
  status: 'pending' | 'delivering';
  attempts: DeliveryAttempt[];
  /** Attempts made since the delivery was (re)queued: the budget maxAttempts applies to. */
  round: number;
  createdAt: number;
  nextAttemptAt: number;
}

/** What `list()` gives: everything but the body (a replica mirrors the whole store in memory). */
export type PendingSummary = Omit<PendingDelivery, 'body'>;

export interface PendingEntry<T = PendingDelivery> {
  delivery: T;
  /** Compare-and-set token: an update or removal names the revision it read. */
  revision: number;
}

/**
 * Deliveries waiting for a retry, shared by every control replica. Writers (the replica that made
 * the first attempt) add; the leader claims one by CAS on its revision, attempts it, then updates
 * or removes it, again by CAS, so two replicas that both believe they lead never both send it.
 */
export interface PendingDeliveryStore {
  /** Entries evicted because the store held maxPending, by this replica, since start. */
  readonly dropped: number;
  /** Stores a new delivery; beyond maxPending the oldest one is evicted and counted. */
  add(delivery: PendingDelivery): Promise<void>;
  /** The pending deliveries this replica knows of, oldest first (may lag the store briefly). */
  list(): readonly PendingEntry<PendingSummary>[];
  /** The current value, read from the store itself. */
  get(id: string): Promise<PendingEntry | undefined>;
  /** Replaces the delivery if it is still at `revision`: the new revision, or undefined if it moved. */
  update(delivery: PendingDelivery, revision: number): Promise<number | undefined>;
  /** Removes the delivery if it is still at `revision`. */
  remove(id: string, revision: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface MemoryPendingDeliveryStoreOptions {
  /** Default 10 000. */
  maxPending?: number;
}

/** The store of a single process (`firstmile up` on the memory bus, where it is always the leader). */
export class MemoryPendingDeliveryStore implements PendingDeliveryStore {
  readonly #entries = new Map<string, PendingEntry>();
  readonly #maxPending: number;
  #revision = 0;
  #dropped = 0;

  constructor(options: MemoryPendingDeliveryStoreOptions = {}) {
    this.#maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
  }

  get dropped(): number {
    return this.#dropped;
  }

  async add(delivery: PendingDelivery): Promise<void> {
    checkBody(delivery.body);
    while (this.#entries.size >= this.#maxPending) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
      this.#dropped++;
    }
    this.#entries.set(delivery.id, { delivery: clone(delivery), revision: ++this.#revision });
  }

  list(): readonly PendingEntry<PendingSummary>[] {
    return [...this.#entries.values()].map((e) => ({ delivery: summary(e.delivery), revision: e.revision }));
  }

  async get(id: string): Promise<PendingEntry | undefined> {
    const e = this.#entries.get(id);
    return e ? { delivery: clone(e.delivery), revision: e.revision } : undefined;
  }

  async update(delivery: PendingDelivery, revision: number): Promise<number | undefined> {
    checkBody(delivery.body);
    const e = this.#entries.get(delivery.id);
    if (!e || e.revision !== revision) return undefined;
    e.delivery = clone(delivery);
    e.revision = ++this.#revision;
    return e.revision;
  }

  async remove(id: string, revision: number): Promise<boolean> {
    const e = this.#entries.get(id);
    if (!e || e.revision !== revision) return false;
    this.#entries.delete(id);
    return true;
  }

  async close(): Promise<void> {}
}

export function checkBody(body: string): void {
  if (Buffer.byteLength(body, 'utf8') > MAX_PENDING_BODY_BYTES) throw new RangeError(`webhook body exceeds ${MAX_PENDING_BODY_BYTES} bytes`);
}

export function summary(d: PendingDelivery): PendingSummary {
  const { body: _body, ...rest } = d;
  return { ...rest, attempts: rest.attempts.map((a) => ({ ...a })) };
}

function clone(d: PendingDelivery): PendingDelivery {
  return { ...d, attempts: d.attempts.map((a) => ({ ...a })) };
}

const TYPES = new Set(['stream.started', 'stream.ended', 'stream.health_changed', 'stream.key_rotated']);

/** Parses a stored entry; undefined for anything malformed or beyond the caps (it is then ignored). */
export function parsePendingDelivery(bytes: Uint8Array): PendingDelivery | undefined {
  if (bytes.byteLength > MAX_PENDING_BODY_BYTES * 2 + 64 * 1024) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const ok =
    typeof o['id'] === 'string' &&
    o['id'].length <= 64 &&
    typeof o['type'] === 'string' &&
    TYPES.has(o['type']) &&
    typeof o['urlId'] === 'string' &&
    o['urlId'].length <= 128 &&
    typeof o['shownUrl'] === 'string' &&
    o['shownUrl'].length <= 2048 &&
    typeof o['body'] === 'string' &&
    Buffer.byteLength(o['body'], 'utf8') <= MAX_PENDING_BODY_BYTES &&
    (o['status'] === 'pending' || o['status'] === 'delivering') &&
    Array.isArray(o['attempts']) &&
    o['attempts'].length <= MAX_ATTEMPTS_KEPT &&
    o['attempts'].every(isAttempt) &&
    Number.isSafeInteger(o['round']) &&
    Number.isSafeInteger(o['createdAt']) &&
    Number.isSafeInteger(o['nextAttemptAt']);
  return ok ? (o as unknown as PendingDelivery) : undefined;
}

function isAttempt(v: unknown): v is DeliveryAttempt {
  if (typeof v !== 'object' || v === null) return false;
  const a = v as Record<string, unknown>;
  return (
    typeof a['at'] === 'string' &&
    a['at'].length <= 40 &&
    typeof a['durationMs'] === 'number' &&
    (a['statusCode'] === null || Number.isInteger(a['statusCode'])) &&
    (a['error'] === null || (typeof a['error'] === 'string' && a['error'].length <= MAX_ERROR_CHARS))
  );
}

/** An attempt's error text, capped so a receiver's long error cannot grow the shared record. */
export function capError(error: string | null): string | null {
  return error === null || error.length <= MAX_ERROR_CHARS ? error : `${error.slice(0, MAX_ERROR_CHARS - 1)}…`;
}
