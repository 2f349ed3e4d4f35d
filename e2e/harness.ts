/**
 * The e2e cluster: a real 3-node NATS cluster with JetStream (routes on loopback), separate
 * `firstmile edge` and `firstmile origin` processes connected to all three nodes, and HAProxy in
 * TCP mode in front of the edges, the way a Kubernetes Service or a cloud TCP load balancer sits in
 * front of the edge pods. Plus the players and the publisher the fault tests need: players that
 * timestamp every message on arrival (to measure gaps), and an encoder that reconnects as OBS does.
 *
 * Everything here is bounded in time and owned by the test that started it: `startCluster`
 * registers a `t.after` that stops every process it knows of, the test's own clients first.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { connectClient, type RtmpTestClient } from '../test/harness/client.ts';
import {
  ffmpegPublishFile,
  readFlv,
  sleep,
  spawnProcess,
  tempDir,
  waitFor,
  type Packet,
  type ProcessResult,
  type RunningProcess,
} from '../test/harness/media.ts';
import {
  freePort,
  freePorts,
  jetStreamLastMessage,
  jetStreamLeader,
  jetStreamStepDown,
  startNats,
  type NatsServer,
} from '../test/harness/nats.ts';
import { startServer, type LogLine, type ServerProcess } from '../test/harness/server.ts';

// ---------------------------------------------------------------------------------------------
// NATS cluster
// ---------------------------------------------------------------------------------------------

export interface NatsCluster {
  readonly nodes: readonly NatsServer[];
  /** Every node's client URL, comma-separated (FIRSTMILE_NATS_URL). */
  readonly urls: string;
  /** GET http://127.0.0.1:<monitor port of node i><path> as JSON. */
  monitor<T>(node: number, path: string): Promise<T>;
  /** The node a client named `name` (nats.js `name` option) is connected to, from each node's /connz. */
  nodeOf(name: string): Promise<number | undefined>;
  /** Nodes whose process is still running. */
  alive(): number[];
  /** The node leading the JetStream stream (e.g. KV_fm_live), or undefined during an election. */
  streamLeader(stream: string): Promise<number | undefined>;
  /** Makes `node` the stream's leader by asking the current leader to step down until it is. */
  moveStreamLeader(stream: string, node: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

async function getJson<T>(url: string, timeoutMs = 2000): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/**
 * Starts `size` nats-server processes with JetStream (each with its own store directory) routed to
 * each other on loopback, and resolves once every node has a route to every other node and the
 * JetStream meta group has a leader that every node knows.
 */
export async function startNatsCluster(size = 3, timeoutMs = 30_000): Promise<NatsCluster> {
  // A port picked free can be taken by someone else before nats-server binds it: try again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await formNatsCluster(size, timeoutMs);
    } catch (error) {
      if (attempt >= 3 || !/address already in use/.test((error as Error).message)) throw error;
    }
  }
}

