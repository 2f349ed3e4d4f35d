import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, register as globalRegistry } from 'prom-client';
import { createMetrics, httpMethodLabel, ObservabilityError } from '../src/index.ts';

/** The agreed catalog (docs/metrics.md): name, type and label names, exactly. */
const CATALOG: Array<[name: string, type: 'counter' | 'gauge' | 'histogram', labels: string[]]> = [
  ['firstmile_build_info', 'gauge', ['service', 'version']],
  ['firstmile_connections', 'gauge', ['service', 'state']],
  ['firstmile_connections_total', 'counter', ['service', 'result', 'reason']],
  // Asked for by the dashboards (edge near capacity = connections / max_connections).
  ['firstmile_max_connections', 'gauge', ['service']],
  ['firstmile_bytes_received_total', 'counter', ['service']],
  ['firstmile_bytes_sent_total', 'counter', ['service']],
  ['firstmile_nats_rtt_seconds', 'gauge', []],
  ['firstmile_bus_publish_errors_total', 'counter', ['service']],
  ['firstmile_nats_reconnects_total', 'counter', []],
  ['firstmile_auth_decisions_total', 'counter', ['service', 'mode', 'result', 'code']],
  ['firstmile_auth_lockouts_total', 'counter', []],
  ['firstmile_auth_locked_out_ips', 'gauge', []],
  ['firstmile_stream_ingest_bitrate_bps', 'gauge', ['app', 'stream', 'kind']],
  ['firstmile_stream_framerate_fps', 'gauge', ['app', 'stream']],
  ['firstmile_stream_keyframe_interval_seconds', 'gauge', ['app', 'stream']],
  ['firstmile_stream_audio_sample_rate_hz', 'gauge', ['app', 'stream']],
  ['firstmile_stream_info', 'gauge', ['app', 'stream', 'video_codec', 'audio_codec']],
  ['firstmile_stream_timestamp_jitter_seconds', 'gauge', ['app', 'stream']],
  ['firstmile_stream_av_drift_seconds', 'gauge', ['app', 'stream']],
  ['firstmile_stream_health', 'gauge', ['app', 'stream', 'state']],
  ['firstmile_streams', 'gauge', ['state']],
  ['firstmile_streams_unlabelled', 'gauge', []],
  ['firstmile_stream_health_changes_total', 'counter', ['state']],
  ['firstmile_active_publishers', 'gauge', []],
  ['firstmile_ingress_bitrate_bps', 'gauge', []],
  ['firstmile_active_players', 'gauge', []],
  ['firstmile_egress_bitrate_bps', 'gauge', []],
  ['firstmile_stream_viewers', 'gauge', ['app', 'stream']],
  ['firstmile_frames_dropped_total', 'counter', ['app', 'stream']],
  ['firstmile_slow_player_disconnects_total', 'counter', []],
  ['firstmile_player_queue_bytes', 'gauge', []],
  ['firstmile_http_requests_total', 'counter', ['route', 'method', 'status']],
  ['firstmile_http_request_duration_seconds', 'histogram', ['route', 'method']],
  ['firstmile_webhook_deliveries_total', 'counter', ['event', 'result']],
  ['firstmile_keys_streams', 'gauge', []],
  ['firstmile_leader', 'gauge', []],
  ['firstmile_edges', 'gauge', ['state']],
];

test('createMetrics() registers exactly the catalog, with its types and labels, in the registry passed in', async () => {
  const registry = new Registry();
  createMetrics({ registry, service: 'edge', version: '1.2.3', maxStreams: 10 });
  const registered = (await registry.getMetricsAsJSON()).filter((m) => m.name.startsWith('firstmile_'));
  assert.deepEqual(registered.map((m) => m.name).sort(), CATALOG.map(([n]) => n).sort());
  for (const [name, type, labels] of CATALOG) {
    const metric = registry.getSingleMetric(name) as unknown as { labelNames: string[] };
    const json = registered.find((m) => m.name === name)!;
    assert.equal(json.type, type, name);
    assert.deepEqual([...metric.labelNames].sort(), [...labels].sort(), name);
  }
  assert.equal(globalRegistry.getMetricsAsArray().length, 0, "prom-client's global registry stays empty");
});

test('createMetrics() adds the process and Node.js default metrics, unprefixed, once per registry', async () => {
  const registry = new Registry();
  createMetrics({ registry, service: 'edge', version: 'v', maxStreams: 1 });
  createMetrics({ registry, service: 'origin', version: 'v', maxStreams: 1 });
  const text = await registry.metrics();
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds']) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'));
  }
});

test('createMetrics() on one registry for edge, origin and control shares the metrics; build_info has one series per service', async () => {
  const registry = new Registry();
  const edge = createMetrics({ registry, service: 'edge', version: '0.9.0', maxStreams: 5 });
  const origin = createMetrics({ registry, service: 'origin', version: '0.9.0', maxStreams: 5 });
  createMetrics({ registry, service: 'control', version: '0.9.0' });
  assert.equal(edge.connectionsTotal, origin.connectionsTotal);
  assert.equal(edge.service, 'edge');
  assert.equal(origin.service, 'origin');
  edge.bytesReceived.inc({ service: 'edge' }, 10);
  origin.bytesReceived.inc({ service: 'origin' }, 20);
  const text = await registry.metrics();
  assert.match(text, /^firstmile_bytes_received_total\{service="edge"\} 10$/m);
  assert.match(text, /^firstmile_bytes_received_total\{service="origin"\} 20$/m);
  for (const service of ['edge', 'origin', 'control']) {
    assert.match(text, new RegExp(`^firstmile_build_info\\{service="${service}",version="0.9.0"\\} 1$`, 'm'));
  }
});

test('createMetrics() defaults maxStreams to 500 and refuses a negative or fractional cap', () => {
  assert.equal(createMetrics({ registry: new Registry(), version: 'v' }).maxStreams, 500);
  for (const maxStreams of [-1, 1.5, Number.NaN]) {
    assert.throws(
      () => createMetrics({ registry: new Registry(), version: 'v', maxStreams }),
      (e) => e instanceof ObservabilityError && e.code === 'OBS_ERR_INVALID_OPTION',
    );
  }
});

test('onCollect() hooks run at scrape time, before the value is read, until unregistered', async () => {
  const registry = new Registry();
  const m = createMetrics({ registry, service: 'origin', version: 'v' });
  let queued = 100;
  const off = m.onCollect(m.playerQueueBytes, () => m.playerQueueBytes.set(queued));
  assert.match(await registry.metrics(), /^firstmile_player_queue_bytes 100$/m);
  queued = 250;
  assert.match(await registry.metrics(), /^firstmile_player_queue_bytes 250$/m);
  off();
  queued = 999;
  assert.match(await registry.metrics(), /^firstmile_player_queue_bytes 250$/m);
});

test('httpMethodLabel() keeps standard methods and folds anything a client invents into other', () => {
  const cases: Array<[string | undefined, string]> = [
    ['GET', 'GET'],
    ['DELETE', 'DELETE'],
    ['get', 'other'],
    ['BREW', 'other'],
    [undefined, 'other'],
  ];
  for (const [method, label] of cases) assert.equal(httpMethodLabel(method), label);
});
