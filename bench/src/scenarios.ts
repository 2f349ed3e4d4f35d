/**
 * The scenarios. Each run starts a fresh server, puts the load on it, waits out a warm-up, then
 * measures a steady window: server CPU and RSS (process tree, /proc), what the players received,
 * publish→play delay, and the generator's own CPU.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { monitorEventLoopDelay, performance, type Histogram as PerfHistogram } from 'node:perf_hooks';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Pacer, Publisher, Window, mapLimit, nowUs, type Target } from './load.ts';
import type { Media } from './media.ts';
import { cpuBusySeconds, parseCpuList, sampleTree, type TreeSample } from './procstat.ts';
import { singleDeployment, startCluster, startServer, type Deployment, type ServerName } from './servers.ts';
import type { HostReport, HostRequest } from './players.ts';
import { Histogram, quantile, sleep } from './stats.ts';

const PLAYERS_SCRIPT = fileURLToPath(new URL('./players.ts', import.meta.url));

export type ScenarioName = 'fanout' | 'ingest' | 'latency' | 'cluster';

/** One process (tree) of a multi-process deployment (the cluster: edge, NATS, origin). */
export interface PartResult {
  label: string;
  cpuCores: number;
  /** That CPU per media message delivered to players, µs. */
  cpuUsPerMessage: number;
  rssBytes: number;
}

export interface RunOptions {
  warmupMs: number;
  steadyMs: number;
  /** Publisher alone on the server before players join / server idle before publishers (RSS baseline). */
  baselineMs: number;
  /** After the window: how long players may still deliver window frames. */
  graceMs: number;
  stallMs: number;
  serverCpu: string | undefined;
  profileDir: string | undefined;
  connectTimeoutMs: number;
  connectConcurrency: number;
  /** Players (of each fan-out run) hosted in the probe process, whose delays are reported. */
  probePlayers: number;
  log: (s: string) => void;
}

/** Everything measured in one run; NaN where it does not apply or could not be measured. */
export interface RunResult {
  server: ServerName;
  scenario: ScenarioName;
  /** Players (fanout, latency) or publishers (ingest) asked for. */
  size: number;
  /** How many of them connected and started. */
  connected: number;
  /** First connection errors, if any. */
  errors: string[];
  windowSeconds: number;
  serverCpuCores: number;
  /** Busy share of the server's core(s), kernel softirq included (NaN when not pinned). */
  serverCoreBusy: number;
  serverRssBytes: number;
  baselineRssBytes: number;
  /** Server CPU µs per media message delivered to players. */
  cpuUsPerMessage: number;
  /** Server CPU cores per Gbit/s delivered to players (socket bytes). */
  cpuCoresPerGbps: number;
  deliveredGbps: number;
  deliveredMessagesPerSecond: number;
  /** (RSS at steady − baseline RSS) / players. */
  rssPerPlayerBytes: number;
  /** (RSS at steady − idle RSS) / publishers. */
  rssPerPublisherBytes: number;
  cpuPercentPerPublisher: number;
  /** Publishers' payload rate (what one player should receive), Mbit/s. */
  publishMbps: number;
  ingestMbps: number;
  /** Fraction of players that received ≥ 95 % of the window's video bytes. */
  playersAtRate: number;
  /** Lowest player's received fraction of the window's video bytes. */
  minPlayerRate: number;
  /** Median player received payload bitrate over the window, Mbit/s. */
  playerMbpsP50: number;
  playersWithStalls: number;
  stalls: number;
  delayP50Ms: number;
  delayP99Ms: number;
  delayMaxMs: number;
  delaySamples: number;
  /** How many players the delay figures above come from (the probe host's). */
  probePlayers: number;
  /** Delay over all players, bulk host included (inflated by its event-loop lag when it is busy). */
  allDelayP50Ms: number;
  allDelayP99Ms: number;
  /** CPU of the generator's processes (bench main + player hosts) in cores. */
  generatorCpu: number;
  generatorLoopP99Ms: number;
  publisherMaxLateMs: number;
  publisherSkipped: number;
  serverAlive: boolean;
  /** The cluster's processes measured separately (empty for a single-process server). */
  parts: PartResult[];
  /** The steady window on CLOCK_MONOTONIC, µs (to cut a CPU profile to it). */
  windowStartUs: number;
  windowEndUs: number;
  failure?: string;
  /** With --repeat: how many runs this result is the median of, and the range of some figures. */
  runs?: number;
  spread?: Partial<Record<SpreadField, [number, number]>>;
}

