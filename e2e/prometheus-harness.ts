/**
 * A real Prometheus (the Debian package's binary) for the e2e tests, plus the observed cluster it
 * scrapes: one nats-server with JetStream, `firstmile edge`, `origin` and `control` processes, a
 * live ffmpeg encoder and an ffmpeg player. Prometheus is started with a generated configuration
 * (scrape and evaluation every second), a temporary storage directory and a free port; the
 * configuration is written as JSON, which YAML parsers accept as it is.
 *
 * Everything started here is stopped by a `t.after` of the test that started it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import {
  encoderArgs,
  lavfiInputArgs,
  requireTools,
  sleep,
  spawnProcess,
  tempDir,
  type FlvOptions,
  type RunningProcess,
} from '../test/harness/media.ts';
import { freePort, startNats, type NatsServer } from '../test/harness/nats.ts';
import { startServer, type ServerProcess } from '../test/harness/server.ts';

// ---------------------------------------------------------------------------------------------
// Prometheus
// ---------------------------------------------------------------------------------------------

export interface ScrapeJob {
  job: string;
  /** host:port of each target; metrics at /metrics. */
  targets: string[];
}

export interface PrometheusOptions {
  jobs: ScrapeJob[];
  /** Rule files (paths) to load. */
  ruleFiles?: string[];
  /** Default 1s; also the scrape timeout (Prometheus refuses a timeout longer than the interval). */
  scrapeInterval?: string;
  /** Default 1s. */
  evaluationInterval?: string;
  startTimeoutMs?: number;
}

/** One series of an instant query. */
export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  activeAt: string;
  value: string;
}

export interface PromAlertingRule {
  type: 'alerting' | 'recording';
  name: string;
  query: string;
  duration?: number;
  health: string;
  lastError?: string;
}

export interface PromTarget {
  labels: Record<string, string>;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
  scrapeUrl: string;
}

