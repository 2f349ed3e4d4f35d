import { createPublicKey, createSecretKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWK, type JWSAlgorithm, type JWTPayload, type RemoteJWKSetOptions } from 'jose';
import type { Logger } from '@firstmile/observability';
import { nullLogger as silentLogger } from '@firstmile/observability';
import { AuthError } from './errors.ts';
import { requestParams } from './stream-name.ts';
import type { PublishAuthorizer, PublishDecision, PublishDenyCode, PublishRequest } from './types.ts';

export interface JwtAuthorizerOptions {
  /** The issuer's JSON Web Key Set, fetched and cached by jose (refetched for an unknown `kid`). */
  jwksUrl?: string | URL | undefined;
  /**
   * A static key instead: a PEM public key or certificate (string starting with `-----BEGIN`), a
   * public JWK, or an HMAC secret (any other string, bytes, or an `oct` JWK; at least 32 bytes).
   */
  key?: string | Uint8Array | JWK | undefined;
  /** Required `iss`, when set. */
  issuer?: string | readonly string[] | undefined;
  /** Required `aud` (one of). */
  audience: string | readonly string[];
  /** The claim naming the stream the token may publish; `*` allows any. Default `stream`. */
  streamClaim?: string | undefined;
  /** Accepted `alg` values. Default: HS256/384/512 for an HMAC secret, the asymmetric ones otherwise. Never `none`. */
  algorithms?: readonly JWSAlgorithm[] | undefined;
  /** Leeway for `exp` and `nbf`, in seconds. Default 5. */
  clockToleranceSeconds?: number | undefined;
  /** JWKS HTTP timeout. Default 2000. */
  jwksTimeoutMs?: number | undefined;
  /** How long a fetched JWKS is used before it is fetched again. Default 10 minutes. */
  jwksCacheMaxAgeMs?: number | undefined;
  logger?: Logger | undefined;
  /** Milliseconds since the epoch (jose's `currentDate`); tests inject a clock. */
  now?: (() => number) | undefined;
}

const HMAC_ALGORITHMS: JWSAlgorithm[] = ['HS256', 'HS384', 'HS512'];
const ASYMMETRIC_ALGORITHMS: JWSAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
/** RFC 7518 §3.2: an HMAC key must be at least as long as the hash output. */
const MIN_HMAC_SECRET_BYTES = 32;

type KeyInput = KeyObject | ReturnType<typeof createRemoteJWKSet>;

/**
 * Auth mode `jwt`: the publish name (or the tcUrl) carries `token=<JWT>`, signed by the operator's
 * issuer. The token must not be expired (`exp` is required), must be for our audience, and its
 * stream claim must name the published stream (or be `*`). If it has an `app` claim, that must
 * name the app too. The algorithm list is fixed by the key type, so an HMAC-signed token can never
 * be checked against a public key used as a secret (algorithm confusion), and `alg: none` is refused.
 */
export class JwtAuthorizer implements PublishAuthorizer {
  readonly mode = 'jwt' as const;
  readonly #key: KeyInput;
  readonly #algorithms: JWSAlgorithm[];
  readonly #issuer: string | string[] | undefined;
  readonly #audience: string | string[];
  readonly #streamClaim: string;
  readonly #clockTolerance: number;
  readonly #logger: Logger;
  readonly #now: (() => number) | undefined;

  constructor(options: JwtAuthorizerOptions) {
    if ((options.jwksUrl === undefined) === (options.key === undefined)) {
      throw new AuthError('AUTH_ERR_CONFIG', 'jwt auth needs exactly one of jwksUrl and key');
    }
    let defaults: JWSAlgorithm[];
    if (options.jwksUrl !== undefined) {
      const url = new URL(options.jwksUrl);
      const remote: RemoteJWKSetOptions = { timeoutDuration: options.jwksTimeoutMs ?? 2000, cacheMaxAge: options.jwksCacheMaxAgeMs ?? 600_000 };
      this.#key = createRemoteJWKSet(url, remote);
      defaults = ASYMMETRIC_ALGORITHMS;
      this.#logger = (options.logger ?? silentLogger).child({ jwks: url.origin });
    } else {
      this.#key = importKey(options.key!);
      defaults = this.#key.type === 'secret' ? HMAC_ALGORITHMS : ASYMMETRIC_ALGORITHMS;
      this.#logger = options.logger ?? silentLogger;
    }
    this.#algorithms = [...(options.algorithms ?? defaults)];
    if (this.#algorithms.length === 0 || this.#algorithms.some((a) => (a as string).toLowerCase() === 'none')) {
      throw new AuthError('AUTH_ERR_CONFIG', 'jwt algorithms must be a non-empty list without none');
    }
    this.#issuer = typeof options.issuer === 'string' || options.issuer === undefined ? options.issuer : [...options.issuer];
    this.#audience = typeof options.audience === 'string' ? options.audience : [...options.audience];
    this.#streamClaim = options.streamClaim ?? 'stream';
    this.#clockTolerance = options.clockToleranceSeconds ?? 5;
    this.#now = options.now;
  }