/** Figures whose range over repeated runs (lowest, highest) the tables show next to the median. */
export const SPREAD_FIELDS = ['cpuUsPerMessage', 'rssPerPlayerBytes', 'cpuPercentPerPublisher', 'rssPerPublisherBytes', 'delayP99Ms'] as const;
export type SpreadField = (typeof SPREAD_FIELDS)[number];

function emptyResult(server: ServerName, scenario: ScenarioName, size: number): RunResult {
  return {
    server,
    scenario,
    size,
    connected: 0,
    errors: [],
    windowSeconds: Number.NaN,
    serverCpuCores: Number.NaN,
    serverCoreBusy: Number.NaN,
    serverRssBytes: Number.NaN,
    baselineRssBytes: Number.NaN,
    cpuUsPerMessage: Number.NaN,
    cpuCoresPerGbps: Number.NaN,
    deliveredGbps: Number.NaN,
    deliveredMessagesPerSecond: Number.NaN,
    rssPerPlayerBytes: Number.NaN,
    rssPerPublisherBytes: Number.NaN,
    cpuPercentPerPublisher: Number.NaN,
    publishMbps: Number.NaN,
    ingestMbps: Number.NaN,
    playersAtRate: Number.NaN,
    minPlayerRate: Number.NaN,
    playerMbpsP50: Number.NaN,
    playersWithStalls: Number.NaN,
    stalls: Number.NaN,
    delayP50Ms: Number.NaN,
    delayP99Ms: Number.NaN,
    delayMaxMs: Number.NaN,
    delaySamples: 0,
    probePlayers: 0,
    allDelayP50Ms: Number.NaN,
    allDelayP99Ms: Number.NaN,
    generatorCpu: Number.NaN,
    generatorLoopP99Ms: Number.NaN,
    publisherMaxLateMs: Number.NaN,
    publisherSkipped: 0,
    serverAlive: true,
    parts: [],
    windowStartUs: Number.NaN,
    windowEndUs: Number.NaN,
  };
}

let runSeq = 0;

/** Resolution of the event-loop delay monitor, ms. */
const LOOP_RESOLUTION_MS = 5;

/** p99 event-loop lag: the monitor records whole timer intervals, so its resolution is taken off. */
function loopLagMs(h: PerfHistogram): number {
  return Math.max(0, h.percentile(99) / 1e6 - LOOP_RESOLUTION_MS);
}

/** CPU and RSS of all the deployment's process trees, summed. */
function sampleServer(d: Deployment): TreeSample {
  const parts = d.parts.map((p) => sampleTree(p.pid));
  if (parts.length === 1) return parts[0]!;
  return {
    at: performance.now(),
    cpuSeconds: parts.reduce((a, t) => a + t.cpuSeconds, 0),
    rssBytes: parts.reduce((a, t) => a + t.rssBytes, 0),
    pids: parts.flatMap((t) => t.pids),
  };
}

/** Samples the server's RSS every second during the window; keeps the mean. */
class RssSampler {
  readonly #server: Deployment;
  readonly #timer: NodeJS.Timeout;
  readonly #values: number[] = [];

  constructor(server: Deployment) {
    this.#server = server;
    this.#timer = setInterval(() => this.#values.push(sampleServer(this.#server).rssBytes), 1000);
  }

