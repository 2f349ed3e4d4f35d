import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The benchmark's figures are not pass/fail (machines are noisy). This only checks that the tool
// still runs end to end against firstmile and prints real figures: `pnpm run bench -- --smoke`.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TIMEOUT_MS = 90_000;

/** Markdown tables by their `### ` heading: rows of cells. */
function tables(text: string): Map<string, string[][]> {
  const out = new Map<string, string[][]>();
  let current: string[][] | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('### ')) {
      current = [];
      out.set(line.slice(4).trim(), current);
    } else if (line.startsWith('|') && current) {
      current.push(line.split('|').slice(1, -1).map((c) => c.trim()));
    }
  }
  return out;
}

function figure(rows: string[][], metric: string, server = 'firstmile'): string {
  const col = rows[0]!.indexOf(server);
  assert.ok(col >= 0, `no ${server} column`);
  const row = rows.find((r) => r[1] === metric);
  assert.ok(row, `no row "${metric}"`);
  return row[col]!;
}

function number(rows: string[][], metric: string): number {
  const v = Number(figure(rows, metric));
  assert.ok(Number.isFinite(v), `"${metric}" is not a number: ${figure(rows, metric)}`);
  return v;
}

test('the benchmark runs its smoke scenario end to end against firstmile', { timeout: TIMEOUT_MS + 30_000 }, async () => {
  const proc = spawn(process.execPath, ['bench/src/main.ts', '--smoke'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  clearTimeout(timer);
  assert.equal(code, 0, `bench --smoke exited ${code}\nstderr:\n${err.slice(-4000)}\nstdout:\n${out.slice(-4000)}`);

  const t = tables(out);
  const fanout = t.get('Fan-out: 1 publisher, N players');
  const ingest = t.get('Ingest: M publishers, no players');
  const latency = t.get('Latency: 1 publisher, 1 player');
  assert.ok(fanout && ingest && latency, `missing tables in:\n${out}`);

  assert.equal(figure(fanout, 'players playing'), '5/5');
  assert.ok(number(fanout, 'players ≥ 95 % of publish rate, %') >= 95, 'players received less than 95 % of the publish rate');
  assert.ok(number(fanout, 'player payload, Mbit/s (median)') > 1);
  assert.ok(number(fanout, 'server CPU, % of a core') > 0);
  assert.ok(number(fanout, 'server CPU µs / delivered message') > 0);
  assert.ok(number(fanout, 'delay p50, ms (probe players)') > 0);
  assert.ok(number(fanout, 'delay p99, ms (probe players)') >= number(fanout, 'delay p50, ms (probe players)'));
  assert.ok(number(fanout, 'generator CPU, % of a core') > 0);

  assert.equal(figure(ingest, 'publishers publishing'), '3/3');
  assert.ok(number(ingest, 'server CPU, % of a core') > 0);
  assert.ok(number(ingest, 'ingest, Mbit/s') > 5);

  assert.equal(figure(latency, 'players playing'), '1/1');
  assert.ok(number(latency, 'delay p50, ms') > 0);
  assert.ok(number(latency, 'delay samples') > 0);
});