async function formNatsCluster(size: number, timeoutMs: number): Promise<NatsCluster> {
  const ports = await freePorts(3 * size);
  const routePorts = ports.slice(0, size);
  const name = `fm-e2e-${process.pid}-${routePorts[0]}`;
  const started = await Promise.allSettled(
    routePorts.map((port, i) => startNats({
      jetstream: true,
      serverName: `n${i}`,
      port: ports[size + i]!,
      monitorPort: ports[2 * size + i]!,
      cluster: { name, port, routes: routePorts },
    })),
  );
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await stop();
    throw (failed as PromiseRejectedResult).reason;
  }
  const monitor = <T>(i: number, path: string) => getJson<T>(`http://127.0.0.1:${nodes[i]!.monitorPort}${path}`);
  const isAlive = (n: NatsServer) => n.proc.exitCode === null && n.proc.signalCode === null;
  const cluster: NatsCluster = {
    nodes,
    urls: nodes.map((n) => n.url).join(','),
    monitor,
    async nodeOf(client: string) {
      for (let i = 0; i < nodes.length; i++) {
        if (!isAlive(nodes[i]!)) continue;
        const connz = await monitor<{ connections?: { name?: string }[] }>(i, '/connz?limit=1024');
        if ((connz.connections ?? []).some((c) => c.name === client)) return i;
      }
      return undefined;
    },
    alive: () => nodes.flatMap((n, i) => (isAlive(n) ? [i] : [])),
    async streamLeader(stream: string) {
      const via = nodes.find(isAlive);
      if (!via) return undefined;
      const leader = await jetStreamLeader(via.url, stream);
      const i = leader === undefined ? -1 : nodes.findIndex((_, k) => `n${k}` === leader);
      return i < 0 ? undefined : i;
    },
    async moveStreamLeader(stream: string, node: number, ms = 30_000) {
      const deadline = Date.now() + ms;
      let leader: number | undefined;
      for (;;) {
        try {
          leader = await cluster.streamLeader(stream);
          if (leader === node) return;
          if (leader !== undefined) await jetStreamStepDown(nodes[node]!.url, stream);
        } catch {
          // an election in progress: ask again
        }
        if (Date.now() > deadline) throw new Error(`could not move the leader of ${stream} to n${node} within ${ms} ms (leader: n${leader})`);
        await sleep(250);
      }
    },
    stop,
  };
  const deadline = Date.now() + timeoutMs;
  let state = '';
  for (;;) {
    try {
      const views = await Promise.all(
        nodes.map(async (_, i) => {
          const routez = await monitor<{ num_routes: number }>(i, '/routez');
          const jsz = await monitor<{ meta_cluster?: { leader?: string; cluster_size?: number } }>(i, '/jsz');
          return { routes: routez.num_routes, leader: jsz.meta_cluster?.leader ?? '', size: jsz.meta_cluster?.cluster_size ?? 0 };
        }),
      );
      state = JSON.stringify(views);
      if (views.every((v) => v.routes >= size - 1 && v.leader !== '' && v.leader === views[0]!.leader)) break;
    } catch (error) {
      state = (error as Error).message;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`NATS cluster not formed within ${timeoutMs} ms: ${state}\n${nodes.map((n) => n.output().slice(-2000)).join('\n---\n')}`);
    }
    await sleep(100);
  }
  return cluster;
}

// ---------------------------------------------------------------------------------------------
// HAProxy
// ---------------------------------------------------------------------------------------------

export interface Backend {
  name: string;
  rtmpPort: number;
  httpPort: number;
}

