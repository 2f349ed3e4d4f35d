/**
 * The chart's alert rules (charts/firstmile/rules/) with the Debian package's promtool: the file
 * is valid, its unit tests pass, every alert has a case that fires and one that must not, and
 * the unit tests really depend on each alert's threshold and `for:` (a mutated rule fails them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { stringify } from 'yaml';
import { requireTools, runProcess, tempDir } from '../harness/media.ts';
import { DOCS_DIR, RULES_FILE } from './dashboards.ts';
import { stripThresholds } from './promql.ts';
import { alertCases, durationSeconds, loadAlerts, loadRuleFile, ruleTestFiles, withForDuration, type RuleFile } from './rules.ts';

/** The alerts issue 6 asks for. */
const REQUIRED_ALERTS = [
  'FirstmileStreamDegraded',
  'FirstmileStreamStarving',
  'FirstmileKeyframeIntervalTooLong',
  'FirstmileEdgeNearCapacity',
  'FirstmileAuthFailureSpike',
  'FirstmileNatsErrors',
  'FirstmilePodNotReady',
];

async function promtool(args: string[], cwd?: string) {
  requireTools('promtool');
  const r = await runProcess('promtool', args, { timeoutMs: 60_000, ...(cwd ? { cwd } : {}) });
  return { code: r.code, output: `${r.stdout}${r.stderr}` };
}

/** Runs every unit test file against `rules` (a rule file object) in a scratch copy of the layout. */
async function unitTestsAgainst(rules: RuleFile): Promise<{ code: number | null; output: string }> {
  const dir = tempDir('fm-rules-');
  try {
    mkdirSync(join(dir.path, 'tests'));
    writeFileSync(join(dir.path, basename(RULES_FILE)), stringify(rules));
    const files = ruleTestFiles().map((f) => {
      copyFileSync(f, join(dir.path, 'tests', basename(f)));
      return basename(f);
    });
    return await promtool(['test', 'rules', ...files], join(dir.path, 'tests'));
  } finally {
    dir.cleanup();
  }
}

test('promtool check rules accepts the rules file and counts every alert in it', async () => {
  const r = await promtool(['check', 'rules', RULES_FILE]);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, new RegExp(`SUCCESS: ${loadAlerts().length} rules found`), r.output);
});

test('promtool test rules passes every unit test file under rules/tests', async () => {
  const files = ruleTestFiles();
  assert.ok(files.length > 0, 'no unit test files');
  const r = await promtool(['test', 'rules', ...files.map((f) => basename(f))], join(RULES_FILE, '..', 'tests'));
  assert.equal(r.code, 0, r.output);
  assert.doesNotMatch(r.output, /FAILED/, r.output);
});

test('the rules file has every alert issue 6 asks for, each once', () => {
  const names = loadAlerts().map((a) => a.alert);
  assert.deepEqual([...names].sort(), [...REQUIRED_ALERTS].sort());
});

for (const alert of loadAlerts()) {
  test(`${alert.alert} has a severity, a summary, a description, a for: and a runbook in docs/alerts.md`, () => {
    assert.ok(['warning', 'critical'].includes(alert.labels['severity'] ?? ''), `severity ${alert.labels['severity']}`);
    assert.ok((alert.annotations['summary'] ?? '').length > 10, 'summary');
    assert.ok((alert.annotations['description'] ?? '').length > 30, 'description');
    assert.ok(alert.for !== undefined && durationSeconds(alert.for) >= 60, `for: ${alert.for} (production durations stay in the file)`);
    const doc = readFileSync(join(DOCS_DIR, 'alerts.md'), 'utf8');
    const section = doc.split(/^## /m).find((s) => s.startsWith(`${alert.alert}\n`));
    assert.ok(section, `docs/alerts.md has no "## ${alert.alert}" section`);
    for (const part of ['Meaning', 'Impact', 'Diagnosis', 'Mitigation']) assert.match(section, new RegExp(`^\\*\\*${part}\\.\\*\\*`, 'm'), `${alert.alert}: runbook lacks ${part}`);
  });

  test(`${alert.alert} has unit test cases that fire and cases that must not`, () => {
    const cases = alertCases().filter((c) => c.alertname === alert.alert);
    assert.ok(cases.some((c) => c.firing > 0), 'no case where it fires');
    assert.ok(cases.some((c) => c.firing === 0), 'no case where it must not fire');
  });
}

test('without its threshold comparison, every alert fails its unit tests (the not-firing cases depend on the threshold)', async () => {
  for (const alert of loadAlerts()) {
    const rules = loadRuleFile();
    for (const g of rules.groups) for (const r of g.rules) if (r.alert === alert.alert) r.expr = stripThresholds(r.expr ?? '');
    const r = await unitTestsAgainst(rules);
    assert.notEqual(r.code, 0, `${alert.alert} without thresholds still passes:\n${r.output}`);
    assert.match(r.output, new RegExp(`alertname: ${alert.alert}`), r.output);
  }
});

test('with half its for: duration, every alert fails its unit tests (a case checks it is still pending)', async () => {
  for (const alert of loadAlerts()) {
    const rules = loadRuleFile();
    for (const g of rules.groups) for (const r of g.rules) if (r.alert === alert.alert) r.for = `${durationSeconds(r.for ?? '0s') / 2}s`;
    const r = await unitTestsAgainst(rules);
    assert.notEqual(r.code, 0, `${alert.alert} with for: halved still passes:\n${r.output}`);
    assert.match(r.output, new RegExp(`alertname: ${alert.alert}`), r.output);
  }
});

test('the unmodified rules pass in the scratch layout the mutation tests use', async () => {
  const r = await unitTestsAgainst(loadRuleFile());
  assert.equal(r.code, 0, r.output);
});

test('withForDuration shortens every for: of the file and changes nothing else', () => {
  const text = readFileSync(RULES_FILE, 'utf8');
  const short = withForDuration(text, '2s');
  const alerts = loadAlerts();
  assert.equal(short.match(/^\s+for: 2s$/gm)?.length, alerts.length);
  assert.equal(short.replace(/^(\s+)for: \S+$/gm, '$1for: X'), text.replace(/^(\s+)for: \S+$/gm, '$1for: X'));
});
