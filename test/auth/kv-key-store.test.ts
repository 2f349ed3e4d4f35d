import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { KvKeyStore, generateStreamId, generateStreamKey, hashStreamKey, type StreamRecord } from '@firstmile/auth';
import { keyStoreContract } from '../../libs/auth/test/key-store-contract.ts';
import { freePorts, jetStreamLeader, jetStreamStepDown, startNats, type NatsServer } from '../harness/nats.ts';

let n = 0;
keyStoreContract('KvKeyStore on a real JetStream', async () => {
  const server = await startNats({ jetstream: true });
  const nc = await connect({ servers: server.url });
  const store = await KvKeyStore.open(nc, { bucket: `fm_keys_${++n}`, replicas: 1, retryForMs: 5000 });
  return {
    store,
    close: async () => {
      await store.close();
      await nc.close();
      await server.stop();
    },
  };
});

const SECRET = 'kv-test-secret';

function record(key: string, id = generateStreamId()): StreamRecord {
  const now = new Date().toISOString();
  return { id, playback: 'public', createdAt: now, updatedAt: now, keys: [{ hash: hashStreamKey(SECRET, key), createdAt: now }] };
}

test('KvKeyStore: a dangling h.<hash> entry (a crash between the two writes) opens nothing and is taken over', async (t) => {
  const server = await startNats({ jetstream: true });
  const nc = await connect({ servers: server.url });
  t.after(async () => {
    await nc.close();
    await server.stop();
  });
  const bucket = 'fm_keys_dangling';
  const store = await KvKeyStore.open(nc, { bucket, replicas: 1, retryForMs: 5000 });
  const key = generateStreamKey();
  const hash = hashStreamKey(SECRET, key);
  const victim = record(generateStreamKey());
  await store.create(victim);
  // What a crash after writing the hash entry, before the record, leaves behind: a pointer from
  // this hash to a stream that does not list it. Written with a raw KV put ($KV.<bucket>.<key>).
  await nc.request(`$KV.${bucket}.h.${hash}`, victim.id, { timeout: 2000 });
  assert.equal(await store.findByKeyHash(hash), undefined, 'the pointer leads to a record that does not list the hash');
  const owner = record(key);
  await store.create(owner);
  assert.equal((await store.findByKeyHash(hash))?.id, owner.id, 'a new stream takes the dangling pointer over');
});

async function startCluster(): Promise<NatsServer[]> {
  const ports = await freePorts(9);
  const routes = ports.slice(0, 3);
  const nodes = await Promise.all(
    routes.map((port, i) => startNats({ serverName: `n${i}`, port: ports[3 + i]!, monitorPort: ports[6 + i]!, cluster: { name: `fm-auth-${routes[0]}`, port, routes } })),
  );
  // Wait for the JetStream meta leader: before it, creating a bucket fails.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const jsz = (await (await fetch(`http://127.0.0.1:${nodes[0]!.monitorPort}/jsz`)).json()) as { meta_cluster?: { leader?: string } };
    if (jsz.meta_cluster?.leader) return nodes;
    if (Date.now() > deadline) throw new Error('JetStream meta leader not elected');
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('KvKeyStore on a 3-node cluster (replicas 3) keeps working through stream leader elections', async (t) => {
  const nodes = await startCluster();
  const nc = await connect({ servers: nodes.map((s) => s.url) });
  t.after(async () => {
    await nc.close();
    await Promise.all(nodes.map((s) => s.stop()));
  });
  const bucket = 'fm_keys_ha';
  const store = await KvKeyStore.open(nc, { bucket, replicas: 3, retryForMs: 10_000 });
  const keys: string[] = [];
  const ids: string[] = [];
  let stepDowns = 0;
  for (let i = 0; i < 6; i++) {
    const key = generateStreamKey();
    const r = record(key);
    const operations = (async () => {
      const revision = await store.create(r);
      await store.update({ ...r, name: `stream ${i}` }, revision);
    })();
    // A leader election while the writes are in flight.
    if (i % 2 === 0 && (await jetStreamLeader(nodes[0]!.url, `KV_${bucket}`).catch(() => undefined))) {
      await jetStreamStepDown(nodes[0]!.url, `KV_${bucket}`).then(() => stepDowns++, () => {});
    }
    await operations;
    keys.push(key);
    ids.push(r.id);
  }
  assert.ok(stepDowns >= 1, 'at least one election happened during the writes');
  for (let i = 0; i < keys.length; i++) {
    const found = await store.findByKeyHash(hashStreamKey(SECRET, keys[i]!));
    assert.equal(found?.id, ids[i]);
    assert.equal(found?.name, `stream ${i}`);
  }
  assert.equal((await store.list()).length, keys.length);
  t.diagnostic(`${stepDowns} leader elections during ${keys.length} create+update pairs`);
});
