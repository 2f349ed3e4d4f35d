/**
 * Signed publish URLs (auth mode `signed`) and playback tokens: HMAC-SHA256 over what the URL
 * grants and until when, so an edge or origin checks them with the shared secret alone, without a
 * round-trip to control. Both refuse stream names containing `/`, so a publish message (always a
 * `/` between app and stream) and a playback message (never a `/`) cannot coincide: one secret may
 * serve both without a publish signature passing as a playback token.
 */
import { createHmac } from 'node:crypto';
import { safeEqual } from './keys.ts';
import { requestParams } from './stream-name.ts';
import type { PublishAuthorizer, PublishDecision, PublishRequest } from './types.ts';

/** A secret, or several during a rotation (the first one signs, any one verifies). */
export type SigningSecret = string | Uint8Array | readonly (string | Uint8Array)[];

/** Unix seconds, at most 12 digits: anything longer is not an expiry we issued. */
const EXPIRES_PATTERN = /^[0-9]{1,12}$/;
const SIGNATURE_PATTERN = /^[0-9a-f]{64}$/;

function secretsOf(secret: SigningSecret): (string | Uint8Array)[] {
  const list = typeof secret === 'string' || secret instanceof Uint8Array ? [secret] : [...secret];
  if (list.length === 0 || list.some((s) => s.length === 0)) throw new RangeError('signing secret must not be empty');
  return list;
}

function hmacHex(secret: string | Uint8Array, message: string): string {
  return createHmac('sha256', secret).update(message, 'utf8').digest('hex');
}

/** Expiry as unix seconds; a Date, or milliseconds since the epoch (as Date.now()). */
function unixSeconds(at: Date | number): number {
  const ms = at instanceof Date ? at.getTime() : at;
  if (!Number.isFinite(ms)) throw new RangeError('expiresAt must be a valid time');
  return Math.floor(ms / 1000);
}

/** The message a publish signature covers: `${app}/${stream}:${expires}`. */
export function publishSignatureMessage(app: string, stream: string, expires: number | string): string {
  return `${app}/${stream}:${expires}`;
}

export interface SignPublishUrlOptions {
  secret: SigningSecret;
  app: string;
  /** The stream name the encoder publishes (without a query, without `/`); it is also the play name. */
  stream: string;
  /** A Date, or milliseconds since the epoch. */
  expiresAt: Date | number;
}

/**
 * The query to append to the publish name (`rtmp://host/<app>/<stream>?<query>`):
 * `expires=<unix seconds>&sig=<hex HMAC-SHA256(secret, "<app>/<stream>:<expires>")>`.
 */
export function signPublishUrl(options: SignPublishUrlOptions): string {
  if (options.stream.length === 0 || options.stream.includes('/')) throw new RangeError('a signed stream name must be non-empty and contain no /');
  const expires = unixSeconds(options.expiresAt);
  const sig = hmacHex(secretsOf(options.secret)[0]!, publishSignatureMessage(options.app, options.stream, expires));
  return `expires=${expires}&sig=${sig}`;
}

export interface SignedAuthorizerOptions {
  secret: SigningSecret;
  /** Milliseconds since the epoch; tests inject a clock. */
  now?: (() => number) | undefined;
  /**
   * Refuse URLs that expire further than this in the future, so a leaked signer cannot mint
   * URLs that live for years. Unset: no limit.
   */
  maxTtlSeconds?: number | undefined;
}

/** Auth mode `signed`: the publish name (or the tcUrl) carries `expires` and `sig`. */
export class SignedAuthorizer implements PublishAuthorizer {
  readonly mode = 'signed' as const;
  readonly #secrets: (string | Uint8Array)[];
  readonly #now: () => number;
  readonly #maxTtlSeconds: number | undefined;

  constructor(options: SignedAuthorizerOptions) {
    this.#secrets = secretsOf(options.secret);
    this.#now = options.now ?? Date.now;
    this.#maxTtlSeconds = options.maxTtlSeconds;
  }

