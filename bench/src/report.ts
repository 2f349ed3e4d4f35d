/** Tables of results: one per scenario, the servers side by side, and firstmile / nginx-rtmp. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { RunResult, ScenarioName, SpreadField } from './scenarios.ts';
import { SERVER_LABELS, type ServerName } from './servers.ts';

export interface Report {
  date: string;
  /** Git commit measured (short hash), with a note when libs/ or services/ had uncommitted changes. */
  commit?: string;
  command: string;
  machine: string;
  media: string;
  settings: string;
  servers: ServerName[];
  results: RunResult[];
  notes: string[];
}

interface Metric {
  label: string;
  /** The figure, or a text cell. */
  value: (r: RunResult) => number | string;
  digits: number;
  /** Show the firstmile / nginx-rtmp ratio. */
  ratio: boolean;
  /** With repeated runs: the field whose lowest–highest range follows the median, and its scale. */
  spread?: { field: SpreadField; scale: number };
}

const KIB = 1024;
const MIB = 1024 * 1024;

const num = (label: string, value: (r: RunResult) => number, digits: number, ratio = true): Metric => ({ label, value, digits, ratio });
/** A figure taken straight from a RunResult field (times `scale`), shown with its range over repeated runs. */
const ranged = (label: string, field: SpreadField, scale: number, digits: number): Metric => ({
  label,
  value: (r) => r[field] * scale,
  digits,
  ratio: true,
  spread: { field, scale },
});
const text = (label: string, value: (r: RunResult) => string): Metric => ({ label, value, digits: 0, ratio: false });

const FANOUT: Metric[] = [
  text('players playing', (r) => `${r.connected}/${r.size}`),
  num('server CPU, % of a core', (r) => r.serverCpuCores * 100, 1),
  ranged('server CPU µs / delivered message', 'cpuUsPerMessage', 1, 2),
  num('server CPU cores / Gbit/s delivered', (r) => r.cpuCoresPerGbps, 3),
  num('delivered, Gbit/s', (r) => r.deliveredGbps, 3),
  num('delivered, messages/s', (r) => r.deliveredMessagesPerSecond, 0),
  num('server RSS, MiB', (r) => r.serverRssBytes / MIB, 1),
  ranged('RSS per player, KiB', 'rssPerPlayerBytes', 1 / KIB, 1),
  num('players ≥ 95 % of publish rate, %', (r) => r.playersAtRate * 100, 1),
  num('lowest player, % of window video', (r) => r.minPlayerRate * 100, 1),
  num('player payload, Mbit/s (median)', (r) => r.playerMbpsP50, 2),
  num('players with stalls', (r) => r.playersWithStalls, 0),
  num('delay p50, ms (probe players)', (r) => r.delayP50Ms, 2),
  ranged('delay p99, ms (probe players)', 'delayP99Ms', 1, 2),
  num('delay max, ms (probe players)', (r) => r.delayMaxMs, 1),
  num('delay p50, ms (all players)', (r) => r.allDelayP50Ms, 2),
  num('delay p99, ms (all players)', (r) => r.allDelayP99Ms, 2),
  num('generator CPU, % of a core', (r) => r.generatorCpu * 100, 1, false),
  num('generator event-loop delay p99, ms', (r) => r.generatorLoopP99Ms, 1, false),
];

const INGEST: Metric[] = [
  text('publishers publishing', (r) => `${r.connected}/${r.size}`),
  num('server CPU, % of a core', (r) => r.serverCpuCores * 100, 1),
  ranged('server CPU per publisher, % of a core', 'cpuPercentPerPublisher', 1, 3),
  num('ingest, Mbit/s', (r) => r.ingestMbps, 0),
  num('server RSS, MiB', (r) => r.serverRssBytes / MIB, 1),
  ranged('RSS per publisher, KiB', 'rssPerPublisherBytes', 1 / KIB, 0),
  num('generator CPU, % of a core', (r) => r.generatorCpu * 100, 1, false),
  num('publisher max lateness, ms', (r) => r.publisherMaxLateMs, 1, false),
];

