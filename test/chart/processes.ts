/**
 * The chart's pods as local processes: nats-server with the configuration, users and passwords the
 * chart renders for the built-in NATS, and firstmile commands with the env the chart renders for
 * edge, origin and control (see localContainer in chart.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePorts } from '../harness/nats.ts';
import { localContainer, workload, type K8sObject } from './chart.ts';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

export interface LocalProcess {
  readonly proc: ChildProcess;
  /** stdout + stderr so far. */
  output(): string;
  /** Resolves with the first JSON log line matching, rejects after timeoutMs or on exit. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>>;
  /** SIGTERM, then SIGKILL after graceMs; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

function track(proc: ChildProcess, what: string): LocalProcess {
  running.add(proc);
  let out = '';
  const lines: Array<Record<string, unknown>> = [];
  const waiters = new Set<{ match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }>();
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  createInterface({ input: proc.stdout! }).on('line', (text) => {
    out += `${text}\n`;
    if (out.length > 4_000_000) out = out.slice(-2_000_000);
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    if (lines.length < 10_000) lines.push(line);
    for (const w of waiters) {
      if (w.match(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => {
    running.delete(proc);
    resolve(code);
  }));
  return {
    proc,
    output: () => out,
    waitForLog(match, timeoutMs) {
      const found = lines.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { match, resolve: (l: Record<string, unknown>) => { clearTimeout(t); resolve(l); } };
        const t = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`${what}: no matching log line within ${timeoutMs} ms:\n${out.slice(-4000)}`));
        }, timeoutMs);
        waiters.add(w);
        void exited.then((code) => {
          if (!waiters.has(w)) return;
          waiters.delete(w);
          clearTimeout(t);
          reject(new Error(`${what} exited (${code}):\n${out.slice(-4000)}`));
        });
      });
    },
    async stop(graceMs = 15_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** The environment of a child process: PATH and HOME of this one, no FIRSTMILE_*, plus `env`. */
export function childEnv(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'LANG', 'TMPDIR']) {
    const v = process.env[k];
    if (v !== undefined) out[k] = v;
  }
  return { ...out, ...env };
}

export interface ChartNats {
  readonly url: string;
  readonly process: LocalProcess;
  stop(): Promise<void>;
}

/**
 * nats-server with the chart's built-in NATS configuration (a 1-server release: no cluster routes).
 * Only what cannot exist here is rewritten: file paths point at local copies of the mounted
 * volumes, and the listeners move to free loopback ports (command-line flags win over the file).
 */