  stop(last: TreeSample): number {
    clearInterval(this.#timer);
    this.#values.push(last.rssBytes);
    return this.#values.reduce((a, b) => a + b, 0) / this.#values.length;
  }
}

interface Window0 {
  tree: TreeSample;
  /** Per process tree, when the deployment has more than one. */
  parts: TreeSample[];
  coreBusy: number;
  cpus: number[];
  cpu: NodeJS.CpuUsage;
  wall: number;
  startUs: number;
}

function openWindow(server: Deployment, window: Window, steadyMs: number, serverCpu: string | undefined): Window0 {
  const cpus = serverCpu === undefined ? [] : parseCpuList(serverCpu);
  const coreBusy = cpus.length > 0 ? cpuBusySeconds(cpus) : Number.NaN;
  const parts = server.parts.length > 1 ? server.parts.map((p) => sampleTree(p.pid)) : [];
  const tree = sampleServer(server);
  const cpu = process.cpuUsage();
  const wall = performance.now();
  window.open(nowUs(), nowUs() + steadyMs * 1000);
  return { tree, parts, coreBusy, cpus, cpu, wall, startUs: window.startUs };
}

function closeWindow(server: Deployment, w0: Window0, result: RunResult): { seconds: number; tree: TreeSample } {
  result.windowStartUs = w0.startUs;
  result.windowEndUs = nowUs();
  const parts = w0.parts.length > 0 ? server.parts.map((p) => sampleTree(p.pid)) : [];
  const tree = sampleServer(server);
  const coreBusy = w0.cpus.length > 0 ? cpuBusySeconds(w0.cpus) : Number.NaN;
  const cpu = process.cpuUsage(w0.cpu);
  const seconds = (tree.at - w0.tree.at) / 1000;
  result.serverCoreBusy = (coreBusy - w0.coreBusy) / seconds / Math.max(1, w0.cpus.length);
  result.windowSeconds = seconds;
  result.serverCpuCores = (tree.cpuSeconds - w0.tree.cpuSeconds) / seconds;
  result.parts = parts.map((t, i) => ({
    label: server.parts[i]!.label,
    cpuCores: (t.cpuSeconds - w0.parts[i]!.cpuSeconds) / ((t.at - w0.parts[i]!.at) / 1000),
    cpuUsPerMessage: Number.NaN,
    rssBytes: t.rssBytes,
  }));
  result.generatorCpu = (cpu.user + cpu.system) / 1e6 / ((performance.now() - w0.wall) / 1000);
  result.serverAlive = server.alive();
  return { seconds, tree };
}

async function withServer(
  name: ServerName,
  scenario: ScenarioName,
  size: number,
  options: RunOptions,
  body: (server: Deployment, publish: Target, play: Target, result: RunResult, key: string) => Promise<void>,
): Promise<RunResult> {
  const result = emptyResult(name, scenario, size);
  const key = `bench-${process.pid}-${++runSeq}`;
  let server: Deployment | undefined;
  try {
    if (scenario === 'cluster') {
      if (name !== 'firstmile') throw new Error('the cluster scenario only applies to firstmile');
      server = await startCluster({ cpu: options.serverCpu });
    } else {
      server = singleDeployment(await startServer(name, { cpu: options.serverCpu, profileDir: name === 'firstmile' ? options.profileDir : undefined }));
    }
    const publish = { host: '127.0.0.1', port: server.publishPort, app: server.app };
    const play = { host: '127.0.0.1', port: server.playPort, app: server.app };
    await body(server, publish, play, result, key);
  } catch (error) {
    result.failure = (error as Error).message.split('\n')[0];
    options.log(`  ${name} ${scenario} ${size}: FAILED: ${(error as Error).message}`);
  } finally {
    if (server) {
      if (!server.alive()) {
        result.serverAlive = false;
        result.failure ??= 'server exited during the run';
        options.log(`  ${name} exited during the run; its output:\n${server.output()}`);
      }
      await server.stop();
    }
  }
  return result;
}

function connectErrors(outcomes: PromiseSettledResult<unknown>[]): string[] {
  const counts = new Map<string, number>();
  for (const o of outcomes) {
    if (o.status === 'rejected') {
      const m = String((o.reason as Error)?.message ?? o.reason).slice(0, 160);
      counts.set(m, (counts.get(m) ?? 0) + 1);
    }
  }
  return [...counts].slice(0, 5).map(([m, n]) => `${n} × ${m}`);
}

/** A player-host child process (players.ts) and its request/answer channel. */
class PlayerHost {
  readonly proc: ChildProcess;
  #pending: { resolve: (m: HostAnswer) => void; reject: (e: Error) => void } | undefined;
  #exited = false;

