import { SpanAttr, SpanName, extractContext, getTracer, withSpan } from '@firstmile/observability/tracing';
/**
 * Auth mode `keys` over the bus. Edges never hold the key-hash secret: an edge sends the key the
 * encoder presented to control (`fm.auth.publish`, request/reply, queue group `control`), which
 * hashes it, looks the hash up and answers allow or deny. The key travels in the request body only
 * (TLS to NATS in a cluster), never in a subject or a log, and is never echoed in the answer.
 *
 * Edges cache answers for at most a second and drop a stream's cached answers when control says
 * its keys changed (KEYS_CHANGED_SUBJECT), so a revoked or rotated-out key stops working
 * cluster-wide at once, and within the TTL even if that message is lost.
 */
import { createHash } from 'node:crypto';
import {
  BusError,
  KEYS_CHANGED_SUBJECT,
  SUBJECT_PREFIX,
  decodeJson,
  encodeJson,
  type Bus,
  type BusMessage,
  type KeysChanged,
  type Subscription,
} from '@firstmile/bus';
import type { Logger } from '@firstmile/observability';
import { nullLogger as silentLogger } from '@firstmile/observability';
import { AuthError } from './errors.ts';
import { hashStreamKey, keyLogId, safeEqual } from './keys.ts';
import { requestParams } from './stream-name.ts';
import { TtlCache } from './ttl-cache.ts';
import type { AuthContext, KeyStore, PublishAuthorizer, PublishDecision, PublishDenyCode, PublishRequest, StreamRecord } from './types.ts';

/** Edge -> control: is this key valid? */
export const AUTH_PUBLISH_SUBJECT = `${SUBJECT_PREFIX}.auth.publish`;
/** Origin -> control: does this stream exist, and is its playback public or signed? */
export const AUTH_STREAM_SUBJECT = `${SUBJECT_PREFIX}.auth.stream`;
/** Control replicas answer auth requests as one queue group: each request is answered once. */
export const AUTH_QUEUE_GROUP = 'control';

/** Worst-case staleness of an edge's cached answer: the "within a second". */
export const MAX_KEYS_CACHE_TTL_MS = 1000;

/** Caps on what a requester controls. */
const MAX_REQUEST_BYTES = 8 * 1024;
const MAX_KEY_LENGTH = 1024;
const MAX_APP_LENGTH = 256;
const MAX_IP_LENGTH = 64;
const MAX_ID_LENGTH = 64;

export type PlaybackPolicy = StreamRecord['playback'];

/** Body of an AUTH_PUBLISH_SUBJECT request. */
export interface KeyAuthRequest {
  app: string;
  /** The publish name without its query: the stream key. */
  key: string;
  clientIp: string;
}

/** Body of the reply. */
export type KeyAuthReply =
  /** `validForMs`: a rotated-out key's remaining overlap; edges cache the allow no longer than that. */
  | { ok: true; id: string; playback: PlaybackPolicy; validForMs?: number | undefined }
  | { ok: false; code: Exclude<PublishDenyCode, 'AUTH_LOCKED_OUT'>; reason: string };

/** Body of an AUTH_STREAM_SUBJECT request. */
export interface StreamAuthRequest {
  id: string;
}

/** Body of the reply; a revoked stream does not exist for players. */
export type StreamAuthReply = { exists: true; playback: PlaybackPolicy } | { exists: false };

const DENY_CODES: ReadonlySet<string> = new Set(['AUTH_BAD_KEY', 'AUTH_REVOKED', 'AUTH_EXPIRED', 'AUTH_BAD_SIGNATURE', 'AUTH_BAD_TOKEN', 'AUTH_DENIED', 'AUTH_UNAVAILABLE']);

function isString(value: unknown, max: number, min = 1): value is string {
  return typeof value === 'string' && value.length >= min && value.length <= max;
}

function isKeyAuthRequest(value: unknown): value is KeyAuthRequest {
  const v = value as KeyAuthRequest | null;
  return typeof v === 'object' && v !== null && isString(v.app, MAX_APP_LENGTH, 0) && isString(v.key, MAX_KEY_LENGTH) && isString(v.clientIp, MAX_IP_LENGTH);
}

function isStreamAuthRequest(value: unknown): value is StreamAuthRequest {
  const v = value as StreamAuthRequest | null;
  return typeof v === 'object' && v !== null && isString(v.id, MAX_ID_LENGTH);
}

function isPlayback(value: unknown): value is PlaybackPolicy {
  return value === 'public' || value === 'signed';
}

function isKeyAuthReply(value: unknown): value is KeyAuthReply {
  const v = value as Record<string, unknown> | null;
  if (typeof v !== 'object' || v === null) return false;
  if (v['ok'] === true) return isString(v['id'], MAX_ID_LENGTH) && isPlayback(v['playback']);
  return v['ok'] === false && typeof v['code'] === 'string' && DENY_CODES.has(v['code']) && typeof v['reason'] === 'string';
}

