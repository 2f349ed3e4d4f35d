/**
 * Lint of the chart's Grafana dashboards (charts/firstmile/dashboards/*.json): structure Grafana
 * needs to import them through the sidecar, a data source that is always the `datasource`
 * variable, queries that compile (promtool, as recording rules), and the panels issue 6 asks for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { requireTools, runProcess, tempDir } from '../harness/media.ts';
import {
  allPanels,
  dashboardQueries,
  labelValuesQuery,
  loadDashboards,
  variableQuery,
  type GrafanaPanel,
  type LoadedDashboard,
} from './dashboards.ts';
import { metricNames, substituteVariables, variablesUsed } from './promql.ts';

const EXPECTED = ['firstmile-capacity.json', 'firstmile-overview.json', 'firstmile-stream.json'];
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
/** Values for compiling queries; any valid value of the right kind does. */
const SAMPLE_VALUES = { app: 'live', stream: 'st_x', __rate_interval: '10s', __interval: '1s', __range: '1h', datasource: 'prometheus' };

const dashboards = loadDashboards();

test('the chart ships exactly the three dashboards of issue 6', () => {
  assert.deepEqual(dashboards.map((d) => d.file), EXPECTED);
});

function isRow(p: GrafanaPanel): boolean {
  return p.type === 'row';
}

for (const { file, text, dashboard: d } of dashboards) {
  test(`${file}: uid is the file name, schemaVersion 39, tagged firstmile, no instance id`, () => {
    assert.equal(d.uid, file.replace(/\.json$/, ''));
    assert.ok(d.uid.length <= 40, 'Grafana uids are at most 40 characters');
    assert.equal(d.schemaVersion, 39);
    assert.ok((d['tags'] as string[]).includes('firstmile'));
    assert.equal(d['id'], null, 'an exported id would clash with another Grafana instance');
    assert.match(d.title, /^firstmile \/ /);
    assert.ok(text.endsWith('}\n'));
  });

  test(`${file}: the data source is a datasource variable of type prometheus, used by every panel and target`, () => {
    const ds = d.templating.list.find((v) => v.name === 'datasource');
    assert.ok(ds, 'no datasource variable');
    assert.equal(ds.type, 'datasource');
    assert.equal(ds.query, 'prometheus');
    for (const p of allPanels(d).filter((x) => !isRow(x))) {
      assert.deepEqual(p.datasource, DATASOURCE, `panel ${p.id} ${p.title}`);
      for (const t of p.targets ?? []) if (t.datasource !== undefined) assert.deepEqual(t.datasource, DATASOURCE, `panel ${p.id} target ${t.refId}`);
    }
    for (const v of d.templating.list.filter((x) => x.type === 'query')) assert.deepEqual(v.datasource, DATASOURCE, `variable ${v.name}`);
  });

  test(`${file}: panel ids are unique, every panel has a title and targets with a refId and an expr`, () => {
    const ids = allPanels(d).map((p) => p.id);
    assert.ok(ids.every((id) => typeof id === 'number'), 'a panel without id');
    assert.equal(new Set(ids).size, ids.length, `duplicate panel ids: ${ids.join(',')}`);
    for (const p of allPanels(d)) {
      assert.ok((p.title ?? '').length > 0, `panel ${p.id} has no title`);
      if (isRow(p)) continue;
      assert.ok((p.targets ?? []).length > 0, `panel ${p.id} ${p.title} has no target`);
      const refIds = (p.targets ?? []).map((t) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `panel ${p.id}: duplicate refIds`);
      for (const t of p.targets ?? []) {
        assert.ok(typeof t.refId === 'string' && t.refId.length > 0, `panel ${p.id}: target without refId`);
        assert.ok(typeof t.expr === 'string' && t.expr.trim().length > 0, `panel ${p.id} ${p.title} target ${t.refId}: no expr`);
      }
    }
  });

  test(`${file}: every variable used is defined (before use, for variables) or a Grafana global`, () => {
    const defined = d.templating.list.map((v) => v.name);
    const used = variablesUsed(text).filter((v) => !v.startsWith('__'));
    assert.deepEqual(used.filter((v) => !defined.includes(v)), [], 'undefined variables');
    d.templating.list.forEach((v, i) => {
      const q = variableQuery(v);
      if (q === undefined) return;
      for (const name of variablesUsed(q)) assert.ok(defined.slice(0, i).includes(name), `variable ${v.name} uses $${name}, defined after it`);
    });
  });

  test(`${file}: panels stay within 24 columns and do not overlap`, () => {
    const boxes = allPanels(d).map((p) => ({ id: p.id, ...p.gridPos! }));
    for (const b of boxes) {
      assert.ok(b.x >= 0 && b.w > 0 && b.x + b.w <= 24 && b.h > 0 && b.y >= 0, `panel ${b.id} gridPos ${JSON.stringify(b)}`);
    }
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i]!;
        const b = boxes[j]!;
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        assert.ok(!overlap, `panels ${a.id} and ${b.id} overlap`);
      }
    }
  });
}

