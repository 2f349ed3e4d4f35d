/**
 * Webhook retries as a singleton duty of the control leader, on a real nats-server with JetStream:
 * two control replicas, each with its own NATS connection, share the pending store (KV bucket);
 * leadership moves between them while a delivery is still being retried.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { NatsBus, STREAM_EVENT_SUBJECT, encodeJson, type StreamEvent } from '@firstmile/bus';
import { WebhookDispatcher } from '../../services/control/src/webhooks/dispatcher.ts';
import { KvPendingDeliveryStore } from '../../services/control/src/webhooks/kv-pending-store.ts';
import { RecordingLogger } from '../../services/control/test/api/helpers.ts';
import { statusReceiver, waitFor } from '../../services/control/test/webhooks/receiver.ts';
import { startNats } from '../harness/nats.ts';

const SECRET = 'whsec_test_0123456789';

test('leadership moved from A to B mid-way: the pending delivery is finished by B, not lost, not sent twice', async (t) => {
  const server = await startNats({ jetstream: true });
  const rx = await statusReceiver(SECRET, [500, 500, 200]);
  const ncs = [await connect({ servers: server.url }), await connect({ servers: server.url }), await connect({ servers: server.url })];
  const log: string[] = [];
  const leading = { A: true, B: false };
  const make = async (name: 'A' | 'B', i: number) => {
    const logger = new RecordingLogger();
    const store = await KvPendingDeliveryStore.open(ncs[i]!, { bucket: 'fm_webhooks_test', replicas: 1, retryForMs: 5000, logger });
    const fetchAs: typeof fetch = (input, init) => {
      log.push(name);
      return globalThis.fetch(input, init);
    };
    const d = new WebhookDispatcher({
      urls: [rx.url],
      secret: SECRET,
      logger,
      bus: new NatsBus(ncs[i]!),
      store,
      isLeader: () => leading[name],
      fetch: fetchAs,
      backoff: { baseMs: 300, factor: 2, jitter: 0 },
    }).start();
    return { d, store };
  };
  const a = await make('A', 0);
  const b = await make('B', 1);
  t.after(async () => {
    for (const r of [a, b]) {
      await r.d.close();
      await r.store.close();
    }
    for (const nc of ncs) await nc.close();
    await rx.close();
    await server.stop();
  });
  await Promise.all(ncs.map((nc) => nc.flush()));

  const event: StreamEvent = { type: 'stream.started', app: 'live', stream: 'st_abc', streamId: 'busid', edge: 'edge-a', epoch: 1, at: '2026-06-01T12:00:00.000Z' };
  new NatsBus(ncs[2]!).publish(STREAM_EVENT_SUBJECT, encodeJson(event));

  // First attempt on whichever replica the queue group picked, first retry on the leader A.
  await waitFor('the first retry', () => rx.received.length === 2, 5000);
  assert.equal(log[1], 'A', 'the first retry comes from the leader');
  leading.A = false;
  leading.B = true;

  await waitFor('the second retry', () => rx.received.length === 3, 5000);
  assert.equal(log[2], 'B', 'the new leader finishes it');
  const id = String(rx.received[0]!.headers['firstmile-delivery']);
  await waitFor('B to record it as delivered', () => b.d.delivery(id)?.status === 'succeeded', 2000);
  await waitFor('both replicas to see the store empty', () => a.store.list().length === 0 && b.store.list().length === 0, 2000);
  // Long enough for any duplicate (a retry due 600 ms after the second attempt) to have shown up.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(rx.received.length, 3, 'not sent twice');
  assert.ok(rx.received.every((r) => r.signatureValid && r.headers['firstmile-delivery'] === id));
  assert.equal(new Set(rx.received.map((r) => r.body)).size, 1);
  assert.deepEqual(b.d.delivery(id)?.attempts.map((x) => x.statusCode), [500, 500, 200]);
});

test('every replica lists the pending retries held in the shared store, and a retry asked on a non-leader is sent by the leader', async (t) => {
  const server = await startNats({ jetstream: true });
  const rx = await statusReceiver(SECRET, [500]);
  const ncs = [await connect({ servers: server.url }), await connect({ servers: server.url })];
  const made = await Promise.all(
    ncs.map(async (nc, i) => {
      const logger = new RecordingLogger();
      const store = await KvPendingDeliveryStore.open(nc, { bucket: 'fm_webhooks_list', replicas: 1, retryForMs: 5000, logger });
      const d = new WebhookDispatcher({ urls: [rx.url], secret: SECRET, logger, store, isLeader: () => i === 1, backoff: { baseMs: 60_000, jitter: 0 } }).start();
      return { d, store };
    }),
  );
  t.after(async () => {
    for (const r of made) {
      await r.d.close();
      await r.store.close();
    }
    for (const nc of ncs) await nc.close();
    await rx.close();
    await server.stop();
  });
  const [a, b] = made as [(typeof made)[0], (typeof made)[0]];
  a.d.emit('stream.ended', { stream: 'st_abc' });
  await waitFor('the leader B to see the pending retry', () => b.d.deliveries({ status: 'pending' }).length === 1, 3000);
  const id = b.d.deliveries()[0]!.id;
  assert.equal(a.d.deliveries({ status: 'pending' })[0]?.id, id);
  const asked = a.d.retry(id);
  assert.ok(asked.ok);
  await waitFor('the leader to send it', () => rx.received.length === 2, 3000);
  await waitFor('B to record it', () => b.d.delivery(id)?.status === 'succeeded', 2000);
  assert.equal(rx.received[1]!.headers['firstmile-delivery'], id);
});
