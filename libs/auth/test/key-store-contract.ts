import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyStoreError, generateStreamId, generateStreamKey, hashStreamKey, type KeyStore, type StreamRecord } from '../src/index.ts';

const SECRET = 'contract-secret';

function record(keys: string[], id = generateStreamId()): StreamRecord {
  const now = new Date().toISOString();
  return {
    id,
    playback: 'public',
    createdAt: now,
    updatedAt: now,
    keys: keys.map((k) => ({ hash: hashStreamKey(SECRET, k), createdAt: now })),
  };
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof KeyStoreError, `expected a KeyStoreError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

/** What every KeyStore promises; run on MemoryKeyStore and on JetStream KV. */
export function keyStoreContract(label: string, open: () => Promise<{ store: KeyStore; close: () => Promise<void> }>): void {
  test(`${label}: create() stores a record found by id and by each key's hash, never by the key itself`, async (t) => {
    const { store, close } = await open();
    t.after(close);
    const key = generateStreamKey();
    const r = record([key]);
    const revision = await store.create(r);
    assert.ok(revision > 0);
    const got = await store.get(r.id);
    assert.deepEqual(got, { record: r, revision });
    assert.deepEqual(await store.findByKeyHash(hashStreamKey(SECRET, key)), r);
    assert.equal(await store.findByKeyHash(hashStreamKey(SECRET, generateStreamKey())), undefined);
    assert.equal(await store.findByKeyHash(key), undefined, 'the plain key is not a lookup handle');
    assert.ok(!JSON.stringify(await store.list()).includes(key), 'the plain key is not stored');
    assert.equal(await store.get(generateStreamId()), undefined);
  });

  test(`${label}: create() refuses an existing id and a key hash that belongs to another stream`, async (t) => {
    const { store, close } = await open();
    t.after(close);
    const key = generateStreamKey();
    const a = record([key]);
    await store.create(a);
    await rejectsWith(store.create(record([generateStreamKey()], a.id)), 'KEYSTORE_ERR_EXISTS');
    const b = record([generateStreamKey(), key]);
    await rejectsWith(store.create(b), 'KEYSTORE_ERR_EXISTS');
    assert.equal(await store.get(b.id), undefined);
    assert.equal((await store.findByKeyHash(hashStreamKey(SECRET, key)))?.id, a.id, 'the refused create changed nothing');
    assert.equal((await store.findByKeyHash(b.keys[0]!.hash)), undefined, 'nor left its other key usable');
  });

  test(`${label}: create() refuses malformed records (bad id, bad hash, too many keys)`, async (t) => {
    const { store, close } = await open();
    t.after(close);
    const cases: { why: string; r: StreamRecord }[] = [
      { why: 'id with a dot (a KV token separator)', r: record([generateStreamKey()], 'st_a.b') },
      { why: 'empty id', r: record([generateStreamKey()], '') },
      { why: 'hash not hex', r: { ...record([]), keys: [{ hash: 'plain-key', createdAt: '' }] } },
      { why: 'nine keys', r: record(Array.from({ length: 9 }, () => generateStreamKey())) },
    ];
    for (const c of cases) await rejectsWith(store.create(c.r), 'KEYSTORE_ERR_INVALID');
  });

  test(`${label}: update() is compare-and-set on the revision; the loser gets KEYSTORE_ERR_CONFLICT`, async (t) => {
    const { store, close } = await open();
    t.after(close);
    const r = record([generateStreamKey()]);
    const rev1 = await store.create(r);
    const rev2 = await store.update({ ...r, name: 'first' }, rev1);
    assert.ok(rev2 > rev1);
    await rejectsWith(store.update({ ...r, name: 'second' }, rev1), 'KEYSTORE_ERR_CONFLICT');
    assert.equal((await store.get(r.id))?.record.name, 'first');
    await rejectsWith(store.update(record([], generateStreamId()), 1), 'KEYSTORE_ERR_NOT_FOUND');
  });

  test(`${label}: of concurrent updates from one revision exactly one wins`, async (t) => {
    const { store, close } = await open();
    t.after(close);
    const r = record([generateStreamKey()]);
    const rev = await store.create(r);
    const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => store.update({ ...r, name: `w${i}` }, rev)));
    assert.equal(results.filter((x) => x.status === 'fulfilled').length, 1);
    for (const x of results) {
      if (x.status === 'rejected') assert.equal((x.reason as KeyStoreError).code, 'KEYSTORE_ERR_CONFLICT');
    }
  });

  test(`${label}: rotation: an update adds the new key's hash and keeps the old one until removed`, async (t) => {
    const { store, close } = await open();
    t.after(close);
    const oldKey = generateStreamKey();
    const newKey = generateStreamKey();
    const r = record([oldKey]);
    let rev = await store.create(r);
    const overlap = { ...r, keys: [...record([newKey]).keys, { ...r.keys[0]!, expiresAt: new Date(Date.now() + 60_000).toISOString() }] };
    rev = await store.update(overlap, rev);
    assert.equal((await store.findByKeyHash(hashStreamKey(SECRET, newKey)))?.id, r.id);
    assert.equal((await store.findByKeyHash(hashStreamKey(SECRET, oldKey)))?.id, r.id, 'the old key is still found during the overlap');
    await store.update({ ...overlap, keys: overlap.keys.slice(0, 1) }, rev);
    assert.equal(await store.findByKeyHash(hashStreamKey(SECRET, oldKey)), undefined, 'a removed key is not found');
    assert.equal((await store.findByKeyHash(hashStreamKey(SECRET, newKey)))?.id, r.id);
    const other = record([oldKey]);
    await store.create(other);
    assert.equal((await store.findByKeyHash(hashStreamKey(SECRET, oldKey)))?.id, other.id, 'a removed hash is free for another stream');
  });

  test(`${label}: delete() removes the record and its hashes; list() shows the rest`, async (t) => {
    const { store, close } = await open();
    t.after(close);
    const key = generateStreamKey();
    const a = record([key]);
    const b = record([generateStreamKey()]);
    await store.create(a);
    await store.create(b);
    const before = (await store.list()).map((x) => x.id);
    assert.ok(before.includes(a.id) && before.includes(b.id));
    await store.delete(a.id);
    assert.equal(await store.get(a.id), undefined);
    assert.equal(await store.findByKeyHash(hashStreamKey(SECRET, key)), undefined);
    const after = (await store.list()).map((x) => x.id);
    assert.ok(!after.includes(a.id) && after.includes(b.id));
    await rejectsWith(store.delete(a.id), 'KEYSTORE_ERR_NOT_FOUND');
    await store.create(record([key], a.id));
    assert.equal((await store.findByKeyHash(hashStreamKey(SECRET, key)))?.id, a.id, 'a deleted id can be created again');
  });

  test(`${label}: records handed out are copies`, async (t) => {
    const { store, close } = await open();
    t.after(close);
    const r = record([generateStreamKey()]);
    await store.create(r);
    r.keys.length = 0;
    const got = await store.get(r.id);
    assert.equal(got?.record.keys.length, 1);
    got!.record.keys.length = 0;
    assert.equal((await store.get(r.id))?.record.keys.length, 1);
  });
}
