import type { KeyStore, SigningSecret } from '@firstmile/auth';
import type { Bus, StreamIndex } from '@firstmile/bus';
import type { Logger } from '@firstmile/observability';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IngestRouter } from '../routing/types.ts';
import type { WebhookDispatcher } from '../webhooks/dispatcher.ts';
import type { ClusterView } from './cluster-view.ts';
import type { HttpMethod } from './openapi.ts';
import type { PublicUrls } from './urls.ts';

/** Everything the API works with, passed in by the composition root (services/firstmile run.ts). */
export interface ControlApiDeps {
  /** Stream records and key hashes (MemoryKeyStore in `firstmile up`, KvKeyStore in a cluster). */
  store: KeyStore;
  /** The live-stream index the edges keep. */
  index: StreamIndex;
  bus: Bus;
  /** Heartbeats of edges and origins (started by the caller; shared with routing). */
  clusterView: ClusterView;
  /** Outgoing webhooks (started by the caller). */
  webhooks: WebhookDispatcher;
  ingestRouter: IngestRouter;
  /** HMAC-SHA256 key stream keys are hashed with before they are stored or looked up. */
  keyHashSecret: string | Uint8Array;
  /**
   * The secret playback tokens of `signed` streams are signed with (signPlaybackToken; origins
   * verify with the same). Unset: `POST /v1/streams/{id}/playback-token` answers 503
   * PLAYBACK_SIGNING_DISABLED.
   */
  playbackSecret?: SigningSecret | undefined;
  /**
   * The admin bearer token. Undefined: every admin endpoint answers 401 ADMIN_API_DISABLED (an API
   * that holds stream keys is never open by omission); health, /v1/ingests, /v1/encoder-config
   * and /openapi.json still work.
   */
  adminToken: string | undefined;
  /** Public base URLs (without the app) used in ingest and playback URLs. */
  publicUrls: PublicUrls;
  /** The RTMP app in stream URLs, and of /v1/ingests and encoder-config without `app`. */
  defaultApp: string;
  /** How long a rotated-out key keeps working when the request does not say (default 600 000 ms). */
  rotationOverlapMs?: number | undefined;
  /** How long a kick waits for the owning edge (default 1000 ms). */
  kickTimeoutMs?: number | undefined;
  logger: Logger;
  now?: (() => number) | undefined;
  /** A wrong stream key on encoder-config: feeds the per-address lockout (LockoutGuard.recordFailure). */
  onAuthFailure?: ((ip: string) => void) | undefined;
  /** Whether an address is locked out (LockoutGuard.isLockedOut): encoder-config then answers 429 unread. */
  isLockedOut?: ((ip: string) => boolean) | undefined;
  /** When given, the plugin runs a Sweeper that acts while this returns true (the leader). */
  isLeader?: (() => boolean) | undefined;
  /** Sweep interval (default 30 000 ms). */
  sweepIntervalMs?: number | undefined;
}

export interface ApiContext {
  readonly deps: ControlApiDeps;
  readonly now: () => number;
  readonly rotationOverlapMs: number;
  readonly kickTimeoutMs: number;
  /** A child of deps.logger bound to the request's id. */
  log(request: FastifyRequest): Logger;
}

export interface ApiRoute {
  method: HttpMethod;
  /** OpenAPI path syntax, `/v1/streams/{id}`: the schemas are taken from the document by it. */
  path: string;
  /** `admin`: the bearer token is required. `public`: open (or authenticated by the handler). */
  auth: 'admin' | 'public';
  handler(request: FastifyRequest, reply: FastifyReply): Promise<unknown>;
}
