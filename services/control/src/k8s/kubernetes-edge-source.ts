import { CoreV1Api, DiscoveryV1Api, type Informer, type KubeConfig, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import { nullLogger, type Logger } from '@firstmile/observability';
import type { EdgeInfo, EdgeSource } from '../routing/edge-source.ts';
import { projectedInformer } from './informer.ts';

export const REGION_LABEL = 'topology.kubernetes.io/region';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
/** Set by the EndpointSlice controller on every slice it manages for a Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface KubernetesEdgeSourceOptions {
  kubeConfig: KubeConfig;
  /** Namespace of the edge Service. */
  namespace: string;
  /** Name of the edge Service; its EndpointSlices list the edge pods. */
  service: string;
  logger?: Logger;
  /** Most edges in the view, and most objects each informer keeps. Default 10000. */
  maxEdges?: number;
  /** Items per LIST page. Default 500. */
  pageSize?: number;
  /** First delay before restarting an informer after an API error; doubles up to maxRetryDelayMs. Default 1000. */
  retryDelayMs?: number;
  /** Default 30000. */
  maxRetryDelayMs?: number;
}

/** What the cache keeps of an EndpointSlice. */
interface SliceView extends KubernetesObject {
  endpoints: EndpointView[];
}

interface EndpointView {
  pod: string | undefined;
  address: string | undefined;
  ready: boolean;
  terminating: boolean;
  nodeName: string | undefined;
  zone: string | undefined;
}

/** What the cache keeps of a Node: its topology labels. */
interface NodeView extends KubernetesObject {
  region: string | undefined;
  zone: string | undefined;
}

/** EndpointSlices hold at most 1000 endpoints (the API's validation limit). */
const MAX_ENDPOINTS_PER_SLICE = 1000;

type Kind = 'endpointslices' | 'nodes';

/**
 * The edges from Kubernetes: the EndpointSlices of the edge Service (labelled
 * kubernetes.io/service-name=<service>) give each edge pod, its readiness (`conditions.ready`),
 * whether it is shutting down (`conditions.terminating`), its node and zone; the Nodes' topology
 * labels give its region (and its zone when the endpoint has none). The endpoint's targetRef.name
 * is the pod name, which the chart passes to the edge as FIRSTMILE_EDGE_ID, so heartbeats join.
 *
 * Both are client-node informers. A watch that ends is resumed; a 410 Gone relists. Any other
 * failure (API unreachable, 403 from RBAC, 5xx) makes client-node's informer stop, so it is
 * restarted here with exponential backoff, and the last known view stays in place meanwhile.
 */
export class KubernetesEdgeSource implements EdgeSource {
  readonly #o: Required<Omit<KubernetesEdgeSourceOptions, 'logger'>>;
  readonly #log: Logger;
  readonly #slices: Informer<SliceView> & ObjectCache<SliceView>;
  readonly #nodes: Informer<NodeView> & ObjectCache<NodeView>;
  readonly #listeners = new Set<() => void>();
  readonly #listed: Record<Kind, boolean> = { endpointslices: false, nodes: false };
  readonly #watching: Record<Kind, boolean> = { endpointslices: false, nodes: false };
  readonly #retryDelay: Record<Kind, number>;
  readonly #retryTimers = new Map<Kind, NodeJS.Timeout>();
  #view: readonly EdgeInfo[] = Object.freeze([]);
  #recomputeQueued = false;
  #running = false;
  #synced: { promise: Promise<void>; resolve: () => void };

  constructor(options: KubernetesEdgeSourceOptions) {
    this.#o = {
      kubeConfig: options.kubeConfig,
      namespace: options.namespace,
      service: options.service,
      maxEdges: options.maxEdges ?? 10_000,
      pageSize: options.pageSize ?? 500,
      retryDelayMs: options.retryDelayMs ?? 1000,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 30_000,
    };
    this.#log = (options.logger ?? nullLogger).child({ component: 'k8s-edges', namespace: options.namespace, service: options.service });
    this.#retryDelay = { endpointslices: this.#o.retryDelayMs, nodes: this.#o.retryDelayMs };
    this.#synced = deferred();

