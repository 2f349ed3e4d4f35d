import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';
import { ObservabilityError } from './errors.ts';

/**
 * The metric catalog (docs/metrics.md): every firstmile metric's name, help and labels are defined
 * here and nowhere else. Metrics live in a registry the service passes in, never prom-client's
 * global one, and each is created once per registry, so edge, origin and control of one
 * `firstmile up` process share a registry and tell themselves apart by the `service` label.
 */

export type ServiceLabel = 'edge' | 'origin' | 'control';
export type ConnectionState = 'handshake' | 'connected' | 'publishing' | 'playing';
export const CONNECTION_STATES: readonly ConnectionState[] = Object.freeze(['handshake', 'connected', 'publishing', 'playing']);
export type ConnectionResult = 'accepted' | 'refused' | 'closed';
/** Per-stream health (docs/metrics.md has the thresholds); the same union as @firstmile/bus's. */
export type HealthState = 'healthy' | 'degraded' | 'starving' | 'offline';
export const HEALTH_STATES: readonly HealthState[] = Object.freeze(['healthy', 'degraded', 'starving', 'offline']);
export type AuthResult = 'allow' | 'deny';
export type WebhookResult = 'ok' | 'retry' | 'failed' | 'dropped';
export type EdgeState = 'ready' | 'draining' | 'full' | 'unready';

/** The stream label value of series aggregated past the cap (FIRSTMILE_METRICS_MAX_STREAMS). */
export const OTHER_STREAM = '_other';

export interface CreateMetricsOptions {
  /** Where every metric is registered; never prom-client's global registry. */
  registry: Registry;
  /** Sets firstmile_build_info{service, version}; call once per service sharing the registry. */
  service?: ServiceLabel | undefined;
  /** Build version (package version or image tag), the build_info label and the tracer version. */
  version: string;
  /** Streams that get their own labelled series; the rest are aggregated (default 500). */
  maxStreams?: number | undefined;
}

type Hook = () => void;

export interface Metrics {
  readonly registry: Registry;
  /** The service this view was created for (the label value its caller passes). */
  readonly service: ServiceLabel | undefined;
  readonly version: string;
  readonly maxStreams: number;
  /**
   * Runs `hook` each time `metric` is scraped, just before its value is read: the cheap way to
   * expose counters that a hot path keeps as plain numbers. Returns a function that unregisters it.
   */
  onCollect(metric: Counter<string> | Gauge<string> | Histogram<string>, hook: Hook): () => void;

  // Common (every service)
  readonly buildInfo: Gauge<'service' | 'version'>;
  readonly connections: Gauge<'service' | 'state'>;
  readonly connectionsTotal: Counter<'service' | 'result' | 'reason'>;
  readonly maxConnections: Gauge<'service'>;
  readonly bytesReceived: Counter<'service'>;
  readonly bytesSent: Counter<'service'>;
  readonly natsRtt: Gauge;
  readonly busPublishErrors: Counter<'service'>;
  readonly natsReconnects: Counter;
  readonly authDecisions: Counter<'service' | 'mode' | 'result' | 'code'>;
  readonly authLockouts: Counter;
  readonly authLockedOutIps: Gauge;

  // Edge, per stream (labels app, stream; capped, see StreamMetrics)
  readonly streamIngestBitrate: Gauge<'app' | 'stream' | 'kind'>;
  readonly streamFramerate: Gauge<'app' | 'stream'>;
  readonly streamKeyframeInterval: Gauge<'app' | 'stream'>;
  readonly streamAudioSampleRate: Gauge<'app' | 'stream'>;
  readonly streamInfo: Gauge<'app' | 'stream' | 'video_codec' | 'audio_codec'>;
  readonly streamTimestampJitter: Gauge<'app' | 'stream'>;
  readonly streamAvDrift: Gauge<'app' | 'stream'>;
  readonly streamHealth: Gauge<'app' | 'stream' | 'state'>;
  readonly streams: Gauge<'state'>;
  readonly streamsUnlabelled: Gauge;
  readonly streamHealthChanges: Counter<'state'>;

  // Edge saturation
  readonly activePublishers: Gauge;
  readonly ingressBitrate: Gauge;

