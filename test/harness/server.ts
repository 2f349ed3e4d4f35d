import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export const BIN = fileURLToPath(new URL('../../services/firstmile/src/bin.ts', import.meta.url));

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface ServerProcess {
  readonly proc: ChildProcess;
  readonly rtmpPort: number;
  readonly rtmpsPort: number | undefined;
  readonly httpPort: number;
  /** Every JSON log line so far (stdout). */
  readonly logs: LogLine[];
  /** Raw stdout+stderr text, for secret-leak greps. */
  readonly output: () => string;
  /** rtmp://127.0.0.1:<port>/<path> */
  url(path: string): string;
  /** Resolves with the first log line matching, or rejects after timeoutMs. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** RSS of the server process in bytes, from /proc. */
  rss(): number;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  mode?: 'up' | 'edge' | 'origin' | 'control';
  /** Extra flags, e.g. ['--reconnect-window-ms', '500']. */
  args?: string[];
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

/**
 * Starts the real `firstmile` command line as a child process on ephemeral loopback ports, the way
 * a user runs it, and resolves once it logs the ports it bound.
 */
export async function startServer(options: StartOptions = {}): Promise<ServerProcess> {
  const args = [BIN, options.mode ?? 'up', '--host', '127.0.0.1', '--rtmp-port', '0', '--http-port', '0', ...(options.args ?? [])];
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('FIRSTMILE_')) env[k] = v;
  Object.assign(env, { FIRSTMILE_LOG_LEVEL: 'debug' }, options.env ?? {});
  const proc = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  let raw = '';
  const waiters = new Set<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  proc.stderr!.on('data', (d: Buffer) => {
    raw += d.toString();
  });
  createInterface({ input: proc.stdout! }).on('line', (text) => {
    raw += `${text}\n`;
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return;
    }
    logs.push(line);
    for (const w of waiters) {
      if (w.match(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));

  const waitForLog = (match: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> => {
    const found = logs.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const w = { match, resolve: (l: LogLine) => { clearTimeout(t); resolve(l); } };
      const t = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`no matching log line within ${timeoutMs} ms; output:\n${raw.slice(-4000)}`));
      }, timeoutMs);
      waiters.add(w);
    });
  };

  let started: LogLine;
  try {
    started = await Promise.race([
      waitForLog((l) => l.msg === 'firstmile started', options.startTimeoutMs ?? 20_000),
      exited.then((code) => {
        throw new Error(`firstmile exited with ${code} before starting:\n${raw}`);
      }),
    ]);
  } catch (error) {
    proc.kill('SIGKILL');
    throw error;
  }
  const ports = started['ports'] as { rtmp: number; rtmps?: number; http: number };
  return {
    proc,
    rtmpPort: ports.rtmp,
    rtmpsPort: ports.rtmps,
    httpPort: ports.http,
    logs,
    output: () => raw,
    url: (path: string) => `rtmp://127.0.0.1:${ports.rtmp}/${path}`,
    waitForLog,
    rss() {
      const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
      const m = /VmRSS:\s+(\d+) kB/.exec(status);
      return m ? Number(m[1]) * 1024 : 0;
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}
