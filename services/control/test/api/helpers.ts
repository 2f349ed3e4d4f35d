import assert from 'node:assert/strict';
import { MemoryKeyStore } from '@firstmile/auth';
import {
  BusError,
  MemoryBus,
  MemoryStreamIndex,
  controlSubject,
  streamIdForName,
  type Bus,
  type LiveStreamRecord,
  type Subscription,
} from '@firstmile/bus';
import type { Logger } from '@firstmile/observability';
import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify';
import { ClusterView } from '../../src/api/cluster-view.ts';
import type { ControlApiDeps } from '../../src/api/context.ts';
import { createAjv, openApiDocument, responseSchema, type HttpMethod } from '../../src/api/openapi.ts';
import { controlApi } from '../../src/api/plugin.ts';
import type { IngestEndpoint, IngestRouter } from '../../src/routing/types.ts';
import { WebhookDispatcher } from '../../src/webhooks/dispatcher.ts';
import type { ApiErrorBody } from '../../src/api/errors.ts';
import type { KickedSession } from '../../src/api/kick.ts';
import type { StreamResource } from '../../src/api/streams.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const KEY_HASH_SECRET = 'test-key-hash-secret';

/** A logger that keeps every line, to assert what was (never) logged. */
export class RecordingLogger implements Logger {
  readonly lines: { level: string; obj: object; msg: string | undefined; bindings: Record<string, unknown> }[];
  readonly #bindings: Record<string, unknown>;

  constructor(lines: RecordingLogger['lines'] = [], bindings: Record<string, unknown> = {}) {
    this.lines = lines;
    this.#bindings = bindings;
  }