  // Origin
  readonly activePlayers: Gauge;
  readonly egressBitrate: Gauge;
  readonly streamViewers: Gauge<'app' | 'stream'>;
  readonly framesDropped: Counter<'app' | 'stream'>;
  readonly slowPlayerDisconnects: Counter;
  readonly playerQueueBytes: Gauge;

  // Control
  readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  readonly httpRequestDuration: Histogram<'route' | 'method'>;
  readonly webhookDeliveries: Counter<'event' | 'result'>;
  readonly keysStreams: Gauge;
  readonly leader: Gauge;
  readonly edges: Gauge<'state'>;
}

type Catalog = Omit<Metrics, 'service' | 'version' | 'maxStreams'>;

const catalogs = new WeakMap<Registry, Catalog>();

export const DEFAULT_MAX_STREAMS = 500;

/** Seconds; control's API answers from memory or one KV round trip. */
const HTTP_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function createMetrics(options: CreateMetricsOptions): Metrics {
  const maxStreams = options.maxStreams ?? DEFAULT_MAX_STREAMS;
  if (!Number.isInteger(maxStreams) || maxStreams < 0) {
    throw new ObservabilityError('OBS_ERR_INVALID_OPTION', `maxStreams must be a non-negative integer, got ${maxStreams}`);
  }
  let catalog = catalogs.get(options.registry);
  if (!catalog) {
    catalog = createCatalog(options.registry);
    catalogs.set(options.registry, catalog);
  }
  if (options.service) {
    catalog.buildInfo.set({ service: options.service, version: options.version }, 1);
    catalog.busPublishErrors.inc({ service: options.service }, 0);
  }
  return { ...catalog, service: options.service, version: options.version, maxStreams };
}

