import type { Bus } from '@firstmile/bus';
import type { Logger } from '@firstmile/observability';
import { nullLogger as silentLogger } from '@firstmile/observability';
import { AuthError } from './errors.ts';
import { StreamPolicyClient, type StreamPolicy } from './keys-auth.ts';
import { verifyPlaybackToken, type SigningSecret } from './signed.ts';
import { requestParams } from './stream-name.ts';
import type { AuthContext, PlayAuthorizer, PlayDecision, PlayRequest } from './types.ts';

/**
 * Where a stream's playback policy comes from. In `keys` mode, control (see StreamPolicyClient);
 * in the other modes the origin has no record and answers for the app, e.g. `() => 'public'`.
 */
export type PlaybackLookup = (app: string, stream: string, context?: AuthContext) => StreamPolicy | Promise<StreamPolicy>;

export interface PlaybackAuthorizerOptions {
  /** The policy source; or `bus`, to ask control over AUTH_STREAM_SUBJECT. Exactly one. */
  lookup?: PlaybackLookup | undefined;
  bus?: Bus | undefined;
  /** For `bus`: request timeout (default 1000) and cache TTL (default and maximum 1000). */
  timeoutMs?: number | undefined;
  cacheTtlMs?: number | undefined;
  maxCacheEntries?: number | undefined;
  /** Verifies playback tokens of `signed` streams; without it such streams cannot be played. */
  secret?: SigningSecret | undefined;
  now?: (() => number) | undefined;
  logger?: Logger | undefined;
}

/**
 * Play auth: a public stream plays for anyone; a `signed` one needs `token=<playback token>` in
 * the play name's (or tcUrl's) query, made by signPlaybackToken for that stream id.
 */
export class PlaybackAuthorizer implements PlayAuthorizer {
  readonly #lookup: PlaybackLookup;
  readonly #client: StreamPolicyClient | undefined;
  readonly #secret: SigningSecret | undefined;
  readonly #now: (() => number) | undefined;
  readonly #logger: Logger;

  constructor(options: PlaybackAuthorizerOptions) {
    if ((options.lookup === undefined) === (options.bus === undefined)) {
      throw new AuthError('AUTH_ERR_CONFIG', 'playback auth needs exactly one of lookup and bus');
    }
    if (options.bus) {
      const client = new StreamPolicyClient({
        bus: options.bus,
        timeoutMs: options.timeoutMs,
        cacheTtlMs: options.cacheTtlMs,
        maxCacheEntries: options.maxCacheEntries,
        now: options.now,
      });
      this.#client = client;
      this.#lookup = (_app, stream, context) => client.lookup(stream, context);
    } else {
      this.#lookup = options.lookup!;
    }
    this.#secret = options.secret;
    this.#now = options.now;
    this.#logger = options.logger ?? silentLogger;
  }

  async authorize(request: PlayRequest, context?: AuthContext): Promise<PlayDecision> {
    const params = requestParams(request.name, request.tcUrl);
    if (!params) return { ok: false, code: 'PLAY_BAD_TOKEN', reason: 'malformed stream name' };
    let policy: StreamPolicy;
    try {
      policy = await this.#lookup(request.app, params.base, context);
    } catch (error) {
      this.#logger.warn({ err: (error as Error)?.message }, 'playback policy unavailable');
      return { ok: false, code: 'PLAY_UNAVAILABLE', reason: 'playback policy unavailable' };
    }
    if (policy === 'not_found') return { ok: false, code: 'PLAY_NOT_FOUND', reason: 'no such stream' };
    if (policy === 'public') return { ok: true, playName: params.base };
    if (this.#secret === undefined) return { ok: false, code: 'PLAY_UNAVAILABLE', reason: 'no playback secret configured' };
    const verified = verifyPlaybackToken({ secret: this.#secret, streamId: params.base, token: params.get('token'), now: this.#now });
    return verified.ok ? { ok: true, playName: params.base } : { ok: false, code: verified.code, reason: verified.reason };
  }

  close(): void {
    this.#client?.close();
  }
}
