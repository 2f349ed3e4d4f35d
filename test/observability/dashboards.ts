/**
 * Reading the chart's Grafana dashboards and alert rules: where they are, their panels, their
 * queries and their variables. Shared by the lint tests here and e2e/prometheus.test.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CHART_DIR = fileURLToPath(new URL('../../charts/firstmile/', import.meta.url));
export const DASHBOARD_DIR = `${CHART_DIR}dashboards/`;
export const RULES_FILE = `${CHART_DIR}rules/firstmile.rules.yaml`;
export const RULE_TESTS_DIR = `${CHART_DIR}rules/tests/`;
export const DOCS_DIR = fileURLToPath(new URL('../../docs/', import.meta.url));

export interface GrafanaTarget {
  refId?: string;
  expr?: string;
  legendFormat?: string;
  datasource?: { type?: string; uid?: string };
  [key: string]: unknown;
}

export interface GrafanaPanel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: { type?: string; uid?: string } | null;
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: GrafanaTarget[];
  /** A collapsed row keeps its panels here. */
  panels?: GrafanaPanel[];
  [key: string]: unknown;
}

export interface GrafanaVariable {
  name: string;
  type: string;
  query?: unknown;
  definition?: string;
  datasource?: { type?: string; uid?: string } | null;
  [key: string]: unknown;
}

export interface GrafanaDashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: GrafanaPanel[];
  templating: { list: GrafanaVariable[] };
  [key: string]: unknown;
}

export interface LoadedDashboard {
  file: string;
  /** The file's text, for checks on the raw JSON. */
  text: string;
  dashboard: GrafanaDashboard;
}

/** Every *.json under the chart's dashboards/, parsed (a parse error throws, naming the file). */
export function loadDashboards(dir = DASHBOARD_DIR): LoadedDashboard[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const text = readFileSync(`${dir}${file}`, 'utf8');
      try {
        return { file, text, dashboard: JSON.parse(text) as GrafanaDashboard };
      } catch (error) {
        throw new Error(`${file}: ${(error as Error).message}`, { cause: error });
      }
    });
}

/** Every panel, rows' nested panels included, in order. */
export function allPanels(d: GrafanaDashboard): GrafanaPanel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

export interface DashboardQuery {
  dashboard: string;
  panel: string;
  panelId: number | undefined;
  refId: string;
  expr: string;
}

/** Every target's query of every panel. */
export function dashboardQueries(d: GrafanaDashboard): DashboardQuery[] {
  return allPanels(d).flatMap((p) =>
    (p.targets ?? []).map((t) => ({ dashboard: d.uid, panel: p.title ?? '', panelId: p.id, refId: t.refId ?? '', expr: t.expr ?? '' })),
  );
}

/** The PromQL query of a `query` variable (Grafana stores a string or {query}); label_values(...) included. */
export function variableQuery(v: GrafanaVariable): string | undefined {
  if (typeof v.query === 'string') return v.query;
  if (v.query && typeof v.query === 'object' && typeof (v.query as { query?: unknown }).query === 'string') return (v.query as { query: string }).query;
  return undefined;
}

/**
 * The selector of a `label_values(selector, label)` variable query and its label, or undefined
 * for a query of another form.
 */
export function labelValuesQuery(query: string): { selector: string; label: string } | undefined {
  const m = /^\s*label_values\(\s*(.+?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$/s.exec(query);
  return m ? { selector: m[1]!, label: m[2]! } : undefined;
}
