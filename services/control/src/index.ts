export { controlApi, BODY_LIMIT_BYTES } from './api/plugin.ts';
export type { ControlApiDeps } from './api/context.ts';
export { API_ERROR_CODES, ControlApiError } from './api/errors.ts';
export type { ApiErrorCode, ApiErrorBody, ApiErrorDetail } from './api/errors.ts';
export { ClusterView, isEdgeHeartbeat, isOriginHeartbeat } from './api/cluster-view.ts';
export type { ClusterViewOptions, EdgeStream, HeartbeatEvent, Viewers } from './api/cluster-view.ts';
export { Sweeper } from './api/sweeper.ts';
export type { SweeperOptions, SweepResult } from './api/sweeper.ts';
export { ingestUrls, playbackUrls, serverUrl, STREAM_KEY_PLACEHOLDER } from './api/urls.ts';
export type { PublicUrls, IngestUrls, PlaybackUrls } from './api/urls.ts';
export { encoderSettings, LADDER } from './api/encoders.ts';
export type { EncoderSettings, LadderRung } from './api/encoders.ts';
export { openApiDocument } from './api/openapi.ts';
export type { StreamResource } from './api/streams.ts';
export type { LiveStream } from './api/live.ts';
export type { KickedSession } from './api/kick.ts';
export { WebhookDispatcher } from './webhooks/dispatcher.ts';
export type { WebhookDispatcherOptions, WebhookEventType, Delivery, DeliveryAttempt, DeliveryStatus, BackoffOptions, RetryResult } from './webhooks/dispatcher.ts';
export { SIGNATURE_HEADER, webhookSignature, verifyWebhookSignature } from './webhooks/signature.ts';
export { RoutingError, LoadView, isRoutableHeartbeat, HeartbeatEdgeSource, parseRegions, rankIngests, IngestRankerImpl, resolveCaller } from './routing/index.ts';
export type {
  RoutingErrorCode,
  EdgeInfo,
  EdgeSource,
  EdgeLoad,
  LoadViewOptions,
  RegionConfig,
  RankInput,
  RoutableEdge,
  RoutingMode,
  IngestRankerOptions,
  CallerPlace,
  Caller,
  IngestEndpoint,
  IngestRouter,
} from './routing/index.ts';
export * from './geo/index.ts';
export { inKubernetes, podNamespace } from './k8s/detect.ts';
export { SoloElector } from './leader/solo.ts';
export { NatsKvLockElector, lockBucketName, LOCK_KEY } from './leader/nats-kv-lock.ts';
export type { LeaderElector, StopOptions, ElectorTiming } from './leader/elector.ts';
export type { NatsKvLockElectorOptions } from './leader/nats-kv-lock.ts';
// The Kubernetes watchers and the Lease elector load @kubernetes/client-node: they are a separate
// entry, '@firstmile/control/kubernetes', imported only when running in Kubernetes.
export { MemoryPendingDeliveryStore, MAX_PENDING_BODY_BYTES, DEFAULT_MAX_PENDING } from './webhooks/pending-store.ts';
export type { PendingDeliveryStore, PendingDelivery, PendingSummary, PendingEntry } from './webhooks/pending-store.ts';
export { KvPendingDeliveryStore, PENDING_BUCKET } from './webhooks/kv-pending-store.ts';
export type { KvPendingDeliveryStoreOptions } from './webhooks/kv-pending-store.ts';
