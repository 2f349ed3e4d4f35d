/**
 * Every metric the dashboards and alerts read is in the metric catalog: docs/metrics.md once it
 * exists (its backticked names), the names agreed for issue 6 until then. A renamed metric then
 * fails here, not silently as an empty Grafana panel or an alert that can never fire.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dashboardQueries, loadDashboards, labelValuesQuery, variableQuery } from './dashboards.ts';
import { metricNames, substituteVariables } from './promql.ts';
import { loadAlerts } from './rules.ts';
import { METRICS_DOC, REQUESTED_METRICS, backtickedMetricNames, baseMetricName, loadCatalog } from './catalog.ts';

const SAMPLE_VALUES = { app: 'live', stream: 'st_x', __rate_interval: '10s', __interval: '1s', __range: '1h', datasource: 'prometheus' };

function referenced(): { where: string; metric: string }[] {
  const out: { where: string; metric: string }[] = [];
  for (const { file, dashboard: d } of loadDashboards()) {
    for (const q of dashboardQueries(d)) {
      for (const metric of metricNames(substituteVariables(q.expr, SAMPLE_VALUES))) out.push({ where: `${file} "${q.panel}" ${q.refId}`, metric });
    }
    for (const v of d.templating.list.filter((x) => x.type === 'query')) {
      const lv = labelValuesQuery(variableQuery(v) ?? '');
      if (lv) for (const metric of metricNames(substituteVariables(lv.selector, SAMPLE_VALUES))) out.push({ where: `${file} variable ${v.name}`, metric });
    }
  }
  for (const a of loadAlerts()) for (const metric of metricNames(a.expr)) out.push({ where: `alert ${a.alert}`, metric });
  return out;
}

test('every metric a dashboard panel, dashboard variable or alert reads is in the catalog', (t) => {
  const catalog = loadCatalog();
  t.diagnostic(`catalog: ${catalog.source}`);
  const refs = referenced();
  assert.ok(refs.length > 50, `only ${refs.length} references found: the extraction is broken`);
  const missing = refs.filter((r) => !catalog.names.has(baseMetricName(r.metric, catalog.names)));
  assert.deepEqual(missing, [], `not in the catalog (${catalog.source})`);
});

test('names asked of the metrics developer are used by the alerts, and listed by docs/metrics.md once it exists', () => {
  const used = new Set(referenced().map((r) => r.metric));
  for (const name of Object.keys(REQUESTED_METRICS)) {
    assert.ok(used.has(name), `${name} is requested but nothing uses it any more: drop it from REQUESTED_METRICS`);
  }
  if (existsSync(METRICS_DOC)) {
    const missing = Object.keys(REQUESTED_METRICS).filter((n) => !loadCatalog().names.has(n));
    assert.deepEqual(missing, [], 'requested metrics missing from docs/metrics.md');
  }
});

const docCases: { markdown: string; names: string[] }[] = [
  { markdown: '| `firstmile_connections{service, state}` | gauge |', names: ['firstmile_connections'] },
  { markdown: '- `firstmile_build_info` and `firstmile_leader`', names: ['firstmile_build_info', 'firstmile_leader'] },
  { markdown: 'Set `FIRSTMILE_METRICS_MAX_STREAMS`; call `nc.rtt()`; see `process_cpu_seconds_total`.', names: [] },
  { markdown: '```\nfirstmile_not_backticked 1\n```', names: [] },
];

for (const c of docCases) {
  test(`backtickedMetricNames(${JSON.stringify(c.markdown)}) is ${JSON.stringify(c.names)}`, () => {
    assert.deepEqual(backtickedMetricNames(c.markdown), c.names);
  });
}

test('histogram series names resolve to their metric (x_bucket -> x) only when the metric is in the catalog', () => {
  const names = new Set(['firstmile_http_request_duration_seconds']);
  assert.equal(baseMetricName('firstmile_http_request_duration_seconds_bucket', names), 'firstmile_http_request_duration_seconds');
  assert.equal(baseMetricName('firstmile_connections_count', names), 'firstmile_connections_count');
});
