export { createLogger, nullLogger, REDACTED_FIELDS } from './logger.ts';
export type { Logger, LogLevel, CreateLoggerOptions } from './logger.ts';
export { ObservabilityError } from './errors.ts';
export type { ObservabilityErrorCode } from './errors.ts';
export {
  createMetrics,
  httpMethodLabel,
  CONNECTION_STATES,
  HEALTH_STATES,
  DEFAULT_MAX_STREAMS,
  OTHER_STREAM,
} from './metrics.ts';
export type {
  Metrics,
  CreateMetricsOptions,
  ServiceLabel,
  ConnectionState,
  ConnectionResult,
  HealthState,
  AuthResult,
  WebhookResult,
  EdgeState,
} from './metrics.ts';
export { StreamHealthTracker, StreamMetrics, DEFAULT_HEALTH_THRESHOLDS } from './stream-health.ts';
export type { HealthThresholds, StreamHealthSample, StreamMetricsOptions, StreamMetricsHandle } from './stream-health.ts';
export { bindRtmpServerMetrics } from './rtmp-metrics.ts';
export type { RtmpStatsSource, RtmpServerStatsSnapshot, RtmpMetricsOptions } from './rtmp-metrics.ts';
export { getTracer, injectHeaders, extractContext, withSpan, TRACER_NAME, SpanName, SpanAttr } from './tracing.ts';
export type { Attributes, Context, Span, Tracer } from './tracing.ts';
