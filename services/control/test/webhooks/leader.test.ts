import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebhookDispatcher, type Delivery, type WebhookDispatcherOptions } from '../../src/webhooks/dispatcher.ts';
import { MAX_PENDING_BODY_BYTES, MemoryPendingDeliveryStore, type PendingDelivery, type PendingDeliveryStore } from '../../src/webhooks/pending-store.ts';
import { RecordingLogger, startApi } from '../api/helpers.ts';
import { countingFetch, statusReceiver, waitFor } from './receiver.ts';

const SECRET = 'whsec_test_0123456789';

function replica(url: string, store: PendingDeliveryStore, options: Partial<WebhookDispatcherOptions> = {}): WebhookDispatcher {
  return new WebhookDispatcher({ urls: [url], secret: SECRET, logger: new RecordingLogger(), store, backoff: { baseMs: 100, factor: 2, jitter: 0 }, pollMs: 50, ...options }).start();
}

test('a non-leader replica makes the first attempt, hands the failed delivery to the store and does not retry it', async (t) => {
  const rx = await statusReceiver(SECRET, [500, 500]);
  const store = new MemoryPendingDeliveryStore();
  const a = replica(rx.url, store, { isLeader: () => false });
  t.after(async () => {
    await a.close();
    await rx.close();
  });
  a.emit('stream.started', { stream: 'st_abc' });
  await a.idle();
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(rx.received.length, 1, 'no retry from a replica that does not lead');
  const pending = store.list();
  assert.equal(pending.length, 1);
  assert.equal(pending[0]?.delivery.status, 'pending');
  assert.equal(pending[0]?.delivery.round, 1);
  assert.equal(pending[0]?.delivery.id, rx.received[0]?.headers['firstmile-delivery']);
  const stored = await store.get(pending[0]!.delivery.id);
  assert.ok(!JSON.stringify(stored).includes('receiver-secret'), 'the receiver URL query is not stored');
  const [shown] = a.deliveries();
  assert.equal(shown?.status, 'pending', 'the replica shows it from the store');
  assert.deepEqual(shown?.attempts.map((x) => x.statusCode), [500]);
  assert.ok(shown?.nextAttemptAt);
});

test('the leader retries a delivery handed over by another replica: 3 attempts, 1 there and 2 on the leader, same id, each signed afresh', async (t) => {
  const rx = await statusReceiver(SECRET, [500, 500, 200]);
  const store = new MemoryPendingDeliveryStore();
  const fa = countingFetch();
  const fb = countingFetch();
  const a = replica(rx.url, store, { isLeader: () => false, fetch: fa.fetch });
  const b = replica(rx.url, store, { isLeader: () => true, fetch: fb.fetch });
  t.after(async () => {
    await a.close();
    await b.close();
    await rx.close();
  });
  a.emit('stream.started', { stream: 'st_abc' });
  await a.idle();
  await b.idle();
  assert.equal(rx.received.length, 3);
  assert.deepEqual([fa.count(), fb.count()], [1, 2]);
  assert.ok(rx.received.every((r) => r.signatureValid), 'every attempt carries a valid signature');
  const ids = rx.received.map((r) => (JSON.parse(r.body) as { id: string }).id);
  assert.equal(new Set(ids).size, 1);
  assert.ok(rx.received.every((r) => r.headers['firstmile-delivery'] === ids[0]));
  assert.equal(new Set(rx.received.map((r) => r.body)).size, 1, 'same body each time');
  assert.equal(store.list().length, 0, 'finished deliveries leave the store');
  const done = b.delivery(ids[0]!);
  assert.equal(done?.status, 'succeeded');
  assert.deepEqual(done?.attempts.map((x) => x.statusCode), [500, 500, 200]);
  assert.equal(a.deliveries().length, 0, 'the first replica dropped it from memory');
});

test('two replicas that both believe they lead never both send a retry: the claim is a CAS on the revision', async (t) => {
  const rx = await statusReceiver(SECRET, [503, 503, 503, 503, 503, 503]);
  const store = withLatency(new MemoryPendingDeliveryStore(), 40);
  const leaders = [replica(rx.url, store), replica(rx.url, store)];
  t.after(async () => {
    for (const l of leaders) await l.close();
    await rx.close();
  });
  // Six first attempts (all answered 503), then six retries both leaders race to claim.
  for (let i = 0; i < 6; i++) leaders[i % 2]!.emit('stream.started', { stream: `st_${i}` });
  await Promise.all(leaders.map((l) => l.idle()));
  await new Promise((r) => setTimeout(r, 300));
  const perId = new Map<string, number>();
  for (const r of rx.received) perId.set(String(r.headers['firstmile-delivery']), (perId.get(String(r.headers['firstmile-delivery'])) ?? 0) + 1);
  assert.equal(perId.size, 6);
  assert.deepEqual([...perId.values()], [2, 2, 2, 2, 2, 2], 'one first attempt and one retry each, never a duplicate');
  assert.equal(store.list().length, 0);
});

