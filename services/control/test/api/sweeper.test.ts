import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryKeyStore, type StreamRecord } from '@firstmile/auth';
import { MemoryStreamIndex, streamIdForName, type LiveStreamRecord } from '@firstmile/bus';
import { Sweeper } from '../../src/api/sweeper.ts';
import { RecordingLogger } from './helpers.ts';

const T0 = Date.parse('2026-06-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const hash = (c: string) => c.repeat(64);

function liveRecord(name: string, heartbeatAt: number): LiveStreamRecord {
  return { app: 'live', stream: name, streamId: streamIdForName('live', name), edge: 'edge-a', epoch: 1, since: iso(T0 - 60_000), heartbeatAt: iso(heartbeatAt) };
}

function streamRecord(id: string, keys: StreamRecord['keys']): StreamRecord {
  return { id, playback: 'public', createdAt: iso(T0 - 3_600_000), updatedAt: iso(T0 - 3_600_000), keys };
}

async function fixture() {
  // The index's own expiry counts from when a record was written (real time here), so these
  // records stay listed and only their heartbeatAt says whether the owner still renews them.
  const index = new MemoryStreamIndex({ ttlMs: 15_000 });
  const store = new MemoryKeyStore();
  await index.claim(liveRecord('st_stale', T0 - 16_000), async () => true);
  await index.claim(liveRecord('st_fresh', T0 - 1_000), async () => true);
  await store.create(streamRecord('st_rotated', [
    { hash: hash('a'), createdAt: iso(T0 - 7_200_000), expiresAt: iso(T0 - 1) },
    { hash: hash('b'), createdAt: iso(T0 - 600_000), expiresAt: iso(T0 + 60_000) },
    { hash: hash('c'), createdAt: iso(T0 - 1_000) },
  ]));
  await store.create(streamRecord('st_plain', [{ hash: hash('d'), createdAt: iso(T0) }]));
  return { index, store };
}

test('the leader sweeps index records whose heartbeat is older than the index TTL and prunes expired key entries', async () => {
  const { index, store } = await fixture();
  const logger = new RecordingLogger();
  const sweeper = new Sweeper({ index, store, isLeader: () => true, logger, now: () => T0 });
  const result = await sweeper.sweep();
  assert.deepEqual(result, { indexRecords: 1, keyEntries: 1 });
  assert.deepEqual((await index.list()).map((r) => r.stream), ['st_fresh']);
  assert.deepEqual((await store.get('st_rotated'))?.record.keys.map((k) => k.hash), [hash('b'), hash('c')]);
  assert.equal(await store.findByKeyHash(hash('a')), undefined);
  assert.equal((await store.get('st_plain'))?.revision, 2, 'records without expired entries are not rewritten');
  assert.deepEqual(await sweeper.sweep(), { indexRecords: 0, keyEntries: 0 }, 'a second sweep finds nothing');
});

test('a follower does not sweep', async () => {
  const { index, store } = await fixture();
  let leader = false;
  const sweeper = new Sweeper({ index, store, isLeader: () => leader, logger: new RecordingLogger(), now: () => T0 });
  assert.deepEqual(await sweeper.sweep(), { indexRecords: 0, keyEntries: 0 });
  assert.equal((await index.list()).length, 2);
  assert.equal((await store.get('st_rotated'))?.record.keys.length, 3);
  leader = true;
  assert.deepEqual(await sweeper.sweep(), { indexRecords: 1, keyEntries: 1 }, 'and does once it leads');
});

test('a record renewed between the listing and the release is kept (compare-and-set)', async () => {
  const { index, store } = await fixture();
  const stale = liveRecord('st_stale', T0 - 16_000);
  const current = await index.get(stale.app, stale.streamId);
  assert.ok(current);
  // The owner renews while the sweep runs: the sweep read the stale record, then sees the renewed one.
  const renewing = new Proxy(index, {
    get(target, prop, receiver) {
      if (prop === 'list') {
        return async () => {
          const listed = await target.list();
          await target.renew({ ...stale, heartbeatAt: iso(T0) }, current.revision);
          return listed;
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const sweeper = new Sweeper({ index: renewing, store, isLeader: () => true, logger: new RecordingLogger(), now: () => T0 });
  assert.equal((await sweeper.sweep()).indexRecords, 0);
  assert.equal((await index.list()).length, 2);
});

test('start() sweeps on its interval while leading; stop() ends it', async () => {
  const { index, store } = await fixture();
  const sweeper = new Sweeper({ index, store, isLeader: () => true, logger: new RecordingLogger(), now: () => T0, intervalMs: 20 }).start();
  const deadline = Date.now() + 2000;
  while ((await index.list()).length > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await sweeper.stop();
  assert.equal((await index.list()).length, 1);
});
