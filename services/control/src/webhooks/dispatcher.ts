import { createHmac, randomBytes } from 'node:crypto';
import { STREAM_EVENT_SUBJECT, decodeJson, type Bus, type StreamEvent, type Subscription } from '@firstmile/bus';
import type { Logger } from '@firstmile/observability';
import { SIGNATURE_HEADER, webhookSignature } from './signature.ts';
import {
  MAX_ATTEMPTS_KEPT,
  MAX_PENDING_BODY_BYTES,
  MemoryPendingDeliveryStore,
  capError,
  type PendingDelivery,
  type PendingDeliveryStore,
  type PendingSummary,
} from './pending-store.ts';

export type WebhookEventType = 'stream.started' | 'stream.ended' | 'stream.health_changed' | 'stream.key_rotated';

export type DeliveryStatus = 'pending' | 'delivering' | 'succeeded' | 'failed' | 'dropped';

export interface BackoffOptions {
  /** Delay before the second attempt (default 1000 ms); each later one multiplies it by `factor`. */
  baseMs?: number;
  /** Default 2. */
  factor?: number;
  /** Longest delay between attempts (default 60 000 ms). */
  capMs?: number;
  /** 0..1: each delay is shortened by up to this fraction, at random (default 0.2), so receivers that failed together are not retried in lockstep. */
  jitter?: number;
}

export interface WebhookDispatcherOptions {
  /** Receivers: every event goes to each of them. */
  urls: readonly string[];
  /** HMAC-SHA256 key of the `firstmile-signature` header. */
  secret: string | Uint8Array;
  logger: Logger;
  /** start() subscribes to stream events here. */
  bus?: Bus | undefined;
  /** Default: the global fetch. */
  fetch?: typeof fetch;
  /** Attempts per delivery, the first included (default 6). */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  /** Per attempt (default 5000 ms). */
  timeoutMs?: number;
  /** Deliveries waiting or in flight at most (default 1000); beyond it the oldest waiting one is dropped and counted. */
  maxQueue?: number;
  /** Finished deliveries kept for the API (default 1000). */
  maxResults?: number;
  /** Attempts in flight at once (default 8). */
  concurrency?: number;
  now?: () => number;
  /**
   * Deliveries waiting for a retry, shared by the replicas (default: one in memory, for a single
   * process). The replica that made the first attempt hands a delivery over; the leader retries it.
   */
  store?: PendingDeliveryStore | undefined;
  /** Whether this replica runs the retries in `store` now (default: always). */
  isLeader?: (() => boolean) | undefined;
  /** How often the leader looks for due retries made elsewhere (default 500 ms). */
  pollMs?: number;
  /** Told of each attempt's outcome (metrics): ok, retry (will be tried again), failed, dropped. */
  onResult?: ((event: WebhookEventType, result: 'ok' | 'retry' | 'failed' | 'dropped') => void) | undefined;
}

export interface DeliveryAttempt {
  at: string;
  durationMs: number;
  /** The receiver's HTTP status; null when no answer came (network error, timeout). */
  statusCode: number | null;
  error: string | null;
}

/** One event to one receiver, as `GET /v1/webhooks/deliveries` shows it. */
export interface Delivery {
  /** Also the body's `id`: receivers drop duplicates by it. */
  id: string;
  type: WebhookEventType;
  /** The receiver's URL without query or credentials (those may hold a receiver's token). */
  url: string;
  status: DeliveryStatus;
  attempts: DeliveryAttempt[];
  createdAt: string;
  completedAt: string | null;
  nextAttemptAt: string | null;
}

export type RetryResult = { ok: true; delivery: Delivery } | { ok: false; reason: 'not_found' | 'in_progress' };

interface State {
  id: string;
  type: WebhookEventType;
  url: string;
  shownUrl: string;
  body: string;
  status: DeliveryStatus;
  attempts: DeliveryAttempt[];
  /** Attempts made since the delivery was (re)queued: the budget maxAttempts applies to. */
  round: number;
  createdAt: number;
  completedAt: number | undefined;
  nextAttemptAt: number | undefined;
  /** Set while a retry claimed from the store is attempted: the claim's revision. */
  revision: number | undefined;
}

/** How long past the attempt timeout a claim holds before another leader may take the delivery. */
const CLAIM_MARGIN_MS = 5000;

