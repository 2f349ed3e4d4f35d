import { createHash } from 'node:crypto';
import type { Logger } from '@firstmile/observability';
import { nullLogger as silentLogger } from '@firstmile/observability';
import { requestParams } from './stream-name.ts';
import { TtlCache } from './ttl-cache.ts';
import type { PublishAuthorizer, PublishDecision, PublishRequest } from './types.ts';

/** The JSON body POSTed to the operator's URL. */
export interface WebhookRequestBody {
  action: 'publish';
  app: string;
  /** The publish name without its query. */
  stream: string;
  /** The query parameters of the publish name, then of the tcUrl (first value each): the operator's own token scheme. */
  query: Record<string, string>;
  clientIp: string;
}

export interface WebhookAuthorizerOptions {
  url: string | URL;
  /** Whole-exchange deadline (connect, answer, body). Default 2000. */
  timeoutMs?: number | undefined;
  /** Allow when the webhook cannot be reached or times out. Default false: fail closed. */
  failOpen?: boolean | undefined;
  /** How long an allow is reused for the same request. Default 5000; 0 disables. */
  cacheTtlMs?: number | undefined;
  /** How long a deny is reused for the same request. Default: cacheTtlMs. */
  denyCacheTtlMs?: number | undefined;
  /** Entries per cache (allows and denies are cached apart). Default 10000. */
  maxCacheEntries?: number | undefined;
  /** Sent with every call, e.g. an Authorization header the operator's endpoint checks. */
  headers?: Readonly<Record<string, string>> | undefined;
  /** Largest answer body read. Default 16 KiB. */
  maxResponseBytes?: number | undefined;
  logger?: Logger | undefined;
  now?: (() => number) | undefined;
  /** Replaces the global fetch; only for tests of servers that cannot be built with node:http. */
  fetch?: typeof fetch | undefined;
}

/** Longest play name a webhook may hand back. */
const MAX_PLAY_NAME_LENGTH = 256;
// Control characters, `?` (the query separator) and `/` (the app separator) are never part of a play name.
const PLAY_NAME_PATTERN = /^[^\u0000-\u001f\u007f?/]+$/;

/**
 * Auth mode `webhook`: the edge asks the operator's HTTP endpoint. A 2xx answer allows, any other
 * status denies; an unreachable or slow endpoint denies (fail closed) unless `failOpen`. Allows and
 * denies are cached apart, so a flood of bad attempts cannot evict the allows of real encoders.
 */
export class WebhookAuthorizer implements PublishAuthorizer {
  readonly mode = 'webhook' as const;
  readonly #url: URL;
  readonly #timeoutMs: number;
  readonly #failOpen: boolean;
  readonly #allowTtlMs: number;
  readonly #denyTtlMs: number;
  readonly #headers: Record<string, string>;
  readonly #maxResponseBytes: number;
  readonly #logger: Logger;
  readonly #fetch: typeof fetch;
  readonly #allows: TtlCache<PublishDecision>;
  readonly #denies: TtlCache<PublishDecision>;
  /** One call per distinct request at a time: an encoder's reconnect storm asks once. */
  readonly #inflight = new Map<string, Promise<PublishDecision>>();