  trace(obj: object, msg?: string) {
    this.lines.push({ level: 'trace', obj, msg, bindings: this.#bindings });
  }
  debug(obj: object, msg?: string) {
    this.lines.push({ level: 'debug', obj, msg, bindings: this.#bindings });
  }
  info(obj: object, msg?: string) {
    this.lines.push({ level: 'info', obj, msg, bindings: this.#bindings });
  }
  warn(obj: object, msg?: string) {
    this.lines.push({ level: 'warn', obj, msg, bindings: this.#bindings });
  }
  error(obj: object, msg?: string) {
    this.lines.push({ level: 'error', obj, msg, bindings: this.#bindings });
  }
  fatal(obj: object, msg?: string) {
    this.lines.push({ level: 'fatal', obj, msg, bindings: this.#bindings });
  }
  child(bindings: Record<string, unknown>): Logger {
    return new RecordingLogger(this.lines, { ...this.#bindings, ...bindings });
  }

  /** Every line as JSON, bindings included: what a log pipeline would store. */
  text(): string {
    return this.lines.map((l) => JSON.stringify({ ...l.bindings, ...l.obj, msg: l.msg })).join('\n');
  }
}

/** A fixed ranking, standing for the routing developer's router (the API only sees the interface). */
export class StaticIngestRouter implements IngestRouter {
  readonly calls: { ip: string | undefined; region: string | undefined; app: string }[] = [];
  endpoints: IngestEndpoint[];

  constructor(endpoints: IngestEndpoint[]) {
    this.endpoints = endpoints;
  }

  async ingests(caller: { ip?: string | undefined; region?: string | undefined }, app: string): Promise<IngestEndpoint[]> {
    this.calls.push({ ip: caller.ip, region: caller.region, app });
    const ranked = caller.region ? [...this.endpoints].sort((a, b) => Number(b.region === caller.region) - Number(a.region === caller.region)) : this.endpoints;
    return ranked.map((e) => ({ ...e, urlTemplate: e.urlTemplate.replace('{app}', app), urlTemplateSecure: e.urlTemplateSecure?.replace('{app}', app) }));
  }
}

export interface TestApi {
  app: FastifyInstance;
  store: MemoryKeyStore;
  index: MemoryStreamIndex;
  bus: MemoryBus;
  clusterView: ClusterView;
  webhooks: WebhookDispatcher;
  router: StaticIngestRouter;
  logger: RecordingLogger;
  authFailures: string[];
  /** Addresses the lockout hook reports as locked out. */
  lockedOut: Set<string>;
  clock: { now: number };
  /** inject(), with the admin token unless `token` says otherwise, and the answer checked against openapi.json. */
  call<T = unknown>(options: CallOptions): Promise<{ status: number; body: T; headers: Record<string, unknown> }>;
  close(): Promise<void>;
}

export interface CallOptions {
  method: HttpMethod;
  url: string;
  body?: unknown;
  /** Default: the admin token; null: no Authorization header. */
  token?: string | null;
  headers?: Record<string, string>;
}

export interface TestApiOptions {
  adminToken?: string | undefined;
  index?: MemoryStreamIndex;
  webhooks?: WebhookDispatcher;
  heartbeatMs?: number;
  deps?: Partial<ControlApiDeps>;
}

/**
 * The API as the lead's run.ts hosts it: a fastify instance with health routes and the plugin
 * registered without a prefix, over a real MemoryBus, MemoryStreamIndex and MemoryKeyStore.
 * Time is real unless a test moves `clock.now` (the key store's expiry and the API share it).
 */
export async function startApi(options: TestApiOptions = {}): Promise<TestApi> {
  const logger = new RecordingLogger();
  const bus = new MemoryBus();
  const index = options.index ?? new MemoryStreamIndex({ ttlMs: 15_000 });
  const store = new MemoryKeyStore();
  const clock = { now: 0 };
  const now = () => (clock.now === 0 ? Date.now() : clock.now);
  const clusterView = new ClusterView({ bus, heartbeatMs: options.heartbeatMs ?? 2000, logger, now }).start();
  const webhooks = options.webhooks ?? new WebhookDispatcher({ urls: [], secret: 'unused', logger });
  const router = new StaticIngestRouter([
    { id: 'eu-west', region: 'eu-west', urlTemplate: 'rtmp://eu-west.ingest.test/{app}/{stream_key}', urlTemplateSecure: 'rtmps://eu-west.ingest.test/{app}/{stream_key}', load: 0.2, edges: 3, distanceKm: 12 },
    { id: 'us-east', region: 'us-east', urlTemplate: 'rtmp://us-east.ingest.test/{app}/{stream_key}', urlTemplateSecure: undefined, load: 0.5, edges: 2 },
  ]);
  const authFailures: string[] = [];
  const lockedOut = new Set<string>();
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  app.get('/healthz', async () => ({ status: 'ok' }));
  await app.register(
    controlApi({
      store,
      index,
      bus,
      clusterView,
      webhooks,
      ingestRouter: router,
      keyHashSecret: KEY_HASH_SECRET,
      adminToken: 'adminToken' in options ? options.adminToken : ADMIN_TOKEN,
      publicUrls: { rtmp: 'rtmp://ingest.test', rtmps: 'rtmps://ingest.test:443', play: 'rtmp://play.test' },
      defaultApp: 'live',
      logger,
      now,
      onAuthFailure: (ip) => authFailures.push(ip),
      isLockedOut: (ip) => lockedOut.has(ip),
      ...options.deps,
    }),
  );
  await app.ready();
  const validator = createAjv({ coerce: false });
  const doc = openApiDocument();
  return {
    app,
    store,
    index,
    bus,
    clusterView,
    webhooks,
    router,
    logger,
    authFailures,
    lockedOut,
    clock,
    async call<T>({ method, url, body, token, headers }: CallOptions) {
      const h: Record<string, string> = { ...headers };
      const t = token === undefined ? ADMIN_TOKEN : token;
      if (t !== null) h['authorization'] = `Bearer ${t}`;
      const inject: InjectOptions = { method: method.toUpperCase() as 'GET', url, headers: h };
      if (body !== undefined) inject.payload = body as object;
      const res = await app.inject(inject);
      const parsed: unknown = res.body.length > 0 ? JSON.parse(res.body) : undefined;
      assertDocumented(validator, doc, method, url, res.statusCode, parsed);
      return { status: res.statusCode, body: parsed as T, headers: res.headers };
    },
    async close() {
      await app.close();
      clusterView.close();
      await webhooks.close();
      await bus.close();
    },
  };
}

/** Matches a concrete URL to its documented path template (`/v1/streams/st_x/revoke` -> `/v1/streams/{id}/revoke`). */
export function documentedPath(url: string): string | undefined {
  const path = url.split('?')[0]!;
  for (const template of Object.keys(openApiDocument().paths)) {
    const re = new RegExp(`^${template.replace(/[.]/g, '\\.').replace(/\{\w+\}/g, '[^/]+')}$`);
    if (re.test(path)) return template;
  }
  return undefined;
}

/** The answer's status is documented for the operation, and its body validates against the documented schema. */
export function assertDocumented(
  ajv: ReturnType<typeof createAjv>,
  doc: ReturnType<typeof openApiDocument>,
  method: HttpMethod,
  url: string,
  status: number,
  body: unknown,
): void {
  const template = documentedPath(url);
  if (template === undefined || !doc.paths[template]?.[method]) {
    // Undocumented routes answer the JSON 404 (checked against the Error schema).
    assert.equal(status, 404, `${method.toUpperCase()} ${url} is not documented but answered ${status}`);
    const ok = ajv.validate(doc.components.schemas['Error']!, body);
    assert.ok(ok, `404 body does not match Error: ${ajv.errorsText(ajv.errors)}`);
    return;
  }
  const schema = responseSchema(doc, method, template, status);
  if (schema === undefined) {
    assert.equal(body, undefined, `${method.toUpperCase()} ${template} ${status} is documented without a body`);
    return;
  }
  const ok = ajv.validate(schema, body);
  assert.ok(ok, `${method.toUpperCase()} ${template} ${status} does not match openapi.json: ${ajv.errorsText(ajv.errors)}\n${JSON.stringify(body)}`);
}

/** The in-memory index, with an outage switch: list() fails as a KV read does when NATS is away. */
export class FlakyIndex extends MemoryStreamIndex {
  down = false;

  override async list(): Promise<LiveStreamRecord[]> {
    if (this.down) throw new BusError('BUS_ERR_TIMEOUT', 'index read timed out');
    return super.list();
  }
}

/** Puts a live record in the index as an edge's claim would. */
export async function goLive(index: MemoryStreamIndex, record: Partial<LiveStreamRecord> & { app: string; stream: string; edge: string }): Promise<LiveStreamRecord> {
  const at = new Date().toISOString();
  const full: LiveStreamRecord = {
    streamId: streamIdForName(record.app, record.stream),
    epoch: 1,
    since: at,
    heartbeatAt: at,
    ...record,
  };
  const claim = await index.claim(full, async () => true);
  assert.ok(claim.ok, 'claim failed');
  return full;
}

/**
 * Stands for the edge that owns a stream: answers `fm.ctl` like services/edge does (kick ends the
 * session and replies `{ok, edge}`), and records what it was asked.
 */
export function edgeResponder(bus: Bus, record: LiveStreamRecord, onKick?: (reason: unknown) => void): { kicks: { reason: unknown; at: number }[]; sub: Subscription } {
  const kicks: { reason: unknown; at: number }[] = [];
  const sub = bus.subscribe(controlSubject(record.app, record.streamId), (m) => {
    const req = JSON.parse(Buffer.from(m.data).toString()) as { op: string; reason?: unknown };
    if (req.op !== 'kick' || !m.reply) return;
    kicks.push({ reason: req.reason, at: Date.now() });
    onKick?.(req.reason);
    bus.publish(m.reply, Buffer.from(JSON.stringify({ ok: true, edge: record.edge, epoch: record.epoch })));
  });
  return { kicks, sub };
}

export type StreamWithKey = StreamResource & { streamKey: string };
export type RotatedStream = StreamWithKey & { previousKeyExpiresAt: string | null };
export type StreamList = { data: StreamResource[]; nextCursor: string | null };
export type RevokeResult = { stream: StreamResource; kicked: KickedSession[] };
export type { ApiErrorBody, KickedSession, StreamResource };

/** Creates a stream through the API and returns it with its key. */
export async function createStream(api: TestApi, body: unknown = {}): Promise<StreamWithKey> {
  const res = await api.call<StreamWithKey>({ method: 'post', url: '/v1/streams', body });
  assert.equal(res.status, 201);
  return res.body;
}
