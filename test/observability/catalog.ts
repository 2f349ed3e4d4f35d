/**
 * The metric catalog the dashboards and alerts may use: the backticked metric names of
 * docs/metrics.md once it exists, else the names agreed for issue 6 (below). Plus what every
 * scrape has without being in the catalog: prom-client's default metrics and Prometheus's `up`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { DOCS_DIR } from './dashboards.ts';

export const METRICS_DOC = `${DOCS_DIR}metrics.md`;

/** The names agreed for issue 6, until docs/metrics.md lands. */
export const AGREED_METRICS: readonly string[] = [
  'firstmile_build_info',
  'firstmile_connections',
  'firstmile_connections_total',
  'firstmile_bytes_received_total',
  'firstmile_bytes_sent_total',
  'firstmile_nats_rtt_seconds',
  'firstmile_bus_publish_errors_total',
  'firstmile_nats_reconnects_total',
  'firstmile_auth_decisions_total',
  'firstmile_auth_lockouts_total',
  'firstmile_auth_locked_out_ips',
  'firstmile_stream_ingest_bitrate_bps',
  'firstmile_stream_framerate_fps',
  'firstmile_stream_keyframe_interval_seconds',
  'firstmile_stream_audio_sample_rate_hz',
  'firstmile_stream_info',
  'firstmile_stream_timestamp_jitter_seconds',
  'firstmile_stream_av_drift_seconds',
  'firstmile_stream_health',
  'firstmile_streams',
  'firstmile_streams_unlabelled',
  'firstmile_stream_health_changes_total',
  'firstmile_active_publishers',
  'firstmile_ingress_bitrate_bps',
  'firstmile_active_players',
  'firstmile_egress_bitrate_bps',
  'firstmile_stream_viewers',
  'firstmile_frames_dropped_total',
  'firstmile_slow_player_disconnects_total',
  'firstmile_player_queue_bytes',
  'firstmile_http_requests_total',
  'firstmile_http_request_duration_seconds',
  'firstmile_webhook_deliveries_total',
  'firstmile_keys_streams',
  'firstmile_leader',
  'firstmile_edges',
];

/**
 * Names the alerts need that the agreed list lacks, asked of the metrics developer in issue 6.
 * Accepted only while docs/metrics.md does not exist: once it does, it must list them.
 */
export const REQUESTED_METRICS: Readonly<Record<string, string>> = {
  firstmile_max_connections: 'gauge{service}: the FIRSTMILE_MAX_CONNECTIONS limit, for FirstmileEdgeNearCapacity',
};

/** prom-client 15 collectDefaultMetrics() names (lib/metrics/*.js), unprefixed. */
export const PROM_CLIENT_DEFAULTS: readonly string[] = [
  'process_cpu_user_seconds_total',
  'process_cpu_system_seconds_total',
  'process_cpu_seconds_total',
  'process_start_time_seconds',
  'process_resident_memory_bytes',
  'process_virtual_memory_bytes',
  'process_heap_bytes',
  'process_open_fds',
  'process_max_fds',
  'nodejs_eventloop_lag_seconds',
  'nodejs_eventloop_lag_min_seconds',
  'nodejs_eventloop_lag_max_seconds',
  'nodejs_eventloop_lag_mean_seconds',
  'nodejs_eventloop_lag_stddev_seconds',
  'nodejs_eventloop_lag_p50_seconds',
  'nodejs_eventloop_lag_p90_seconds',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_active_resources',
  'nodejs_active_resources_total',
  'nodejs_active_handles',
  'nodejs_active_handles_total',
  'nodejs_active_requests',
  'nodejs_active_requests_total',
  'nodejs_heap_size_total_bytes',
  'nodejs_heap_size_used_bytes',
  'nodejs_external_memory_bytes',
  'nodejs_heap_space_size_total_bytes',
  'nodejs_heap_space_size_used_bytes',
  'nodejs_heap_space_size_available_bytes',
  'nodejs_version_info',
  'nodejs_gc_duration_seconds',
];

/** Series Prometheus itself attaches to every target. */
export const PROMETHEUS_SYNTHETIC: readonly string[] = ['up', 'scrape_duration_seconds', 'scrape_samples_scraped'];

/** Backticked metric names in a Markdown text (`firstmile_x`, `firstmile_x{labels}`). */
export function backtickedMetricNames(markdown: string): string[] {
  const names = new Set<string>();
  for (const m of markdown.matchAll(/`([a-z_:][a-z0-9_:]*)(?:\{[^`]*\})?`/g)) {
    if (m[1]!.startsWith('firstmile_')) names.add(m[1]!);
  }
  return [...names];
}

export interface Catalog {
  source: 'docs/metrics.md' | 'agreed list (docs/metrics.md not written yet)';
  names: ReadonlySet<string>;
}

export function loadCatalog(doc = METRICS_DOC): Catalog {
  const base = [...PROM_CLIENT_DEFAULTS, ...PROMETHEUS_SYNTHETIC];
  if (existsSync(doc)) {
    return { source: 'docs/metrics.md', names: new Set([...backtickedMetricNames(readFileSync(doc, 'utf8')), ...base]) };
  }
  return { source: 'agreed list (docs/metrics.md not written yet)', names: new Set([...AGREED_METRICS, ...Object.keys(REQUESTED_METRICS), ...base]) };
}

/** A histogram's or summary's series name as its metric's name (`x_bucket` -> `x`). */
export function baseMetricName(name: string, catalog: ReadonlySet<string>): string {
  if (catalog.has(name)) return name;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  return m && catalog.has(m[1]!) ? m[1]! : name;
}
