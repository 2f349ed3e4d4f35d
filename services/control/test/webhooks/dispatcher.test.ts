import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryBus, STREAM_EVENT_SUBJECT, encodeJson, type StreamEvent } from '@firstmile/bus';
import { WebhookDispatcher, type Delivery, type WebhookDispatcherOptions } from '../../src/webhooks/dispatcher.ts';
import { verifyWebhookSignature, webhookSignature } from '../../src/webhooks/signature.ts';
import { RecordingLogger, createStream, startApi, type ApiErrorBody } from '../api/helpers.ts';

const SECRET = 'whsec_test_0123456789';

interface Received {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** Checked here from first principles, not with the code under test. */
  signatureValid: boolean;
}

type Answer = number | 'hang' | { redirect: string };

/** A real HTTP receiver: answers from `script` in order (then 200), and verifies every signature. */
async function receiver(script: Answer[] = []): Promise<{ url: string; received: Received[]; script: Answer[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const hanging: (() => void)[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const header = String(req.headers['firstmile-signature'] ?? '');
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
      const expected = m ? createHmac('sha256', SECRET).update(`${m[1]}.${body}`).digest() : undefined;
      const fresh = m ? Math.abs(Date.now() / 1000 - Number(m[1])) < 300 : false;
      received.push({ at: performance.now(), headers: req.headers, body, signatureValid: !!(m && expected && fresh && timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'))) });
      const answer = script.shift() ?? 200;
      if (answer === 'hang') {
        hanging.push(() => res.destroy());
        return;
      }
      if (typeof answer === 'object') {
        res.writeHead(302, { location: answer.redirect }).end();
        return;
      }
      res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer >= 400 ? 'nope' : 'ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/firstmile?token=receiver-secret`,
    received,
    script,
    async close() {
      for (const h of hanging) h();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function dispatcher(urls: string[], options: Partial<WebhookDispatcherOptions> = {}): WebhookDispatcher {
  return new WebhookDispatcher({ urls, secret: SECRET, logger: new RecordingLogger(), backoff: { baseMs: 100, factor: 2, jitter: 0 }, ...options });
}

test('a delivery answered 500, 500, then 200 is attempted 3 times with exponential backoff, same id, signed each time', async (t) => {
  const rx = await receiver([500, 500, 200]);
  const d = dispatcher([rx.url]);
  t.after(async () => {
    await d.close();
    await rx.close();
  });
  d.emit('stream.started', { stream: 'st_abc', app: 'live', edge: 'edge-a', at: '2026-06-01T12:00:00.000Z' });
  await d.idle();
  assert.equal(rx.received.length, 3);
  assert.ok(rx.received.every((r) => r.signatureValid), 'every attempt carries a valid signature');
  const gaps = [rx.received[1]!.at - rx.received[0]!.at, rx.received[2]!.at - rx.received[1]!.at];
  assert.ok(gaps[0]! >= 95 && gaps[0]! < 300, `first retry after ${gaps[0]!.toFixed(0)} ms (base 100)`);
  assert.ok(gaps[1]! >= 195 && gaps[1]! < 450, `second retry after ${gaps[1]!.toFixed(0)} ms (base x 2)`);
  const bodies = rx.received.map((r) => JSON.parse(r.body) as { id: string; type: string; createdAt: string; data: unknown });
  assert.equal(new Set(bodies.map((b) => b.id)).size, 1, 'the body id is the delivery id, stable across retries');
  assert.equal(bodies[0]!.type, 'stream.started');
  assert.deepEqual(bodies[0]!.data, { stream: 'st_abc', app: 'live', edge: 'edge-a', at: '2026-06-01T12:00:00.000Z' });
  assert.equal(rx.received[0]!.headers['content-type'], 'application/json');
  assert.equal(rx.received[0]!.headers['firstmile-event'], 'stream.started');
  assert.equal(rx.received[0]!.headers['firstmile-delivery'], bodies[0]!.id);

  const [delivery] = d.deliveries();
  assert.equal(delivery?.id, bodies[0]!.id);
  assert.equal(delivery?.status, 'succeeded');
  assert.deepEqual(delivery?.attempts.map((a) => a.statusCode), [500, 500, 200]);
  assert.deepEqual(delivery?.attempts.map((a) => a.error), ['HTTP 500', 'HTTP 500', null]);
  assert.equal(delivery?.nextAttemptAt, null);
  assert.ok(delivery?.completedAt);
  assert.ok(!delivery?.url.includes('receiver-secret'), 'the receiver URL is shown without its query');
});

const finalAnswers: { what: string; answer: Answer }[] = [
  { what: 'a 400', answer: 400 },
  { what: 'a 404', answer: 404 },
  { what: 'a 410', answer: 410 },
  { what: 'a redirect (not followed)', answer: { redirect: 'http://127.0.0.1:1/elsewhere' } },
];

for (const c of finalAnswers) {
  test(`${c.what} is final: the delivery fails after one attempt`, async (t) => {
    const rx = await receiver([c.answer]);
    const d = dispatcher([rx.url]);
    t.after(async () => {
      await d.close();
      await rx.close();
    });
    d.emit('stream.ended', { stream: 'st_abc', reason: 'unpublished' });
    await d.idle();
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(rx.received.length, 1);
    const [delivery] = d.deliveries();
    assert.equal(delivery?.status, 'failed');
    assert.equal(delivery?.attempts.length, 1);
  });
}

test('429 is retried, honouring Retry-After over a shorter backoff', async (t) => {
  const server = createServer((_req, res) => {
    hits.push(performance.now());
    if (hits.length === 1) res.writeHead(429, { 'retry-after': '1' }).end();
    else res.writeHead(204).end();
  });
  const hits: number[] = [];
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const d = dispatcher([`http://127.0.0.1:${(server.address() as AddressInfo).port}/`]);
  t.after(async () => {
    await d.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  d.emit('stream.started', {});
  await d.idle();
  assert.equal(hits.length, 2);
  assert.ok(hits[1]! - hits[0]! >= 990, `retried after ${(hits[1]! - hits[0]!).toFixed(0)} ms`);
  assert.equal(d.deliveries()[0]?.status, 'succeeded');
});

test('network errors and timeouts are retried up to maxAttempts, then the delivery fails', async (t) => {
  const closed = await receiver();
  const deadUrl = closed.url;
  await closed.close();
  const slow = await receiver(['hang', 'hang']);
  const d = dispatcher([deadUrl, slow.url], { maxAttempts: 2, timeoutMs: 200, backoff: { baseMs: 20, jitter: 0 } });
  t.after(async () => {
    await d.close();
    await slow.close();
  });
  d.emit('stream.health_changed', { stream: 'st_abc', health: 'starving', previousHealth: 'healthy' });
  await d.idle();
  const byUrl = new Map(d.deliveries().map((x) => [x.url.includes(new URL(slow.url).port) ? 'slow' : 'dead', x] as const));
  const dead = byUrl.get('dead');
  const hung = byUrl.get('slow');
  assert.equal(dead?.status, 'failed');
  assert.equal(dead?.attempts.length, 2);
  assert.ok(dead?.attempts.every((a) => a.statusCode === null && a.error !== null && /fetch failed|ECONNREFUSED/.test(a.error)), JSON.stringify(dead?.attempts));
  assert.equal(hung?.status, 'failed');
  assert.deepEqual(hung?.attempts.map((a) => a.error), ['no answer within 200 ms', 'no answer within 200 ms']);
  assert.equal(slow.received.length, 2);
});

test('edge stream events on the bus become signed webhooks, each delivered by one replica of the queue group', async (t) => {
  const rx = await receiver();
  const bus = new MemoryBus();
  const replicas = [dispatcher([rx.url], { bus }).start(), dispatcher([rx.url], { bus }).start()];
  t.after(async () => {
    for (const r of replicas) await r.close();
    await bus.close();
    await rx.close();
  });
  const event = (i: number, type: StreamEvent['type']): StreamEvent => ({
    type,
    app: 'live',
    stream: `st_stream${i}`,
    streamId: `busid${i}`,
    edge: 'edge-a',
    epoch: i,
    at: '2026-06-01T12:00:00.000Z',
    ...(type === 'stream.ended' ? { reason: 'revoked' as const } : { video: 'avc1.64001f' }),
  });
  for (let i = 0; i < 4; i++) bus.publish(STREAM_EVENT_SUBJECT, encodeJson(event(i, i % 2 === 0 ? 'stream.started' : 'stream.ended')));
  bus.publish(STREAM_EVENT_SUBJECT, encodeJson({ type: 'stream.exploded' }));
  await bus.flush();
  await Promise.all(replicas.map((r) => r.idle()));
  assert.equal(rx.received.length, 4, 'four events, four deliveries: not one per replica');
  assert.deepEqual(replicas.map((r) => r.deliveries().length), [2, 2]);
  const bodies = rx.received.map((r) => JSON.parse(r.body) as { type: string; data: Record<string, unknown> }).sort((a, b) => String(a.data['stream']).localeCompare(String(b.data['stream'])));
  assert.deepEqual(bodies[1], {
    ...bodies[1],
    type: 'stream.ended',
    data: { stream: 'st_stream1', app: 'live', edge: 'edge-a', at: '2026-06-01T12:00:00.000Z', reason: 'revoked' },
  });
  assert.equal(bodies[0]?.data['video'], 'avc1.64001f');
  assert.ok(rx.received.every((r) => r.signatureValid));
  assert.ok(!rx.received.some((r) => r.body.includes('busid')), 'bus internals stay out of webhooks');
});

test('the queue is bounded: beyond maxQueue the oldest waiting delivery is dropped and counted', async (t) => {
  const rx = await receiver(['hang']);
  const d = dispatcher([rx.url], { maxQueue: 2, concurrency: 1, timeoutMs: 300, maxAttempts: 1 });
  t.after(async () => {
    await d.close();
    await rx.close();
  });
  for (let i = 0; i < 5; i++) d.emit('stream.started', { stream: `s${i}` });
  assert.equal(d.dropped, 3);
  await d.idle();
  // In emit order: the first was in flight (and timed out), the last is the newest waiting one.
  const statuses = d.deliveries().reverse().map((x) => x.status);
  assert.deepEqual(statuses, ['failed', 'dropped', 'dropped', 'dropped', 'succeeded']);
  assert.equal(rx.received.length, 2);
});

test('finished deliveries are kept in a bounded list, newest first', async (t) => {
  const rx = await receiver();
  const d = dispatcher([rx.url], { maxResults: 3 });
  t.after(async () => {
    await d.close();
    await rx.close();
  });
  for (let i = 0; i < 5; i++) d.emit('stream.started', { stream: `s${i}` });
  await d.idle();
  const kept = d.deliveries();
  assert.equal(kept.length, 3);
  assert.deepEqual(kept.map((k) => JSON.parse(rx.received.find((r) => r.headers['firstmile-delivery'] === k.id)!.body).data.stream), ['s4', 's3', 's2']);
  assert.equal(d.deliveries({ limit: 1 }).length, 1);
});

test('GET /v1/webhooks/deliveries shows attempts; POST .../retry sends a failed delivery again; rotate-key emits stream.key_rotated', async (t) => {
  const rx = await receiver([400]);
  const webhooks = dispatcher([rx.url]);
  const api = await startApi({ webhooks });
  t.after(async () => {
    await api.close();
    await rx.close();
  });
  const s = await createStream(api);
  const rotated = await api.call<{ streamKey: string; previousKeyExpiresAt: string }>({ method: 'post', url: `/v1/streams/${s.id}/rotate-key`, body: { overlapSeconds: 5 } });
  await webhooks.idle();
  assert.equal(rx.received.length, 1);
  const body = JSON.parse(rx.received[0]!.body) as { id: string; type: string; data: Record<string, unknown> };
  assert.equal(body.type, 'stream.key_rotated');
  assert.deepEqual(body.data, { stream: s.id, at: body.data['at'], previousKeyExpiresAt: rotated.body.previousKeyExpiresAt });
  assert.ok(!rx.received[0]!.body.includes(rotated.body.streamKey) && !rx.received[0]!.body.includes(s.streamKey), 'no key in webhooks');

  const failed = await api.call<{ data: Delivery[]; dropped: number }>({ method: 'get', url: '/v1/webhooks/deliveries?status=failed' });
  assert.equal(failed.status, 200);
  assert.equal(failed.body.data.length, 1);
  assert.equal(failed.body.data[0]?.id, body.id);
  assert.deepEqual(failed.body.data[0]?.attempts.map((a) => [a.statusCode, a.error]), [[400, 'HTTP 400']]);
  assert.equal(failed.body.dropped, 0);

  const retry = await api.call<Delivery>({ method: 'post', url: `/v1/webhooks/deliveries/${body.id}/retry` });
  assert.equal(retry.status, 202);
  assert.ok(['pending', 'delivering'].includes(retry.body.status));
  await webhooks.idle();
  const after = await api.call<{ data: Delivery[] }>({ method: 'get', url: '/v1/webhooks/deliveries' });
  assert.equal(after.body.data[0]?.status, 'succeeded');
  assert.deepEqual(after.body.data[0]?.attempts.map((a) => a.statusCode), [400, 200]);
  assert.equal(JSON.parse(rx.received[1]!.body).id, body.id, 'a retry is the same delivery');
  assert.ok(rx.received[1]!.signatureValid, 'signed afresh');

  const missing = await api.call<ApiErrorBody>({ method: 'post', url: '/v1/webhooks/deliveries/dlv_nope/retry' });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, 'DELIVERY_NOT_FOUND');
  const bad = await api.call<ApiErrorBody>({ method: 'get', url: '/v1/webhooks/deliveries?status=lost' });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.details?.[0]?.field, 'querystring/status');
});

test('retrying a delivery that is still being attempted answers 409 DELIVERY_IN_PROGRESS', async (t) => {
  const rx = await receiver(['hang']);
  const webhooks = dispatcher([rx.url], { timeoutMs: 2000 });
  const api = await startApi({ webhooks });
  t.after(async () => {
    await api.close();
    await rx.close();
  });
  webhooks.emit('stream.started', { stream: 'st_x' });
  const [pending] = webhooks.deliveries();
  const res = await api.call<ApiErrorBody>({ method: 'post', url: `/v1/webhooks/deliveries/${pending!.id}/retry` });
  assert.equal(res.status, 409);
  assert.equal(res.body.error.code, 'DELIVERY_IN_PROGRESS');
});

const signatureCases: { what: string; header: (body: string, t: number) => string; body?: string; secret?: string; ok: boolean }[] = [
  { what: 'a valid signature', header: (b, t) => webhookSignature(SECRET, b, t), ok: true },
  { what: 'a valid v1 among several', header: (b, t) => `t=${t},v1=${'0'.repeat(64)},${webhookSignature(SECRET, b, t).split(',')[1]}`, ok: true },
  { what: 'a tampered body', header: (b, t) => webhookSignature(SECRET, b, t), body: '{"id":"x","type":"stream.ended"}', ok: false },
  { what: 'another secret', header: (b, t) => webhookSignature('other', b, t), ok: false },
  { what: 'a timestamp 10 minutes old', header: (b, t) => webhookSignature(SECRET, b, t - 600), ok: false },
  { what: 'a timestamp moved without re-signing', header: (b, t) => webhookSignature(SECRET, b, t - 1).replace(`t=${t - 1}`, `t=${t}`), ok: false },
  { what: 'no v1', header: (_b, t) => `t=${t}`, ok: false },
  { what: 'garbage', header: () => 'nonsense', ok: false },
];

for (const c of signatureCases) {
  test(`verifyWebhookSignature: ${c.what} ${c.ok ? 'verifies' : 'is refused'}`, () => {
    const body = '{"id":"x","type":"stream.started"}';
    const t = Math.floor(Date.now() / 1000);
    assert.equal(verifyWebhookSignature(c.secret ?? SECRET, c.body ?? body, c.header(body, t)), c.ok);
  });
}
