import { EDGE_HEARTBEAT_SUBJECT, decodeJson, type Bus, type EdgeHeartbeat, type Subscription } from '@firstmile/bus';
import { nullLogger, type Logger } from '@firstmile/observability';

/** The part of an edge's latest heartbeat routing uses, with the local time it arrived. */
export type EdgeLoad = { [K in Exclude<keyof EdgeHeartbeat, 'streams' | 'at'>]-?: EdgeHeartbeat[K] } & {
  /** Local clock (ms) when it arrived: expiry never trusts the edge's clock. */
  receivedAt: number;
};

export type LoadChange = 'added' | 'changed' | 'removed';

export interface LoadViewOptions {
  /** The edges' heartbeat interval (FIRSTMILE_HEARTBEAT_MS). */
  heartbeatMs: number;
  /** An edge is forgotten after this many missed heartbeats. Default 3. */
  missedHeartbeats?: number;
  /** Most edges kept; the least recently heard one is dropped beyond it. Default 10000. */
  maxEdges?: number;
  logger?: Logger;
  now?: () => number;
}

const MAX_ID = 253;
const MAX_LABEL = 64;
const MAX_URL = 512;
/** A URL hint goes out to encoders verbatim, so only a plain rtmp(s)://host[:port][/path] passes. */
const URL_HINT = /^(rtmps?:\/\/)?[A-Za-z0-9.\-[\]:]+(\/[A-Za-z0-9._~\-/]*)?$/;

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

function isOptionalString(v: unknown, max: number, pattern?: RegExp): boolean {
  return v === undefined || (typeof v === 'string' && v.length > 0 && v.length <= max && (!pattern || pattern.test(v)));
}

/**
 * Checks the fields routing reads from an `fm.hb.edge` message. Anyone allowed to publish on the
 * subject can send one, so sizes are capped and URL hints must be plain rtmp(s) addresses: they
 * are handed to encoders by `GET /v1/ingests`.
 */
export function isRoutableHeartbeat(value: unknown): value is EdgeHeartbeat {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.edge === 'string' &&
    v.edge.length > 0 &&
    v.edge.length <= MAX_ID &&
    isCount(v.connections) &&
    isCount(v.maxConnections) &&
    isCount(v.publishers) &&
    isCount(v.ingestBps) &&
    isCount(v.cpu) &&
    typeof v.draining === 'boolean' &&
    isOptionalString(v.region, MAX_LABEL) &&
    isOptionalString(v.zone, MAX_LABEL) &&
    isOptionalString(v.rtmpUrl, MAX_URL, URL_HINT) &&
    isOptionalString(v.rtmpsUrl, MAX_URL, URL_HINT)
  );
}

/**
 * The latest heartbeat of every edge, bounded in count and expiring after `missedHeartbeats`
 * intervals of silence. Listeners hear about edges that appear, disappear, or change what routing
 * depends on besides load (draining, region, zone, URLs); plain load updates are silent, since the
 * ranking reads them on each request.
 */
export class LoadView {
  readonly ttlMs: number;
  readonly #maxEdges: number;
  readonly #now: () => number;
  readonly #log: Logger;
  /** Insertion order is last-heard order: the first entry is the one to drop when full. */
  readonly #edges = new Map<string, EdgeLoad>();
  readonly #listeners = new Set<(edge: string, change: LoadChange) => void>();
  #subscription: Subscription | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #invalid = 0;

  constructor(options: LoadViewOptions) {
    if (!(options.heartbeatMs > 0)) throw new RangeError('heartbeatMs must be positive');
    this.ttlMs = options.heartbeatMs * (options.missedHeartbeats ?? 3);
    this.#maxEdges = options.maxEdges ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.#log = options.logger ?? nullLogger;
  }