function isStreamAuthReply(value: unknown): value is StreamAuthReply {
  const v = value as Record<string, unknown> | null;
  if (typeof v !== 'object' || v === null) return false;
  return v['exists'] === false || (v['exists'] === true && isPlayback(v['playback']));
}

function isKeysChanged(value: unknown): value is KeysChanged {
  const v = value as KeysChanged | null;
  return typeof v === 'object' && v !== null && isString(v.id, MAX_ID_LENGTH);
}

export interface KeyAuthResponderOptions {
  bus: Bus;
  store: KeyStore;
  /** The server secret of hashStreamKey; only control holds it. */
  keyHashSecret: string | Uint8Array;
  logger: Logger;
  /** Milliseconds since the epoch; tests inject a clock for rotation overlaps. */
  now?: (() => number) | undefined;
  /** Default AUTH_QUEUE_GROUP. */
  queue?: string | undefined;
  /** Requests answered at once; more are answered AUTH_UNAVAILABLE so a flood cannot pile up store reads. Default 1024. */
  maxInFlight?: number | undefined;
  /** Told of every publish decision (metrics). */
  onDecision?: ((reply: KeyAuthReply) => void) | undefined;
}

export interface KeyAuthResponder {
  close(): void;
}

/**
 * Control's side: answers AUTH_PUBLISH_SUBJECT and AUTH_STREAM_SUBJECT from the key store. A key
 * is accepted when a stream lists its hash, the stream is not revoked, and the key's entry has no
 * `expiresAt` in the past (a rotated-out key stays valid until then: the overlap window).
 */
export function createKeyAuthResponder(options: KeyAuthResponderOptions): KeyAuthResponder {
  const { bus, store, keyHashSecret } = options;
  const logger = options.logger.child({ component: 'key-auth' });
  const tracer = getTracer();
  const now = options.now ?? Date.now;
  const queue = options.queue ?? AUTH_QUEUE_GROUP;
  const maxInFlight = options.maxInFlight ?? 1024;
  let inFlight = 0;

  const reply = (message: BusMessage, body: unknown): void => {
    if (!message.reply) return;
    try {
      bus.publish(message.reply, encodeJson(body));
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'auth reply not sent');
    }
  };

  const decidePublish = async (request: KeyAuthRequest): Promise<KeyAuthReply> => {
    const hash = hashStreamKey(keyHashSecret, request.key);
    const record = await store.findByKeyHash(hash);
    // Defence in depth: the store found the record by this hash; check the entry in constant time.
    const entry = record?.keys.find((k) => safeEqual(k.hash, hash));
    if (!record || !entry) return { ok: false, code: 'AUTH_BAD_KEY', reason: 'unknown stream key' };
    if (record.revokedAt !== undefined) return { ok: false, code: 'AUTH_REVOKED', reason: 'stream revoked' };
    if (entry.expiresAt !== undefined) {
      const expiresAt = Date.parse(entry.expiresAt);
      // An unreadable expiry is treated as past: fail closed.
      if (!(expiresAt > now())) return { ok: false, code: 'AUTH_EXPIRED', reason: 'stream key rotated out' };
      return { ok: true, id: record.id, playback: record.playback, validForMs: expiresAt - now() };
    }
    return { ok: true, id: record.id, playback: record.playback };
  };

  const handle = (message: BusMessage, work: (message: BusMessage) => Promise<unknown>, unavailable: unknown): void => {
    if (!message.reply) return;
    if (message.data.byteLength > MAX_REQUEST_BYTES || inFlight >= maxInFlight) {
      reply(message, unavailable);
      return;
    }
    inFlight++;
    work(message)
      .then((body) => reply(message, body))
      .catch((error: unknown) => {
        logger.error({ err: (error as Error)?.message }, 'auth lookup failed');
        reply(message, unavailable);
      })
      .finally(() => inFlight--);
  };

  const publishUnavailable: KeyAuthReply = { ok: false, code: 'AUTH_UNAVAILABLE', reason: 'key store unavailable' };
  const subs: Subscription[] = [
    bus.subscribe(
      AUTH_PUBLISH_SUBJECT,
      (message) =>
        handle(
          message,
          async (m) => {
            const request = decodeJson(m.data, isKeyAuthRequest);
            // The edge's span context rides in the request headers: this span is its child.
            const parent = m.headers ? extractContext(m.headers) : undefined;
            const decision: KeyAuthReply = await withSpan(tracer, SpanName.controlAuthPublish, { attributes: { [SpanAttr.app]: request?.app ?? '' } }, parent, async (span) => {
              const d: KeyAuthReply = request ? await decidePublish(request) : { ok: false, code: 'AUTH_BAD_KEY', reason: 'malformed request' };
              span.setAttributes({ [SpanAttr.result]: d.ok ? 'allow' : 'deny', ...(d.ok ? { [SpanAttr.stream]: d.id } : { [SpanAttr.code]: d.code }) });
              return d;
            });
            // A derived id, never the key: enough to correlate an encoder's attempts in logs.
            logger.debug({ keyId: request ? keyLogId(request.key) : undefined, app: request?.app, ok: decision.ok, ...(decision.ok ? { stream: decision.id } : { code: decision.code }) }, 'publish key checked');
            options.onDecision?.(decision);
            return decision;
          },
          publishUnavailable,
        ),
      { queue },
    ),
    bus.subscribe(
      AUTH_STREAM_SUBJECT,
      (message) =>
        handle(
          message,
          async (m): Promise<StreamAuthReply> => {
            const request = decodeJson(m.data, isStreamAuthRequest);
            if (!request) return { exists: false };
            const current = await store.get(request.id);
            if (!current || current.record.revokedAt !== undefined) return { exists: false };
            return { exists: true, playback: current.record.playback };
          },
          // Players see PLAY_UNAVAILABLE: a missing `exists` is not a valid reply.
          { unavailable: true },
        ),
      { queue },
    ),
  ];
  return {
    close: () => {
      for (const s of subs) s.unsubscribe();
    },
  };
}

