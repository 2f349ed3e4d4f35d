import {
  EDGE_HEARTBEAT_SUBJECT,
  ORIGIN_HEARTBEAT_SUBJECT,
  decodeJson,
  type Bus,
  type EdgeHeartbeat,
  type OriginHeartbeat,
  type Subscription,
} from '@firstmile/bus';
import type { Logger } from '@firstmile/observability';

export interface ClusterViewOptions {
  bus: Bus;
  /** The edges' and origins' heartbeat interval. An entry not refreshed for 3 intervals is gone. */
  heartbeatMs: number;
  logger: Logger;
  now?: () => number;
  /** Edges kept at most (default 10 000); beyond it the least recently heard is dropped. */
  maxEdges?: number;
  /** Origins kept at most (default 10 000). */
  maxOrigins?: number;
  /** Streams kept per heartbeat (default 100 000); the rest of a larger heartbeat is ignored. */
  maxStreamsPerHeartbeat?: number;
}

export type EdgeStream = EdgeHeartbeat['streams'][number];

export type HeartbeatEvent = { kind: 'edge'; heartbeat: EdgeHeartbeat } | { kind: 'origin'; heartbeat: OriginHeartbeat };

export interface Viewers {
  total: number;
  byOrigin: Record<string, number>;
}

interface EdgeEntry {
  heartbeat: EdgeHeartbeat;
  receivedAt: number;
  streams: Map<string, EdgeStream>;
}

interface OriginEntry {
  heartbeat: OriginHeartbeat;
  receivedAt: number;
  viewers: Map<string, number>;
}

const streamKey = (app: string, streamId: string) => `${app}\u0000${streamId}`;

/**
 * The latest heartbeat of every edge and origin, as control sees them on the bus. Heartbeats are
 * at-most-once and repeat, so the view is eventually right and never blocks on anyone; freshness
 * is judged by when control received a heartbeat, not by the sender's clock, so a skewed node is
 * neither kept forever nor dropped at once. Used by `GET /v1/live` (bitrate, viewers) and by
 * ingest routing (edge load).
 */
export class ClusterView {
  readonly #options: Required<Omit<ClusterViewOptions, 'now'>> & { now: () => number };
  readonly #edges = new Map<string, EdgeEntry>();
  readonly #origins = new Map<string, OriginEntry>();
  readonly #listeners = new Set<(event: HeartbeatEvent) => void>();
  #subscriptions: Subscription[] = [];
  #ignored = 0;

