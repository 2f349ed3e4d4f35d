/**
 * A loopback stand-in for the Kubernetes API server, enough for client-node's informers and the
 * Lease calls: LIST (with resourceVersion, labelSelector equality, limit/continue), WATCH
 * (?watch=true: chunked newline-delimited events replayed from a resourceVersion, then live),
 * and Lease GET/POST/PUT with optimistic concurrency (409 Conflict on a stale resourceVersion,
 * 409 AlreadyExists on a second create). Tests steer it: end open watches (the client must
 * resume), answer a watch with a 410 Gone ERROR event or an HTTP 410 (the client must relist),
 * change objects without an event (what a client misses while compacted away), and hold all
 * requests on one listener (a client cut off from the API).
 *
 * What it cannot prove: that a real API server behaves like this. It has no etcd (resourceVersions
 * are one counter, not etcd revisions), no watch cache or bookmarks, no authentication, RBAC,
 * admission or API priority and fairness, no server-side field validation, no real paging
 * snapshots (later pages read the current state), and one clock shared with the clients.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Resource = 'endpointslices' | 'nodes' | 'leases';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

interface WatchEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
  previous: KubeObject | undefined;
}

interface OpenWatch {
  resource: Resource;
  namespace: string | undefined;
  selector: Record<string, string>;
  res: ServerResponse;
}

export interface RequestRecord {
  method: string;
  resource: Resource | 'other';
  watch: boolean;
  query: Record<string, string>;
  status: number;
  listener: number;
}

const KINDS: Record<Resource, { apiVersion: string; kind: string; listKind: string }> = {
  endpointslices: { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', listKind: 'EndpointSliceList' },
  nodes: { apiVersion: 'v1', kind: 'Node', listKind: 'NodeList' },
  leases: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', listKind: 'LeaseList' },
};

function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

export class FakeApiServer {
  readonly #servers: Server[] = [];
  readonly #isolated = new Set<number>();
  readonly #held: { listener: number; release: () => void }[] = [];
  readonly #store: Record<Resource, Map<string, KubeObject>> = { endpointslices: new Map(), nodes: new Map(), leases: new Map() };
  readonly #history: Record<Resource, WatchEvent[]> = { endpointslices: [], nodes: [], leases: [] };
  /** Watches from a resourceVersion at or below this get 410 Gone (the history was compacted). */
  readonly #compactedAt: Record<Resource, number> = { endpointslices: 0, nodes: 0, leases: 0 };
  readonly #failNext: { resource: Resource; watch: boolean; code: number }[] = [];
  readonly #watches = new Set<OpenWatch>();
  #rv = 100;
  readonly requests: RequestRecord[] = [];
  /** Called before a Lease POST or PUT is checked: lets a test slip in a concurrent writer. */
  beforeLeaseWrite: ((name: string, method: 'POST' | 'PUT') => void) | undefined;

  static async start(): Promise<FakeApiServer> {
    const s = new FakeApiServer();
    await s.addListener();
    return s;
  }

  /** http://127.0.0.1:port of the first listener. */
  get url(): string {
    return this.urlOf(0);
  }

  urlOf(listener: number): string {
    return `http://127.0.0.1:${(this.#servers[listener]!.address() as AddressInfo).port}`;
  }

  /** Another port onto the same state; returns its listener index (for isolate()). */
  async addListener(): Promise<number> {
    const index = this.#servers.length;
    const server = createServer((req, res) => this.#handle(index, req, res));
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.#servers.push(server);
    return index;
  }

  /** While isolated, requests on that listener are held unanswered (a partition, not a refusal). */
  isolate(listener: number, isolated = true): void {
    if (isolated) {
      this.#isolated.add(listener);
      return;
    }
    this.#isolated.delete(listener);
    for (const h of this.#held.filter((x) => x.listener === listener)) h.release();
  }

  async close(): Promise<void> {
    for (const w of this.#watches) w.res.end();
    this.#watches.clear();
    for (const s of this.#servers) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  }

  get resourceVersion(): number {
    return this.#rv;
  }

  /** Creates or replaces an object and tells the watchers, unless `silent` (an event they missed). */
  put(resource: Resource, object: KubeObject, options: { silent?: boolean } = {}): KubeObject {
    const key = keyOf(object);
    const previous = this.#store[resource].get(key);
    const { apiVersion, kind } = KINDS[resource];
    const stored: KubeObject = structuredClone({ apiVersion, kind, ...object, metadata: { ...object.metadata, resourceVersion: String(++this.#rv) } });
    this.#store[resource].set(key, stored);
    if (!options.silent) this.#emit(resource, { rv: this.#rv, type: previous ? 'MODIFIED' : 'ADDED', object: stored, previous });
    return stored;
  }

  remove(resource: Resource, namespace: string | undefined, name: string, options: { silent?: boolean } = {}): void {
    const key = `${namespace ?? ''}/${name}`;
    const previous = this.#store[resource].get(key);
    if (!previous) return;
    this.#store[resource].delete(key);
    const rv = ++this.#rv;
    if (!options.silent) this.#emit(resource, { rv, type: 'DELETED', object: { ...previous, metadata: { ...previous.metadata, resourceVersion: String(rv) } }, previous });
  }

  get(resource: Resource, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.#store[resource].get(`${namespace ?? ''}/${name}`);
    return o && structuredClone(o);
  }

  openWatches(resource: Resource): number {
    return [...this.#watches].filter((w) => w.resource === resource).length;
  }

  /** Ends every open watch on the resource cleanly (as the API server does at its timeout). */
  endWatches(resource: Resource): number {
    let n = 0;
    for (const w of [...this.#watches]) {
      if (w.resource !== resource) continue;
      this.#watches.delete(w);
      w.res.end();
      n++;
    }
    return n;
  }

  /**
   * Drops the event history, so a watch resuming from any earlier resourceVersion is answered 410;
   * with `notify`, open watches also get the 410 Gone ERROR event and end.
   */
  compact(resource: Resource, options: { notify?: boolean } = {}): void {
    this.#compactedAt[resource] = this.#rv;
    this.#history[resource] = [];
    if (!options.notify) return;
    for (const w of [...this.#watches]) {
      if (w.resource !== resource) continue;
      this.#watches.delete(w);
      w.res.end(`${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', 'too old resource version') })}\n`);
    }
  }

  /** The next LIST (watch false) or WATCH (watch true) of the resource is answered with HTTP `code`. */
  failNext(resource: Resource, watch: boolean, code: number): void {
    this.#failNext.push({ resource, watch, code });
  }

  count(filter: Partial<Pick<RequestRecord, 'method' | 'resource' | 'watch' | 'status'>>): number {
    return this.requests.filter((r) => Object.entries(filter).every(([k, v]) => r[k as keyof RequestRecord] === v)).length;
  }

  #emit(resource: Resource, event: WatchEvent): void {
    const history = this.#history[resource];
    history.push(event);
    if (history.length > 1000) history.shift();
    for (const w of this.#watches) {
      if (w.resource !== resource) continue;
      const line = eventFor(w, event);
      if (line) w.res.write(line);
    }
  }

  #handle(listener: number, req: IncomingMessage, res: ServerResponse): void {
    if (this.#isolated.has(listener)) {
      // Held until the partition heals or the client gives up.
      const entry = { listener, release: () => {} };
      entry.release = () => {
        this.#held.splice(this.#held.indexOf(entry), 1);
        this.#handle(listener, req, res);
      };
      this.#held.push(entry);
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      body += d;
      if (body.length > 1 << 20) req.destroy();
    });
    req.on('end', () => {
      try {
        this.#route(listener, req, res, body);
      } catch (error) {
        this.#send(res, 500, status(500, 'InternalError', (error as Error).message));
      }
    });
  }

  #route(listener: number, req: IncomingMessage, res: ServerResponse, body: string): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(url.searchParams);
    const watch = query.watch === 'true' || query.watch === '1';
    const method = req.method ?? 'GET';
    const record = (resource: Resource | 'other', code: number) => this.requests.push({ method, resource, watch, query, status: code, listener });

    let m = /^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/([^/]+)\/endpointslices$/.exec(url.pathname);
    if (m && method === 'GET') return this.#collection(res, 'endpointslices', decodeURIComponent(m[1]!), query, watch, record);
    if (url.pathname === '/api/v1/nodes' && method === 'GET') return this.#collection(res, 'nodes', undefined, query, watch, record);

    m = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/]+))?$/.exec(url.pathname);
    if (m) {
      const ns = decodeURIComponent(m[1]!);
      const name = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
      const code = this.#lease(res, method, ns, name, body);
      record('leases', code);
      return;
    }
    record('other', 404);
    this.#send(res, 404, status(404, 'NotFound', `the server could not find the requested resource (${method} ${url.pathname})`));
  }

  #collection(res: ServerResponse, resource: Resource, namespace: string | undefined, query: Record<string, string>, watch: boolean, record: (r: Resource, code: number) => void): void {
    const fail = this.#failNext.findIndex((f) => f.resource === resource && f.watch === watch);
    if (fail >= 0) {
      const { code } = this.#failNext.splice(fail, 1)[0]!;
      record(resource, code);
      this.#send(res, code, status(code, code === 410 ? 'Expired' : 'InternalError', code === 410 ? 'too old resource version' : 'injected failure'));
      return;
    }
    const selector = parseSelector(query.labelSelector);
    if (!watch) {
      record(resource, 200);
      const all = [...this.#store[resource].values()].filter((o) => inScope(o, namespace) && matches(o, selector)).sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
      const offset = query.continue ? Number(Buffer.from(query.continue, 'base64url').toString()) : 0;
      const limit = query.limit ? Number(query.limit) : all.length;
      const items = all.slice(offset, offset + limit);
      const next = offset + limit < all.length ? Buffer.from(String(offset + limit)).toString('base64url') : undefined;
      this.#send(res, 200, {
        kind: KINDS[resource].listKind,
        apiVersion: KINDS[resource].apiVersion,
        metadata: { resourceVersion: String(this.#rv), ...(next ? { continue: next } : {}) },
        items,
      });
      return;
    }
    const from = Number(query.resourceVersion ?? '0');
    record(resource, 200);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    if (from > 0 && from < this.#compactedAt[resource]) {
      // What a real API server does for an expired resourceVersion on a watch: 200, one ERROR event.
      res.end(`${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${this.#compactedAt[resource]})`) })}\n`);
      return;
    }
    const w: OpenWatch = { resource, namespace, selector, res };
    for (const e of this.#history[resource]) {
      if (e.rv <= from) continue;
      const line = eventFor(w, e);
      if (line) res.write(line);
    }
    this.#watches.add(w);
    res.on('close', () => this.#watches.delete(w));
  }

  #lease(res: ServerResponse, method: string, ns: string, name: string | undefined, body: string): number {
    const key = (n: string) => `${ns}/${n}`;
    if (method === 'GET' && name !== undefined) {
      const lease = this.#store.leases.get(key(name));
      return lease ? this.#send(res, 200, lease) : this.#send(res, 404, status(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`));
    }
    const obj = JSON.parse(body) as KubeObject;
    if (method === 'POST' && name === undefined) {
      const n = obj.metadata.name;
      this.beforeLeaseWrite?.(n, 'POST');
      if (this.#store.leases.has(key(n))) return this.#send(res, 409, status(409, 'AlreadyExists', `leases.coordination.k8s.io "${n}" already exists`));
      return this.#send(res, 201, this.put('leases', { ...obj, metadata: { ...obj.metadata, namespace: ns } }));
    }
    if (method === 'PUT' && name !== undefined) {
      this.beforeLeaseWrite?.(name, 'PUT');
      const current = this.#store.leases.get(key(name));
      if (!current) return this.#send(res, 404, status(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`));
      if (obj.metadata.resourceVersion !== current.metadata.resourceVersion) {
        return this.#send(
          res,
          409,
          status(409, 'Conflict', `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`),
        );
      }
      return this.#send(res, 200, this.put('leases', { ...obj, metadata: { ...obj.metadata, namespace: ns } }));
    }
    return this.#send(res, 405, status(405, 'MethodNotAllowed', `${method} not allowed`));
  }

  #send(res: ServerResponse, code: number, body: unknown): number {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return code;
  }
}

