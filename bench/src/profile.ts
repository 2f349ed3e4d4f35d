/**
 * Summarizes a V8 .cpuprofile (node --cpu-prof): self time per function (name + url + line),
 * highest first. Also runnable: node bench/src/profile.ts <file.cpuprofile> [top] [fromUs toUs]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';
import { ROOT } from './servers.ts';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  location: string;
  selfMs: number;
  /** Share of all sampled time (idle included). */
  percent: number;
  /** Share of non-idle time. */
  busyPercent: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  entries: ProfileEntry[];
}

function location(frame: CallFrame): string {
  if (frame.url === '') return '';
  let url = frame.url;
  if (url.startsWith('file://')) {
    try {
      url = relative(ROOT, fileURLToPath(url));
    } catch {
      // keep the URL
    }
  }
  return `${url}:${frame.lineNumber + 1}`;
}

/**
 * Self time per function. With `range` (µs on CLOCK_MONOTONIC, the clock V8 stamps samples with
 * on Linux), only samples inside it count: the steady window, without start-up and shutdown.
 */
export function summarizeProfile(file: string, top = 25, range?: { startUs: number; endUs: number }): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const self = new Map<string, { name: string; location: string; us: number }>();
  let total = 0;
  let idle = 0;
  // timeDeltas[i] is the time from sample i-1 to sample i: the time sample i-1 stood for.
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if (dt <= 0) continue;
    if (range !== undefined && (at < range.startUs || at >= range.endUs)) continue;
    const node = byId.get(profile.samples[i]!);
    if (!node) continue;
    const name = node.callFrame.functionName || '(anonymous)';
    const loc = location(node.callFrame);
    const key = `${name}\u0000${loc}`;
    const e = self.get(key);
    if (e) e.us += dt;
    else self.set(key, { name, location: loc, us: dt });
    total += dt;
    if (name === '(idle)') idle += dt;
  }
  const busy = total - idle;
  const entries = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({
      name: e.name,
      location: e.location,
      selfMs: e.us / 1000,
      percent: total > 0 ? (e.us * 100) / total : 0,
      busyPercent: busy > 0 && e.name !== '(idle)' ? (e.us * 100) / busy : Number.NaN,
    }));
  return { totalMs: total / 1000, idleMs: idle / 1000, entries };
}

export function formatProfile(summary: ProfileSummary, title: string): string {
  const lines = [
    `${title}: ${(summary.totalMs / 1000).toFixed(1)} s sampled, ${(((summary.totalMs - summary.idleMs) * 100) / Math.max(1, summary.totalMs)).toFixed(1)} % busy`,
    '',
    '| # | self ms | % of busy | function | location |',
    '| ---: | ---: | ---: | --- | --- |',
  ];
  summary.entries.forEach((e, i) => {
    lines.push(`| ${i + 1} | ${e.selfMs.toFixed(0)} | ${Number.isNaN(e.busyPercent) ? '—' : e.busyPercent.toFixed(1)} | \`${e.name}\` | ${e.location || '(native)'} |`);
  });
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node bench/src/profile.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  const [from, to] = [Number(process.argv[4]), Number(process.argv[5])];
  const range = Number.isFinite(from) && Number.isFinite(to) ? { startUs: from, endUs: to } : undefined;
  console.log(formatProfile(summarizeProfile(file, Number(process.argv[3] ?? 25), range), file));
}
