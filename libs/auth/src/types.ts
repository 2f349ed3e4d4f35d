/**
 * Contracts of stream keys and publish/play authorization, shared by edge, origin and control.
 * A stream key is a secret: it exists in plain text only in the control API's create/rotate
 * response and in the encoder's publish name. Everything stored or logged is derived from it.
 */

/** One stream managed by the control service (auth mode `keys`). */
export interface StreamRecord {
  /** Public id, e.g. `st_3kq9...`: players play by it; never secret. */
  id: string;
  /** Operator's label. */
  name?: string | undefined;
  /** Playback: `public`, or `signed` (players need a playback token, see signPlaybackToken). */
  playback: 'public' | 'signed';
  /** ISO times. */
  createdAt: string;
  updatedAt: string;
  /** Set when revoked: no key of this stream is accepted any more. */
  revokedAt?: string | undefined;
  /** Accepted keys: the current one, and the previous one during a rotation's overlap window. */
  keys: StreamKeyEntry[];
  /** Free-form operator metadata (bounded by the API). */
  metadata?: Record<string, string> | undefined;
}

export interface StreamKeyEntry {
  /** HMAC-SHA256(keyHashSecret, key), hex: the lookup handle; the key itself is never stored. */
  hash: string;
  createdAt: string;
  /** Set on a rotated-out key: accepted until then (the overlap window). */
  expiresAt?: string | undefined;
}

/**
 * Storage of stream records: JetStream KV in a cluster, a Map in `firstmile up`. Records are
 * found by id, or by a key's hash (a second entry per key pointing at the id), and updated by
 * compare-and-set so two control replicas never lose each other's writes.
 */
export interface KeyStore {
  create(record: StreamRecord): Promise<number>;
  get(id: string): Promise<{ record: StreamRecord; revision: number } | undefined>;
  /** The stream whose keys include `hash` (expired entries included; the caller checks expiresAt). */
  findByKeyHash(hash: string): Promise<StreamRecord | undefined>;
  list(): Promise<StreamRecord[]>;
  /** CAS on `revision`; rejects with a KeyStoreError code KEYSTORE_ERR_CONFLICT when someone else wrote first. */
  update(record: StreamRecord, revision: number): Promise<number>;
  delete(id: string): Promise<void>;
  close(): Promise<void>;
}

export type AuthMode = 'none' | 'keys' | 'signed' | 'webhook' | 'jwt';

export interface PublishRequest {
  app: string;
  /** The publish name as the encoder sent it, query string included (`key?expires=..&sig=..`). */
  name: string;
  /** The connect command's tcUrl, whose query some encoders use instead. */
  tcUrl?: string | undefined;
  clientIp: string;
}

export type PublishDenyCode =
  | 'AUTH_BAD_KEY'
  | 'AUTH_REVOKED'
  | 'AUTH_EXPIRED'
  | 'AUTH_BAD_SIGNATURE'
  | 'AUTH_BAD_TOKEN'
  | 'AUTH_DENIED'
  | 'AUTH_LOCKED_OUT'
  | 'AUTH_UNAVAILABLE';

export type PublishDecision =
  | {
      ok: true;
      /** The name players play (and the bus stream id is derived from): stream id in `keys` mode. */
      playName: string;
      mode: AuthMode;
      /** Control's stream id in `keys` mode. */
      streamRecordId?: string | undefined;
    }
  /** `reason` is logged and sent to the encoder: it never contains the key or token. */
  | { ok: false; code: PublishDenyCode; reason: string; mode: AuthMode };

/** Per-request context passed through to remote deciders (control, never a webhook). */
export interface AuthContext {
  /** Bus headers for a request to control: trace context (W3C traceparent) and the like. */
  headers?: Readonly<Record<string, string>> | undefined;
}

export interface PublishAuthorizer {
  readonly mode: AuthMode;
  /** Resolves with a decision; never rejects (a failure is a denial with AUTH_UNAVAILABLE). */
  authorize(request: PublishRequest, context?: AuthContext): Promise<PublishDecision>;
}

export interface PlayRequest {
  app: string;
  /** The play name as the player sent it, query included (`st_abc?token=...`). */
  name: string;
  /** The connect command's tcUrl, whose query some players use instead. */
  tcUrl?: string | undefined;
  clientIp: string;
}

export type PlayDenyCode =
  | 'PLAY_BAD_TOKEN'
  | 'PLAY_EXPIRED'
  /** `keys` mode: no such stream (never created, deleted or revoked). */
  | 'PLAY_NOT_FOUND'
  | 'PLAY_UNAVAILABLE';

export type PlayDecision = { ok: true; playName: string } | { ok: false; code: PlayDenyCode; reason: string };

export interface PlayAuthorizer {
  /** Resolves with a decision; never rejects (a failure is a denial with PLAY_UNAVAILABLE). */
  authorize(request: PlayRequest, context?: AuthContext): Promise<PlayDecision>;
}
