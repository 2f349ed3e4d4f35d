/**
 * The three servers under test, each started by the bench on a loopback port, pinned to the
 * server core with taskset, with a raised open-files limit, and stopped by it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from './ports.ts';
import { sleep } from './stats.ts';
// firstmile runs as users run it: scripts/up.sh and the image pass these.
import { NODE_ENV, NODE_FLAGS } from 'firstmile/node-runtime';

export type ServerName = 'firstmile' | 'nginx' | 'nms';
export const SERVER_NAMES: readonly ServerName[] = ['firstmile', 'nginx', 'nms'];
export const SERVER_LABELS: Record<ServerName, string> = { firstmile: 'firstmile', nginx: 'nginx-rtmp', nms: 'Node-Media-Server' };

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIRSTMILE_BIN = join(ROOT, 'services/firstmile/src/bin.ts');
const NMS_LAUNCHER = fileURLToPath(new URL('./nms-server.ts', import.meta.url));
export const NGINX_RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';
const NGINX_BIN = '/usr/sbin/nginx';

export interface StartOptions {
  /** CPU list for taskset (undefined: no pinning). */
  cpu: string | undefined;
  /** firstmile only: write a V8 CPU profile into this directory (node --cpu-prof). */
  profileDir?: string | undefined;
}

export interface RunningServer {
  readonly name: ServerName;
  readonly pid: number;
  readonly port: number;
  readonly app: string;
  /** The last lines of the server's stdout/stderr. */
  output(): string;
  /** True while the process is running. */
  alive(): boolean;
  /** Graceful stop (SIGTERM, then SIGKILL after the timeout); resolves with the exit code/signal. */
  stop(timeoutMs?: number): Promise<string>;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * The bench's own environment without its FIRSTMILE_BENCH_* variables (firstmile rejects unknown
 * FIRSTMILE_* settings), plus `extra`.
 */
function serverEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FIRSTMILE_BENCH_')) env[k] = v;
  return { ...env, ...extra };
}

/** bash -c 'ulimit -n 65536; exec [taskset -c CPU] cmd args...' — exec keeps the PID. */
function spawnPinned(cmd: string, args: string[], cpu: string | undefined, cwd: string, env: Record<string, string>): ChildProcess {
  const script = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"';
  const argv = cpu === undefined ? [cmd, ...args] : ['taskset', '-c', cpu, cmd, ...args];
  return spawn('bash', ['-c', script, 'bench-server', ...argv], { cwd, env: serverEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: false });
}

