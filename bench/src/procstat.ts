/**
 * CPU time and RSS of a process tree from /proc: the server process and all its descendants
 * (nginx master + worker; node's threads are included in its own /proc/PID/stat).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clkTck = 100;
let pageSize = 4096;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  pageSize = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()) || 4096;
} catch {
  // Linux defaults.
}

interface StatLine {
  ppid: number;
  /** utime + stime in clock ticks. */
  ticks: number;
  rssPages: number;
}

function readStat(pid: number): StatLine | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // comm (field 2) is in parentheses and may hold spaces: split after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): ppid is field 4, utime 14, stime 15, rss 24.
  return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), rssPages: Number(f[21]) };
}

/** `root` and every live descendant. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const s = readStat(pid);
    if (s === undefined) continue;
    const list = children.get(s.ppid);
    if (list) list.push(pid);
    else children.set(s.ppid, [pid]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    out.push(pid);
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return out;
}

export interface TreeSample {
  /** performance.now() of the sample. */
  at: number;
  /** User + system CPU seconds of the tree's live processes. */
  cpuSeconds: number;
  rssBytes: number;
  pids: number[];
}

/** CPU and RSS of `root` and its descendants, summed. */
export function sampleTree(root: number): TreeSample {
  const pids = processTree(root);
  let ticks = 0;
  let rss = 0;
  for (const pid of pids) {
    const s = readStat(pid);
    if (s === undefined) continue;
    ticks += s.ticks;
    rss += s.rssPages;
  }
  return { at: performance.now(), cpuSeconds: ticks / clkTck, rssBytes: rss * pageSize, pids };
}

/**
 * Busy seconds (everything but idle and iowait: user, nice, system, irq, softirq, steal) of the
 * given CPUs from /proc/stat. With the server alone on its core, this is the server plus the
 * kernel work it causes that is not charged to any process (softirq: loopback TCP delivery).
 */
export function cpuBusySeconds(cpus: readonly number[]): number {
  let ticks = 0;
  try {
    for (const line of readFileSync('/proc/stat', 'latin1').split('\n')) {
      const m = /^cpu(\d+) (.*)$/.exec(line);
      if (!m || !cpus.includes(Number(m[1]))) continue;
      const f = m[2]!.trim().split(/\s+/).map(Number);
      // user nice system idle iowait irq softirq steal ...
      ticks += f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
    }
  } catch {
    return Number.NaN;
  }
  return ticks / clkTck;
}

/** CPU numbers of a taskset list like "0", "0,2" or "0-3". */
export function parseCpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number);
    if (!Number.isInteger(a)) continue;
    for (let c = a!; c <= (Number.isInteger(b) ? b! : a!); c++) out.push(c);
  }
  return out;
}

/** Soft limit on open files of this process. */
export function openFilesLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) return m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
  } catch {
    // not Linux
  }
  return 1024;
}

/** A short description of the machine for the results. */
export function machineDescription(): string {
  let cpu = 'unknown CPU';
  let cores = 0;
  let memKb = 0;
  let os = 'Linux';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    cpu = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? cpu;
    cores = (info.match(/^processor\s*:/gm) ?? []).length;
    memKb = Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
    os = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
  } catch {
    // best effort
  }
  const kernel = (() => {
    try {
      return readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
    } catch {
      return '';
    }
  })();
  return `${cores} × ${cpu}, ${(memKb / 1024 / 1024).toFixed(0)} GiB RAM, ${os}, kernel ${kernel}, Node ${process.version}`;
}
