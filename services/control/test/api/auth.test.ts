import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HTTP_METHODS, openApiDocument, type HttpMethod } from '../../src/api/openapi.ts';
import { ADMIN_TOKEN, createStream, startApi, type ApiErrorBody, type TestApi } from './helpers.ts';

/** Every documented operation, with `security: []` marking the open ones. */
function operations(): { method: HttpMethod; path: string; open: boolean }[] {
  const doc = openApiDocument();
  const out: { method: HttpMethod; path: string; open: boolean }[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of HTTP_METHODS) {
      const op = item[method];
      if (op) out.push({ method, path, open: Array.isArray(op.security) && op.security.length === 0 });
    }
  }
  return out;
}

const concrete = (path: string, id: string) => path.replace('{id}', id);

test('the open operations are exactly the OpenAPI document, the ingest list and encoder-config', () => {
  assert.deepEqual(
    operations().filter((o) => o.open).map((o) => `${o.method.toUpperCase()} ${o.path}`).sort(),
    ['GET /openapi.json', 'GET /v1/ingests', 'POST /v1/encoder-config'],
  );
});

const credentials: { what: string; header: string | null; code: string }[] = [
  { what: 'no Authorization header', header: null, code: 'UNAUTHORIZED' },
  { what: 'a wrong token', header: 'Bearer wrong-token-0123456789abc', code: 'UNAUTHORIZED' },
  { what: 'a prefix of the token', header: `Bearer ${ADMIN_TOKEN.slice(0, -1)}`, code: 'UNAUTHORIZED' },
  { what: 'the token with a suffix', header: `Bearer ${ADMIN_TOKEN}x`, code: 'UNAUTHORIZED' },
  { what: 'another scheme', header: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`, code: 'UNAUTHORIZED' },
  { what: 'an empty bearer', header: 'Bearer ', code: 'UNAUTHORIZED' },
];

for (const c of credentials) {
  test(`every admin operation answers 401 ${c.code} with WWW-Authenticate to ${c.what}`, async (t) => {
    const api = await startApi();
    t.after(() => api.close());
    const s = await createStream(api);
    for (const op of operations().filter((o) => !o.open)) {
      const res = await api.call<ApiErrorBody>({
        method: op.method,
        url: concrete(op.path, s.id),
        token: null,
        headers: c.header === null ? {} : { authorization: c.header },
      });
      assert.equal(res.status, 401, `${op.method.toUpperCase()} ${op.path}`);
      assert.equal(res.body.error.code, c.code);
      assert.match(String(res.headers['www-authenticate']), /^Bearer /);
    }
    assert.equal((await api.store.list()).length, 1, 'no refused request changed anything');
    assert.equal((await api.store.get(s.id))?.record.revokedAt, undefined);
  });
}

test('the right token opens every admin operation (case-insensitive scheme)', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  for (const op of operations().filter((o) => !o.open)) {
    const s = await createStream(api);
    const res = await api.call({ method: op.method, url: concrete(op.path, s.id), token: null, headers: { authorization: `bearer ${ADMIN_TOKEN}` } });
    assert.notEqual(res.status, 401, `${op.method.toUpperCase()} ${op.path}`);
    assert.ok(res.status < 500, `${op.method.toUpperCase()} ${op.path} answered ${res.status}`);
  }
});

test('without a configured admin token every admin operation answers 401 ADMIN_API_DISABLED; open ones still work', async (t) => {
  const api = await startApi({ adminToken: undefined });
  t.after(() => api.close());
  for (const op of operations().filter((o) => !o.open)) {
    for (const token of [null, 'anything-at-all-0123456789']) {
      const res = await api.call<ApiErrorBody>({ method: op.method, url: concrete(op.path, 'st_abcdefghijklmnop'), token });
      assert.equal(res.status, 401, `${op.method.toUpperCase()} ${op.path}`);
      assert.equal(res.body.error.code, 'ADMIN_API_DISABLED');
      assert.match(res.body.error.message, /no admin token is configured/);
    }
  }
  assert.ok(api.logger.lines.some((l) => l.level === 'warn' && /no admin token/.test(l.msg ?? '')), 'the disabled API is announced at start');
  await assertOpenEndpointsWork(api);
});

test('health, the OpenAPI document, the ingest list and encoder-config need no admin token', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  await assertOpenEndpointsWork(api);
});

async function assertOpenEndpointsWork(api: TestApi): Promise<void> {
  const health = await api.app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(health.statusCode, 200);
  assert.equal((await api.call({ method: 'get', url: '/openapi.json', token: null })).status, 200);
  assert.equal((await api.call({ method: 'get', url: '/v1/ingests', token: null })).status, 200);
  const cfg = await api.call<ApiErrorBody>({ method: 'post', url: '/v1/encoder-config', token: null, body: { streamKey: 'sk_not-a-key' } });
  // Refused for the key, not for a missing admin token.
  assert.equal(cfg.status, 401);
  assert.equal(cfg.body.error.code, 'UNAUTHORIZED');
  assert.equal(cfg.headers['www-authenticate'], undefined);
}

test('unknown routes under /v1 answer a JSON 404 NOT_FOUND', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  for (const [method, url] of [['get', '/v1/nope'], ['put', '/v1/streams'], ['get', '/v1/streams/st_abcdefghijklmnop/keys']] as const) {
    const res = await api.call<ApiErrorBody>({ method, url });
    assert.equal(res.status, 404, `${method} ${url}`);
    assert.equal(res.body.error.code, 'NOT_FOUND');
  }
});
