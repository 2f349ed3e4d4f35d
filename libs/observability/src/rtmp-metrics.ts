import type { Counter } from 'prom-client';
import { CONNECTION_STATES, type ConnectionState, type Metrics, type ServiceLabel } from './metrics.ts';

/**
 * What an RTMP listener counts (RtmpServer#stats() in @firstmile/rtmp-node has this shape; the
 * transport does not import prom-client). Totals only grow; connections is the number open now.
 */
export interface RtmpServerStatsSnapshot {
  readonly bytesReceived: number;
  readonly bytesSent: number;
  readonly accepted: number;
  /** By refusal reason: max_connections, draining. */
  readonly refused: Readonly<Record<string, number>>;
  /** By close reason code: ok, handshake_timeout, idle_timeout, protocol_error, ... */
  readonly closed: Readonly<Record<string, number>>;
  readonly connections: Readonly<Record<ConnectionState, number>>;
  /** The configured cap on open connections. */
  readonly maxConnections: number;
}

export interface RtmpStatsSource {
  stats(): RtmpServerStatsSnapshot;
}

export interface RtmpMetricsOptions {
  /** Also set firstmile_ingress_bitrate_bps from bytes received (an edge). */
  ingressBitrate?: boolean | undefined;
  /** Also set firstmile_egress_bitrate_bps from bytes sent (an origin). */
  egressBitrate?: boolean | undefined;
  /** Bitrates are averaged over at least this long between scrapes (default 1000 ms). */
  minRateIntervalMs?: number | undefined;
  now?: (() => number) | undefined;
}

/**
 * Exposes a listener's counters through collect() callbacks: the socket paths only add to plain
 * numbers, and the figures are read when Prometheus scrapes. Returns a function that unbinds.
 */
export function bindRtmpServerMetrics(
  metrics: Metrics,
  source: RtmpStatsSource,
  service: ServiceLabel,
  options: RtmpMetricsOptions = {},
): () => void {
  const now = options.now ?? Date.now;
  const unbind: Array<() => void> = [];
  const deltas = new DeltaCounter();

  unbind.push(
    metrics.onCollect(metrics.connections, () => {
      const s = source.stats();
      for (const state of CONNECTION_STATES) metrics.connections.set({ service, state }, s.connections[state]);
    }),
    metrics.onCollect(metrics.connectionsTotal, () => {
      const s = source.stats();
      deltas.add(metrics.connectionsTotal, 'accepted', { service, result: 'accepted', reason: 'ok' }, s.accepted);
      for (const [reason, n] of Object.entries(s.refused)) {
        deltas.add(metrics.connectionsTotal, `refused/${reason}`, { service, result: 'refused', reason }, n);
      }
      for (const [reason, n] of Object.entries(s.closed)) {
        deltas.add(metrics.connectionsTotal, `closed/${reason}`, { service, result: 'closed', reason }, n);
      }
    }),
    metrics.onCollect(metrics.maxConnections, () => {
      metrics.maxConnections.set({ service }, source.stats().maxConnections);
    }),
    metrics.onCollect(metrics.bytesReceived, () => {
      deltas.add(metrics.bytesReceived, 'in', { service }, source.stats().bytesReceived);
    }),
    metrics.onCollect(metrics.bytesSent, () => {
      deltas.add(metrics.bytesSent, 'out', { service }, source.stats().bytesSent);
    }),
  );
  const minInterval = options.minRateIntervalMs ?? 1000;
  if (options.ingressBitrate) {
    const rate = new Rate(now, minInterval, source.stats().bytesReceived);
    unbind.push(metrics.onCollect(metrics.ingressBitrate, () => metrics.ingressBitrate.set(rate.bitsPerSecond(source.stats().bytesReceived))));
  }
  if (options.egressBitrate) {
    const rate = new Rate(now, minInterval, source.stats().bytesSent);
    unbind.push(metrics.onCollect(metrics.egressBitrate, () => metrics.egressBitrate.set(rate.bitsPerSecond(source.stats().bytesSent))));
  }
  return () => {
    for (const u of unbind) u();
  };
}

/**
 * Turns a source's running totals into counter increments. Several sources may feed one series
 * (two listeners of a service), so the counter is never set, only advanced by what is new.
 */
class DeltaCounter {
  readonly #seen = new Map<string, number>();

  add<L extends string>(counter: Counter<L>, key: string, labels: Partial<Record<L, string>>, total: number): void {
    const seen = this.#seen.get(key) ?? 0;
    // A total below what was seen means the source started over: all of it is new.
    const delta = total >= seen ? total - seen : total;
    this.#seen.set(key, total);
    if (delta > 0) counter.inc(labels, delta);
  }
}

/** Bits per second between scrapes; a scrape sooner than minIntervalMs repeats the last figure. */
class Rate {
  readonly #now: () => number;
  readonly #minIntervalMs: number;
  #at: number;
  #bytes: number;
  #last = 0;

  constructor(now: () => number, minIntervalMs: number, bytes: number) {
    this.#now = now;
    this.#minIntervalMs = minIntervalMs;
    this.#at = now();
    this.#bytes = bytes;
  }

  bitsPerSecond(bytes: number): number {
    const at = this.#now();
    const ms = at - this.#at;
    if (ms < this.#minIntervalMs) return this.#last;
    const delta = bytes >= this.#bytes ? bytes - this.#bytes : bytes;
    this.#last = Math.round((delta * 8 * 1000) / ms);
    this.#at = at;
    this.#bytes = bytes;
    return this.#last;
  }
}
