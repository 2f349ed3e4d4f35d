import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NatsServer {
  readonly port: number;
  readonly monitorPort: number;
  readonly url: string;
  readonly proc: ChildProcess;
  readonly output: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export interface StartNatsOptions {
  jetstream?: boolean;
  /** Cluster: this node's route port and every node's route port. */
  cluster?: { name: string; port: number; routes: number[] };
  serverName?: string;
  args?: string[];
}

/** A real nats-server (Debian package) on a free loopback port, JetStream in a temp dir. */
export async function startNats(options: StartNatsOptions = {}): Promise<NatsServer> {
  const port = await freePort();
  const monitorPort = await freePort();
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
