import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { freePorts } from '../../bench/src/ports.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';

export interface NatsServer {
  readonly port: number;
  readonly monitorPort: number;
  readonly url: string;
  readonly proc: ChildProcess;
  readonly output: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export { freePorts };

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

export interface StartNatsOptions {
  /** Client port (default: a free one). */
  port?: number;
  /** Monitoring port (default: a free one). */
  monitorPort?: number;
  jetstream?: boolean;
  /** Cluster: this node's route port and every node's route port. */
  cluster?: { name: string; port: number; routes: number[] };
  serverName?: string;
  args?: string[];
}

/** A real nats-server (Debian package) on a free loopback port, JetStream in a temp dir. */
export async function startNats(options: StartNatsOptions = {}): Promise<NatsServer> {
  for (let attempt = 1; ; attempt++) {
    // Both picked while held open together: two freePort() calls in a row can return the same port
    // (the first is closed before the second is asked), and nats-server then fails to bind.
    const picked = (await freePorts(3)).filter((p) => p !== options.port && p !== options.monitorPort);
    const port = options.port ?? picked.shift()!;
    const monitorPort = options.monitorPort ?? picked.shift()!;
    try {
      return await launchNats(options, port, monitorPort);
    } catch (error) {
      // Another process can still take a picked port before nats-server binds it: pick again.
      const picks = options.port === undefined || options.monitorPort === undefined;
      if (!picks || attempt >= 3 || !/address already in use/.test((error as Error).message)) throw error;
    }
  }
}

async function launchNats(options: StartNatsOptions, port: number, monitorPort: number): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'fm-nats-'));
  const args = ['-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort), '-n', options.serverName ?? `n${port}`];
  if (options.jetstream ?? true) args.push('-js', '-sd', dir);
  if (options.cluster) {
    args.push('--cluster_name', options.cluster.name, '--cluster', `nats://127.0.0.1:${options.cluster.port}`);
    args.push('--routes', options.cluster.routes.filter((p) => p !== options.cluster!.port).map((p) => `nats://127.0.0.1:${p}`).join(','));
  }
  args.push(...(options.args ?? []));
  const proc = spawn('nats-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const deadline = Date.now() + 15_000;
  while (!/Server is ready/.test(out)) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`nats-server did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    port,
    monitorPort,
    url: `nats://127.0.0.1:${port}`,
    proc,
    output: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(signal);
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One core NATS request through the server at `url` on a fresh connection; resolves with the reply
 * parsed as JSON. For the JetStream API (`$JS.API.*`), so tests can inspect and steer JetStream
 * without going through the code under test.
 */
export async function natsRequestJson<T>(url: string, subject: string, body: unknown, timeoutMs = 2000): Promise<T> {
  const nc = await connect({ servers: url, timeout: timeoutMs, reconnect: false });
  try {
    const reply = await nc.request(subject, body === undefined ? '' : JSON.stringify(body), { timeout: timeoutMs });
    return reply.json<T>();
  } finally {
    await nc.close().catch(() => {});
  }
}

/** One message read back from a JetStream stream. */
export interface JetStreamMessage {
  subject: string;
  /** The stream sequence (a KV entry's revision). */
  seq: number;
  data: Buffer;
  /** ISO time the server stored it. */
  time: string;
}

interface JsApiError {
  code: number;
  err_code?: number;
  description: string;
}

/**
 * The last message on `subject` in the JetStream stream `stream` (for a KV bucket B and key K:
 * stream `KV_B`, subject `$KV.B.K`), read through the server at `url` with the raw JetStream API
 * (`$JS.API.STREAM.MSG.GET`, answered by the stream's leader). Retries through leader elections
 * and reconnects for `retryMs`; resolves undefined when the stream holds no message on the subject.
 */
export async function jetStreamLastMessage(url: string, stream: string, subject: string, retryMs = 10_000): Promise<JetStreamMessage | undefined> {
  const deadline = Date.now() + retryMs;
  let lastError = 'no attempt';
  while (Date.now() < deadline) {
    try {
      const body = await natsRequestJson<{ message?: { subject: string; seq: number; data?: string; time: string }; error?: JsApiError }>(
        url,
        `$JS.API.STREAM.MSG.GET.${stream}`,
        { last_by_subj: subject },
      );
      if (body.message) {
        const m = body.message;
        return { subject: m.subject, seq: m.seq, data: Buffer.from(m.data ?? '', 'base64'), time: m.time };
      }
      // 10037: no message found.
      if (body.error && (body.error.err_code === 10037 || /no message found/i.test(body.error.description))) return undefined;
      lastError = JSON.stringify(body.error ?? body);
    } catch (error) {
      lastError = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`could not read ${subject} from stream ${stream} through ${url} within ${retryMs} ms: ${lastError}`);
}

/** The name of the server leading a clustered JetStream stream ($JS.API.STREAM.INFO), or undefined while it has none. */
export async function jetStreamLeader(url: string, stream: string): Promise<string | undefined> {
  const info = await natsRequestJson<{ cluster?: { leader?: string }; error?: JsApiError }>(url, `$JS.API.STREAM.INFO.${stream}`, undefined);
  if (info.error) throw new Error(`stream info ${stream}: ${JSON.stringify(info.error)}`);
  return info.cluster?.leader || undefined;
}

/** Asks a stream's leader to step down ($JS.API.STREAM.LEADER.STEPDOWN); another replica is elected. */
export async function jetStreamStepDown(url: string, stream: string): Promise<void> {
  const r = await natsRequestJson<{ success?: boolean; error?: JsApiError }>(url, `$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, undefined, 5000);
  if (!r.success) throw new Error(`stepdown ${stream}: ${JSON.stringify(r.error ?? r)}`);
}
