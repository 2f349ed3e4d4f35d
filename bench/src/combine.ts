/**
 * Several runs of one (server, scenario, size) cell reduced to one result: the median of each
 * figure. This machine's figures move by 10-20 % between identical runs (a shared host), so one
 * run cannot tell a change of that size from noise; the median of a few, with their range, can.
 */
import { SPREAD_FIELDS, type PartResult, type RunResult, type SpreadField } from './scenarios.ts';

/** Median of the finite values (NaN when there are none); the mean of the middle two for an even count. */
export function median(values: readonly number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

function numericMedian<T extends object>(items: readonly T[]): Partial<T> {
  const out: Record<string, number> = {};
  const first = items[0] as Record<string, unknown>;
  for (const [k, v] of Object.entries(first)) {
    if (typeof v === 'number') out[k] = median(items.map((x) => (x as Record<string, unknown>)[k] as number));
  }
  return out as Partial<T>;
}

export function combineRuns(runs: readonly RunResult[]): RunResult {
  if (runs.length === 0) throw new Error('combineRuns: no runs');
  if (runs.length === 1) return runs[0]!;
  const first = runs[0]!;
  // Runs that failed outright would drag every median toward zero: they are reported, not averaged.
  const ok = runs.filter((r) => r.connected > 0);
  const base = ok.length > 0 ? ok : runs;
  const labels = [...new Set(base.flatMap((r) => r.parts.map((p) => p.label)))];
  const parts: PartResult[] = labels.map((label) => {
    const of = base.flatMap((r) => r.parts.filter((p) => p.label === label));
    return { ...of[0]!, ...numericMedian(of) };
  });
  const spread: Partial<Record<SpreadField, [number, number]>> = {};
  for (const f of SPREAD_FIELDS) {
    const v = base.map((r) => r[f]).filter(Number.isFinite);
    if (v.length > 0) spread[f] = [Math.min(...v), Math.max(...v)];
  }
  const failure = runs.map((r) => r.failure).find((f) => f !== undefined);
  return {
    ...first,
    ...numericMedian(base),
    // Every run's connection count must be complete for the cell to count as complete.
    connected: Math.min(...runs.map((r) => r.connected)),
    errors: [...new Set(runs.flatMap((r) => r.errors))].slice(0, 5),
    serverAlive: runs.every((r) => r.serverAlive),
    parts,
    windowStartUs: first.windowStartUs,
    windowEndUs: first.windowEndUs,
    runs: runs.length,
    spread,
    ...(failure !== undefined ? { failure: `${runs.filter((r) => r.failure !== undefined).length} of ${runs.length} runs: ${failure}` } : {}),
  };
}