  /** Subscribes to edge heartbeats on the bus and sweeps expired edges every `sweepMs`. */
  start(bus: Bus, sweepMs: number = Math.max(100, Math.floor(this.ttlMs / 3))): void {
    if (this.#subscription) return;
    this.#subscription = bus.subscribe(EDGE_HEARTBEAT_SUBJECT, (msg) => {
      const hb = decodeJson(msg.data, isRoutableHeartbeat);
      if (!hb) {
        // Counted, logged rarely: a flood of bad messages must not become a flood of log lines.
        if (this.#invalid++ % 1000 === 0) this.#log.warn({ subject: msg.subject, invalid: this.#invalid }, 'ignoring malformed edge heartbeat');
        return;
      }
      this.observe(hb);
    });
    this.#sweeper = setInterval(() => this.sweep(), sweepMs);
    this.#sweeper.unref();
  }

  stop(): void {
    this.#subscription?.unsubscribe();
    this.#subscription = undefined;
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /**
   * Records one heartbeat; false (and nothing recorded) when it fails isRoutableHeartbeat. For a
   * caller that already receives heartbeats (api/cluster-view.ts) instead of start(bus).
   */
  observe(hb: EdgeHeartbeat): boolean {
    if (!isRoutableHeartbeat(hb)) return false;
    const previous = this.#edges.get(hb.edge);
    const load: EdgeLoad = {
      edge: hb.edge,
      region: hb.region,
      zone: hb.zone,
      rtmpUrl: hb.rtmpUrl,
      rtmpsUrl: hb.rtmpsUrl,
      connections: hb.connections,
      maxConnections: hb.maxConnections,
      publishers: hb.publishers,
      ingestBps: hb.ingestBps,
      cpu: hb.cpu,
      draining: hb.draining,
      receivedAt: this.#now(),
    };
    if (previous) this.#edges.delete(hb.edge);
    else if (this.#edges.size >= this.#maxEdges) this.#evictOne();
    this.#edges.set(hb.edge, load);
    if (!previous || this.#isExpired(previous, load.receivedAt)) this.#emit(hb.edge, 'added');
    else if (routingFieldsDiffer(previous, load)) this.#emit(hb.edge, 'changed');
    return true;
  }

  /** The edge's latest heartbeat, or undefined when it has none that is fresh. */
  get(edge: string): EdgeLoad | undefined {
    const e = this.#edges.get(edge);
    return e && !this.#isExpired(e, this.#now()) ? e : undefined;
  }

  /** Fresh heartbeats only. */
  list(): EdgeLoad[] {
    const now = this.#now();
    const out: EdgeLoad[] = [];
    for (const e of this.#edges.values()) if (!this.#isExpired(e, now)) out.push(e);
    return out;
  }

  get size(): number {
    return this.#edges.size;
  }

  /** Drops expired edges and tells listeners; returns their ids. */
  sweep(): string[] {
    const now = this.#now();
    const gone: string[] = [];
    // Oldest first: stop at the first fresh one.
    for (const [id, e] of this.#edges) {
      if (!this.#isExpired(e, now)) break;
      this.#edges.delete(id);
      gone.push(id);
    }
    for (const id of gone) this.#emit(id, 'removed');
    return gone;
  }

  onChange(listener: (edge: string, change: LoadChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #isExpired(e: EdgeLoad, now: number): boolean {
    return now - e.receivedAt > this.ttlMs;
  }

  #evictOne(): void {
    const first = this.#edges.keys().next();
    if (first.done) return;
    this.#edges.delete(first.value);
    this.#log.warn({ edge: first.value, maxEdges: this.#maxEdges }, 'edge load view full: dropping the least recently heard edge');
    this.#emit(first.value, 'removed');
  }

  #emit(edge: string, change: LoadChange): void {
    for (const l of this.#listeners) {
      try {
        l(edge, change);
      } catch (error) {
        this.#log.error({ err: error, edge }, 'load view listener failed');
      }
    }
  }
}

function routingFieldsDiffer(a: EdgeLoad, b: EdgeLoad): boolean {
  return a.draining !== b.draining || a.region !== b.region || a.zone !== b.zone || a.rtmpUrl !== b.rtmpUrl || a.rtmpsUrl !== b.rtmpsUrl;
}