test('every dashboard query and variable query compiles (promtool check rules, as recording rules)', async () => {
  requireTools('promtool');
  const rules: { record: string; expr: string }[] = [];
  for (const { dashboard: d } of dashboards) {
    for (const q of dashboardQueries(d)) {
      rules.push({ record: `dashboard:${d.uid.replace(/-/g, '_')}:panel${q.panelId}_${q.refId}`, expr: substituteVariables(q.expr, SAMPLE_VALUES) });
    }
    for (const v of d.templating.list.filter((x) => x.type === 'query')) {
      const q = variableQuery(v);
      if (q === undefined) continue;
      const lv = labelValuesQuery(q);
      assert.ok(lv, `variable ${v.name}: only label_values(selector, label) queries are used, got ${q}`);
      rules.push({ record: `dashboard:${d.uid.replace(/-/g, '_')}:var_${v.name}`, expr: substituteVariables(lv.selector, SAMPLE_VALUES) });
    }
  }
  const dir = tempDir('fm-dash-');
  try {
    const file = join(dir.path, 'dashboards.rules.yaml');
    writeFileSync(file, stringify({ groups: [{ name: 'dashboards', rules }] }));
    const r = await runProcess('promtool', ['check', 'rules', file], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  } finally {
    dir.cleanup();
  }
});

/** What issue 6 asks each dashboard to show, as metrics its queries must read. */
const REQUIRED_METRICS: { file: string; what: string; metric: string }[] = [
  { file: 'firstmile-overview.json', what: 'live streams by health', metric: 'firstmile_streams' },
  { file: 'firstmile-overview.json', what: 'publishers', metric: 'firstmile_active_publishers' },
  { file: 'firstmile-overview.json', what: 'players', metric: 'firstmile_active_players' },
  { file: 'firstmile-overview.json', what: 'ingress bitrate', metric: 'firstmile_ingress_bitrate_bps' },
  { file: 'firstmile-overview.json', what: 'egress bitrate', metric: 'firstmile_egress_bitrate_bps' },
  { file: 'firstmile-overview.json', what: 'connections by state', metric: 'firstmile_connections' },
  { file: 'firstmile-overview.json', what: 'refused connections by reason', metric: 'firstmile_connections_total' },
  { file: 'firstmile-overview.json', what: 'auth decisions', metric: 'firstmile_auth_decisions_total' },
  { file: 'firstmile-overview.json', what: 'NATS RTT', metric: 'firstmile_nats_rtt_seconds' },
  { file: 'firstmile-overview.json', what: 'NATS errors', metric: 'firstmile_bus_publish_errors_total' },
  { file: 'firstmile-overview.json', what: 'NATS reconnects', metric: 'firstmile_nats_reconnects_total' },
  { file: 'firstmile-stream.json', what: 'bitrate video/audio', metric: 'firstmile_stream_ingest_bitrate_bps' },
  { file: 'firstmile-stream.json', what: 'fps', metric: 'firstmile_stream_framerate_fps' },
  { file: 'firstmile-stream.json', what: 'keyframe interval', metric: 'firstmile_stream_keyframe_interval_seconds' },
  { file: 'firstmile-stream.json', what: 'jitter', metric: 'firstmile_stream_timestamp_jitter_seconds' },
  { file: 'firstmile-stream.json', what: 'A/V drift', metric: 'firstmile_stream_av_drift_seconds' },
  { file: 'firstmile-stream.json', what: 'health state timeline', metric: 'firstmile_stream_health' },
  { file: 'firstmile-stream.json', what: 'viewers', metric: 'firstmile_stream_viewers' },
  { file: 'firstmile-stream.json', what: 'dropped frames', metric: 'firstmile_frames_dropped_total' },
  { file: 'firstmile-capacity.json', what: 'connections', metric: 'firstmile_connections' },
  { file: 'firstmile-capacity.json', what: 'connection limit', metric: 'firstmile_max_connections' },
  { file: 'firstmile-capacity.json', what: 'CPU', metric: 'process_cpu_seconds_total' },
  { file: 'firstmile-capacity.json', what: 'RSS', metric: 'process_resident_memory_bytes' },
  { file: 'firstmile-capacity.json', what: 'event loop lag', metric: 'nodejs_eventloop_lag_p99_seconds' },
  { file: 'firstmile-capacity.json', what: 'NATS RTT', metric: 'firstmile_nats_rtt_seconds' },
  { file: 'firstmile-capacity.json', what: 'egress per origin', metric: 'firstmile_egress_bitrate_bps' },
  { file: 'firstmile-capacity.json', what: 'pods ready', metric: 'up' },
];

function byFile(file: string): LoadedDashboard {
  const d = dashboards.find((x) => x.file === file);
  assert.ok(d, `${file} missing`);
  return d;
}

for (const r of REQUIRED_METRICS) {
  test(`${r.file} shows ${r.what} (reads ${r.metric})`, () => {
    const names = dashboardQueries(byFile(r.file).dashboard).flatMap((q) => metricNames(substituteVariables(q.expr, SAMPLE_VALUES)));
    assert.ok(names.includes(r.metric), `no query reads ${r.metric}`);
  });
}

test('firstmile-stream.json selects the stream with app and stream variables from firstmile_stream_health, and every query filters on both', () => {
  const d = byFile('firstmile-stream.json').dashboard;
  const vars = Object.fromEntries(d.templating.list.map((v) => [v.name, v]));
  assert.deepEqual(labelValuesQuery(variableQuery(vars['app']!)!), { selector: 'firstmile_stream_health', label: 'app' });
  assert.deepEqual(labelValuesQuery(variableQuery(vars['stream']!)!), { selector: 'firstmile_stream_health{app="$app"}', label: 'stream' });
  for (const q of dashboardQueries(d)) assert.match(q.expr, /app="\$app", stream="\$stream"/, `${q.panel}: ${q.expr}`);
});

test('firstmile-stream.json draws the 4 s degraded threshold as a line on the keyframe interval', () => {
  const p = allPanels(byFile('firstmile-stream.json').dashboard).find((x) => (x.targets ?? []).some((t) => (t.expr ?? '').includes('keyframe_interval')));
  assert.ok(p);
  const defaults = (p.fieldConfig as { defaults: { thresholds: { steps: { value: number | null }[] }; custom: { thresholdsStyle: { mode: string } }; unit: string } }).defaults;
  assert.ok(defaults.thresholds.steps.some((s) => s.value === 4));
  assert.match(defaults.custom.thresholdsStyle.mode, /line/);
  assert.equal(defaults.unit, 's');
});