export async function startChartNats(objects: readonly K8sObject[], dir: string): Promise<ChartNats> {
  const nats = workload(objects, 'nats');
  const local = localContainer(objects, nats.template.spec, 'nats', join(dir, 'nats'), { name: 'fm-nats-0', namespace: 'media', claims: ['data'] });
  const confDir = local.mounts['/etc/nats/config'];
  if (!confDir) throw new Error('the NATS container mounts no /etc/nats/config');
  let conf = readFileSync(join(confDir, 'nats.conf'), 'utf8');
  for (const [mountPath, path] of Object.entries(local.mounts)) {
    conf = conf.split(`"${mountPath}/`).join(`"${path}/`).split(`"${mountPath}"`).join(`"${path}"`);
  }
  const confPath = join(dir, 'nats', 'nats.conf');
  writeFileSync(confPath, conf);
  const [port, monitor] = await freePorts(2);
  const proc = spawn('nats-server', ['-c', confPath, '-a', '127.0.0.1', '-p', String(port), '-m', String(monitor)], {
    env: childEnv(local.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p = track(proc, 'nats-server');
  const deadline = Date.now() + 15_000;
  while (!/Server is ready/.test(p.output())) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`nats-server did not start with the chart's configuration:\n${p.output()}\n--- nats.conf ---\n${conf}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    process: p,
    async stop() {
      await p.stop(10_000);
    },
  };
}

export interface FirstmileProcess extends LocalProcess {
  readonly httpPort: number;
  readonly rtmpPort: number;
  readonly rtmpsPort: number | undefined;
}

export interface StartFirstmileOptions {
  /** argv before the command, e.g. ['node', '/app/services/firstmile/src/bin.ts']. */
  entry: readonly string[];
  command: string;
  env: Record<string, string>;
  cwd?: string;
  readyTimeoutMs?: number;
  /** Run as this user (the image's USER); needs root. */
  asUser?: { uid: number; gid: number };
}

/**
 * Starts a firstmile command and resolves once GET /readyz answers 200. The listeners are moved to
 * free loopback ports (the chart's ports are container ports; several pods run on this one host).
 */
export async function startFirstmile(o: StartFirstmileOptions): Promise<FirstmileProcess> {
  const [rtmp, http, rtmps] = await freePorts(3);
  const env: Record<string, string> = {
    ...o.env,
    FIRSTMILE_HOST: '127.0.0.1',
    FIRSTMILE_RTMP_PORT: String(rtmp),
    FIRSTMILE_HTTP_PORT: String(http),
  };
  const hasRtmps = o.env['FIRSTMILE_RTMPS_PORT'] !== undefined;
  if (hasRtmps) env['FIRSTMILE_RTMPS_PORT'] = String(rtmps);
  const [cmd, ...args] = o.entry;
  const proc = spawn(cmd!, [...args, o.command], { cwd: o.cwd, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'], ...(o.asUser ?? {}) });
  const p = track(proc, `firstmile ${o.command}`);
  const deadline = Date.now() + (o.readyTimeoutMs ?? 20_000);
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`firstmile ${o.command} exited (${proc.exitCode ?? proc.signalCode}) before it was ready:\n${p.output().slice(-4000)}`);
    if (Date.now() > deadline) {
      await p.stop(2000);
      throw new Error(`firstmile ${o.command} was not ready (GET /readyz) within ${o.readyTimeoutMs ?? 20_000} ms:\n${p.output().slice(-4000)}`);
    }
    try {
      const r = await fetch(`http://127.0.0.1:${http}/readyz`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ...p, httpPort: http!, rtmpPort: rtmp!, rtmpsPort: hasRtmps ? rtmps : undefined };
}

export interface StartComponentOptions {
  objects: readonly K8sObject[];
  component: 'edge' | 'origin' | 'control';
  /** Where the component's mounted Secrets are written. */
  dir: string;
  natsUrl: string;
  /** argv before the command; default: this checkout's bin.ts under this Node. */
  entry: readonly string[];
  cwd?: string;
  asUser?: { uid: number; gid: number };
}

/**
 * One pod of the chart as a local process: its container's rendered command (args) and env, the
 * Secrets it mounts written to files, NATS pointed at the local server.
 */
export async function startComponent(o: StartComponentOptions): Promise<FirstmileProcess> {
  const w = workload(o.objects, o.component);
  const c = w.template.spec.containers[0]!;
  const local = localContainer(o.objects, w.template.spec, c.name, o.dir, { name: `${w.object.metadata.name}-0`, namespace: 'media', ...(o.asUser ? { owner: o.asUser } : {}) });
  const args = c.args ?? [];
  if (args.length !== 1) throw new Error(`${o.component}: expected the command as the only argument, got ${JSON.stringify(args)}`);
  return startFirstmile({ entry: o.entry, command: args[0]!, env: { ...local.env, FIRSTMILE_NATS_URL: o.natsUrl }, cwd: o.cwd, ...(o.asUser ? { asUser: o.asUser } : {}) });
}

/**
 * Cleanups that run last-registered-first after the test, like a pod's shutdown order: the
 * services stop before the NATS server they drain into, and temporary files go last.
 */
export function cleanupStack(t: { after(fn: () => Promise<void>): void }): (fn: () => unknown) => void {
  const stack: Array<() => unknown> = [];
  t.after(async () => {
    while (stack.length > 0) await stack.pop()!();
  });
  return (fn) => {
    stack.push(fn);
  };
}