  async authorize(request: PublishRequest): Promise<PublishDecision> {
    const deny = (code: 'AUTH_BAD_SIGNATURE' | 'AUTH_EXPIRED', reason: string): PublishDecision => ({ ok: false, code, reason, mode: 'signed' });
    const params = requestParams(request.name, request.tcUrl);
    if (!params) return deny('AUTH_BAD_SIGNATURE', 'malformed stream name');
    const expires = params.get('expires');
    const sig = params.get('sig');
    if (expires === undefined || sig === undefined) return deny('AUTH_BAD_SIGNATURE', 'missing expires or sig');
    if (!EXPIRES_PATTERN.test(expires) || !SIGNATURE_PATTERN.test(sig.toLowerCase())) return deny('AUTH_BAD_SIGNATURE', 'malformed expires or sig');
    // RTMP apps may contain `/` (`app/instance`); with none in the stream, "<app>/<stream>" has
    // one reading, so a URL signed for app `a/b`, stream `c` cannot pass as app `a`, stream `b/c`.
    if (params.base.includes('/')) return deny('AUTH_BAD_SIGNATURE', 'stream name contains /');
    const message = publishSignatureMessage(request.app, params.base, expires);
    // Every secret is tried (no early exit), so timing does not tell which one matched.
    let valid = false;
    for (const secret of this.#secrets) valid = safeEqual(hmacHex(secret, message), sig.toLowerCase()) || valid;
    if (!valid) return deny('AUTH_BAD_SIGNATURE', 'signature does not match');
    const nowSeconds = Math.floor(this.#now() / 1000);
    const expiresSeconds = Number(expires);
    if (expiresSeconds <= nowSeconds) return deny('AUTH_EXPIRED', 'signed URL expired');
    if (this.#maxTtlSeconds !== undefined && expiresSeconds - nowSeconds > this.#maxTtlSeconds) {
      return deny('AUTH_EXPIRED', `signed URL expires more than ${this.#maxTtlSeconds} s from now`);
    }
    return { ok: true, playName: params.base, mode: 'signed' };
  }
}

/** The message a playback token signs: `play:${streamId}:${expires}`. */
export function playbackSignatureMessage(streamId: string, expires: number | string): string {
  return `play:${streamId}:${expires}`;
}

export interface SignPlaybackTokenOptions {
  secret: SigningSecret;
  /** The play name: control's stream id in `keys` mode. */
  streamId: string;
  /** A Date, or milliseconds since the epoch. */
  expiresAt: Date | number;
}

/**
 * A playback token, `<unix seconds>.<hex HMAC-SHA256(secret, "play:<streamId>:<expires>")>`, for
 * the player's URL: `rtmp://host/<app>/<streamId>?token=<token>`.
 */
export function signPlaybackToken(options: SignPlaybackTokenOptions): string {
  if (options.streamId.length === 0 || options.streamId.includes('/')) throw new RangeError('a playback stream id must be non-empty and contain no /');
  const expires = unixSeconds(options.expiresAt);
  return `${expires}.${hmacHex(secretsOf(options.secret)[0]!, playbackSignatureMessage(options.streamId, expires))}`;
}

export interface VerifyPlaybackTokenOptions {
  secret: SigningSecret;
  streamId: string;
  token: string | undefined;
  now?: (() => number) | undefined;
}

export type PlaybackTokenResult = { ok: true; expiresAt: Date } | { ok: false; code: 'PLAY_BAD_TOKEN' | 'PLAY_EXPIRED'; reason: string };

export function verifyPlaybackToken(options: VerifyPlaybackTokenOptions): PlaybackTokenResult {
  const token = options.token;
  if (token === undefined || token.length === 0) return { ok: false, code: 'PLAY_BAD_TOKEN', reason: 'missing token' };
  const dot = token.indexOf('.');
  const expires = dot === -1 ? '' : token.slice(0, dot);
  const sig = dot === -1 ? '' : token.slice(dot + 1).toLowerCase();
  if (!EXPIRES_PATTERN.test(expires) || !SIGNATURE_PATTERN.test(sig)) return { ok: false, code: 'PLAY_BAD_TOKEN', reason: 'malformed token' };
  // A playback message never contains `/` and a publish message always does: see the file comment.
  if (options.streamId.includes('/')) return { ok: false, code: 'PLAY_BAD_TOKEN', reason: 'stream id contains /' };
  const message = playbackSignatureMessage(options.streamId, expires);
  let valid = false;
  for (const secret of secretsOf(options.secret)) valid = safeEqual(hmacHex(secret, message), sig) || valid;
  if (!valid) return { ok: false, code: 'PLAY_BAD_TOKEN', reason: 'token signature does not match' };
  const expiresSeconds = Number(expires);
  if (expiresSeconds <= Math.floor((options.now ?? Date.now)() / 1000)) return { ok: false, code: 'PLAY_EXPIRED', reason: 'token expired' };
  return { ok: true, expiresAt: new Date(expiresSeconds * 1000) };
}