  constructor(options: WebhookAuthorizerOptions) {
    this.#url = new URL(options.url);
    if (this.#url.protocol !== 'http:' && this.#url.protocol !== 'https:') throw new RangeError('webhook url must be http or https');
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#failOpen = options.failOpen ?? false;
    this.#allowTtlMs = options.cacheTtlMs ?? 5000;
    this.#denyTtlMs = options.denyCacheTtlMs ?? this.#allowTtlMs;
    this.#headers = { ...options.headers, 'content-type': 'application/json', accept: 'application/json' };
    this.#maxResponseBytes = options.maxResponseBytes ?? 16 * 1024;
    // Only the origin: the URL's path or query may hold the operator's own secret.
    this.#logger = (options.logger ?? silentLogger).child({ webhook: this.#url.origin });
    this.#fetch = options.fetch ?? fetch;
    const maxEntries = options.maxCacheEntries ?? 10_000;
    this.#allows = new TtlCache({ maxEntries, now: options.now });
    this.#denies = new TtlCache({ maxEntries, now: options.now });
  }

  async authorize(request: PublishRequest): Promise<PublishDecision> {
    const params = requestParams(request.name, request.tcUrl);
    if (!params) return { ok: false, code: 'AUTH_DENIED', reason: 'malformed stream name', mode: 'webhook' };
    const body: WebhookRequestBody = { action: 'publish', app: request.app, stream: params.base, query: params.toObject(), clientIp: request.clientIp };
    const json = JSON.stringify(body);
    // The cache key is a digest of everything sent: the key or token in it is never a Map key.
    const cacheKey = createHash('sha256').update(json).digest('base64url');
    const cached = this.#allows.get(cacheKey) ?? this.#denies.get(cacheKey);
    if (cached) return cached;
    let pending = this.#inflight.get(cacheKey);
    if (!pending) {
      pending = this.#call(json, params.base, cacheKey).finally(() => this.#inflight.delete(cacheKey));
      this.#inflight.set(cacheKey, pending);
    }
    return pending;
  }

  async #call(json: string, base: string, cacheKey: string): Promise<PublishDecision> {
    let response: Response;
    let text: string | undefined;
    try {
      response = await this.#fetch(this.#url, {
        method: 'POST',
        headers: this.#headers,
        body: json,
        // A redirect is an answer (a denial), never followed: the body must not go to another host.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      if (response.status < 200 || response.status > 299) {
        await response.body?.cancel().catch(() => {});
        const decision: PublishDecision = { ok: false, code: 'AUTH_DENIED', reason: `webhook answered ${response.status}`, mode: 'webhook' };
        this.#denies.set(cacheKey, decision, this.#denyTtlMs);
        return decision;
      }
      text = await readCapped(response, this.#maxResponseBytes);
    } catch (error) {
      const timedOut = (error as Error)?.name === 'TimeoutError';
      this.#logger.warn({ err: (error as Error)?.message, timedOut, failOpen: this.#failOpen }, 'publish webhook unavailable');
      if (this.#failOpen) return { ok: true, playName: base, mode: 'webhook' };
      return { ok: false, code: 'AUTH_UNAVAILABLE', reason: timedOut ? 'webhook timed out' : 'webhook unreachable', mode: 'webhook' };
    }
    if (text === undefined) {
      this.#logger.warn({ maxResponseBytes: this.#maxResponseBytes }, 'publish webhook answer too large');
      return { ok: false, code: 'AUTH_UNAVAILABLE', reason: 'webhook answer too large', mode: 'webhook' };
    }
    const renamed = playNameFromAnswer(text);
    if (renamed === null) {
      this.#logger.warn({}, 'publish webhook answered an invalid name');
      return { ok: false, code: 'AUTH_UNAVAILABLE', reason: 'webhook answered an invalid name', mode: 'webhook' };
    }
    const decision: PublishDecision = { ok: true, playName: renamed ?? base, mode: 'webhook' };
    this.#allows.set(cacheKey, decision, this.#allowTtlMs);
    return decision;
  }
}

/**
 * The `name` of a JSON answer `{ "name": "..." }`: undefined when the answer does not rename
 * (empty, not JSON, no `name`), null when it names something that cannot be a play name.
 */
function playNameFromAnswer(text: string): string | undefined | null {
  if (!text.trimStart().startsWith('{')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const name = (value as { name?: unknown }).name;
  if (name === undefined || name === null) return undefined;
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_PLAY_NAME_LENGTH || !PLAY_NAME_PATTERN.test(name)) return null;
  return name;
}

/** The body as text, or undefined when it is over `max` bytes (the rest is not read). */
async function readCapped(response: Response, max: number): Promise<string | undefined> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