    const kc = this.#o.kubeConfig;
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    const labelSelector = `${SERVICE_NAME_LABEL}=${this.#o.service}`;
    this.#slices = projectedInformer<SliceView>({
      kubeConfig: kc,
      path: `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(this.#o.namespace)}/endpointslices`,
      labelSelector,
      project: projectSlice,
      listPage: (token) =>
        discovery.listNamespacedEndpointSlice({ namespace: this.#o.namespace, labelSelector, limit: this.#o.pageSize, ...(token ? { _continue: token } : {}) }),
      maxItems: this.#o.maxEdges,
      onListed: (n, truncated) => this.#onListed('endpointslices', n, truncated),
    });
    this.#nodes = projectedInformer<NodeView>({
      kubeConfig: kc,
      path: '/api/v1/nodes',
      project: projectNode,
      listPage: (token) => core.listNode({ limit: this.#o.pageSize, ...(token ? { _continue: token } : {}) }),
      maxItems: this.#o.maxEdges,
      onListed: (n, truncated) => this.#onListed('nodes', n, truncated),
    });
    this.#wire('endpointslices', this.#slices);
    this.#wire('nodes', this.#nodes);
  }

  #wire(kind: Kind, informer: Informer<KubernetesObject>): void {
    const changed = () => {
      this.#retryDelay[kind] = this.#o.retryDelayMs;
      this.#queueRecompute();
    };
    informer.on('add', changed);
    informer.on('update', changed);
    informer.on('delete', changed);
    informer.on('error', (err?: unknown) => this.#onError(kind, err));
  }

  /** Resolves once the EndpointSlices and the Nodes are both listed and watched (or on stop()). */
  async start(): Promise<void> {
    if (!this.#running) {
      this.#running = true;
      void this.#startInformer('endpointslices');
      void this.#startInformer('nodes');
    }
    return this.#synced.promise;
  }

  async stop(): Promise<void> {
    this.#running = false;
    for (const t of this.#retryTimers.values()) clearTimeout(t);
    this.#retryTimers.clear();
    await Promise.all([this.#slices.stop(), this.#nodes.stop()]);
    this.#synced.resolve();
  }

  edges(): readonly EdgeInfo[] {
    return this.#view;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async #startInformer(kind: Kind): Promise<void> {
    const informer = kind === 'nodes' ? this.#nodes : this.#slices;
    try {
      // Resolves once the LIST is applied and the WATCH answered, or after a failure was reported.
      await informer.start();
    } catch (error) {
      this.#onError(kind, error);
      return;
    }
    this.#watching[kind] = this.#listed[kind];
    if (this.#watching.endpointslices && this.#watching.nodes) {
      this.#recompute();
      this.#synced.resolve();
    }
  }

  #onListed(kind: Kind, items: number, truncated: boolean): void {
    this.#retryDelay[kind] = this.#o.retryDelayMs;
    if (truncated) this.#log.warn({ kind, items }, 'Kubernetes list truncated at maxEdges');
    this.#log.debug({ kind, items }, 'Kubernetes list received');
    this.#listed[kind] = true;
    // A relist with nothing new fires no informer callback, but the list is applied after this
    // returns: look once it is.
    setImmediate(() => this.#recompute());
  }

  #onError(kind: Kind, err: unknown): void {
    if (!this.#running) return;
    const status = statusOf(err);
    const delay = this.#retryDelay[kind];
    this.#retryDelay[kind] = Math.min(delay * 2, this.#o.maxRetryDelayMs);
    const fields = { kind, status, err: errorText(err), retryInMs: delay };
    // 401/403 will not fix themselves: the Role/ClusterRole for endpointslices and nodes is missing.
    if (status === 401 || status === 403) this.#log.error(fields, 'Kubernetes API refused the watch: check RBAC (list/watch endpointslices in the namespace, nodes cluster-wide)');
    else this.#log.warn(fields, 'Kubernetes watch failed; restarting');
    if (this.#retryTimers.has(kind)) return;
    const t = setTimeout(() => {
      this.#retryTimers.delete(kind);
      if (this.#running) void this.#startInformer(kind);
    }, delay);
    t.unref();
    this.#retryTimers.set(kind, t);
  }

  /** A relist delivers a burst of callbacks; one recompute per burst. */
  #queueRecompute(): void {
    if (this.#recomputeQueued) return;
    this.#recomputeQueued = true;
    queueMicrotask(() => {
      this.#recomputeQueued = false;
      this.#recompute();
    });
  }

  #recompute(): void {
    const byPod = new Map<string, EdgeInfo>();
    slices: for (const slice of this.#slices.list(this.#o.namespace)) {
      for (const ep of slice.endpoints) {
        if (ep.pod === undefined) continue;
        const node = ep.nodeName === undefined ? undefined : this.#nodes.get(ep.nodeName);
        const edge: EdgeInfo = {
          id: ep.pod,
          ready: ep.ready && !ep.terminating,
          draining: ep.terminating,
          region: node?.region,
          zone: ep.zone ?? node?.zone,
          node: ep.nodeName,
          address: ep.address,
        };
        const seen = byPod.get(ep.pod);
        // Dual-stack Services have one slice per address family, so a pod can appear twice; and
        // during a slice rebalance it can briefly be in two slices of one family.
        byPod.set(ep.pod, seen ? mergeEndpoints(seen, edge) : edge);
        if (byPod.size >= this.#o.maxEdges) break slices;
      }
    }
    const next = Object.freeze([...byPod.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((e) => Object.freeze(e)));
    if (sameView(this.#view, next)) return;
    this.#view = next;
    for (const l of this.#listeners) {
      try {
        l();
      } catch (error) {
        this.#log.error({ err: error }, 'edge source listener failed');
      }
    }
  }
}

function mergeEndpoints(a: EdgeInfo, b: EdgeInfo): EdgeInfo {
  return {
    id: a.id,
    ready: a.ready || b.ready,
    draining: a.draining || b.draining,
    region: a.region ?? b.region,
    zone: a.zone ?? b.zone,
    node: a.node ?? b.node,
    // IPv4 first: an address for humans and logs, stable across the two families' slices.
    address: a.address !== undefined && !a.address.includes(':') ? a.address : (b.address ?? a.address),
  };
}

function sameView(a: readonly EdgeInfo[], b: readonly EdgeInfo[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.id !== y.id || x.ready !== y.ready || x.draining !== y.draining || x.region !== y.region || x.zone !== y.zone || x.node !== y.node || x.address !== y.address) return false;
  }
  return true;
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function str(v: unknown, max = 253): string | undefined {
  return typeof v === 'string' && v.length > 0 && v.length <= max ? v : undefined;
}

function projectMeta(raw: Record<string, unknown>): KubernetesObject['metadata'] | undefined {
  const m = asRecord(raw.metadata);
  const name = str(m?.name);
  if (!m || name === undefined) return undefined;
  return { name, namespace: str(m.namespace), resourceVersion: str(m.resourceVersion, 64) };
}

/**
 * discovery.k8s.io/v1 semantics: `ready` nil means unknown and consumers should treat it as ready;
 * `terminating` nil means false. A terminating endpoint is never offered to new encoders even when
 * it still serves (publishNotReadyAddresses).
 */
function projectSlice(v: unknown): SliceView | undefined {
  const raw = asRecord(v);
  const metadata = raw && projectMeta(raw);
  if (!raw || !metadata) return undefined;
  const endpoints: EndpointView[] = [];
  const list = Array.isArray(raw.endpoints) ? raw.endpoints.slice(0, MAX_ENDPOINTS_PER_SLICE) : [];
  for (const item of list) {
    const ep = asRecord(item);
    if (!ep) continue;
    const cond = asRecord(ep.conditions);
    const ref = asRecord(ep.targetRef);
    const addresses = Array.isArray(ep.addresses) ? ep.addresses : [];
    endpoints.push({
      pod: ref && (ref.kind === undefined || ref.kind === 'Pod') ? str(ref.name) : undefined,
      address: str(addresses[0], 64),
      ready: cond?.ready !== false,
      terminating: cond?.terminating === true,
      nodeName: str(ep.nodeName),
      zone: str(ep.zone, 64),
    });
  }
  return { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata, endpoints };
}

function projectNode(v: unknown): NodeView | undefined {
  const raw = asRecord(v);
  const metadata = raw && projectMeta(raw);
  if (!raw || !metadata) return undefined;
  const labels = asRecord(asRecord(raw.metadata)?.labels);
  return { apiVersion: 'v1', kind: 'Node', metadata, region: str(labels?.[REGION_LABEL], 64), zone: str(labels?.[ZONE_LABEL], 64) };
}

function statusOf(err: unknown): number | undefined {
  const e = asRecord(err);
  const s = e?.statusCode ?? e?.code;
  return typeof s === 'number' ? s : undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