/**
 * Outgoing webhooks. Edges' stream events arrive on the bus in the queue group `control`, so with
 * several control replicas each event reaches exactly one of them, which makes the first attempt
 * at once. A delivery that needs a retry is handed to the shared pending store and forgotten
 * locally: retries are a singleton duty of the leader, which claims each due one by CAS on its
 * revision before attempting it, so a leader change neither loses it nor has two replicas send it
 * (a leader that dies mid-attempt leaves a claim that lapses: at-least-once). Control's own events
 * (key rotation) start on the replica that made them.
 *
 * Every delivery is signed (see signature.ts), retried on 429, 5xx, timeouts and network errors
 * with exponential backoff, and kept, finished, in a bounded list the API serves.
 */
export class WebhookDispatcher {
  readonly #o: {
    urls: readonly string[];
    secret: string | Uint8Array;
    logger: Logger;
    bus: Bus | undefined;
    fetch: typeof fetch;
    maxAttempts: number;
    backoff: Required<BackoffOptions>;
    timeoutMs: number;
    maxQueue: number;
    maxResults: number;
    concurrency: number;
    now: () => number;
    store: PendingDeliveryStore;
    isLeader: () => boolean;
    pollMs: number;
  };
  /** urlId (HMAC of the full URL) → URL: how a stored delivery finds its receiver again. */
  readonly #urlById = new Map<string, string>();
  /** Store writes in flight (hand-overs, updates): idle() and close() wait for them. */
  readonly #ops = new Set<Promise<unknown>>();
  /** Store deliveries this replica is claiming or attempting. */
  readonly #claiming = new Set<string>();
  #loop: NodeJS.Timeout | undefined;
  #loopAt = Infinity;
  /** Every delivery still known, oldest first (pending ones and the last maxResults finished ones). */
  readonly #all = new Map<string, State>();
  readonly #pending = new Set<State>();
  readonly #abort = new AbortController();
  #subscription: Subscription | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #inFlight = 0;
  #dropped = 0;
  #finished = 0;
  #closed = false;
  readonly #idleWaiters: (() => void)[] = [];

  readonly #onResult: WebhookDispatcherOptions['onResult'];

  constructor(options: WebhookDispatcherOptions) {
    this.#onResult = options.onResult;
    for (const u of options.urls) {
      const parsed = new URL(u);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError(`webhook URL must be http(s): ${parsed.protocol}`);
    }
    this.#o = {
      urls: [...options.urls],
      secret: options.secret,
      logger: options.logger,
      bus: options.bus,
      fetch: options.fetch ?? globalThis.fetch,
      maxAttempts: options.maxAttempts ?? 6,
      backoff: {
        baseMs: options.backoff?.baseMs ?? 1000,
        factor: options.backoff?.factor ?? 2,
        capMs: options.backoff?.capMs ?? 60_000,
        jitter: options.backoff?.jitter ?? 0.2,
      },
      timeoutMs: options.timeoutMs ?? 5000,
      maxQueue: options.maxQueue ?? 1000,
      maxResults: options.maxResults ?? 1000,
      concurrency: options.concurrency ?? 8,
      now: options.now ?? Date.now,
      store: options.store ?? new MemoryPendingDeliveryStore(),
      isLeader: options.isLeader ?? (() => true),
      pollMs: options.pollMs ?? 500,
    };
    for (const u of this.#o.urls) this.#urlById.set(this.#urlId(u), u);
  }

  /** Subscribes to edges' stream events (queue group `control`) and starts the leader's retry loop. */
  start(): this {
    if (this.#o.urls.length === 0) return this;
    this.#schedule(0);
    const bus = this.#o.bus;
    if (!bus || this.#subscription) return this;
    this.#subscription = bus.subscribe(
      STREAM_EVENT_SUBJECT,
      (m) => {
        const event = decodeJson(m.data, isStreamEvent);
        if (!event) {
          this.#o.logger.warn({ subject: m.subject }, 'malformed stream event ignored');
          return;
        }
        this.emit(event.type, streamEventData(event));
      },
      { queue: 'control' },
    );
    return this;
  }

  /** Queues `type` with `data` for every receiver. */
  emit(type: WebhookEventType, data: Record<string, unknown>): void {
    if (this.#closed) return;
    const createdAt = this.#o.now();
    for (const url of this.#o.urls) {
      const id = `dlv_${randomBytes(12).toString('base64url')}`;
      const body = JSON.stringify({ id, type, createdAt: new Date(createdAt).toISOString(), data });
      const state: State = {
        id,
        type,
        url,
        shownUrl: redactUrl(url),
        body,
        status: 'pending',
        attempts: [],
        round: 0,
        createdAt,
        completedAt: undefined,
        nextAttemptAt: createdAt,
        revision: undefined,
      };
      this.#makeRoom();
      this.#all.set(id, state);
      this.#pending.add(state);
    }
    this.#pump();
  }

  /** This replica's deliveries and every replica's pending retries (from the store), newest first. */
  deliveries(filter: { status?: DeliveryStatus | undefined; limit?: number | undefined } = {}): Delivery[] {
    const limit = filter.limit ?? 100;
    const all: Delivery[] = [];
    for (const s of this.#all.values()) all.push(view(s));
    for (const e of this.#o.store.list()) if (!this.#all.has(e.delivery.id)) all.push(storedView(e.delivery));
    // Stable: equal createdAt keeps insertion order, which is creation order on this replica.
    const ordered = all.map((d, i) => ({ d, i, t: Date.parse(d.createdAt) })).sort((a, b) => b.t - a.t || b.i - a.i);
    const out: Delivery[] = [];
    for (const { d } of ordered) {
      if (out.length >= limit) break;
      if (filter.status === undefined || d.status === filter.status) out.push(d);
    }
    return out;
  }

  delivery(id: string): Delivery | undefined {
    const s = this.#all.get(id);
    if (s) return view(s);
    const e = this.#o.store.list().find((x) => x.delivery.id === id);
    return e ? storedView(e.delivery) : undefined;
  }

  /** Sends a finished delivery again, same id and body, with a fresh attempt budget. */
  retry(id: string): RetryResult {
    const s = this.#all.get(id);
    if (!s) return this.#retryStored(id);
    if (this.#pending.has(s)) return { ok: false, reason: 'in_progress' };
    this.#makeRoom();
    // Re-inserted as the newest: it is live again, and the oldest-first trimming must not take it.
    this.#all.delete(id);
    this.#all.set(id, s);
    this.#finished--;
    s.status = 'pending';
    s.round = 0;
    s.completedAt = undefined;
    s.nextAttemptAt = this.#o.now();
    this.#pending.add(s);
    this.#pump();
    return { ok: true, delivery: view(s) };
  }

  /** Deliveries dropped because the queue (or, by this replica, the store) was full, since start. */
  get dropped(): number {
    return this.#dropped + this.#o.store.dropped;
  }

  /**
   * Resolves once this replica has nothing waiting, in flight or being handed over, and, while it
   * leads, the store it can see holds no pending delivery either.
   */
  async idle(): Promise<void> {
    while (!this.#settled() || (!this.#closed && this.#o.isLeader() && this.#o.store.list().length > 0)) {
      if (this.#pending.size > 0) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
      else if (this.#ops.size > 0) await Promise.allSettled([...this.#ops]);
      else await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Stops: unsubscribes, cancels timers and aborts attempts in flight; pending deliveries are dropped. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#subscription?.unsubscribe();
    this.#subscription = undefined;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#loop) clearTimeout(this.#loop);
    this.#loop = undefined;
    this.#abort.abort();
    for (const s of this.#pending) if (s.status === 'pending') this.#finish(s, 'dropped');
    await this.idle();
  }

  #settled(): boolean {
    return this.#pending.size === 0 && this.#ops.size === 0 && this.#claiming.size === 0;
  }

  #track<T>(op: Promise<T>): Promise<T> {
    this.#ops.add(op);
    void op.then(
      () => this.#ops.delete(op),
      () => this.#ops.delete(op),
    );
    return op;
  }

  #urlId(url: string): string {
    return createHmac('sha256', this.#o.secret).update(`webhook-url:${url}`, 'utf8').digest('base64url');
  }

  /** POST .../retry of a delivery that only the store holds: due now, on whichever replica leads. */
  #retryStored(id: string): RetryResult {
    const e = this.#o.store.list().find((x) => x.delivery.id === id);
    if (!e) return { ok: false, reason: 'not_found' };
    if (e.delivery.status === 'delivering' || this.#claiming.has(id)) return { ok: false, reason: 'in_progress' };
    const now = this.#o.now();
    void this.#track(
      (async () => {
        const current = await this.#o.store.get(id);
        if (!current || current.delivery.status !== 'pending') return;
        await this.#o.store.update({ ...current.delivery, nextAttemptAt: now }, current.revision);
        this.#schedule(0);
      })().catch((error: unknown) => this.#o.logger.warn({ delivery: id, err: (error as Error).message }, 'could not make a pending webhook due')),
    );
    return { ok: true, delivery: storedView({ ...e.delivery, nextAttemptAt: now }) };
  }

  /** Runs the leader's retry loop at `inMs` (or sooner if already set), and at most pollMs apart. */
  #schedule(inMs: number): void {
    if (this.#closed) return;
    const at = this.#o.now() + Math.max(0, Math.min(inMs, this.#o.pollMs));
    if (this.#loop && at >= this.#loopAt) return;
    if (this.#loop) clearTimeout(this.#loop);
    this.#loopAt = at;
    this.#loop = setTimeout(() => {
      this.#loop = undefined;
      this.#loopAt = Infinity;
      this.#tick();
    }, at - this.#o.now());
    this.#loop.unref();
  }

  #tick(): void {
    if (this.#closed) return;
    let next = this.#o.pollMs;
    if (this.#o.isLeader()) {
      const now = this.#o.now();
      // A `delivering` entry whose claim lapsed belongs to a leader that died mid-attempt.
      const due = this.#o.store
        .list()
        .filter((e) => !this.#claiming.has(e.delivery.id))
        .sort((a, b) => a.delivery.nextAttemptAt - b.delivery.nextAttemptAt);
      for (const e of due) {
        if (e.delivery.nextAttemptAt > now) {
          next = Math.min(next, e.delivery.nextAttemptAt - now);
          break;
        }
        if (this.#inFlight + this.#claiming.size >= this.#o.concurrency) break;
        void this.#claimAndAttempt(e.revision, e.delivery);
      }
    }
    this.#schedule(next);
  }

  async #claimAndAttempt(revision: number, seen: PendingSummary): Promise<void> {
    const id = seen.id;
    this.#claiming.add(id);
    try {
      const current = await this.#o.store.get(id);
      if (!current || current.revision !== revision || this.#closed || !this.#o.isLeader()) return;
      const d = current.delivery;
      const url = this.#urlById.get(d.urlId);
      if (!url) {
        // The receiver was removed from this replica's configuration since the first attempt.
        if (await this.#o.store.remove(id, revision)) this.#o.logger.warn({ delivery: id, url: d.shownUrl }, 'pending webhook for a receiver no longer configured dropped');
        return;
      }
      const claimRevision = await this.#o.store.update({ ...d, status: 'delivering', nextAttemptAt: this.#o.now() + this.#o.timeoutMs + CLAIM_MARGIN_MS }, revision);
      if (claimRevision === undefined) return; // another replica claimed or changed it first
      const s: State = {
        id,
        type: d.type,
        url,
        shownUrl: d.shownUrl,
        body: d.body,
        status: 'pending',
        attempts: d.attempts.map((a) => ({ ...a })),
        round: d.round,
        createdAt: d.createdAt,
        completedAt: undefined,
        nextAttemptAt: this.#o.now(),
        revision: claimRevision,
      };
      this.#all.delete(id);
      this.#all.set(id, s);
      this.#pending.add(s);
      this.#claiming.delete(id);
      await this.#attempt(s);
    } catch (error) {
      this.#o.logger.warn({ delivery: id, err: (error as Error).message }, 'pending webhook claim failed');
    } finally {
      this.#claiming.delete(id);
    }
  }

  /** Hands a delivery that needs a retry to the store (first attempt) or puts it back (claimed retry). */
  async #handOver(s: State, nextAttemptAt: number): Promise<void> {
    const revision = s.revision;
    const d: PendingDelivery = {
      id: s.id,
      type: s.type,
      urlId: this.#urlId(s.url),
      shownUrl: s.shownUrl,
      body: s.body,
      status: 'pending',
      attempts: s.attempts.slice(-MAX_ATTEMPTS_KEPT),
      round: s.round,
      createdAt: s.createdAt,
      nextAttemptAt,
    };
    // Dropped from local memory first: from now on the store's copy is the delivery.
    this.#pending.delete(s);
    this.#all.delete(s.id);
    try {
      if (revision === undefined) await this.#o.store.add(d);
      else if ((await this.#o.store.update(d, revision)) === undefined) {
        this.#o.logger.warn({ delivery: s.id }, 'pending webhook changed while attempted; its outcome is not recorded');
      }
      this.#schedule(nextAttemptAt - this.#o.now());
    } catch (error) {
      this.#o.logger.error({ delivery: s.id, err: (error as Error).message }, 'could not store a webhook for retry: dropped');
      this.#all.set(s.id, s);
      this.#pending.add(s);
      this.#dropped++;
      this.#finish(s, 'dropped');
    }
    if (this.#pending.size === 0) for (const w of this.#idleWaiters.splice(0)) w();
  }

  /** Removes a claimed delivery from the store once it is finished. */
  #release(s: State): void {
    const revision = s.revision;
    s.revision = undefined;
    if (revision === undefined) return;
    void this.#track(
      this.#o.store.remove(s.id, revision).catch((error: unknown) => {
        this.#o.logger.warn({ delivery: s.id, err: (error as Error).message }, 'could not remove a finished webhook from the store');
      }),
    );
  }

  #makeRoom(): void {
    if (this.#pending.size < this.#o.maxQueue) return;
    // Drop the oldest waiting one: a newer event is worth more to a receiver than a stale retry.
    for (const s of this.#pending) {
      if (s.status !== 'pending') continue;
      this.#dropped++;
      this.#finish(s, 'dropped');
      if ((this.#dropped & (this.#dropped - 1)) === 0) {
        this.#o.logger.warn({ dropped: this.#dropped, maxQueue: this.#o.maxQueue }, 'webhook queue full: oldest delivery dropped');
      }
      return;
    }
  }

  #pump(): void {
    if (this.#closed) return;
    const now = this.#o.now();
    let next = Infinity;
    const due: State[] = [];
    for (const s of this.#pending) {
      if (s.status !== 'pending' || s.nextAttemptAt === undefined) continue;
      if (s.nextAttemptAt <= now) due.push(s);
      else next = Math.min(next, s.nextAttemptAt);
    }
    due.sort((a, b) => a.nextAttemptAt! - b.nextAttemptAt!);
    for (const s of due) {
      if (this.#inFlight >= this.#o.concurrency) {
        // The rest start when an attempt ends (#attempt pumps again).
        next = Infinity;
        break;
      }
      void this.#attempt(s);
    }
    if (next !== Infinity && next < this.#timerAt) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timerAt = next;
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#timerAt = Infinity;
        this.#pump();
      }, Math.max(0, next - now));
      this.#timer.unref();
    }
  }

  async #attempt(s: State): Promise<void> {
    this.#inFlight++;
    s.status = 'delivering';
    s.nextAttemptAt = undefined;
    s.round++;
    const started = this.#o.now();
    const t = Math.floor(started / 1000);
    let statusCode: number | null = null;
    let error: string | null = null;
    let retryAfterMs: number | undefined;
    try {
      const res = await this.#o.fetch(s.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'firstmile-webhooks/1',
          [SIGNATURE_HEADER]: webhookSignature(this.#o.secret, s.body, t),
          'firstmile-delivery': s.id,
          'firstmile-event': s.type,
        },
        body: s.body,
        // A redirect is an answer, not an instruction: following it would send signed events to
        // wherever the receiver (or whoever controls its DNS) points.
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(this.#o.timeoutMs), this.#abort.signal]),
      });
      statusCode = res.status;
      retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
      await res.body?.cancel().catch(() => {});
      if (statusCode < 200 || statusCode >= 300) error = `HTTP ${statusCode}`;
    } catch (e) {
      const err = e as Error;
      error = err.name === 'TimeoutError' ? `no answer within ${this.#o.timeoutMs} ms` : `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}`;
    } finally {
      this.#inFlight--;
    }
    const ended = this.#o.now();
    if (s.attempts.length >= MAX_ATTEMPTS_KEPT) s.attempts.shift();
    s.attempts.push({ at: new Date(started).toISOString(), durationMs: ended - started, statusCode, error: capError(error) });
    const log = this.#o.logger.child({ delivery: s.id, type: s.type, url: s.shownUrl });
    if (error === null) {
      log.debug({ statusCode, attempt: s.round }, 'webhook delivered');
      this.#finish(s, 'succeeded');
    } else if (this.#closed && s.revision !== undefined) {
      // Shutting down mid-retry: put it back due now, so the next leader does not wait for the claim to lapse.
      void this.#track(this.#handOver(s, ended));
    } else if (this.#closed) {
      this.#finish(s, 'failed');
    } else if (isRetryable(statusCode) && s.round < this.#o.maxAttempts && Buffer.byteLength(s.body, 'utf8') <= MAX_PENDING_BODY_BYTES) {
      const delay = Math.min(this.#o.backoff.capMs, Math.max(this.#delay(s.round), retryAfterMs ?? 0));
      s.status = 'pending';
      s.nextAttemptAt = ended + delay;
      this.#onResult?.(s.type, 'retry');
      log.info({ statusCode, error, attempt: s.round, retryInMs: delay }, 'webhook attempt failed; retrying');
      void this.#track(this.#handOver(s, ended + delay));
    } else {
      log.warn({ statusCode, error, attempts: s.round }, 'webhook delivery failed');
      this.#finish(s, 'failed');
    }
    this.#pump();
  }

  /** Delay after the `round`-th failed attempt: base × factor^(round-1), capped, minus jitter. */
  #delay(round: number): number {
    const { baseMs, factor, capMs, jitter } = this.#o.backoff;
    const d = Math.min(capMs, baseMs * factor ** (round - 1));
    return Math.round(d * (1 - jitter * Math.random()));
  }

  #finish(s: State, status: 'succeeded' | 'failed' | 'dropped'): void {
    this.#release(s);
    s.status = status;
    this.#onResult?.(s.type, status === 'succeeded' ? 'ok' : status);
    s.completedAt = this.#o.now();
    s.nextAttemptAt = undefined;
    this.#pending.delete(s);
    this.#finished++;
    if (this.#finished > this.#o.maxResults) {
      for (const [id, old] of this.#all) {
        if (this.#pending.has(old)) continue;
        this.#all.delete(id);
        this.#finished--;
        break;
      }
    }
    if (this.#pending.size === 0) for (const w of this.#idleWaiters.splice(0)) w();
  }
}

function isRetryable(statusCode: number | null): boolean {
  return statusCode === null || statusCode === 429 || statusCode >= 500;
}

/** Retry-After in seconds (the HTTP-date form is ignored: the backoff applies instead). */
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || !/^\d{1,6}$/.test(value.trim())) return undefined;
  return Number(value.trim()) * 1000;
}

function redactUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

function storedView(d: PendingSummary): Delivery {
  return {
    id: d.id,
    type: d.type,
    url: d.shownUrl,
    status: d.status,
    attempts: d.attempts.map((a) => ({ ...a })),
    createdAt: new Date(d.createdAt).toISOString(),
    completedAt: null,
    nextAttemptAt: d.status === 'pending' ? new Date(d.nextAttemptAt).toISOString() : null,
  };
}

function view(s: State): Delivery {
  return {
    id: s.id,
    type: s.type,
    url: s.shownUrl,
    status: s.status,
    attempts: s.attempts.map((a) => ({ ...a })),
    createdAt: new Date(s.createdAt).toISOString(),
    completedAt: s.completedAt === undefined ? null : new Date(s.completedAt).toISOString(),
    nextAttemptAt: s.nextAttemptAt === undefined || s.status !== 'pending' ? null : new Date(s.nextAttemptAt).toISOString(),
  };
}

/** The webhook `data` of an edge's stream event: the play name as `stream`; bus internals left out. */
export function streamEventData(e: StreamEvent): Record<string, unknown> {
  const data: Record<string, unknown> = { stream: e.stream, app: e.app, edge: e.edge, at: e.at };
  if (e.video !== undefined) data['video'] = e.video;
  if (e.audio !== undefined) data['audio'] = e.audio;
  if (e.reason !== undefined) data['reason'] = e.reason;
  if (e.health !== undefined) data['health'] = e.health;
  if (e.previousHealth !== undefined) data['previousHealth'] = e.previousHealth;
  return data;
}

const EVENT_TYPES = new Set(['stream.started', 'stream.ended', 'stream.health_changed']);

export function isStreamEvent(v: unknown): v is StreamEvent {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return (
    typeof e['type'] === 'string' &&
    EVENT_TYPES.has(e['type']) &&
    typeof e['app'] === 'string' &&
    typeof e['stream'] === 'string' &&
    typeof e['edge'] === 'string' &&
    typeof e['at'] === 'string' &&
    (e['stream'] as string).length <= 1024 &&
    (e['app'] as string).length <= 256
  );
}