export interface PrometheusServer {
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly process: RunningProcess;
  /** An instant query now; rejects on a query error (bad PromQL, HTTP error). */
  query(expr: string): Promise<PromSample[]>;
  /** Active (pending or firing) alerts. */
  alerts(): Promise<PromAlert[]>;
  /** Every rule Prometheus loaded, with the expression as it parsed it. */
  rules(): Promise<PromAlertingRule[]>;
  targets(): Promise<PromTarget[]>;
  /** Resolves once every target has been scraped successfully; rejects with each target's last error. */
  waitForTargetsUp(timeoutMs: number): Promise<PromTarget[]>;
  /** Resolves with the first alert named `name`, in `state`, whose labels include `labels`. */
  waitForAlert(name: string, labels: Record<string, string>, state: 'pending' | 'firing', timeoutMs: number): Promise<PromAlert>;
  /** Resolves once no alert named `name` with `labels` is firing. */
  waitForAlertGone(name: string, labels: Record<string, string>, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

interface ApiResponse<T> {
  status: 'success' | 'error';
  data: T;
  errorType?: string;
  error?: string;
}

async function api<T>(base: string, path: string, timeoutMs = 5000): Promise<T> {
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  const body = (await res.json()) as ApiResponse<T>;
  if (!res.ok || body.status !== 'success') throw new Error(`Prometheus ${path}: HTTP ${res.status} ${body.errorType ?? ''} ${body.error ?? ''}`);
  return body.data;
}

function labelsMatch(have: Record<string, string>, want: Record<string, string>): boolean {
  return Object.entries(want).every(([k, v]) => have[k] === v);
}

/** Starts Prometheus on a free loopback port and resolves once /-/ready answers. */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  requireTools('prometheus');
  for (let attempt = 1; ; attempt++) {
    try {
      return await launchPrometheus(options);
    } catch (error) {
      // A port picked free can be taken before Prometheus binds it: try another.
      if (attempt >= 3 || !/address already in use/.test((error as Error).message)) throw error;
    }
  }
}

async function launchPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const dir = tempDir('fm-prometheus-');
  const port = await freePort();
  const interval = options.scrapeInterval ?? '1s';
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: options.evaluationInterval ?? '1s' },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: options.jobs.map((j) => ({ job_name: j.job, metrics_path: '/metrics', static_configs: [{ targets: j.targets }] })),
  };
  const configFile = join(dir.path, 'prometheus.yml');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const proc = spawnProcess(
    'prometheus',
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir.path, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    { timeoutMs: 600_000, timeoutSignal: 'SIGTERM' },
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
  for (;;) {
    if (proc.exited) {
      dir.cleanup();
      throw new Error(`prometheus exited before it was ready:\n${proc.stderr().slice(-4000)}`);
    }
    try {
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await proc.stop('SIGKILL');
      dir.cleanup();
      throw new Error(`prometheus not ready within ${options.startTimeoutMs ?? 20_000} ms:\n${proc.stderr().slice(-4000)}`);
    }
    await sleep(100);
  }

  const server: PrometheusServer = {
    port,
    url,
    process: proc,
    async query(expr: string) {
      const data = await api<{ resultType: string; result: unknown }>(url, `/api/v1/query?query=${encodeURIComponent(expr)}`);
      if (data.resultType === 'scalar') {
        const [, v] = data.result as [number, string];
        return [{ metric: {}, value: Number(v) }];
      }
      if (data.resultType !== 'vector') throw new Error(`query ${expr}: result type ${data.resultType}, expected an instant vector`);
      return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    async alerts() {
      return (await api<{ alerts: PromAlert[] }>(url, '/api/v1/alerts')).alerts;
    },
    async rules() {
      const data = await api<{ groups: { rules: PromAlertingRule[] }[] }>(url, '/api/v1/rules');
      return data.groups.flatMap((g) => g.rules);
    },
    async targets() {
      return (await api<{ activeTargets: PromTarget[] }>(url, '/api/v1/targets')).activeTargets;
    },
    async waitForTargetsUp(timeoutMs: number) {
      const until = Date.now() + timeoutMs;
      let targets: PromTarget[] = [];
      for (;;) {
        targets = await server.targets();
        if (targets.length > 0 && targets.every((t) => t.health === 'up')) return targets;
        if (Date.now() > until) {
          const report = targets.map((t) => `${t.labels['job']} ${t.scrapeUrl}: ${t.health} ${t.lastError}`).join('\n');
          throw new Error(`scrape targets not all up within ${timeoutMs} ms:\n${report}`);
        }
        await sleep(250);
      }
    },
    async waitForAlert(name, labels, state, timeoutMs) {
      const until = Date.now() + timeoutMs;
      let seen: PromAlert[] = [];
      for (;;) {
        seen = await server.alerts();
        const hit = seen.find((a) => a.labels['alertname'] === name && a.state === state && labelsMatch(a.labels, labels));
        if (hit) return hit;
        if (Date.now() > until) {
          throw new Error(`alert ${name} ${JSON.stringify(labels)} not ${state} within ${timeoutMs} ms; active alerts: ${JSON.stringify(seen.map((a) => ({ ...a.labels, state: a.state, value: a.value })))}`);
        }
        await sleep(250);
      }
    },
    async waitForAlertGone(name, labels, timeoutMs) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const seen = await server.alerts();
        if (!seen.some((a) => a.labels['alertname'] === name && a.state === 'firing' && labelsMatch(a.labels, labels))) return;
        if (Date.now() > until) throw new Error(`alert ${name} ${JSON.stringify(labels)} still firing after ${timeoutMs} ms`);
        await sleep(250);
      }
    },
    async stop() {
      if (!proc.exited) await proc.stop('SIGTERM', 5000);
      dir.cleanup();
    },
  };
  return server;
}

// ---------------------------------------------------------------------------------------------
// The observed cluster
// ---------------------------------------------------------------------------------------------

export interface ObservedCluster {
  readonly nats: NatsServer;
  readonly edge: ServerProcess;
  readonly origin: ServerProcess;
  readonly control: ServerProcess;
  readonly prometheus: PrometheusServer;
  /** Scrape job name of each process, as Prometheus labels it. */
  readonly jobs: { edge: string; origin: string; control: string };
  /** Something the test started (encoder, player): stopped first at the end of the test. */
  own<T extends { stop(): unknown }>(thing: T): T;
}

export interface ObservedClusterOptions {
  /** Rule files for Prometheus. */
  ruleFiles?: string[];
  /** Extra environment per process. */
  edgeEnv?: Record<string, string>;
  originEnv?: Record<string, string>;
  controlEnv?: Record<string, string>;
}

