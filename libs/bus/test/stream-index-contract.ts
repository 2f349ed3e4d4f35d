import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LiveStreamRecord, StreamIndex } from '../src/index.ts';

const rec = (edge: string, streamId = 's1', app = 'live'): LiveStreamRecord => ({
  app,
  streamId,
  edge,
  epoch: 1,
  since: new Date().toISOString(),
  heartbeatAt: new Date().toISOString(),
});
const alive = async () => true;
const dead = async () => false;

/** What every StreamIndex promises; run on MemoryStreamIndex and on JetStream KV. */
export function streamIndexContract(label: string, open: (ttlMs: number) => Promise<{ index: StreamIndex; close: () => Promise<void> }>): void {
  test(`${label}: claim() creates; a second claim is refused while the owner is alive`, async (t) => {
    const { index, close } = await open(10_000);
    t.after(close);
    const a = await index.claim(rec('edge-a'), alive);
    assert.ok(a.ok);
    const b = await index.claim(rec('edge-b'), alive);
    assert.equal(b.ok, false);
    assert.equal(!b.ok && b.owner.edge, 'edge-a');
    assert.equal((await index.get('live', 's1'))?.record.edge, 'edge-a');
  });

  test(`${label}: a dead owner is taken over by CAS, and the old owner's renew() then fails`, async (t) => {
    const { index, close } = await open(10_000);
    t.after(close);
    const a = await index.claim(rec('edge-a'), alive);
    assert.ok(a.ok);
    let judged: string | undefined;
    const b = await index.claim(rec('edge-b'), async (owner) => {
      judged = owner.edge;
      return false;
    });
    assert.equal(judged, 'edge-a');
    assert.ok(b.ok);
    assert.equal(await index.renew(rec('edge-a'), a.revision), undefined, 'the old owner learns it lost the stream');
    const renewed = await index.renew(rec('edge-b'), b.revision);
    assert.ok(renewed !== undefined && renewed > b.revision);
  });

  test(`${label}: renew() with a stale revision of its own session still owns the stream (a retried update that landed)`, async (t) => {
    const { index, close } = await open(10_000);
    t.after(close);
    const a = await index.claim(rec('edge-a', 'retry'), alive);
    assert.ok(a.ok);
    const r1 = await index.renew(rec('edge-a', 'retry'), a.revision);
    assert.ok(r1 !== undefined);
    const r2 = await index.renew(rec('edge-a', 'retry'), a.revision);
    assert.equal(r2, r1, 'the landed update is recognised, ownership kept');
    const other = { ...rec('edge-a', 'retry'), epoch: 2 };
    assert.equal(await index.renew(other, a.revision), undefined, 'another session of the same edge does not own it');
  });

  test(`${label}: of many concurrent claims on one key exactly one wins`, async (t) => {
    const { index, close } = await open(10_000);
    t.after(close);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => index.claim(rec(`edge-${i}`, 'race'), alive)));
    assert.equal(results.filter((r) => r.ok).length, 1);
  });

  test(`${label}: release() removes only the holder's revision; list() shows live records`, async (t) => {
    const { index, close } = await open(10_000);
    t.after(close);
    const a = await index.claim(rec('edge-a', 'x'), dead);
    const b = await index.claim(rec('edge-b', 'y'), dead);
    assert.ok(a.ok && b.ok);
    await index.release('live', 'x', a.revision + 1000);
    assert.ok(await index.get('live', 'x'), 'a release with a stale revision is ignored');
    await index.release('live', 'x', a.revision);
    assert.equal(await index.get('live', 'x'), undefined);
    assert.deepEqual((await index.list()).map((r) => r.streamId).sort(), ['y']);
    const again = await index.claim(rec('edge-c', 'x'), alive);
    assert.ok(again.ok, 'a released key can be claimed again');
  });

  test(`${label}: a record that is not renewed expires after the TTL`, async (t) => {
    const { index, close } = await open(1000);
    t.after(close);
    assert.ok((await index.claim(rec('edge-a', 'ttl'), alive)).ok);
    const deadline = Date.now() + 6000;
    while ((await index.get('live', 'ttl')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.equal(await index.get('live', 'ttl'), undefined);
    assert.ok((await index.claim(rec('edge-b', 'ttl'), alive)).ok);
  });
}