export interface LoadBalancer {
  readonly port: number;
  readonly process: RunningProcess;
  /** rtmp://127.0.0.1:<port>/<path> */
  url(path: string): string;
  /** Each backend server's status from the stats socket ('UP', 'DOWN', 'MAINT', 'UP 1/2'...). */
  serverStatus(): Promise<Record<string, string>>;
  /** Resolves once `server`'s status starts with `status`; rejects after timeoutMs. */
  waitForStatus(server: string, status: 'UP' | 'DOWN', timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

function haproxyCommand(socket: string, command: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ path: socket });
    let out = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`haproxy stats socket: no answer to ${command} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('connect', () => s.write(`${command}\n`));
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('error', (error) => {
      clearTimeout(t);
      reject(error);
    });
    s.on('close', () => {
      clearTimeout(t);
      resolve(out);
    });
  });
}

/**
 * HAProxy in TCP mode on a free loopback port in front of `backends`: round robin, health checks
 * against each edge's /readyz (so a draining edge gets no new encoders), redispatch on a refused
 * connection (a dead edge before its check fails), a short connect timeout and long client/server
 * timeouts (RTMP connections live for hours). Runs in the foreground (-db) and is stopped by the test.
 */
export async function startHaproxy(backends: readonly Backend[], timeoutMs = 10_000): Promise<LoadBalancer> {
  // The port picked free may be taken before haproxy binds it: try again with another.
  for (let attempt = 1; ; attempt++) {
    try {
      return await launchHaproxy(backends, timeoutMs);
    } catch (error) {
      if (attempt >= 3 || !/cannot bind|address already in use/i.test((error as Error).message)) throw error;
    }
  }
}

async function launchHaproxy(backends: readonly Backend[], timeoutMs: number): Promise<LoadBalancer> {
  const port = await freePort();
  const dir = tempDir('fm-haproxy-');
  const socket = join(dir.path, 'admin.sock');
  const cfg = join(dir.path, 'haproxy.cfg');
  writeFileSync(cfg, [
    'global',
    '  maxconn 1024',
    `  stats socket ${socket} mode 600 level admin`,
    '  log stderr format raw local0 info',
    'defaults',
    '  mode tcp',
    '  log global',
    '  option tcplog',
    '  option redispatch',
    '  retries 3',
    '  timeout connect 1s',
    '  timeout client 1h',
    '  timeout server 1h',
    '  timeout check 1s',
    'frontend rtmp_in',
    `  bind 127.0.0.1:${port}`,
    '  default_backend edges',
    'backend edges',
    '  balance roundrobin',
    '  option httpchk GET /readyz',
    '  http-check expect status 200',
    '  default-server inter 250 fastinter 250 downinter 250 rise 2 fall 1',
    ...backends.map((b) => `  server ${b.name} 127.0.0.1:${b.rtmpPort} check port ${b.httpPort}`),
    '',
  ].join('\n'));
  const proc = spawnProcess('haproxy', ['-db', '-f', cfg], { timeoutMs: 30 * 60_000, timeoutSignal: 'SIGTERM' });
  const serverStatus = async () => {
    const csv = await haproxyCommand(socket, 'show stat');
    const lines = csv.split('\n').filter((l) => l.length > 0);
    const header = (lines[0] ?? '').replace(/^# /, '').split(',');
    const px = header.indexOf('pxname');
    const sv = header.indexOf('svname');
    const st = header.indexOf('status');
    const out: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const f = line.split(',');
      if (f[px] === 'edges' && f[sv] !== 'BACKEND') out[f[sv]!] = f[st] ?? '';
    }
    return out;
  };
  const lb: LoadBalancer = {
    port,
    process: proc,
    url: (path: string) => `rtmp://127.0.0.1:${port}/${path}`,
    serverStatus,
    async waitForStatus(server, status, ms) {
      const deadline = Date.now() + ms;
      let last = '';
      while (Date.now() < deadline) {
        try {
          last = (await serverStatus())[server] ?? 'unknown';
          if (last.startsWith(status)) return;
        } catch (error) {
          last = (error as Error).message;
        }
        await sleep(50);
      }
      throw new Error(`haproxy: server ${server} not ${status} within ${ms} ms (last: ${last})`);
    },
    async stop() {
      await proc.stop('SIGTERM', 3000);
      dir.cleanup();
    },
  };
  try {
    // Every backend checked and UP (rise 2 at 250 ms), and the frontend accepting.
    const exited = proc.result.then((r) => new Error(`haproxy exited with ${r.code}`), (error: unknown) => error as Error);
    const failed = await Promise.race([Promise.all(backends.map((b) => lb.waitForStatus(b.name, 'UP', timeoutMs))).then(() => undefined), exited]);
    if (failed) throw failed;
    const accepting = await tryConnect(port);
    if (accepting !== 'accepted') throw new Error(`haproxy frontend on ${port}: ${accepting}`);
  } catch (error) {
    await lb.stop();
    throw new Error(`${(error as Error).message}\nhaproxy stderr:\n${proc.stderr().slice(-3000)}`);
  }
  return lb;
}

// ---------------------------------------------------------------------------------------------
// The firstmile cluster
// ---------------------------------------------------------------------------------------------

export interface ClusterOptions {
  edges?: number;
  origins?: number;
  /** HAProxy in front of the edges (default true). */
  loadBalancer?: boolean;
  /** Extra environment for every edge / every origin (e.g. FIRSTMILE_SHUTDOWN_TIMEOUT_MS). */
  edgeEnv?: Record<string, string>;
  originEnv?: Record<string, string>;
}

