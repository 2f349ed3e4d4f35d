import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MemoryKeyStore } from '@firstmile/auth';
import { MemoryBus, MemoryStreamIndex } from '@firstmile/bus';
import Fastify from 'fastify';
import { API_ERROR_CODES } from '../../src/api/errors.ts';
import { ClusterView } from '../../src/api/cluster-view.ts';
import {
  HTTP_METHODS,
  OPENAPI_FILE,
  createAjv,
  inlineRefs,
  openApiDocument,
  responseSchema,
  routeSchemas,
  type HttpMethod,
} from '../../src/api/openapi.ts';
import { controlApi } from '../../src/api/plugin.ts';
import { WebhookDispatcher } from '../../src/webhooks/dispatcher.ts';
import { ADMIN_TOKEN, RecordingLogger, StaticIngestRouter, assertDocumented, startApi, type StreamList, type StreamWithKey } from './helpers.ts';

function documentedOperations(): Set<string> {
  const out = new Set<string>();
  for (const [path, item] of Object.entries(openApiDocument().paths)) {
    for (const method of HTTP_METHODS) if (item[method]) out.add(`${method.toUpperCase()} ${path}`);
  }
  return out;
}

test('every route the plugin serves is documented in openapi.json, and every documented operation is served', async (t) => {
  const app = Fastify({ logger: false });
  const served = new Set<string>();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      // fastify adds HEAD for every GET on its own.
      if (method === 'HEAD') continue;
      served.add(`${method} ${route.url.replace(/:(\w+)/g, '{$1}')}`);
    }
  });
  const logger = new RecordingLogger();
  const bus = new MemoryBus();
  await app.register(
    controlApi({
      store: new MemoryKeyStore(),
      index: new MemoryStreamIndex({ ttlMs: 1000 }),
      bus,
      clusterView: new ClusterView({ bus, heartbeatMs: 1000, logger }),
      webhooks: new WebhookDispatcher({ urls: [], secret: 'x', logger }),
      ingestRouter: new StaticIngestRouter([]),
      keyHashSecret: 'x',
      adminToken: ADMIN_TOKEN,
      publicUrls: { rtmp: 'rtmp://h' },
      defaultApp: 'live',
      logger,
    }),
  );
  await app.ready();
  t.after(() => app.close());
  assert.ok(served.size >= 14, `only ${served.size} routes seen`);
  assert.deepEqual([...served].sort(), [...documentedOperations()].sort());
});

test('openapi.json is OpenAPI 3.1 whose references all resolve, whose schemas compile as JSON Schema 2020-12, with unique operation ids', () => {
  const doc = openApiDocument();
  assert.equal(doc.openapi, '3.1.0');
  assert.doesNotThrow(() => inlineRefs(doc, doc));
  const ajv = createAjv({ coerce: false });
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    assert.doesNotThrow(() => ajv.compile(inlineRefs(doc, schema) as object), `components.schemas.${name}`);
  }
  const ids: string[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of HTTP_METHODS) {
      const op = item[method];
      if (!op) continue;
      assert.ok(op.operationId, `${method} ${path} has an operationId`);
      ids.push(op.operationId);
      // Every path template parameter is declared, and the route schemas build.
      const schemas = routeSchemas(doc, method, path);
      for (const [, name] of path.matchAll(/\{(\w+)\}/g)) {
        assert.ok((schemas.params?.['required'] as string[] | undefined)?.includes(name!), `${method} ${path} declares {${name}}`);
      }
      for (const status of Object.keys(op.responses)) assert.doesNotThrow(() => responseSchema(doc, method as HttpMethod, path, Number(status)));
    }
  }
  assert.equal(new Set(ids).size, ids.length);
  const codes = (doc.components.schemas['Error'] as { properties: { error: { properties: { code: { enum: string[] } } } } }).properties.error.properties.code.enum;
  assert.deepEqual(codes, [...API_ERROR_CODES], 'the documented error codes are the exported list');
});

test('GET /openapi.json serves the committed document', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const res = await api.app.inject({ method: 'GET', url: '/openapi.json' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  assert.deepEqual(JSON.parse(res.body), JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')));
});

test('the response check catches an answer that breaks the document (a leaked key hash)', () => {
  const doc = openApiDocument();
  const ajv = createAjv({ coerce: false });
  const stream = {
    id: 'st_abcdefghijklmnop',
    playbackPolicy: 'public',
    status: 'idle',
    createdAt: '2026-06-01T12:00:00.000Z',
    updatedAt: '2026-06-01T12:00:00.000Z',
    ingest: { rtmp: 'rtmp://h/live/{stream_key}' },
    playback: { rtmp: 'rtmp://h/live/st_abcdefghijklmnop' },
    metadata: {},
  };
  assert.doesNotThrow(() => assertDocumented(ajv, doc, 'get', '/v1/streams/st_abcdefghijklmnop', 200, stream));
  assert.throws(() => assertDocumented(ajv, doc, 'get', '/v1/streams/st_abcdefghijklmnop', 200, { ...stream, keys: [{ hash: 'ab' }] }), /does not match/);
  assert.throws(() => assertDocumented(ajv, doc, 'get', '/v1/streams/st_abcdefghijklmnop', 200, { ...stream, streamKey: 'sk_x' }), /does not match/);
  assert.throws(() => assertDocumented(ajv, doc, 'get', '/v1/streams/st_abcdefghijklmnop', 418, stream), /documents no 418/);
});

test('over a real listening socket: create, read and list with fetch, each answer as documented', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  await api.app.listen({ port: 0, host: '127.0.0.1' });
  const address = api.app.server.address();
  assert.ok(address && typeof address === 'object');
  const base = `http://127.0.0.1:${address.port}`;
  const ajv = createAjv({ coerce: false });
  const doc = openApiDocument();
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

  const created = await fetch(`${base}/v1/streams`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'socket' }) });
  assert.equal(created.status, 201);
  const stream = (await created.json()) as StreamWithKey;
  assertDocumented(ajv, doc, 'post', '/v1/streams', 201, stream);

  const got = await fetch(`${base}/v1/streams/${stream.id}`, { headers: auth });
  assert.equal(got.status, 200);
  const body = await got.text();
  assert.ok(!body.includes(stream.streamKey));
  assertDocumented(ajv, doc, 'get', `/v1/streams/${stream.id}`, 200, JSON.parse(body));

  const list = await fetch(`${base}/v1/streams?limit=1`, { headers: auth });
  assert.equal(((await list.json()) as StreamList).data[0]?.id, stream.id);

  const noAuth = await fetch(`${base}/v1/streams`);
  assert.equal(noAuth.status, 401);
  assert.match(noAuth.headers.get('content-type') ?? '', /^application\/json/);
  assertDocumented(ajv, doc, 'get', '/v1/streams', 401, await noAuth.json());

  const spec = await fetch(`${base}/openapi.json`);
  assert.equal(((await spec.json()) as { openapi: string }).openapi, '3.1.0');
});
