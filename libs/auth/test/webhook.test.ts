import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebhookAuthorizer, type PublishDecision, type WebhookRequestBody } from '../src/index.ts';

interface Hook {
  url: string;
  calls: { body: WebhookRequestBody; headers: IncomingMessage['headers'] }[];
  close(): Promise<void>;
}

/** A real local HTTP server standing for the operator's endpoint. */
async function hook(answer: (body: WebhookRequestBody, res: ServerResponse) => void): Promise<Hook> {
  const calls: Hook['calls'] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw) as WebhookRequestBody;
      calls.push({ body, headers: req.headers });
      answer(body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth?secret=hook-secret`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const req = (name: string, clientIp = '192.0.2.7', tcUrl?: string) => ({ app: 'live', name, tcUrl, clientIp });
const code = (d: PublishDecision) => (d.ok ? 'OK' : d.code);

test('webhook: a 2xx answer allows; the POST carries action, app, stream without query, query and client IP', async (t) => {
  const h = await hook((_b, res) => res.writeHead(204).end());
  t.after(h.close);
  const auth = new WebhookAuthorizer({ url: h.url, headers: { authorization: 'Bearer op-token' } });
  const d = await auth.authorize(req('cam?token=op-scheme&x=1', '192.0.2.7', 'rtmp://edge/live?x=from-tcurl&y=2'));
  assert.deepEqual(d, { ok: true, playName: 'cam', mode: 'webhook' });
  assert.equal(h.calls.length, 1);
  assert.deepEqual(h.calls[0]!.body, { action: 'publish', app: 'live', stream: 'cam', query: { token: 'op-scheme', x: '1', y: '2' }, clientIp: '192.0.2.7' });
  assert.equal(h.calls[0]!.headers['authorization'], 'Bearer op-token');
  assert.equal(h.calls[0]!.headers['content-type'], 'application/json');
});

test('webhook: a JSON answer with a name renames the stream; an invalid name is refused', async (t) => {
  const h = await hook((body, res) => {
    const name = body.query['rename'];
    res.writeHead(200, { 'content-type': 'application/json' }).end(name === undefined ? 'OK' : JSON.stringify({ name }));
  });
  t.after(h.close);
  const auth = new WebhookAuthorizer({ url: h.url });
  const cases: [string, string, string | undefined][] = [
    ['sk_secret?rename=public-name', 'OK', 'public-name'],
    ['sk_secret', 'OK', 'sk_secret'],
    ['sk_secret?rename=a%3Fb', 'AUTH_UNAVAILABLE', undefined],
    ['sk_secret?rename=', 'AUTH_UNAVAILABLE', undefined],
    [`sk_secret?rename=${'n'.repeat(257)}`, 'AUTH_UNAVAILABLE', undefined],
  ];
  for (const [name, expect, playName] of cases) {
    const d = await auth.authorize(req(name));
    assert.equal(code(d), expect, name.slice(0, 40));
    if (d.ok) assert.equal(d.playName, playName);
  }
});

test('webhook: a 403 denies with AUTH_DENIED, and so does a redirect (never followed)', async (t) => {
  const other = await hook((_b, res) => res.writeHead(200).end());
  t.after(other.close);
  const h = await hook((body, res) => {
    if (body.stream === 'redirect') res.writeHead(307, { location: other.url }).end();
    else res.writeHead(403).end('no');
  });
  t.after(h.close);
  const auth = new WebhookAuthorizer({ url: h.url });
  const d = await auth.authorize(req('cam'));
  assert.equal(code(d), 'AUTH_DENIED');
  assert.ok(!d.ok && d.reason.includes('403'));
  assert.equal(code(await auth.authorize(req('redirect'))), 'AUTH_DENIED');
  assert.equal(other.calls.length, 0, 'the redirect target was never called');
});

test('webhook: a slow server times out and fails closed with AUTH_UNAVAILABLE within the timeout', async (t) => {
  const h = await hook((_b, res) => setTimeout(() => res.writeHead(200).end(), 2000).unref());
  t.after(h.close);
  const auth = new WebhookAuthorizer({ url: h.url, timeoutMs: 200 });
  const started = performance.now();
  const d = await auth.authorize(req('cam'));
  const took = performance.now() - started;
  assert.equal(code(d), 'AUTH_UNAVAILABLE');
  assert.ok(took >= 180 && took < 1000, `answered after ${took.toFixed(0)} ms`);
  // Unavailability is not cached: the next attempt asks again.
  await auth.authorize(req('cam'));
  assert.equal(h.calls.length, 2);
});

test('webhook: failOpen allows when the server is unreachable or slow, and does not cache that', async (t) => {
  const h = await hook((_b, res) => setTimeout(() => res.writeHead(403).end(), 2000).unref());
  t.after(h.close);
  const slow = new WebhookAuthorizer({ url: h.url, timeoutMs: 100, failOpen: true });
  assert.deepEqual(await slow.authorize(req('cam?x=1')), { ok: true, playName: 'cam', mode: 'webhook' });
  const dead = createServer();
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  const port = (dead.address() as AddressInfo).port;
  await new Promise<void>((resolve) => dead.close(() => resolve()));
  const unreachable = new WebhookAuthorizer({ url: `http://127.0.0.1:${port}/`, failOpen: true });
  assert.equal(code(await unreachable.authorize(req('cam'))), 'OK');
  const closed = new WebhookAuthorizer({ url: `http://127.0.0.1:${port}/` });
  assert.equal(code(await closed.authorize(req('cam'))), 'AUTH_UNAVAILABLE', 'fail closed by default');
});