/**
 * Control's announcement that a stream's keys changed (rotated, revoked, deleted): every edge and
 * origin drops its cached answers for the stream. Publish it after the store write has landed.
 */
export function publishKeysChanged(bus: Bus, id: string, at: Date = new Date()): void {
  const message: KeysChanged = { id, at: at.toISOString() };
  bus.publish(KEYS_CHANGED_SUBJECT, encodeJson(message));
}

export interface KeysAuthorizerOptions {
  bus: Bus;
  /** How long to wait for control. Default 1000. */
  timeoutMs?: number | undefined;
  /** How long an allow is reused. Default and maximum 1000 (MAX_KEYS_CACHE_TTL_MS); 0 disables. */
  cacheTtlMs?: number | undefined;
  /** Default 10000. */
  maxCacheEntries?: number | undefined;
  logger?: Logger | undefined;
  now?: (() => number) | undefined;
}

interface CachedAllow {
  decision: PublishDecision & { ok: true };
  id: string;
}

/**
 * The edge's side of mode `keys`. Only allows are cached, keyed by a SHA-256 of app and key (the
 * key itself is never a Map key): denials are cheap for control and caching them would only serve
 * someone guessing keys. Bus failures deny with AUTH_UNAVAILABLE (fail closed).
 */
export class KeysAuthorizer implements PublishAuthorizer {
  readonly mode = 'keys' as const;
  readonly #bus: Bus;
  readonly #timeoutMs: number;
  readonly #cacheTtlMs: number;
  readonly #cache: TtlCache<CachedAllow>;
  readonly #logger: Logger;
  readonly #sub: Subscription;
  /** Bumped by every KeysChanged: an answer requested before a change is not cached. */
  #generation = 0;

  constructor(options: KeysAuthorizerOptions) {
    this.#bus = options.bus;
    this.#timeoutMs = options.timeoutMs ?? 1000;
    this.#cacheTtlMs = options.cacheTtlMs ?? MAX_KEYS_CACHE_TTL_MS;
    if (!(this.#cacheTtlMs >= 0 && this.#cacheTtlMs <= MAX_KEYS_CACHE_TTL_MS)) {
      throw new AuthError('AUTH_ERR_CONFIG', `keys cacheTtlMs must be between 0 and ${MAX_KEYS_CACHE_TTL_MS} (revocation within a second)`);
    }
    this.#cache = new TtlCache({ maxEntries: options.maxCacheEntries ?? 10_000, now: options.now });
    this.#logger = options.logger ?? silentLogger;
    this.#sub = this.#bus.subscribe(KEYS_CHANGED_SUBJECT, (message) => {
      this.#generation++;
      const changed = decodeJson(message.data, isKeysChanged);
      // A change we cannot read could be anyone's: forget everything rather than keep a stale allow.
      if (!changed) this.#cache.clear();
      else this.#cache.deleteWhere((e) => e.id === changed.id);
    });
  }

  async authorize(request: PublishRequest, context?: AuthContext): Promise<PublishDecision> {
    const deny = (code: PublishDenyCode, reason: string): PublishDecision => ({ ok: false, code, reason, mode: 'keys' });
    const params = requestParams(request.name, request.tcUrl);
    if (!params || params.base.length > MAX_KEY_LENGTH) return deny('AUTH_BAD_KEY', 'malformed stream key');
    const key = params.base;
    const cacheKey = createHash('sha256').update(request.app).update('\0').update(key).digest('base64url');
    const cached = this.#cache.get(cacheKey);
    if (cached) return cached.decision;
    const generation = this.#generation;
    const body: KeyAuthRequest = { app: request.app, key, clientIp: request.clientIp };
    let answer: BusMessage;
    try {
      answer = await this.#bus.request(AUTH_PUBLISH_SUBJECT, encodeJson(body), {
        timeoutMs: this.#timeoutMs,
        ...(context?.headers ? { headers: context.headers } : {}),
      });
    } catch (error) {
      const code = error instanceof BusError ? error.code : undefined;
      this.#logger.warn({ err: (error as Error)?.message, code }, 'control did not answer a publish key check');
      return deny('AUTH_UNAVAILABLE', code === 'BUS_ERR_NO_RESPONDERS' ? 'no control service' : 'control did not answer');
    }
    const reply = decodeJson(answer.data, isKeyAuthReply);
    if (!reply) return deny('AUTH_UNAVAILABLE', 'malformed answer from control');
    if (!reply.ok) return deny(reply.code, reply.reason);
    const decision = { ok: true as const, playName: reply.id, mode: 'keys' as const, streamRecordId: reply.id };
    // A rotated-out key's overlap ends when control says: the cached allow must not outlive it.
    const ttl = typeof reply.validForMs === 'number' && reply.validForMs >= 0 ? Math.min(this.#cacheTtlMs, reply.validForMs) : this.#cacheTtlMs;
    if (generation === this.#generation && ttl > 0) this.#cache.set(cacheKey, { decision, id: reply.id }, ttl);
    return decision;
  }

  close(): void {
    this.#sub.unsubscribe();
    this.#cache.clear();
  }
}