  async authorize(request: PublishRequest): Promise<PublishDecision> {
    const deny = (code: PublishDenyCode, reason: string): PublishDecision => ({ ok: false, code, reason, mode: 'jwt' });
    const params = requestParams(request.name, request.tcUrl);
    if (!params) return deny('AUTH_BAD_TOKEN', 'malformed stream name');
    const token = params.get('token');
    if (!token) return deny('AUTH_BAD_TOKEN', 'missing token');
    let payload: JWTPayload;
    try {
      const verified = await jwtVerify(token, this.#key as Parameters<typeof jwtVerify>[1], {
        algorithms: this.#algorithms,
        audience: this.#audience,
        ...(this.#issuer !== undefined ? { issuer: this.#issuer } : {}),
        clockTolerance: this.#clockTolerance,
        requiredClaims: ['exp', this.#streamClaim],
        ...(this.#now ? { currentDate: new Date(this.#now()) } : {}),
      });
      payload = verified.payload;
    } catch (error) {
      const { code, reason } = classify(error);
      if (code === 'AUTH_UNAVAILABLE') this.#logger.warn({ err: (error as Error)?.message }, 'jwt key set unavailable');
      return deny(code, reason);
    }
    const stream = payload[this.#streamClaim];
    if (stream !== '*' && stream !== params.base) return deny('AUTH_BAD_TOKEN', `token's ${this.#streamClaim} claim does not name this stream`);
    if (payload['app'] !== undefined && payload['app'] !== request.app) return deny('AUTH_BAD_TOKEN', "token's app claim does not name this app");
    return { ok: true, playName: params.base, mode: 'jwt' };
  }
}

function importKey(key: string | Uint8Array | JWK): KeyObject {
  try {
    let imported: KeyObject;
    if (typeof key === 'string' && key.trimStart().startsWith('-----BEGIN')) {
      imported = createPublicKey(key);
    } else if (typeof key === 'string' || key instanceof Uint8Array) {
      imported = createSecretKey(typeof key === 'string' ? Buffer.from(key, 'utf8') : key);
    } else if (key.kty === 'oct') {
      imported = createSecretKey(Buffer.from(String(key.k ?? ''), 'base64url'));
    } else {
      if (key.d !== undefined) throw new Error('a private JWK was given; configure the public key');
      imported = createPublicKey({ key: key as JsonWebKey, format: 'jwk' });
    }
    if (imported.type === 'secret' && (imported.symmetricKeySize ?? 0) < MIN_HMAC_SECRET_BYTES) {
      throw new Error(`an HMAC secret must be at least ${MIN_HMAC_SECRET_BYTES} bytes`);
    }
    return imported;
  } catch (error) {
    throw new AuthError('AUTH_ERR_CONFIG', `jwt key: ${(error as Error).message}`, { cause: error });
  }
}

/** Maps jose's error codes to deny codes; reasons name the failed rule, never the token. */
function classify(error: unknown): { code: PublishDenyCode; reason: string } {
  const code = (error as { code?: unknown })?.code;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return { code: 'AUTH_EXPIRED', reason: 'token expired' };
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return { code: 'AUTH_BAD_SIGNATURE', reason: 'token signature does not verify' };
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return { code: 'AUTH_BAD_SIGNATURE', reason: 'token signed by an unknown key' };
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = (error as { claim?: unknown }).claim;
      return { code: 'AUTH_BAD_TOKEN', reason: `token claim ${typeof claim === 'string' ? claim : ''} invalid`.replace('  ', ' ') };
    }
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return { code: 'AUTH_BAD_TOKEN', reason: 'token algorithm not allowed' };
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_NOT_SUPPORTED':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return { code: 'AUTH_BAD_TOKEN', reason: 'malformed token' };
    default:
      // ERR_JWKS_TIMEOUT, ERR_JWKS_INVALID, a non-200 JWKS answer (ERR_JOSE_GENERIC), fetch failures.
      return { code: 'AUTH_UNAVAILABLE', reason: 'token keys unavailable' };
  }
}