  constructor(options: ClusterViewOptions) {
    this.#options = {
      ...options,
      maxEdges: options.maxEdges ?? 10_000,
      maxOrigins: options.maxOrigins ?? 10_000,
      maxStreamsPerHeartbeat: options.maxStreamsPerHeartbeat ?? 100_000,
      now: options.now ?? Date.now,
    };
  }

  /** Subscribes to the heartbeat subjects (every replica sees every heartbeat: no queue group). */
  start(): this {
    if (this.#subscriptions.length > 0) return this;
    const { bus } = this.#options;
    this.#subscriptions = [
      bus.subscribe(EDGE_HEARTBEAT_SUBJECT, (m) => {
        const hb = decodeJson(m.data, isEdgeHeartbeat);
        if (hb) this.addEdgeHeartbeat(hb);
        else this.#ignore('edge');
      }),
      bus.subscribe(ORIGIN_HEARTBEAT_SUBJECT, (m) => {
        const hb = decodeJson(m.data, isOriginHeartbeat);
        if (hb) this.addOriginHeartbeat(hb);
        else this.#ignore('origin');
      }),
    ];
    return this;
  }

  close(): void {
    for (const s of this.#subscriptions) s.unsubscribe();
    this.#subscriptions = [];
    this.#edges.clear();
    this.#origins.clear();
    this.#listeners.clear();
  }

  /** Records an edge heartbeat as if it came from the bus (start() does this for every one). */
  addEdgeHeartbeat(heartbeat: EdgeHeartbeat): void {
    const streams = new Map<string, EdgeStream>();
    for (const s of heartbeat.streams.slice(0, this.#options.maxStreamsPerHeartbeat)) streams.set(streamKey(s.app, s.streamId), s);
    this.#put(this.#edges, heartbeat.edge, { heartbeat, receivedAt: this.#options.now(), streams }, this.#options.maxEdges);
    this.#emit({ kind: 'edge', heartbeat });
  }

  addOriginHeartbeat(heartbeat: OriginHeartbeat): void {
    const viewers = new Map<string, number>();
    for (const s of heartbeat.streams.slice(0, this.#options.maxStreamsPerHeartbeat)) {
      const key = streamKey(s.app, s.streamId);
      viewers.set(key, (viewers.get(key) ?? 0) + s.viewers);
    }
    this.#put(this.#origins, heartbeat.origin, { heartbeat, receivedAt: this.#options.now(), viewers }, this.#options.maxOrigins);
    this.#emit({ kind: 'origin', heartbeat });
  }

  /** Fresh edge heartbeats, one per edge. */
  edges(): EdgeHeartbeat[] {
    return this.#fresh(this.#edges).map((e) => e.heartbeat);
  }

  edge(id: string): EdgeHeartbeat | undefined {
    const e = this.#edges.get(id);
    return e && this.#isFresh(e) ? e.heartbeat : undefined;
  }

  /** Fresh origin heartbeats, one per origin. */
  origins(): OriginHeartbeat[] {
    return this.#fresh(this.#origins).map((e) => e.heartbeat);
  }

  /** The stream's entry in `edge`'s latest heartbeat: bitrate, codecs, health, play name. */
  edgeStream(edge: string, app: string, streamId: string): EdgeStream | undefined {
    const e = this.#edges.get(edge);
    return e && this.#isFresh(e) ? e.streams.get(streamKey(app, streamId)) : undefined;
  }

  /** Viewers of a stream per origin, from the origins' latest heartbeats. */
  viewers(app: string, streamId: string): Viewers {
    const key = streamKey(app, streamId);
    const byOrigin: Record<string, number> = {};
    let total = 0;
    for (const o of this.#fresh(this.#origins)) {
      const n = o.viewers.get(key);
      if (n === undefined || n <= 0) continue;
      byOrigin[o.heartbeat.origin] = n;
      total += n;
    }
    return { total, byOrigin };
  }

  /** Called for every accepted heartbeat; returns the unsubscribe function. */
  onHeartbeat(listener: (event: HeartbeatEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Malformed heartbeats ignored since start. */
  get ignored(): number {
    return this.#ignored;
  }

  #put<E extends { receivedAt: number }>(map: Map<string, E>, id: string, entry: E, max: number): void {
    // Re-inserting keeps the Map in order of last receipt, so the first key is the stalest.
    map.delete(id);
    if (map.size >= max) {
      for (const [k, v] of map) if (!this.#isFresh(v)) map.delete(k);
      while (map.size >= max) map.delete(map.keys().next().value as string);
    }
    map.set(id, entry);
  }

  #fresh<E extends { receivedAt: number }>(map: Map<string, E>): E[] {
    const out: E[] = [];
    for (const [k, v] of map) {
      if (this.#isFresh(v)) out.push(v);
      else map.delete(k);
    }
    return out;
  }

  #isFresh(e: { receivedAt: number }): boolean {
    return this.#options.now() - e.receivedAt <= 3 * this.#options.heartbeatMs;
  }

  #emit(event: HeartbeatEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch (error) {
        this.#options.logger.error({ err: (error as Error).message }, 'heartbeat listener failed');
      }
    }
  }

  #ignore(kind: string): void {
    // Logged at powers of two: a misbehaving sender repeats every interval.
    if ((++this.#ignored & (this.#ignored - 1)) === 0) this.#options.logger.warn({ kind, ignored: this.#ignored }, 'malformed heartbeat ignored');
  }
}

const isString = (v: unknown, max = 256): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function isStreamRef(v: unknown): v is { app: string; streamId: string } {
  return typeof v === 'object' && v !== null && isString((v as { app?: unknown }).app) && isString((v as { streamId?: unknown }).streamId);
}

export function isEdgeHeartbeat(v: unknown): v is EdgeHeartbeat {
  if (typeof v !== 'object' || v === null) return false;
  const h = v as Record<string, unknown>;
  return (
    isString(h['edge']) &&
    isCount(h['connections']) &&
    isCount(h['ingestBps']) &&
    Array.isArray(h['streams']) &&
    h['streams'].every((s: unknown) => isStreamRef(s) && isCount((s as { ingestBps?: unknown }).ingestBps) && typeof (s as { since?: unknown }).since === 'string')
  );
}

export function isOriginHeartbeat(v: unknown): v is OriginHeartbeat {
  if (typeof v !== 'object' || v === null) return false;
  const h = v as Record<string, unknown>;
  return (
    isString(h['origin']) &&
    Array.isArray(h['streams']) &&
    h['streams'].every((s: unknown) => isStreamRef(s) && isCount((s as { viewers?: unknown }).viewers))
  );
}