test('a 4xx answer on a retry is final: the leader removes it from the store after that attempt', async (t) => {
  const rx = await statusReceiver(SECRET, [500, 404]);
  const store = new MemoryPendingDeliveryStore();
  const a = replica(rx.url, store, { isLeader: () => false });
  const b = replica(rx.url, store);
  t.after(async () => {
    await a.close();
    await b.close();
    await rx.close();
  });
  a.emit('stream.ended', { stream: 'st_abc' });
  await a.idle();
  await b.idle();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(rx.received.length, 2);
  assert.equal(store.list().length, 0);
  assert.deepEqual(b.deliveries()[0]?.attempts.map((x) => x.statusCode), [500, 404]);
  assert.equal(b.deliveries()[0]?.status, 'failed');
});

test('POST /v1/webhooks/deliveries/{id}/retry on any replica makes a pending retry in the store due now', async (t) => {
  const rx = await statusReceiver(SECRET, [500]);
  const store = new MemoryPendingDeliveryStore();
  // A minute of backoff: only the API's retry can make the second attempt come soon.
  const slow = { baseMs: 60_000, factor: 2, jitter: 0 };
  const a = replica(rx.url, store, { isLeader: () => false, backoff: slow });
  const b = replica(rx.url, store, { backoff: slow });
  const api = await startApi({ webhooks: a });
  t.after(async () => {
    await api.close();
    await b.close();
    await rx.close();
  });
  a.emit('stream.started', { stream: 'st_abc' });
  await a.idle();
  const listed = await api.call<{ data: Delivery[] }>({ method: 'get', url: '/v1/webhooks/deliveries?status=pending' });
  assert.equal(listed.body.data.length, 1);
  const id = listed.body.data[0]!.id;
  assert.ok(Date.parse(listed.body.data[0]!.nextAttemptAt!) - Date.now() > 50_000);
  const retried = await api.call<Delivery>({ method: 'post', url: `/v1/webhooks/deliveries/${id}/retry` });
  assert.equal(retried.status, 202);
  await waitFor('the leader to send the retry', () => rx.received.length === 2, 2000);
  await b.idle();
  assert.equal(b.delivery(id)?.status, 'succeeded');
});

/** A store whose reads take `ms`, as a remote one does: both leaders then read the same revision. */
function withLatency(inner: PendingDeliveryStore, ms: number): PendingDeliveryStore {
  return {
    get dropped() {
      return inner.dropped;
    },
    add: (d) => inner.add(d),
    list: () => inner.list(),
    get: async (id) => {
      const e = await inner.get(id);
      await new Promise((r) => setTimeout(r, ms));
      return e;
    },
    update: (d, revision) => inner.update(d, revision),
    remove: (id, revision) => inner.remove(id, revision),
    close: () => inner.close(),
  };
}

function pending(id: string, body = '{}'): PendingDelivery {
  return { id, type: 'stream.started', urlId: 'u', shownUrl: 'http://x/', body, status: 'pending', attempts: [], round: 1, createdAt: 1, nextAttemptAt: 1 };
}

test('the memory store is bounded: beyond maxPending the oldest is evicted and counted; bodies over 64 KiB are refused', async () => {
  const store = new MemoryPendingDeliveryStore({ maxPending: 2 });
  for (const id of ['dlv_1', 'dlv_2', 'dlv_3']) await store.add(pending(id));
  assert.deepEqual(store.list().map((e) => e.delivery.id), ['dlv_2', 'dlv_3']);
  assert.equal(store.dropped, 1);
  await assert.rejects(store.add(pending('dlv_big', 'x'.repeat(MAX_PENDING_BODY_BYTES + 1))), RangeError);
});

test('store updates and removals are compare-and-set on the revision', async () => {
  const store = new MemoryPendingDeliveryStore();
  await store.add(pending('dlv_1'));
  const first = (await store.get('dlv_1'))!;
  const next = await store.update({ ...first.delivery, status: 'delivering' }, first.revision);
  assert.ok(next !== undefined && next > first.revision);
  assert.equal(await store.update(first.delivery, first.revision), undefined, 'a stale revision loses');
  assert.equal(await store.remove('dlv_1', first.revision), false);
  assert.equal(await store.remove('dlv_1', next), true);
  assert.equal(store.list().length, 0);
});