export interface StreamPolicyClientOptions {
  bus: Bus;
  /** Default 1000. */
  timeoutMs?: number | undefined;
  /** Default and maximum 1000; 0 disables. */
  cacheTtlMs?: number | undefined;
  /** Default 10000. */
  maxCacheEntries?: number | undefined;
  now?: (() => number) | undefined;
}

/** A stream's playback policy from control (AUTH_STREAM_SUBJECT), or 'not_found'. */
export type StreamPolicy = PlaybackPolicy | 'not_found';

/**
 * The origin's lookup of a `keys`-mode stream: does it exist, is its playback public or signed.
 * Cached briefly, both answers, and dropped on KeysChanged like the edge's cache. Rejects with a
 * BusError (or AuthError for a malformed answer) when control cannot answer.
 */
export class StreamPolicyClient {
  readonly #bus: Bus;
  readonly #timeoutMs: number;
  readonly #cacheTtlMs: number;
  readonly #cache: TtlCache<{ id: string; policy: StreamPolicy }>;
  readonly #sub: Subscription;
  #generation = 0;

  constructor(options: StreamPolicyClientOptions) {
    this.#bus = options.bus;
    this.#timeoutMs = options.timeoutMs ?? 1000;
    this.#cacheTtlMs = options.cacheTtlMs ?? MAX_KEYS_CACHE_TTL_MS;
    if (!(this.#cacheTtlMs >= 0 && this.#cacheTtlMs <= MAX_KEYS_CACHE_TTL_MS)) {
      throw new AuthError('AUTH_ERR_CONFIG', `stream policy cacheTtlMs must be between 0 and ${MAX_KEYS_CACHE_TTL_MS}`);
    }
    this.#cache = new TtlCache({ maxEntries: options.maxCacheEntries ?? 10_000, now: options.now });
    this.#sub = this.#bus.subscribe(KEYS_CHANGED_SUBJECT, (message) => {
      this.#generation++;
      const changed = decodeJson(message.data, isKeysChanged);
      if (!changed) this.#cache.clear();
      else this.#cache.delete(changed.id);
    });
  }

  async lookup(id: string, context?: AuthContext): Promise<StreamPolicy> {
    if (!isString(id, MAX_ID_LENGTH)) return 'not_found';
    const cached = this.#cache.get(id);
    if (cached) return cached.policy;
    const generation = this.#generation;
    const answer = await this.#bus.request(AUTH_STREAM_SUBJECT, encodeJson({ id } satisfies StreamAuthRequest), {
      timeoutMs: this.#timeoutMs,
      ...(context?.headers ? { headers: context.headers } : {}),
    });
    const reply = decodeJson(answer.data, isStreamAuthReply);
    if (!reply) throw new AuthError('AUTH_ERR_UNAVAILABLE', 'malformed or unavailable answer from control');
    const policy: StreamPolicy = reply.exists ? reply.playback : 'not_found';
    if (generation === this.#generation) this.#cache.set(id, { id, policy }, this.#cacheTtlMs);
    return policy;
  }

  close(): void {
    this.#sub.unsubscribe();
    this.#cache.clear();
  }
}