/** Environment every firstmile process of the observed cluster gets. */
export const OBSERVED_ENV: Readonly<Record<string, string>> = {
  FIRSTMILE_SHUTDOWN_TIMEOUT_MS: '1000',
  FIRSTMILE_LOG_LEVEL: 'info',
  FIRSTMILE_KUBERNETES: 'off',
};

/**
 * nats-server (JetStream), one edge, one origin and one control process, and Prometheus scraping
 * each one's HTTP port every second (jobs firstmile-edge, firstmile-origin, firstmile-control).
 */
export async function startObservedCluster(t: TestContext, options: ObservedClusterOptions = {}): Promise<ObservedCluster> {
  const owned: { stop(): unknown }[] = [];
  const servers: ServerProcess[] = [];
  let nats: NatsServer | undefined;
  let prometheus: PrometheusServer | undefined;
  const secrets = tempDir('fm-observed-');
  t.after(async () => {
    for (const thing of owned.reverse()) {
      try {
        await thing.stop();
      } catch {
        // best effort: it may be gone already
      }
    }
    await Promise.all(servers.map((s) => s.stop('SIGTERM')));
    await prometheus?.stop();
    await nats?.stop();
    secrets.cleanup();
  });
  const started = Date.now();
  nats = await startNats({ jetstream: true });
  const keyHashSecret = join(secrets.path, 'key-hash-secret');
  writeFileSync(keyHashSecret, 'e2e-key-hash-secret-0123456789abcdef', { mode: 0o600 });
  const start = async (mode: 'edge' | 'origin' | 'control', extra: Record<string, string> | undefined) => {
    const p = await startServer({
      mode,
      env: {
        ...OBSERVED_ENV,
        FIRSTMILE_NATS_URL: nats!.url,
        FIRSTMILE_EDGE_ID: `${mode}-0`,
        ...(mode === 'control' ? { FIRSTMILE_KEY_HASH_SECRET_FILE: keyHashSecret } : {}),
        ...(extra ?? {}),
      },
      startTimeoutMs: 30_000,
    });
    servers.push(p);
    return p;
  };
  // The first process creates the index bucket; the others find it.
  const edge = await start('edge', options.edgeEnv);
  const [origin, control] = await Promise.all([start('origin', options.originEnv), start('control', options.controlEnv)]);
  const jobs = { edge: 'firstmile-edge', origin: 'firstmile-origin', control: 'firstmile-control' };
  prometheus = await startPrometheus({
    jobs: [
      { job: jobs.edge, targets: [`127.0.0.1:${edge.httpPort}`] },
      { job: jobs.origin, targets: [`127.0.0.1:${origin.httpPort}`] },
      { job: jobs.control, targets: [`127.0.0.1:${control.httpPort}`] },
    ],
    ...(options.ruleFiles ? { ruleFiles: options.ruleFiles } : {}),
  });
  console.log(`observed cluster up in ${Date.now() - started} ms: nats, edge, origin, control, prometheus on :${prometheus.port}`);
  return {
    nats,
    edge,
    origin,
    control,
    prometheus,
    jobs,
    own(thing) {
      owned.push(thing);
      return thing;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Encoder and player
// ---------------------------------------------------------------------------------------------

/** The live test signal the e2e encoder publishes: small, so encoding costs little CPU. */
export const LIVE_SIGNAL: FlvOptions = { width: 320, height: 180, fps: 30, videoBitrate: '300k', videoSource: 'testsrc' };

/**
 * ffmpeg encoding lavfi testsrc + sine live (libx264, keyframe every `gop` frames exactly:
 * -g, -keyint_min and -sc_threshold 0; AAC) and publishing to `url`.
 */
export function liveEncoder(url: string, gop: number, timeoutMs = 180_000): RunningProcess {
  const o: FlvOptions = { ...LIVE_SIGNAL, gop };
  return spawnProcess('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'warning', ...lavfiInputArgs(o, true), ...encoderArgs(o), '-f', 'flv', url], { timeoutMs });
}

/** ffmpeg playing `url` and throwing the media away (a viewer). */
export function ffmpegViewer(url: string, timeoutMs = 180_000): RunningProcess {
  return spawnProcess('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'warning', '-i', url, '-c', 'copy', '-f', 'null', '-'], { timeoutMs, timeoutSignal: 'SIGINT' });
}
