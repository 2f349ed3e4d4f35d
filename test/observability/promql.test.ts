/**
 * The PromQL helpers the dashboard/alert checks rely on: if they missed a selector or stripped the
 * wrong thing, the e2e check against a real Prometheus would prove less than it claims.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricNames, stripThresholds, substituteVariables, tokenize, variablesUsed, vectorSelectors, PromqlError } from './promql.ts';

const selectorCases: { expr: string; selectors: string[] }[] = [
  { expr: 'up', selectors: ['up'] },
  { expr: 'up{job=~".*firstmile.*"} == 0', selectors: ['up{job=~".*firstmile.*"}'] },
  { expr: 'sum by (state) (firstmile_streams)', selectors: ['firstmile_streams'] },
  { expr: 'sum(rate(firstmile_bytes_sent_total{service="edge"}[5m])) * 8', selectors: ['firstmile_bytes_sent_total{service="edge"}'] },
  {
    expr: 'sum by (namespace, job, instance) (firstmile_connections{service="edge"}) / on (namespace, job, instance) max by (namespace, job, instance) (firstmile_max_connections) > 0.85',
    selectors: ['firstmile_connections{service="edge"}', 'firstmile_max_connections'],
  },
  {
    expr: 'label_replace(sum by (instance) (increase(firstmile_nats_reconnects_total[15m])) > 3, "reason", "reconnects", "", "")',
    selectors: ['firstmile_nats_reconnects_total'],
  },
  { expr: 'sum without (state) (a) and on (instance) b', selectors: ['a', 'b'] },
  { expr: 'x / ignoring (kind) group_left (app) y', selectors: ['x', 'y'] },
  { expr: 'max_over_time(m[5m:1m] offset 1h)', selectors: ['m'] },
  { expr: '{__name__="m", a="b,c}"}', selectors: ['{__name__="m", a="b,c}"}'] },
  { expr: 'a{x="1"} # a comment naming b\n or c', selectors: ['a{x="1"}', 'c'] },
  { expr: 'sum(x) by (le)', selectors: ['x'] },
  { expr: 'topk(3, y)', selectors: ['y'] },
  { expr: 'vector(1) + Inf', selectors: [] },
];

for (const c of selectorCases) {
  test(`vectorSelectors(${JSON.stringify(c.expr)}) is ${JSON.stringify(c.selectors)}`, () => {
    assert.deepEqual(vectorSelectors(c.expr), c.selectors);
  });
}

test('metricNames reads names from selectors and __name__ matchers, once each', () => {
  assert.deepEqual(metricNames('a{x="1"} / a + {__name__="b"} + rate(c_total[1m])'), ['a', 'b', 'c_total']);
});

const stripCases: { expr: string; stripped: string }[] = [
  { expr: 'up == 0', stripped: 'up ' },
  { expr: 'max(x{state!="offline"}) > 4', stripped: 'max(x{state!="offline"}) ' },
  { expr: 'a / b > 0.85', stripped: 'a / b ' },
  { expr: '(a > 0.5) or (b > 0)', stripped: '(a ) or (b )' },
  { expr: 'label_replace(a > 3, "r", "x", "", "")', stripped: 'label_replace(a , "r", "x", "", "")' },
  { expr: 'a >= bool -1', stripped: 'a ' },
  { expr: 'a{b=~"c>1"} != 1e3', stripped: 'a{b=~"c>1"} ' },
  { expr: 'rate(a[5m])', stripped: 'rate(a[5m])' },
];

for (const c of stripCases) {
  test(`stripThresholds(${JSON.stringify(c.expr)}) is ${JSON.stringify(c.stripped)}`, () => {
    assert.equal(stripThresholds(c.expr), c.stripped);
  });
}

test('stripThresholds refuses a threshold that is not a plain number', () => {
  for (const expr of ['a > b', 'a > 4 * 2', 'a > time()']) {
    assert.throws(() => stripThresholds(expr), (e: unknown) => e instanceof PromqlError && e.code === 'PROMQL_ERR_THRESHOLD', expr);
  }
});

test('tokenize keeps durations, numbers and strings apart, and rejects what PromQL does not have', () => {
  assert.deepEqual(
    tokenize('rate(a{b="x\\"y"}[1h30m]) > 0x1F').map((t) => `${t.kind}:${t.text}`),
    ['ident:rate', 'punct:(', 'ident:a', 'punct:{', 'ident:b', 'op:=', 'string:"x\\"y"', 'punct:}', 'punct:[', 'duration:1h30m', 'punct:]', 'punct:)', 'op:>', 'number:0x1F'],
  );
  assert.throws(() => tokenize('a ; b'), PromqlError);
  assert.throws(() => tokenize('a{b="x}'), PromqlError);
});

test('Grafana variables in every syntax are found and substituted; an unknown one is an error', () => {
  const text = 'rate(x{app="$app", stream="${stream}", s="${stream:regex}", o="[[app]]"}[$__rate_interval])';
  assert.deepEqual(variablesUsed(text), ['app', 'stream', '__rate_interval']);
  assert.equal(
    substituteVariables(text, { app: 'live', stream: 'st_1', __rate_interval: '10s' }),
    'rate(x{app="live", stream="st_1", s="st_1", o="live"}[10s])',
  );
  assert.throws(() => substituteVariables('$nope', {}), (e: unknown) => e instanceof PromqlError && e.code === 'PROMQL_ERR_VARIABLE');
});
