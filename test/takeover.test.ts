import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectClient, sendSynthetic } from './harness/client.ts';
import { startNats } from './harness/nats.ts';
import { startServer } from './harness/server.ts';
import { randomKey } from './harness/media.ts';

// An encoder whose network died leaves a half-open connection behind; its reconnect must not be
// refused until the idle timeout. A publisher that sent nothing for publisherStaleMs loses its key.

test('a new publisher takes a key over from a stalled publisher on the same edge; a live one keeps it', async (t) => {
  const server = await startServer({ args: ['--publisher-stale-ms', '1000'] });
  t.after(() => server.stop());
  const key = randomKey();
  const url = server.url(`live/${key}`);
  const first = await connectClient(url);
  t.after(() => first.destroy());
  await first.publish();
  sendSynthetic(first, 10);

  const early = await connectClient(url);
  t.after(() => early.destroy());
  await assert.rejects(early.publish(), /BadName|refused|Publish/i, 'a live publisher keeps its key');

  await new Promise((r) => setTimeout(r, 1500)); // first now sends nothing: stalled
  const second = await connectClient(url);
  t.after(() => second.destroy());
  await second.publish();
  assert.ok(await first.closedWithin(3000), 'the stalled publisher was disconnected');
  await server.waitForLog((l) => l.msg === 'taking over from a stalled publisher on this edge');
});

test('a stalled publisher on another edge loses its key to a publisher on this edge', async (t) => {
  const nats = await startNats({ jetstream: true });
  t.after(() => nats.stop());
  const env = { FIRSTMILE_NATS_URL: nats.url };
  const args = ['--publisher-stale-ms', '1000', '--heartbeat-ms', '300', '--index-ttl-ms', '5000'];
  const edgeA = await startServer({ mode: 'edge', env: { ...env, FIRSTMILE_EDGE_ID: 'edge-a' }, args });
  t.after(() => edgeA.stop());
  const edgeB = await startServer({ mode: 'edge', env: { ...env, FIRSTMILE_EDGE_ID: 'edge-b' }, args });
  t.after(() => edgeB.stop());
  const key = randomKey();
  const first = await connectClient(edgeA.url(`live/${key}`));
  t.after(() => first.destroy());
  await first.publish();
  sendSynthetic(first, 10);
  await new Promise((r) => setTimeout(r, 1500));
  const second = await connectClient(edgeB.url(`live/${key}`));
  t.after(() => second.destroy());
  await second.publish();
  // The old owner's next heartbeat CAS fails: it learns it lost the stream and drops its publisher.
  assert.ok(await first.closedWithin(3000), 'the stalled publisher on the other edge was disconnected');
  await edgeA.waitForLog((l) => l.msg === 'ownership lost: another edge took the stream over; closing the publisher');
});