function keyOf(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

function inScope(o: KubeObject, namespace: string | undefined): boolean {
  return namespace === undefined || o.metadata.namespace === namespace;
}

function parseSelector(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (s ?? '').split(',').filter(Boolean)) {
    const [k, v] = part.split('=');
    if (k === undefined || v === undefined) throw new Error(`unsupported label selector ${s}`);
    out[k] = v;
  }
  return out;
}

function matches(o: KubeObject | undefined, selector: Record<string, string>): boolean {
  return o !== undefined && Object.entries(selector).every(([k, v]) => o.metadata.labels?.[k] === v);
}

/** A watch with a label selector sees an object leave the selection as DELETED, enter it as ADDED. */
function eventFor(w: OpenWatch, e: WatchEvent): string | undefined {
  if (!inScope(e.object, w.namespace)) return undefined;
  const now = e.type !== 'DELETED' && matches(e.object, w.selector);
  const before = matches(e.previous, w.selector);
  let type: WatchEvent['type'];
  if (e.type === 'DELETED') {
    if (!before) return undefined;
    type = 'DELETED';
  } else if (now) type = before ? 'MODIFIED' : 'ADDED';
  else if (before) type = 'DELETED';
  else return undefined;
  return `${JSON.stringify({ type, object: e.object })}\n`;
}