test('webhook: a cached allow does not call again; denies are cached apart; both expire', async (t) => {
  const h = await hook((body, res) => res.writeHead(body.stream === 'good' ? 200 : 403).end());
  t.after(h.close);
  let now = 1_000_000;
  const auth = new WebhookAuthorizer({ url: h.url, cacheTtlMs: 5000, denyCacheTtlMs: 1000, maxCacheEntries: 2, now: () => now });
  assert.equal(code(await auth.authorize(req('good'))), 'OK');
  assert.equal(code(await auth.authorize(req('good'))), 'OK');
  assert.equal(h.calls.length, 1, 'the second allow came from the cache');
  assert.equal(code(await auth.authorize(req('good', '192.0.2.8'))), 'OK');
  assert.equal(h.calls.length, 2, 'another client IP is another question');
  // A burst of denials does not evict the allows (separate caches).
  for (let i = 0; i < 5; i++) assert.equal(code(await auth.authorize(req(`bad${i}`))), 'AUTH_DENIED');
  assert.equal(code(await auth.authorize(req('bad4'))), 'AUTH_DENIED');
  assert.equal(h.calls.length, 7, 'a deny is cached too');
  assert.equal(code(await auth.authorize(req('good'))), 'OK');
  assert.equal(h.calls.length, 7, 'allows survived the denials');
  now += 1001;
  await auth.authorize(req('bad4'));
  assert.equal(h.calls.length, 8, 'the deny expired after denyCacheTtlMs');
  now += 4000;
  await auth.authorize(req('good'));
  assert.equal(h.calls.length, 9, 'the allow expired after cacheTtlMs');
});

test('webhook: concurrent identical attempts make one call', async (t) => {
  const h = await hook((_b, res) => setTimeout(() => res.writeHead(200).end(), 50));
  t.after(h.close);
  const auth = new WebhookAuthorizer({ url: h.url, cacheTtlMs: 0 });
  const ds = await Promise.all(Array.from({ length: 10 }, () => auth.authorize(req('cam'))));
  assert.ok(ds.every((d) => d.ok));
  assert.equal(h.calls.length, 1);
});

test('webhook: an answer body over maxResponseBytes is refused, not buffered', async (t) => {
  const h = await hook((_b, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ name: 'x', pad: 'p'.repeat(100_000) }));
  });
  t.after(h.close);
  const auth = new WebhookAuthorizer({ url: h.url, maxResponseBytes: 1024 });
  assert.equal(code(await auth.authorize(req('cam'))), 'AUTH_UNAVAILABLE');
});

test('webhook: the webhook URL must be http(s)', () => {
  assert.throws(() => new WebhookAuthorizer({ url: 'file:///etc/passwd' }), RangeError);
});
