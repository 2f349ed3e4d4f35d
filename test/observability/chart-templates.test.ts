/**
 * The chart's PrometheusRule and dashboard ConfigMaps, rendered by a real helm (`helm template`;
 * scripts/fetch-helm.sh puts one in .tools/helm): the rules and dashboards arrive unchanged (the
 * Prometheus and Grafana templates in them are not evaluated by Helm), the CRD guard and the
 * enable switches work, and the label, annotation and runbook values are applied.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { runProcess } from '../harness/media.ts';
import { CHART_DIR, DASHBOARD_DIR, loadDashboards } from './dashboards.ts';
import { loadRuleFile } from './rules.ts';

const PROJECT_HELM = fileURLToPath(new URL('../../.tools/helm/bin/helm', import.meta.url));
const CRD_API = 'monitoring.coreos.com/v1/PrometheusRule';

function findHelm(): string | undefined {
  for (const candidate of [PROJECT_HELM, ...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean).map((d) => join(d, 'helm'))]) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { groups?: unknown[] };
  data?: Record<string, string>;
}

/** `helm template` of the chart with `args`; the objects rendered from `templates` (file names under templates/). */
async function render(t: TestContext, args: string[], templates: string[]): Promise<K8sObject[]> {
  const helm = findHelm();
  if (!helm) {
    t.skip('helm is not installed (scripts/fetch-helm.sh puts one in .tools/helm)');
    return [];
  }
  const show = templates.flatMap((f) => ['--show-only', `templates/${f}`]);
  const r = await runProcess(helm, ['template', 'fm', CHART_DIR, '--namespace', 'media', ...show, ...args], { timeoutMs: 60_000 });
  // --show-only fails with "could not find template" when the template rendered nothing.
  if (r.code !== 0 && /could not find template/.test(r.stderr)) return [];
  assert.equal(r.code, 0, `helm template failed:\n${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

test('with the PrometheusRule API served, the chart renders one PrometheusRule holding the rules file unchanged', async (t) => {
  const objects = await render(t, ['--api-versions', CRD_API], ['prometheusrule.yaml']);
  if (objects.length === 0 && !findHelm()) return;
  assert.equal(objects.length, 1);
  const rule = objects[0]!;
  assert.equal(rule.apiVersion, 'monitoring.coreos.com/v1');
  assert.equal(rule.kind, 'PrometheusRule');
  assert.equal(rule.metadata.namespace, 'media');
  assert.equal(rule.metadata.labels?.['app.kubernetes.io/instance'], 'fm');
  assert.deepEqual(rule.spec?.groups, loadRuleFile().groups);
  // The Prometheus templates in annotations are still there, unevaluated.
  assert.match(JSON.stringify(rule.spec), /\{\{ \$labels\.app \}\}/);
});

test('without the PrometheusRule API, or with metrics.prometheusRule.enabled=false, no PrometheusRule is rendered', async (t) => {
  assert.deepEqual(await render(t, [], ['prometheusrule.yaml']), []);
  assert.deepEqual(await render(t, ['--api-versions', CRD_API, '--set', 'metrics.prometheusRule.enabled=false'], ['prometheusrule.yaml']), []);
});

test('metrics.prometheusRule labels, ruleLabels and runbookBaseUrl reach the object and every alert; an alert keeps its own severity', async (t) => {
  const objects = await render(
    t,
    [
      '--api-versions', CRD_API,
      '--set', 'metrics.prometheusRule.labels.release=kube-prometheus-stack',
      '--set', 'metrics.prometheusRule.ruleLabels.team=video',
      '--set', 'metrics.prometheusRule.ruleLabels.severity=info',
      '--set', 'metrics.prometheusRule.runbookBaseUrl=https://runbooks.example/alerts.md/',
    ],
    ['prometheusrule.yaml'],
  );
  if (objects.length === 0 && !findHelm()) return;
  const rule = objects[0]!;
  assert.equal(rule.metadata.labels?.['release'], 'kube-prometheus-stack');
  const alerts = (rule.spec?.groups as { rules: { alert: string; labels: Record<string, string>; annotations: Record<string, string> }[] }[]).flatMap((g) => g.rules);
  assert.equal(alerts.length, 7);
  for (const a of alerts) {
    assert.equal(a.labels['team'], 'video', a.alert);
    assert.notEqual(a.labels['severity'], 'info', a.alert);
    assert.equal(a.annotations['runbook_url'], `https://runbooks.example/alerts.md#${a.alert.toLowerCase()}`);
  }
});

test('each dashboard becomes a ConfigMap labelled grafana_dashboard: "1" holding the JSON unchanged', async (t) => {
  const objects = await render(t, [], ['dashboards-configmap.yaml']);
  if (objects.length === 0 && !findHelm()) return;
  const files = loadDashboards().map((d) => d.file);
  assert.equal(objects.length, files.length);
  for (const file of files) {
    const cm = objects.find((o) => o.data?.[file] !== undefined);
    assert.ok(cm, `no ConfigMap holds ${file}`);
    assert.equal(cm.kind, 'ConfigMap');
    assert.equal(cm.metadata.namespace, 'media');
    assert.equal(cm.metadata.labels?.['grafana_dashboard'], '1');
    assert.ok(cm.metadata.name.length <= 63);
    assert.deepEqual(JSON.parse(cm.data![file]!), JSON.parse(readFileSync(join(DASHBOARD_DIR, file), 'utf8')));
  }
  assert.equal(new Set(objects.map((o) => o.metadata.name)).size, objects.length, 'ConfigMap names collide');
});

test('the dashboard label, its value, annotations and namespace are configurable, and dashboards can be turned off', async (t) => {
  const objects = await render(
    t,
    [
      '--set', 'metrics.dashboards.label=grafana.example/dashboard',
      '--set-string', 'metrics.dashboards.labelValue=firstmile',
      '--set', 'metrics.dashboards.annotations.grafana_folder=Video',
      '--set', 'metrics.dashboards.namespace=monitoring',
    ],
    ['dashboards-configmap.yaml'],
  );
  if (objects.length === 0 && !findHelm()) return;
  for (const cm of objects) {
    assert.equal(cm.metadata.labels?.['grafana.example/dashboard'], 'firstmile');
    assert.equal(cm.metadata.labels?.['grafana_dashboard'], undefined);
    assert.equal(cm.metadata.annotations?.['grafana_folder'], 'Video');
    assert.equal(cm.metadata.namespace, 'monitoring');
  }
  assert.deepEqual(await render(t, ['--set', 'metrics.dashboards.enabled=false'], ['dashboards-configmap.yaml']), []);
});