const LATENCY: Metric[] = [
  text('players playing', (r) => `${r.connected}/${r.size}`),
  num('delay p50, ms', (r) => r.delayP50Ms, 3),
  ranged('delay p99, ms', 'delayP99Ms', 1, 3),
  num('delay max, ms', (r) => r.delayMaxMs, 2),
  num('delay samples', (r) => r.delaySamples, 0, false),
  num('server CPU, % of a core', (r) => r.serverCpuCores * 100, 2),
  num('server RSS, MiB', (r) => r.serverRssBytes / MIB, 1),
  num('generator CPU, % of a core', (r) => r.generatorCpu * 100, 1, false),
  num('generator event-loop delay p99, ms', (r) => r.generatorLoopP99Ms, 2, false),
];

/** A process of the cluster (edge, NATS, origin); NaN for a single-process run. */
function part(r: RunResult, label: string): RunResult['parts'][number] | undefined {
  return (r.parts ?? []).find((p) => p.label === label);
}

const partMetrics = (label: string): Metric[] => [
  num(`${label} CPU, % of a core`, (r) => (part(r, label)?.cpuCores ?? Number.NaN) * 100, 1),
  num(`${label} CPU µs / delivered message`, (r) => part(r, label)?.cpuUsPerMessage ?? Number.NaN, 2),
];

/** Cluster vs the single process: the ratio column holds cluster − single process instead. */
const CLUSTER: Metric[] = [
  text('players playing', (r) => `${r.connected}/${r.size}`),
  num('delay p50, ms (probe players)', (r) => r.delayP50Ms, 2),
  num('delay p99, ms (probe players)', (r) => r.delayP99Ms, 2),
  num('delay max, ms (probe players)', (r) => r.delayMaxMs, 1),
  ...partMetrics('edge'),
  ...partMetrics('NATS'),
  ...partMetrics('origin'),
  num('server CPU (all processes), % of a core', (r) => r.serverCpuCores * 100, 1),
  num('server CPU (all processes) µs / delivered message', (r) => r.cpuUsPerMessage, 2),
  num('server RSS (all processes), MiB', (r) => r.serverRssBytes / MIB, 1),
  num('delivered, messages/s', (r) => r.deliveredMessagesPerSecond, 0, false),
  num('players ≥ 95 % of publish rate, %', (r) => r.playersAtRate * 100, 1, false),
  num('players with stalls', (r) => r.playersWithStalls, 0, false),
  num('delay p99, ms (all players)', (r) => r.allDelayP99Ms, 2),
  num('generator CPU, % of a core', (r) => r.generatorCpu * 100, 1, false),
  num('generator event-loop delay p99, ms', (r) => r.generatorLoopP99Ms, 1, false),
];

const METRICS: Record<ScenarioName, Metric[]> = { fanout: FANOUT, ingest: INGEST, latency: LATENCY, cluster: CLUSTER };
const SIZE_LABEL: Record<ScenarioName, string> = { fanout: 'players', ingest: 'publishers', latency: 'players', cluster: 'players' };
const TITLES: Record<ScenarioName, string> = {
  fanout: 'Fan-out: 1 publisher, N players',
  ingest: 'Ingest: M publishers, no players',
  latency: 'Latency: 1 publisher, 1 player',
  cluster: 'Cluster: publisher → edge → NATS → origin → N players',
};

function fmt(v: number | string, digits: number): string {
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return '—';
  return v.toFixed(digits);
}

function cell(r: RunResult | undefined, m: Metric): string {
  if (r === undefined) return '';
  if (r.failure !== undefined && r.connected === 0) return m.label === METRICS[r.scenario][0]!.label ? `failed: ${r.failure.replace(/\|/g, '/')}` : '—';
  const range = m.spread !== undefined && (r.runs ?? 1) > 1 ? r.spread?.[m.spread.field] : undefined;
  const v = fmt(m.value(r), m.digits);
  return range ? `${v} (${fmt(range[0] * m.spread!.scale, m.digits)}–${fmt(range[1] * m.spread!.scale, m.digits)})` : v;
}

/**
 * The cluster (firstmile edge + NATS + origin, separate processes) next to the single firstmile
 * process (`firstmile up`, the fan-out run) at the same number of players.
 */
