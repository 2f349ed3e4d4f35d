/**
 * A player host: a child process (forked by the bench, so on the generator's core) that runs many
 * players and answers the bench over the IPC channel. The bench uses two: a bulk host with most
 * players, and a probe host with a few players whose delay is not inflated by the bulk host's
 * event-loop lag (both share CLOCK_MONOTONIC with the publisher).
 *
 * Protocol (JSON messages, one answer per request):
 *   {type:'connect', target, key, count, timeoutMs, concurrency, stallMs} → {type:'connected', connected, errors}
 *   {type:'open', startUs, endUs}  → {type:'opened'}        counters snapshot, window for stamps/stalls
 *   {type:'close'}                 → {type:'closed'}        counters snapshot at the window's end
 *   {type:'report'}                → {type:'report', ...}   after the grace period
 *   {type:'exit'}                  → process exits
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Player, Window, mapLimit, nowUs, type PlayerCounters, type Target } from './load.ts';

export interface ConnectRequest {
  type: 'connect';
  target: Target;
  key: string;
  count: number;
  timeoutMs: number;
  concurrency: number;
  stallMs: number;
}

export type HostRequest = ConnectRequest | { type: 'open'; startUs: number; endUs: number } | { type: 'close' } | { type: 'report' } | { type: 'exit' };

export interface HostReport {
  type: 'report';
  /** Players that connected. */
  players: number;
  /** Seconds between this host's open and close snapshots. */
  seconds: number;
  bytesIn: number;
  messages: number;
  /** Per player: payload bytes received in the window. */
  payloadBytes: number[];
  /** Per player: payload bytes of window frames (by send stamp) received. */
  windowVideoBytes: number[];
  stalls: number[];
  /** Players whose connection ended during the run. */
  disconnected: number;
  delays: ReturnType<Window['delays']['toSparse']>;
  /** CPU seconds of this process over the window. */
  cpuSeconds: number;
  /** Event-loop delay p99 over the window (ms, resolution taken off). */
  loopLagP99Ms: number;
}

const LOOP_RESOLUTION_MS = 5;
const window = new Window(250);
const players: Player[] = [];
let before: PlayerCounters[] = [];
let after: PlayerCounters[] = [];
let openedAt = 0;
let closedAt = 0;
let cpuAtOpen: NodeJS.CpuUsage = process.cpuUsage();
let cpuSeconds = 0;
const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });

function send(message: unknown): void {
  process.send?.(message);
}

async function handle(req: HostRequest): Promise<void> {
  switch (req.type) {
    case 'connect': {
      window.stallUs = req.stallMs * 1000;
      const fresh = Array.from({ length: req.count }, () => new Player(window));
      const outcomes = await mapLimit(fresh, req.concurrency, async (p) => {
        players.push(p);
        await p.open(req.target, req.key, req.timeoutMs);
      });
      const errors = new Map<string, number>();
      for (const o of outcomes) {
        if (o.status === 'rejected') {
          const m = String((o.reason as Error)?.message ?? o.reason).slice(0, 160);
          errors.set(m, (errors.get(m) ?? 0) + 1);
        }
      }
      send({ type: 'connected', connected: outcomes.filter((o) => o.status === 'fulfilled').length, errors: [...errors].map(([m, n]) => `${n} × ${m}`) });
      return;
    }
    case 'open':
      window.open(req.startUs, req.endUs);
      before = players.map((p) => p.counters());
      openedAt = performance.now();
      cpuAtOpen = process.cpuUsage();
      loop.reset();
      loop.enable();
      send({ type: 'opened' });
      return;
    case 'close': {
      after = players.map((p) => p.counters());
      closedAt = performance.now();
      const cpu = process.cpuUsage(cpuAtOpen);
      cpuSeconds = (cpu.user + cpu.system) / 1e6;
      loop.disable();
      const end = nowUs();
      for (const p of players) p.finishWindow(Math.min(end, window.endUs));
      send({ type: 'closed' });
      return;
    }
    case 'report': {
      let bytesIn = 0;
      let messages = 0;
      const payloadBytes: number[] = [];
      players.forEach((p, i) => {
        bytesIn += after[i]!.bytesIn - before[i]!.bytesIn;
        messages += after[i]!.messages - before[i]!.messages;
        payloadBytes.push(after[i]!.payloadBytes - before[i]!.payloadBytes);
      });
      const connected = players.filter((p) => p.playing);
      const report: HostReport = {
        type: 'report',
        players: connected.length,
        seconds: (closedAt - openedAt) / 1000,
        bytesIn,
        messages,
        payloadBytes,
        windowVideoBytes: players.map((p) => p.windowVideoBytes),
        stalls: players.map((p) => p.stalls),
        disconnected: connected.filter((p) => p.client!.closed).length,
        delays: window.delays.toSparse(),
        cpuSeconds,
        loopLagP99Ms: Math.max(0, loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS),
      };
      send(report);
      return;
    }
    case 'exit':
      for (const p of players) p.close();
      process.exit(0);
  }
}

process.on('message', (req: HostRequest) => {
  handle(req).catch((error: unknown) => send({ type: 'error', message: (error as Error).message }));
});
process.on('disconnect', () => process.exit(0));