function createCatalog(registry: Registry): Catalog {
  // A registry that already has the process metrics (the service registered them itself) keeps them.
  if (registry.getSingleMetric('process_cpu_user_seconds_total') === undefined) {
    collectDefaultMetrics({ register: registry });
  }
  const hooks = new Map<string, Set<Hook>>();
  const collect = (name: string) => () => {
    const set = hooks.get(name);
    if (set) for (const hook of set) hook();
  };
  const registers = [registry];
  const gauge = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> =>
    new Gauge<L>({ name, help, labelNames, registers, collect: collect(name) });
  const counter = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> =>
    new Counter<L>({ name, help, labelNames, registers, collect: collect(name) });

  const catalog: Catalog = {
    registry,
    onCollect(metric, hook) {
      // prom-client keeps the name on the instance; the typings leave it out.
      const name = (metric as unknown as { name: string }).name;
      let set = hooks.get(name);
      if (!set) hooks.set(name, (set = new Set()));
      set.add(hook);
      return () => {
        set.delete(hook);
      };
    },

    buildInfo: gauge('firstmile_build_info', 'Always 1; labels carry the service and its build version.', ['service', 'version']),
    connections: gauge('firstmile_connections', 'RTMP connections open now, by state.', ['service', 'state']),
    connectionsTotal: counter(
      'firstmile_connections_total',
      'RTMP connections accepted, refused at accept, and closed, by reason.',
      ['service', 'result', 'reason'],
    ),
    maxConnections: gauge('firstmile_max_connections', 'The configured cap on open RTMP connections (FIRSTMILE_MAX_CONNECTIONS).', ['service']),
    bytesReceived: counter('firstmile_bytes_received_total', 'Bytes read from RTMP sockets (after TLS).', ['service']),
    bytesSent: counter('firstmile_bytes_sent_total', 'Bytes written to RTMP sockets (before TLS).', ['service']),
    natsRtt: gauge('firstmile_nats_rtt_seconds', 'Round trip to the NATS server, measured periodically.'),
    busPublishErrors: counter('firstmile_bus_publish_errors_total', 'Bus publishes that failed (closed connection, payload too large).', ['service']),
    natsReconnects: counter('firstmile_nats_reconnects_total', 'Reconnections of the NATS client.'),
    authDecisions: counter(
      'firstmile_auth_decisions_total',
      'Publish authorization decisions by auth mode, result (allow|deny) and code (deny code or ok).',
      ['service', 'mode', 'result', 'code'],
    ),
    authLockouts: counter('firstmile_auth_lockouts_total', 'Client IPs locked out after repeated auth failures.'),
    authLockedOutIps: gauge('firstmile_auth_locked_out_ips', 'Client IPs locked out now.'),

    streamIngestBitrate: gauge(
      'firstmile_stream_ingest_bitrate_bps',
      'Ingest bitrate of a live stream over the last 5 s, by kind (video|audio).',
      ['app', 'stream', 'kind'],
    ),
    streamFramerate: gauge('firstmile_stream_framerate_fps', 'Video frames per second received over the last 5 s.', ['app', 'stream']),
    streamKeyframeInterval: gauge(
      'firstmile_stream_keyframe_interval_seconds',
      'Last interval between two keyframes in media time (or the time since the last one, when longer).',
      ['app', 'stream'],
    ),
    streamAudioSampleRate: gauge('firstmile_stream_audio_sample_rate_hz', 'Audio sample rate announced by the publisher.', ['app', 'stream']),
    streamInfo: gauge('firstmile_stream_info', 'Always 1; labels carry the stream codecs.', ['app', 'stream', 'video_codec', 'audio_codec']),
    streamTimestampJitter: gauge(
      'firstmile_stream_timestamp_jitter_seconds',
      'Mean absolute deviation of video timestamp deltas from their expected spacing, over the last 5 s.',
      ['app', 'stream'],
    ),
    streamAvDrift: gauge('firstmile_stream_av_drift_seconds', 'Last audio timestamp minus last video timestamp.', ['app', 'stream']),
    streamHealth: gauge('firstmile_stream_health', '1 for the current health state of a stream, 0 for the others.', ['app', 'stream', 'state']),
    streams: gauge('firstmile_streams', 'Streams on this edge by health state (never capped).', ['state']),
    streamsUnlabelled: gauge('firstmile_streams_unlabelled', 'Streams past the per-stream series cap, aggregated as stream="_other".'),
    streamHealthChanges: counter('firstmile_stream_health_changes_total', 'Stream health changes, by the state entered.', ['state']),

    activePublishers: gauge('firstmile_active_publishers', 'Publishers streaming to this edge now.'),
    ingressBitrate: gauge('firstmile_ingress_bitrate_bps', 'Bits per second received on RTMP sockets.'),

    activePlayers: gauge('firstmile_active_players', 'Players attached to this origin now.'),
    egressBitrate: gauge('firstmile_egress_bitrate_bps', 'Bits per second sent on RTMP sockets.'),
    streamViewers: gauge('firstmile_stream_viewers', 'Players of a stream on this origin.', ['app', 'stream']),
    framesDropped: counter('firstmile_frames_dropped_total', 'Frames skipped for players that fell behind.', ['app', 'stream']),
    slowPlayerDisconnects: counter('firstmile_slow_player_disconnects_total', 'Players disconnected for staying behind too long.'),
    playerQueueBytes: gauge('firstmile_player_queue_bytes', 'Bytes queued for players and not yet sent, summed over players.'),

    httpRequests: counter('firstmile_http_requests_total', 'HTTP requests by route template, method and status.', ['route', 'method', 'status']),
    httpRequestDuration: new Histogram<'route' | 'method'>({
      name: 'firstmile_http_request_duration_seconds',
      help: 'HTTP request duration by route template and method.',
      labelNames: ['route', 'method'],
      buckets: HTTP_DURATION_BUCKETS,
      registers,
      collect: collect('firstmile_http_request_duration_seconds'),
    }),
    webhookDeliveries: counter('firstmile_webhook_deliveries_total', 'Webhook deliveries by event and result (ok|retry|failed|dropped).', [
      'event',
      'result',
    ]),
    keysStreams: gauge('firstmile_keys_streams', 'Stream records in the key store.'),
    leader: gauge('firstmile_leader', '1 on the control replica that is the leader, else 0.'),
    edges: gauge('firstmile_edges', 'Edges by state (ready|draining|full|unready) as control sees them.', ['state']),
  };
  // Counters exist from the start at 0: rate() over a series that appears only at its first
  // increment misses that increment, and dashboards and alerts would show "no data" instead of 0.
  for (const state of HEALTH_STATES) catalog.streamHealthChanges.inc({ state }, 0);
  return catalog;
}

const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** A request's method as a label value: the client picks it, so anything unusual is `other`. */
export function httpMethodLabel(method: string | undefined): string {
  return method !== undefined && HTTP_METHODS.has(method) ? method : 'other';
}