export interface Cluster {
  readonly nats: NatsCluster;
  readonly edges: readonly ServerProcess[];
  readonly origins: readonly ServerProcess[];
  /** FIRSTMILE_EDGE_ID of edges[i] / origins[i]. */
  readonly edgeIds: readonly string[];
  readonly originIds: readonly string[];
  readonly lb: LoadBalancer | undefined;
  /** Something the test started (publisher, player): stopped first at the end of the test. */
  own<T extends { stop(): unknown }>(thing: T): T;
  /** Index of the edge whose latest log says 'publish started' for the stream `streamId`. */
  carrier(streamId: string): number | undefined;
}

/** Environment every e2e firstmile process gets (tests add to it). */
export const E2E_ENV: Readonly<Record<string, string>> = {
  FIRSTMILE_INDEX_REPLICAS: '3',
  // Short enough for the cleanup after each test; the drain tests set their own.
  FIRSTMILE_SHUTDOWN_TIMEOUT_MS: '1000',
  FIRSTMILE_LOG_LEVEL: 'debug',
};

/**
 * 3 NATS nodes, `edges` edge processes and `origins` origin processes (each given all three NATS
 * URLs, index replicas 3), and HAProxy in front of the edges. Everything is stopped when the test
 * ends: the test's own clients, then the firstmile processes (SIGTERM, drained), HAProxy, NATS.
 */
export async function startCluster(t: TestContext, options: ClusterOptions = {}): Promise<Cluster> {
  const owned: { stop(): unknown }[] = [];
  const servers: ServerProcess[] = [];
  const ids: string[] = [];
  let lb: LoadBalancer | undefined;
  let nats: NatsCluster | undefined;
  t.after(async () => {
    for (const thing of owned.reverse()) {
      try {
        await thing.stop();
      } catch {
        // best effort: the process may already be gone
      }
    }
    await Promise.all(servers.map((s) => s.stop('SIGTERM')));
    // E2E_LOG_DIR=/some/dir keeps every process's output for a post-mortem.
    const logDir = process.env['E2E_LOG_DIR'];
    if (logDir) {
      mkdirSync(logDir, { recursive: true });
      const tag = t.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40);
      servers.forEach((s, i) => writeFileSync(join(logDir, `${tag}-${ids[i] ?? i}.log`), s.output()));
      nats?.nodes.forEach((n, i) => writeFileSync(join(logDir, `${tag}-nats-n${i}.log`), n.output()));
      if (lb) writeFileSync(join(logDir, `${tag}-haproxy.log`), lb.process.stderr());
    }
    await lb?.stop();
    await nats?.stop();
  });
  const started = Date.now();
  nats = await startNatsCluster();
  const natsMs = Date.now() - started;
  const start = async (mode: 'edge' | 'origin', id: string, extra: Record<string, string> | undefined) => {
    const p = await startServer({
      mode,
      env: { ...E2E_ENV, FIRSTMILE_NATS_URL: nats!.urls, FIRSTMILE_EDGE_ID: id, ...(extra ?? {}) },
      startTimeoutMs: 30_000,
    });
    servers.push(p);
    ids.push(id);
    return p;
  };
  const edgeIds = Array.from({ length: options.edges ?? 2 }, (_, i) => `edge-${String.fromCharCode(97 + i)}`);
  const originIds = Array.from({ length: options.origins ?? 2 }, (_, i) => `origin-${String.fromCharCode(97 + i)}`);
  // The first process creates the KV bucket (R3); the others then find it.
  const first = await start('edge', edgeIds[0]!, options.edgeEnv);
  const rest = await Promise.all([
    ...edgeIds.slice(1).map((id) => start('edge', id, options.edgeEnv)),
    ...originIds.map((id) => start('origin', id, options.originEnv)),
  ]);
  const edges = [first, ...rest.slice(0, edgeIds.length - 1)];
  const origins = rest.slice(edgeIds.length - 1);
  if (options.loadBalancer ?? true) {
    lb = await startHaproxy(edges.map((e, i) => ({ name: edgeIds[i]!, rtmpPort: e.rtmpPort, httpPort: e.httpPort })));
  }
  console.log(`e2e cluster up in ${Date.now() - started} ms (NATS cluster formed in ${natsMs} ms): ${edges.length} edges, ${origins.length} origins${lb ? ', HAProxy' : ''}`);
  return {
    nats,
    edges,
    origins,
    edgeIds,
    originIds,
    lb,
    own(thing) {
      owned.push(thing);
      return thing;
    },
    carrier(streamId: string) {
      let best: { i: number; time: number } | undefined;
      edges.forEach((e, i) => {
        for (const l of e.logs) {
          if (l.msg === 'publish started' && l['stream'] === streamId && (!best || logTime(l) >= best.time)) best = { i, time: logTime(l) };
        }
      });
      return best?.i;
    },
  };
}