export function clusterTable(report: Report): string | undefined {
  const results = report.results.filter((r) => r.scenario === 'cluster' && r.server === 'firstmile');
  if (results.length === 0) return undefined;
  const sizes = [...new Set(results.map((r) => r.size))].sort((a, b) => a - b);
  const head = ['players', 'metric', 'cluster (edge + NATS + origin)', 'single process (firstmile up)', 'cluster − single process'];
  const lines = [`### ${TITLES.cluster}`, '', `| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`];
  for (const size of sizes) {
    const c = results.find((r) => r.size === size);
    const f = report.results.find((r) => r.scenario === 'fanout' && r.server === 'firstmile' && r.size === size);
    CLUSTER.forEach((m, i) => {
      let d = '';
      if (m.ratio && c && f && c.connected > 0 && f.connected > 0) {
        const a = m.value(c);
        const b = m.value(f);
        if (typeof a === 'number' && typeof b === 'number' && Number.isFinite(a) && Number.isFinite(b)) d = `${a - b >= 0 ? '+' : ''}${(a - b).toFixed(m.digits)}`;
      }
      lines.push(`| ${[i === 0 ? `**${size}**` : '', m.label, cell(c, m), f ? cell(f, m) : i === 0 ? 'not run' : '', d].join(' | ')} |`);
    });
  }
  return lines.join('\n');
}

export function scenarioTable(report: Report, scenario: ScenarioName): string | undefined {
  if (scenario === 'cluster') return clusterTable(report);
  const results = report.results.filter((r) => r.scenario === scenario);
  if (results.length === 0) return undefined;
  const sizes = [...new Set(results.map((r) => r.size))].sort((a, b) => a - b);
  const servers = report.servers;
  const ratio = servers.includes('firstmile') && servers.includes('nginx');
  const head = ['', 'metric', ...servers.map((s) => SERVER_LABELS[s]), ...(ratio ? ['firstmile / nginx-rtmp'] : [])];
  head[0] = scenario === 'latency' ? '' : SIZE_LABEL[scenario];
  const lines = [`### ${TITLES[scenario]}`, '', `| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`];
  for (const size of sizes) {
    METRICS[scenario].forEach((m, i) => {
      const by = new Map(results.filter((r) => r.size === size).map((r) => [r.server, r]));
      const row = [i === 0 && scenario !== 'latency' ? `**${size}**` : '', m.label, ...servers.map((s) => cell(by.get(s), m))];
      if (ratio) {
        const f = by.get('firstmile');
        const n = by.get('nginx');
        let q = '';
        if (m.ratio && f && n && f.connected > 0 && n.connected > 0) {
          const a = m.value(f);
          const b = m.value(n);
          if (typeof a === 'number' && typeof b === 'number' && Number.isFinite(a) && Number.isFinite(b) && b !== 0) q = (a / b).toFixed(2);
        }
        row.push(q);
      }
      lines.push(`| ${row.join(' | ')} |`);
    });
  }
  return lines.join('\n');
}

export function renderReport(report: Report): string {
  const parts = [
    `Run ${report.date} on ${report.machine}.${report.commit ? ` firstmile at commit ${report.commit}.` : ''}`,
    '',
    `Command: \`${report.command}\``,
    '',
    `Media: ${report.media}. ${report.settings}`,
  ];
  for (const s of ['fanout', 'ingest', 'latency', 'cluster'] as const) {
    const t = scenarioTable(report, s);
    if (t) parts.push('', t);
  }
  const failures = report.results.filter((r) => r.failure !== undefined || r.errors.length > 0);
  if (failures.length > 0 || report.notes.length > 0) {
    parts.push('', 'Notes from the run:', '');
    for (const n of report.notes) parts.push(`- ${n}`);
    for (const r of failures) {
      parts.push(`- ${SERVER_LABELS[r.server]} ${r.scenario} ${r.size}: ${[r.failure, ...r.errors].filter(Boolean).join('; ')}`);
    }
  }
  return parts.join('\n');
}

/** Generated sections of docs/benchmarks.md: the results tables, and the firstmile profile. */
export type DocsSection = 'results' | 'profile';

function markers(section: DocsSection): [string, string] {
  return [`<!-- bench:${section}:begin (generated by pnpm run bench -- --write-docs; edits inside are overwritten) -->`, `<!-- bench:${section}:end -->`];
}

/** Replaces one generated section of docs/benchmarks.md (appends it if its markers are missing). */
export function writeDocs(file: string, body: string, section: DocsSection = 'results'): void {
  const [begin, end] = markers(section);
  const block = `${begin}\n\n${body}\n\n${end}`;
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const a = current.indexOf(begin);
  const b = current.indexOf(end);
  const next = a >= 0 && b > a ? current.slice(0, a) + block + current.slice(b + end.length) : `${current.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, next);
}