  /**
   * `nice`: scheduling priority of the host. The bulk host runs at a lower priority (10) than the
   * publisher (this process, 0) and the probe host (-10 when allowed, else 0), so that on the shared
   * generator core the publisher and the probe players run as soon as they have work, and only the
   * bulk host absorbs the generator's own lag.
   */
  constructor(nice: number) {
    // Forked children inherit this process's CPU affinity: the generator's core.
    this.proc = fork(PLAYERS_SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    for (const n of [nice, 0]) {
      try {
        if (n !== 0) setPriority(this.proc.pid!, n);
        break;
      } catch {
        // Raising priority needs root (CAP_SYS_NICE): fall back to the default.
      }
    }
    this.proc.on('message', (m: HostAnswer) => {
      const p = this.#pending;
      this.#pending = undefined;
      if (m.type === 'error') p?.reject(new Error(`player host: ${m.message}`));
      else p?.resolve(m);
    });
    this.proc.once('exit', (code, signal) => {
      this.#exited = true;
      this.#pending?.reject(new Error(`player host exited (${signal ?? code})`));
      this.#pending = undefined;
    });
  }

  request<T extends HostAnswer['type']>(req: HostRequest, answer: T, timeoutMs = 120_000): Promise<Extract<HostAnswer, { type: T }>> {
    if (this.#exited) return Promise.reject(new Error('player host has exited'));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.#pending = undefined;
        reject(new Error(`player host: no answer to ${req.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending = {
        resolve: (m) => {
          clearTimeout(t);
          if (m.type !== answer) reject(new Error(`player host answered ${m.type} to ${req.type}`));
          else resolve(m as Extract<HostAnswer, { type: T }>);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      };
      this.proc.send(req);
    });
  }

  close(): void {
    if (this.#exited) return;
    try {
      this.proc.send({ type: 'exit' });
    } catch {
      // already gone
    }
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    this.proc.once('exit', () => clearTimeout(t));
  }
}

type HostAnswer =
  | { type: 'connected'; connected: number; errors: string[] }
  | { type: 'opened' }
  | { type: 'closed' }
  | HostReport
  | { type: 'error'; message: string };

/**
 * 1 publisher and `n` players (fanout, and cluster: publisher on the edge, players on the origin),
 * or 1 publisher and 1 player (latency). The publisher runs
 * here; most players run in a bulk player host, and up to `probePlayers` of them in a probe host
 * (joined spread over the join order), whose delays are the headline figure.
 */
export function runFanout(name: ServerName, n: number, media: Media, options: RunOptions, scenario: ScenarioName = 'fanout'): Promise<RunResult> {
  return withServer(name, scenario, n, options, async (server, publish, target, result, key) => {
    const window = new Window(options.stallMs);
    const pacer = new Pacer();
    let publisher: Publisher | undefined;
    const probes = Math.min(n, options.probePlayers);
    const bulk = n - probes;
    const bulkHost = bulk > 0 ? new PlayerHost(10) : undefined;
    const probeHost = new PlayerHost(-10);
    const hosts = bulkHost ? [bulkHost, probeHost] : [probeHost];
    const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    try {
      publisher = await Publisher.open(publish, key, media, window, options.connectTimeoutMs);
      pacer.add(publisher);
      await sleep(options.baselineMs);
      result.baselineRssBytes = sampleServer(server).rssBytes;
      const t = performance.now();
      const connect = { type: 'connect', target, key, timeoutMs: options.connectTimeoutMs, concurrency: options.connectConcurrency, stallMs: options.stallMs } as const;
      const errors: string[] = [];
      // Spread the probe players over the join order (servers tend to serve players in join order).
      let bulkLeft = bulk;
      for (let i = 0; i < probes; i++) {
        const slice = Math.round(bulkLeft / (probes - i));
        bulkLeft -= slice;
        if (slice > 0 && bulkHost) {
          const a = await bulkHost.request({ ...connect, count: slice }, 'connected');
          result.connected += a.connected;
          errors.push(...a.errors);
        }
        const b = await probeHost.request({ ...connect, count: 1 }, 'connected');
        result.connected += b.connected;
        errors.push(...b.errors);
      }
      result.errors = [...new Set(errors)].slice(0, 5);
      options.log(`  ${result.connected}/${n} players playing after ${((performance.now() - t) / 1000).toFixed(1)} s${result.errors.length ? `; errors: ${result.errors.join('; ')}` : ''}`);
      if (result.connected === 0) throw new Error(`no player could play: ${result.errors.join('; ')}`);
      await sleep(options.warmupMs);

      const pubBefore = publisher.payloadBytesSent;
      publisher.maxLateMs = 0;
      loop.reset();
      loop.enable();
      const w0 = openWindow(server, window, options.steadyMs, options.serverCpu);
      await Promise.all(hosts.map((h) => h.request({ type: 'open', startUs: window.startUs, endUs: window.endUs }, 'opened')));
      const rss = new RssSampler(server);
      await sleep(options.steadyMs);
      const { seconds, tree } = closeWindow(server, w0, result);
      await Promise.all(hosts.map((h) => h.request({ type: 'close' }, 'closed')));
      loop.disable();
      result.serverRssBytes = rss.stop(tree);
      const pubPayload = publisher.payloadBytesSent - pubBefore;
      // Window frames still in flight get a grace period to arrive.
      await sleep(options.graceMs);
      const reports = await Promise.all(hosts.map((h) => h.request({ type: 'report' }, 'report')));
      const probeReport = reports[reports.length - 1]!;

      let gbps = 0;
      let messagesPerSecond = 0;
      const mbps: number[] = [];
      const rates: number[] = [];
      const stalls: number[] = [];
      const all = new Histogram();
      let hostCpu = 0;
      let disconnected = 0;
      for (const r of reports) {
        const s = r.seconds > 0 ? r.seconds : seconds;
        gbps += (r.bytesIn * 8) / s / 1e9;
        messagesPerSecond += r.messages / s;
        for (const b of r.payloadBytes) mbps.push((b * 8) / s / 1e6);
        const sent = publisher.windowVideoBytes;
        for (const b of r.windowVideoBytes) rates.push(sent > 0 ? b / sent : 0);
        stalls.push(...r.stalls);
        all.merge(r.delays);
        hostCpu += r.cpuSeconds;
        disconnected += r.disconnected;
        result.generatorLoopP99Ms = Number.isFinite(result.generatorLoopP99Ms) ? Math.max(result.generatorLoopP99Ms, r.loopLagP99Ms) : r.loopLagP99Ms;
      }
      if (disconnected > 0) result.errors.push(`${disconnected} players were disconnected during the run`);
      const probe = new Histogram();
      probe.merge(probeReport.delays);
      result.generatorCpu += hostCpu / seconds;
      result.generatorLoopP99Ms = Math.max(result.generatorLoopP99Ms, loopLagMs(loop));
      result.deliveredGbps = gbps;
      result.deliveredMessagesPerSecond = messagesPerSecond;
      result.cpuUsPerMessage = messagesPerSecond > 0 ? (result.serverCpuCores * 1e6) / messagesPerSecond : Number.NaN;
      for (const p of result.parts) p.cpuUsPerMessage = messagesPerSecond > 0 ? (p.cpuCores * 1e6) / messagesPerSecond : Number.NaN;
      result.cpuCoresPerGbps = gbps > 0 ? result.serverCpuCores / gbps : Number.NaN;
      result.rssPerPlayerBytes = (result.serverRssBytes - result.baselineRssBytes) / Math.max(1, result.connected);
      result.publishMbps = (pubPayload * 8) / seconds / 1e6;
      result.playersAtRate = rates.filter((r) => r >= 0.95).length / n;
      result.minPlayerRate = rates.length ? Math.min(...rates) : 0;
      result.playerMbpsP50 = quantile(mbps, 0.5);
      result.stalls = stalls.reduce((a, b) => a + b, 0);
      result.playersWithStalls = stalls.filter((s) => s > 0).length;
      result.delayP50Ms = probe.quantile(0.5) / 1000;
      result.delayP99Ms = probe.quantile(0.99) / 1000;
      result.delayMaxMs = probe.max / 1000;
      result.delaySamples = probe.count;
      result.allDelayP50Ms = all.quantile(0.5) / 1000;
      result.allDelayP99Ms = all.quantile(0.99) / 1000;
      result.probePlayers = probes;
      result.publisherMaxLateMs = publisher.maxLateMs;
      result.publisherSkipped = publisher.skipped;
    } finally {
      loop.disable();
      pacer.stop();
      for (const h of hosts) h.close();
      publisher?.close();
    }
  });
}

/** `m` publishers, no players. */
export function runIngest(name: ServerName, m: number, media: Media, options: RunOptions): Promise<RunResult> {
  return withServer(name, 'ingest', m, options, async (server, target, _play, result, key) => {
    const window = new Window(options.stallMs);
    const pacer = new Pacer();
    const publishers: Publisher[] = [];
    const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    try {
      await sleep(options.baselineMs);
      result.baselineRssBytes = sampleServer(server).rssBytes;
      const t = performance.now();
      const outcomes = await mapLimit(
        Array.from({ length: m }, (_, i) => i),
        Math.min(options.connectConcurrency, 16),
        async (i) => {
          const p = await Publisher.open(target, `${key}-${i}`, media, window, options.connectTimeoutMs);
          publishers.push(p);
          // Joining one by one staggers the publishers' keyframes.
          pacer.add(p);
        },
      );
      result.connected = outcomes.filter((o) => o.status === 'fulfilled').length;
      result.errors = connectErrors(outcomes);
      options.log(`  ${result.connected}/${m} publishers publishing after ${((performance.now() - t) / 1000).toFixed(1)} s${result.errors.length ? `; errors: ${result.errors.join('; ')}` : ''}`);
      if (result.connected === 0) throw new Error(`no publisher could publish: ${result.errors.join('; ')}`);
      await sleep(options.warmupMs);
      const before = publishers.map((p) => p.client.bytesOut);
      for (const p of publishers) p.maxLateMs = 0;
      loop.reset();
      loop.enable();
      const w0 = openWindow(server, window, options.steadyMs, options.serverCpu);
      const rss = new RssSampler(server);
      await sleep(options.steadyMs);
      const { seconds, tree } = closeWindow(server, w0, result);
      loop.disable();
      result.serverRssBytes = rss.stop(tree);
      let bytes = 0;
      publishers.forEach((p, i) => (bytes += p.client.bytesOut - before[i]!));
      const alive = publishers.filter((p) => !p.closed).length;
      if (alive < result.connected) result.errors.push(`${result.connected - alive} publishers were disconnected during the run`);
      result.ingestMbps = (bytes * 8) / seconds / 1e6;
      result.cpuPercentPerPublisher = (result.serverCpuCores * 100) / Math.max(1, result.connected);
      result.rssPerPublisherBytes = (result.serverRssBytes - result.baselineRssBytes) / Math.max(1, result.connected);
      result.generatorLoopP99Ms = loopLagMs(loop);
      result.publisherMaxLateMs = Math.max(...publishers.map((p) => p.maxLateMs));
      result.publisherSkipped = publishers.reduce((a, p) => a + p.skipped, 0);
    } finally {
      loop.disable();
      pacer.stop();
      for (const p of publishers) p.close();
    }
  });
}