/** A log line's time (pino ISO timestamps) as epoch milliseconds. */
export function logTime(line: LogLine): number {
  const t = line['time'];
  return typeof t === 'number' ? t : Date.parse(String(t));
}

/** The stream id firstmile derives from app and key (subjects.ts: truncated SHA-256 of app NUL name). */
export function streamIdOf(app: string, key: string): string {
  return createHash('sha256').update(app).update('\u0000').update(key).digest('hex').slice(0, 24);
}

/** A stream's record in the live-stream index (bucket fm_live), read through the NATS server at `url`. */
export async function readIndexRecord(url: string, app: string, key: string, retryMs = 15_000): Promise<{ revision: number; record: { edge: string; epoch: number; heartbeatAt: string } } | undefined> {
  const m = await jetStreamLastMessage(url, 'KV_fm_live', `$KV.fm_live.${app}.${streamIdOf(app, key)}`, retryMs);
  if (!m || m.data.length === 0) return undefined; // a delete marker has no data
  return { revision: m.seq, record: JSON.parse(m.data.toString()) as { edge: string; epoch: number; heartbeatAt: string } };
}

/** GET http://127.0.0.1:<port>/readyz: the status code, or 0 when the connection failed. */
export async function readyz(httpPort: number): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** Tries a TCP connection: 'accepted', or the error code (ECONNREFUSED...). */
export function tryConnect(port: number, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    const s = netConnect({ port, host: '127.0.0.1' });
    const t = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve('accepted');
    });
    s.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(t);
      resolve(error.code ?? error.message);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Publisher that reconnects like OBS
// ---------------------------------------------------------------------------------------------

export interface PublisherSession {
  readonly process: RunningProcess;
  readonly startedAt: number;
  result: ProcessResult | undefined;
}

/**
 * An encoder that reconnects as OBS does: ffmpeg publishes the file (-re -c copy); when it fails
 * (the connection dropped), it is started again `delayMs` after it exited, from the file's start,
 * at most `maxRestarts` times. A clean exit (the file ended) or stop() ends the loop.
 */
export class ReconnectingPublisher {
  readonly sessions: PublisherSession[] = [];
  readonly done: Promise<void>;
  #stopped = false;
  #wake: (() => void) | undefined;