async function startProcess(
  name: ServerName,
  cmd: string,
  args: string[],
  port: number,
  cpu: string | undefined,
  app: string,
  cleanup: () => void,
  env: Record<string, string> = {},
  label: string = name,
): Promise<RunningServer> {
  const proc = spawnPinned(cmd, args, cpu, ROOT, env);
  let tail = '';
  const keep = (d: Buffer): void => {
    tail = (tail + d.toString()).slice(-8000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  let exit: string | undefined;
  const exited = new Promise<string>((resolve) => {
    proc.once('exit', (code, signal) => {
      exit = signal ?? String(code);
      resolve(exit);
    });
  });
  const deadline = Date.now() + 30_000;
  while (!(await canConnect(port))) {
    if (exit !== undefined) {
      cleanup();
      throw new Error(`${label} exited (${exit}) before listening on ${port}:\n${tail}`);
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      cleanup();
      throw new Error(`${label} did not listen on ${port} within 30 s:\n${tail}`);
    }
    await sleep(50);
  }
  return {
    name,
    pid: proc.pid!,
    port,
    app,
    output: () => tail,
    alive: () => exit === undefined,
    async stop(timeoutMs = 15_000) {
      if (exit === undefined) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
        await exited;
        clearTimeout(t);
      }
      cleanup();
      return exit ?? 'unknown';
    },
  };
}

export async function startServer(name: ServerName, options: StartOptions): Promise<RunningServer> {
  const [port, httpPort] = (await freePorts(2)) as [number, number];
  if (name === 'firstmile') {
    const nodeArgs = [...NODE_FLAGS, ...(options.profileDir !== undefined ? ['--cpu-prof', '--cpu-prof-dir', options.profileDir] : [])];
    return startProcess(
      name,
      process.execPath,
      [...nodeArgs, FIRSTMILE_BIN, 'up', '--host', '127.0.0.1', '--rtmp-port', String(port), '--http-port', String(httpPort), '--log-level', 'warn'],
      port,
      options.cpu,
      'live',
      () => {},
      { ...NODE_ENV },
    );
  }
  if (name === 'nginx') {
    const dir = mkdtempSync(join(tmpdir(), 'firstmile-bench-nginx-'));
    const conf = join(dir, 'nginx.conf');
    writeFileSync(
      conf,
      [
        `load_module ${NGINX_RTMP_MODULE};`,
        'worker_processes 1;',
        'worker_rlimit_nofile 65536;',
        'daemon off;',
        'master_process on;',
        `error_log ${join(dir, 'error.log')} warn;`,
        `pid ${join(dir, 'nginx.pid')};`,
        'events { worker_connections 10000; }',
        'rtmp {',
        '  server {',
        `    listen 127.0.0.1:${port};`,
        '    chunk_size 4096;',
        '    application live { live on; }',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    return startProcess(name, NGINX_BIN, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf], port, options.cpu, 'live', () =>
      rmSync(dir, { recursive: true, force: true }),
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'firstmile-bench-nms-'));
  return startProcess(name, process.execPath, [NMS_LAUNCHER, '--port', String(port), '--data', dir], port, options.cpu, 'live', () =>
    rmSync(dir, { recursive: true, force: true }),
  );
}

/** One measured process (tree) of a deployment. */
export interface DeploymentPart {
  readonly label: string;
  readonly pid: number;
}

/**
 * What a run measures: one server (publishers and players on the same port), or the firstmile
 * cluster (publisher → edge → NATS → origin → players), whose processes are measured separately.
 */
export interface Deployment {
  readonly name: ServerName;
  readonly app: string;
  readonly publishPort: number;
  readonly playPort: number;
  /** The process trees whose CPU and RSS are the server's (summed), in report order. */
  readonly parts: readonly DeploymentPart[];
  output(): string;
  alive(): boolean;
  stop(): Promise<void>;
}

export function singleDeployment(server: RunningServer): Deployment {
  return {
    name: server.name,
    app: server.app,
    publishPort: server.port,
    playPort: server.port,
    parts: [{ label: SERVER_LABELS[server.name], pid: server.pid }],
    output: () => server.output(),
    alive: () => server.alive(),
    stop: async () => {
      await server.stop();
    },
  };
}

/** nats-server on PATH or in Debian's /usr/sbin (not on every user's PATH). */
export function natsServerBin(): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/bin', '/usr/local/bin'];
  for (const d of dirs) if (existsSync(join(d, 'nats-server'))) return join(d, 'nats-server');
  return undefined;
}

/**
 * The firstmile cluster on one machine: a nats-server with JetStream (`nats-server -a 127.0.0.1
 * -p N -js -sd DIR`), `firstmile edge` (publishers) and `firstmile origin` (players), all three
 * pinned to the server CPU(s).
 */
export async function startCluster(options: StartOptions): Promise<Deployment> {
  const bin = natsServerBin();
  if (bin === undefined) throw new Error('nats-server not found (Debian: apt-get install nats-server)');
  const dir = mkdtempSync(join(tmpdir(), 'firstmile-bench-nats-'));
  const started: RunningServer[] = [];
  const stopAll = async (): Promise<void> => {
    // The edge and the origin drain their NATS connections before exiting: NATS goes last.
    await Promise.all(started.slice(1).map((s) => s.stop()));
    if (started[0]) await started[0].stop();
  };
  try {
    const [natsPort] = (await freePorts(1)) as [number];
    const nats = await startProcess(
      'firstmile',
      bin,
      ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', dir],
      natsPort,
      options.cpu,
      'live',
      () => rmSync(dir, { recursive: true, force: true }),
      {},
      'nats-server',
    );
    started.push(nats);
    const natsUrl = `nats://127.0.0.1:${natsPort}`;
    const node = async (mode: 'edge' | 'origin', id: string): Promise<RunningServer> => {
      const [port, httpPort] = (await freePorts(2)) as [number, number];
      return startProcess(
        'firstmile',
        process.execPath,
        [...NODE_FLAGS, FIRSTMILE_BIN, mode, '--host', '127.0.0.1', '--rtmp-port', String(port), '--http-port', String(httpPort), '--log-level', 'warn'],
        port,
        options.cpu,
        'live',
        () => {},
        { ...NODE_ENV, FIRSTMILE_NATS_URL: natsUrl, FIRSTMILE_EDGE_ID: id },
        `firstmile ${mode}`,
      );
    };
    const edge = await node('edge', 'edge-1');
    started.push(edge);
    const origin = await node('origin', 'origin-1');
    started.push(origin);
    return {
      name: 'firstmile',
      app: 'live',
      publishPort: edge.port,
      playPort: origin.port,
      parts: [
        { label: 'edge', pid: edge.pid },
        { label: 'NATS', pid: nats.pid },
        { label: 'origin', pid: origin.pid },
      ],
      output: () => [`--- nats-server:\n${nats.output()}`, `--- edge:\n${edge.output()}`, `--- origin:\n${origin.output()}`].join('\n'),
      alive: () => started.every((s) => s.alive()),
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The .cpuprofile files in `dir`. */
export function profilesIn(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(dir, f));
  } catch {
    return [];
  }
}
