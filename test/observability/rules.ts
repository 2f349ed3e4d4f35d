/** The chart's alert rules and their promtool unit tests, parsed. */
import { readdirSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { RULES_FILE, RULE_TESTS_DIR } from './dashboards.ts';

export interface AlertRule {
  group: string;
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface RuleFile {
  groups: { name: string; rules: (Partial<AlertRule> & { record?: string })[] }[];
}

export function loadRuleFile(file = RULES_FILE): RuleFile {
  return parse(readFileSync(file, 'utf8')) as RuleFile;
}

export function loadAlerts(file = RULES_FILE): AlertRule[] {
  return loadRuleFile(file).groups.flatMap((g) =>
    g.rules
      .filter((r) => r.alert !== undefined)
      .map((r) => ({ group: g.name, alert: r.alert!, expr: r.expr ?? '', for: r.for, labels: r.labels ?? {}, annotations: r.annotations ?? {} })),
  );
}

export interface AlertCase {
  file: string;
  test: string;
  alertname: string;
  evalTime: string;
  firing: number;
}

interface RuleTestFile {
  rule_files?: string[];
  tests?: { name?: string; alert_rule_test?: { eval_time: string; alertname: string; exp_alerts?: unknown[] }[] }[];
}

export function ruleTestFiles(dir = RULE_TESTS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => `${dir}${f}`);
}

/** Every alert_rule_test case of every unit test file: which alert, when, and how many alerts it expects firing. */
export function alertCases(files = ruleTestFiles()): AlertCase[] {
  return files.flatMap((file) => {
    const doc = parse(readFileSync(file, 'utf8')) as RuleTestFile;
    return (doc.tests ?? []).flatMap((t) =>
      (t.alert_rule_test ?? []).map((c) => ({ file, test: t.name ?? '', alertname: c.alertname, evalTime: c.eval_time, firing: (c.exp_alerts ?? []).length })),
    );
  });
}

/** Prometheus duration (`1m30s`) in seconds. */
export function durationSeconds(d: string): number {
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
  let total = 0;
  let rest = d;
  while (rest.length > 0) {
    const m = /^(\d+)(ms|s|m|h|d|w|y)/.exec(rest);
    if (!m) throw new Error(`not a Prometheus duration: ${d}`);
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

/**
 * The rules file's text with every `for:` set to `duration`: how e2e/prometheus.test.ts makes the
 * alerts fire within seconds while the file keeps its production durations.
 */
export function withForDuration(rulesText: string, duration: string): string {
  return rulesText.replace(/^(\s+)for: \S+$/gm, `$1for: ${duration}`);
}
