/**
 * NatsKvLockElector on a real nats-server with JetStream: the leader election control uses
 * outside Kubernetes. Each elector has its own NATS connection through a TCP proxy, so one can be
 * cut off (a partition) while the other keeps talking to the server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { LOCK_KEY, NatsKvLockElector, lockBucketName } from '../../services/control/src/leader/index.ts';
import { electorContract } from '../../services/control/test/leader/elector-contract.ts';
import { jetStreamLastMessage, natsRequestJson, startNats, type NatsServer } from '../harness/nats.ts';
import { TcpProxy } from './tcp-proxy.ts';

type NatsConnection = Awaited<ReturnType<typeof connect>>;

const DURATION_MS = 1500;
let bucketSeq = 0;

electorContract(
  'NatsKvLockElector on a real nats-server',
  async () => {
    const server = await startNats({ jetstream: true });
    const bucket = `fm_lease_contract_${++bucketSeq}`;
    const proxies = new Map<string, TcpProxy>();
    const conns: NatsConnection[] = [];
    return {
      async make(identity) {
        const proxy = await TcpProxy.start(server.port);
        proxies.set(identity, proxy);
        const nc = await connect({ servers: proxy.url, reconnect: false });
        conns.push(nc);
        return NatsKvLockElector.open({ nc, bucket, identity, leaseDurationMs: DURATION_MS, openRetryMs: 5000 });
      },
      isolate(identity) {
        proxies.get(identity)!.cut();
      },
      async close() {
        for (const p of proxies.values()) await p.close();
        for (const nc of conns) await nc.close().catch(() => {});
        await server.stop();
      },
    };
  },
  // JetStream removes expired entries on its own timer, a little after max age.
  { leaseDurationMs: DURATION_MS, expirySlackMs: 1500 },
);

describe('NatsKvLockElector', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  before(async () => {
    server = await startNats({ jetstream: true });
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    await nc.close();
    await server.stop();
  });

  it('opens a bucket whose max age is the lease duration, and the leader holds key `leader` with its identity', async () => {
    const bucket = lockBucketName('firstmile-control/test');
    assert.equal(bucket, 'fm_lease_firstmile-control_test');
    const e = await NatsKvLockElector.open({ nc, bucket, identity: 'control-a', leaseDurationMs: DURATION_MS });
    try {
      await e.start();
      assert.equal(e.isLeader(), true);
      const info = await natsRequestJson<{ config: { max_age: number; max_msgs_per_subject: number } }>(server.url, `$JS.API.STREAM.INFO.KV_${bucket}`, undefined);
      assert.equal(info.config.max_age, DURATION_MS * 1e6);
      assert.equal(info.config.max_msgs_per_subject, 1);
      const msg = await jetStreamLastMessage(server.url, `KV_${bucket}`, `$KV.${bucket}.${LOCK_KEY}`);
      assert.equal((JSON.parse(msg!.data.toString()) as { holder: string }).holder, 'control-a');
    } finally {
      await e.stop();
    }
  });

  it('loses leadership at once when its compare-and-set fails (someone else wrote the key)', async () => {
    const bucket = 'fm_lease_cas';
    const e = await NatsKvLockElector.open({ nc, bucket, identity: 'control-a', leaseDurationMs: DURATION_MS });
    const changes: boolean[] = [];
    e.onChange((l) => changes.push(l));
    try {
      await e.start();
      assert.equal(e.isLeader(), true);
      // An operator (or a buggy replica) overwrites the lock: the leader's next update must fail its CAS.
      const ack = await natsRequestJson<{ seq?: number }>(server.url, `$KV.${bucket}.${LOCK_KEY}`, { holder: 'intruder' });
      assert.ok(ack.seq !== undefined && ack.seq > 1, 'the stream stored the overwrite');
      // Within one renewal interval (a third of the lease), not at the lease's end.
      const deadline = Date.now() + DURATION_MS / 3 + 500;
      while (changes.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(changes, [true, false]);
      assert.equal(e.isLeader(), false);
    } finally {
      await e.stop();
    }
  });
});