  constructor(file: string, url: string, options: { maxRestarts?: number; delayMs?: number; timeoutMs?: number } = {}) {
    const { maxRestarts = 5, delayMs = 1000, timeoutMs = 120_000 } = options;
    this.done = (async () => {
      for (let attempt = 0; attempt <= maxRestarts && !this.#stopped; attempt++) {
        const session: PublisherSession = { process: ffmpegPublishFile(file, url, { timeoutMs }), startedAt: Date.now(), result: undefined };
        this.sessions.push(session);
        try {
          session.result = await session.process.result;
        } catch {
          break; // ffmpeg missing: the test fails on its own assertions
        }
        if (this.#stopped || session.result.code === 0) break;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delayMs);
          this.#wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    })();
  }

  get current(): PublisherSession | undefined {
    return this.sessions.at(-1);
  }

  /** Ends the loop; the running ffmpeg gets SIGINT (a clean unpublish). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    const s = this.current;
    if (s && !s.process.exited) await s.process.stop('SIGINT', 5000);
    await this.done;
  }
}

// ---------------------------------------------------------------------------------------------
// Players that measure
// ---------------------------------------------------------------------------------------------

export interface Arrival {
  /** Date.now() when the message was decoded from the socket. */
  at: number;
  type: number;
  timestamp: number;
  keyframe: boolean;
  /** Sequence header or metadata. */
  config: boolean;
  hash: string;
  size: number;
}

function describe(e: { messageType: number; payload: Uint8Array }): { keyframe: boolean; config: boolean } {
  const p = e.payload;
  if (e.messageType === 9) {
    // AVC sequence header (packet type 0) and end of sequence (2): not coded frames.
    const config = p.length >= 2 && (p[0]! & 0x0f) === 7 && p[1] !== 1;
    return { keyframe: !config && p.length >= 1 && p[0]! >> 4 === 1, config };
  }
  if (e.messageType === 8) return { keyframe: false, config: p.length >= 2 && p[0]! >> 4 === 10 && p[1] === 0 };
  return { keyframe: false, config: true };
}

/** An RTMP player (libs/rtmp ClientSession over a socket) that stamps every message on arrival. */
export class MeasuredPlayer {
  readonly label: string;
  readonly client: RtmpTestClient;
  readonly arrivals: Arrival[];

  private constructor(label: string, client: RtmpTestClient, arrivals: Arrival[]) {
    this.label = label;
    this.client = client;
    this.arrivals = arrivals;
  }

  /** Connects and plays `url`; resolves on NetStream.Play.Start (the stream is live). */
  static async start(url: string, label: string, timeoutMs = 15_000): Promise<MeasuredPlayer> {
    const arrivals: Arrival[] = [];
    const client = await connectClient(url, {
      timeoutMs: 5000,
      onMedia: (e) => {
        const d = describe(e);
        arrivals.push({ at: Date.now(), type: e.messageType, timestamp: e.timestamp, ...d, hash: createHash('sha1').update(e.payload).digest('hex'), size: e.payload.length });
      },
    });
    try {
      await client.play(undefined, -2, timeoutMs);
    } catch (error) {
      client.destroy();
      throw error;
    }
    return new MeasuredPlayer(label, client, arrivals);
  }

  /** Coded video frames (not sequence headers). */
  video(from = 0, to = Infinity): Arrival[] {
    return this.arrivals.filter((a) => a.type === 9 && !a.config && a.at >= from && a.at <= to);
  }

  /** The largest wall-clock gap between consecutive video frames arriving in [from, to]. */
  maxVideoGap(from = 0, to = Infinity): { gapMs: number; at: number } {
    const v = this.video(from, to);
    let best = { gapMs: 0, at: 0 };
    for (let i = 1; i < v.length; i++) {
      const gap = v[i]!.at - v[i - 1]!.at;
      if (gap > best.gapMs) best = { gapMs: gap, at: v[i - 1]!.at };
    }
    return best;
  }

  /** The first message whose timestamp went backwards (per message type), if any. */
  nonMonotonic(): string | undefined {
    const last = new Map<number, number>();
    for (let i = 0; i < this.arrivals.length; i++) {
      const a = this.arrivals[i]!;
      if (a.config) continue;
      const prev = last.get(a.type);
      if (prev !== undefined && a.timestamp < prev) return `${this.label}: type ${a.type} message ${i}: timestamp ${a.timestamp} after ${prev}`;
      last.set(a.type, a.timestamp);
    }
    return undefined;
  }

  async waitForVideo(n: number, timeoutMs: number, after = 0): Promise<void> {
    await waitFor(() => this.video(after).length >= n || this.client.closed, timeoutMs, `${this.label}: ${n} video frames`);
    if (this.video(after).length < n) throw new Error(`${this.label}: connection closed after ${this.video(after).length} video frames`);
  }

  stop(): void {
    this.client.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Per-packet payload checks across publisher sessions
// ---------------------------------------------------------------------------------------------

export interface Run {
  /** Index in the source (this codec type only) of the run's first packet. */
  sourceStart: number;
  /** Index in the received packets (this codec type only). */
  receivedStart: number;
  length: number;
  /** Whether the run's first source packet is a keyframe (video). */
  startsOnKeyframe: boolean;
}

/**
 * Splits what a player received into runs of consecutive source packets, per codec type: within a
 * run every payload (hash and size) is the source's next one. A publisher that reconnects and sends
 * the file again from its start makes a new run. Returns the runs, or the first packet that is in
 * no run (a payload the source never had).
 */
export function sourceRuns<T extends { hash: string; size: number }>(
  source: readonly T[],
  received: readonly T[],
  isKeyframe: (s: T) => boolean,
): { runs: Run[]; foreign: number[] } {
  const byHash = new Map<string, number[]>();
  source.forEach((s, i) => {
    const list = byHash.get(s.hash);
    if (list) list.push(i);
    else byHash.set(s.hash, [i]);
  });
  const runs: Run[] = [];
  const foreign: number[] = [];
  let i = 0;
  while (i < received.length) {
    const candidates = byHash.get(received[i]!.hash) ?? [];
    let best = { start: -1, length: 0 };
    for (const start of candidates) {
      let n = 0;
      while (i + n < received.length && start + n < source.length && source[start + n]!.hash === received[i + n]!.hash && source[start + n]!.size === received[i + n]!.size) n++;
      if (n > best.length) best = { start, length: n };
    }
    if (best.length === 0) {
      foreign.push(i);
      i++;
      continue;
    }
    runs.push({ sourceStart: best.start, receivedStart: i, length: best.length, startsOnKeyframe: isKeyframe(source[best.start]!) });
    i += best.length;
  }
  return { runs, foreign };
}

/** ffprobe packets as {hash, size} items. */
export function packetItems(packets: readonly Packet[], type: string): (Packet & { hash: string })[] {
  return packets.filter((p) => p.codec_type === type).map((p) => ({ ...p, hash: p.data_hash }));
}

/** The source file's audio and video payloads (FLV tag bodies = RTMP message payloads) as arrival-like items. */
export function sourceMessages(file: string): { video: Arrival[]; audio: Arrival[] } {
  const tags = readFlv(file).tags;
  const items = tags
    .filter((t) => t.type === 8 || t.type === 9)
    .map((t): Arrival => {
      const d = describe({ messageType: t.type, payload: t.data });
      return { at: 0, type: t.type, timestamp: t.timestamp, ...d, hash: createHash('sha1').update(t.data).digest('hex'), size: t.data.length };
    })
    .filter((a) => !a.config);
  return { video: items.filter((a) => a.type === 9), audio: items.filter((a) => a.type === 8) };
}

/** Throws unless every coded frame `player` received is a source payload, in runs of source order. */
export function assertRunsOfSource(player: MeasuredPlayer, source: { video: Arrival[]; audio: Arrival[] }, maxRuns: number): { video: Run[]; audio: Run[] } {
  const out = { video: [] as Run[], audio: [] as Run[] };
  for (const type of ['video', 'audio'] as const) {
    const got = player.arrivals.filter((a) => a.type === (type === 'video' ? 9 : 8) && !a.config);
    const { runs, foreign } = sourceRuns(source[type], got, (s) => s.keyframe);
    if (foreign.length > 0) throw new Error(`${player.label}: ${foreign.length} ${type} payloads are not in the source (first: received #${foreign[0]})`);
    if (runs.length > maxRuns) throw new Error(`${player.label}: ${type} is ${runs.length} runs of the source (at most ${maxRuns} expected): ${JSON.stringify(runs)}`);
    if (type === 'video') {
      const bad = runs.find((r) => !r.startsOnKeyframe);
      if (bad) throw new Error(`${player.label}: a video run starts on source frame #${bad.sourceStart}, not a keyframe`);
    }
    out[type] = runs;
  }
  return out;
}
