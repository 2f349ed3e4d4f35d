/**
 * KubernetesLeaseElector against the loopback API stand-in (Lease GET/POST/PUT with
 * resourceVersion checks).
 *
 * What this cannot prove: a real API server's concurrency (etcd compare-and-swap under load,
 * several API server replicas), RBAC for leases (get/create/update in the namespace), clock skew
 * between real nodes (here every party shares one clock), and how a real network partition fails
 * (here requests on a cut-off listener simply hang).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { makeKubeConfig } from '../../src/k8s/index.ts';
import { KubernetesLeaseElector } from '../../src/leader/index.ts';
import { FakeApiServer } from '../k8s/fake-apiserver.ts';
import { until } from '../k8s/helpers.ts';
import { electorContract } from './elector-contract.ts';

const NS = 'firstmile';
const LEASE = 'firstmile-control';
const DURATION_MS = 2000;

function elector(server: FakeApiServer, identity: string, listener = 0): KubernetesLeaseElector {
  return new KubernetesLeaseElector({
    kubeConfig: makeKubeConfig({ kind: 'server', server: server.urlOf(listener), skipTLSVerify: true }),
    namespace: NS,
    name: LEASE,
    identity,
    leaseDurationMs: DURATION_MS,
    // One clock here; a real cluster keeps the default allowance.
    clockSkewMs: 0,
  });
}

electorContract(
  'KubernetesLeaseElector on the API stand-in',
  async () => {
    const server = await FakeApiServer.start();
    const listeners = new Map<string, number>();
    return {
      async make(identity) {
        const l = await server.addListener();
        listeners.set(identity, l);
        return elector(server, identity, l);
      },
      isolate(identity) {
        server.isolate(listeners.get(identity)!);
      },
      close: () => server.close(),
    };
  },
  { leaseDurationMs: DURATION_MS, expirySlackMs: 0 },
);

describe('KubernetesLeaseElector', () => {
  let server: FakeApiServer | undefined;
  const electors: KubernetesLeaseElector[] = [];
  afterEach(async () => {
    for (const e of electors.splice(0)) await e.stop({ release: false });
    await server?.close();
    server = undefined;
  });

  it('creates the Lease with holderIdentity, leaseDurationSeconds and MicroTime renewTime, then renews it', async () => {
    server = await FakeApiServer.start();
    const a = elector(server, 'control-a');
    electors.push(a);
    await a.start();
    assert.equal(a.isLeader(), true);
    const lease = server.get('leases', NS, LEASE)!;
    const spec = lease.spec as { holderIdentity: string; leaseDurationSeconds: number; renewTime: string; acquireTime: string; leaseTransitions: number };
    assert.equal(spec.holderIdentity, 'control-a');
    assert.equal(spec.leaseDurationSeconds, 2);
    assert.equal(spec.leaseTransitions, 0);
    assert.match(spec.renewTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const rv = Number(lease.metadata.resourceVersion);
    await until(() => Number(server!.get('leases', NS, LEASE)!.metadata.resourceVersion) > rv, DURATION_MS, 'a renewal');
    const renewed = server.get('leases', NS, LEASE)!.spec as typeof spec;
    assert.equal(renewed.acquireTime, spec.acquireTime, 'acquireTime stays while the holder renews');
    assert.ok(Date.parse(renewed.renewTime) > Date.parse(spec.renewTime));
  });

  it('a 409 on a stale update: someone else took the Lease between our read and our write, so we step down', async () => {
    server = await FakeApiServer.start();
    const a = elector(server, 'control-a');
    electors.push(a);
    await a.start();
    assert.equal(a.isLeader(), true);
    const changes: boolean[] = [];
    a.onChange((l) => changes.push(l));
    // Another writer (a replica with a different view) takes the Lease right before our next write.
    server.beforeLeaseWrite = () => {
      server!.beforeLeaseWrite = undefined;
      const current = server!.get('leases', NS, LEASE)!;
      server!.put('leases', { ...current, spec: { ...(current.spec as object), holderIdentity: 'intruder', renewTime: new Date().toISOString().replace('Z', '000Z') } });
    };
    await until(() => changes.length > 0, DURATION_MS * 2, 'step down');
    assert.deepEqual(changes, [false]);
    assert.equal(a.isLeader(), false);
    assert.ok(server.count({ resource: 'leases', method: 'PUT', status: 409 }) >= 1, 'the stand-in answered 409');
    assert.ok(a.conflicts >= 1);
    assert.equal((server.get('leases', NS, LEASE)!.spec as { holderIdentity: string }).holderIdentity, 'intruder');
  });

  it('a 409 that leaves the Lease ours (someone touched its metadata) is retried after a re-read, and leadership stays', async () => {
    server = await FakeApiServer.start();
    const a = elector(server, 'control-a');
    electors.push(a);
    await a.start();
    const changes: boolean[] = [];
    a.onChange((l) => changes.push(l));
    server.beforeLeaseWrite = () => {
      server!.beforeLeaseWrite = undefined;
      const current = server!.get('leases', NS, LEASE)!;
      server!.put('leases', { ...current, metadata: { ...current.metadata, annotations: { 'example.test/touched': 'yes' } } });
    };
    await until(() => a.conflicts >= 1, DURATION_MS * 2, 'a conflict');
    const after409 = server.count({ resource: 'leases', method: 'PUT', status: 200 });
    await until(() => server!.count({ resource: 'leases', method: 'PUT', status: 200 }) > after409, DURATION_MS, 'a renewal after the conflict');
    assert.equal(a.isLeader(), true);
    assert.deepEqual(changes, []);
    assert.equal((server.get('leases', NS, LEASE)!.spec as { holderIdentity: string }).holderIdentity, 'control-a');
  });

  it('losing the race to create the Lease (409 AlreadyExists) means following the winner', async () => {
    server = await FakeApiServer.start();
    // The winner's create lands between our GET (404) and our POST.
    server.beforeLeaseWrite = (name, method) => {
      if (method !== 'POST') return;
      server!.beforeLeaseWrite = undefined;
      server!.put('leases', {
        metadata: { name, namespace: NS },
        spec: { holderIdentity: 'control-b', leaseDurationSeconds: 2, renewTime: new Date().toISOString().replace('Z', '000Z') },
      });
    };
    const a = elector(server, 'control-a');
    electors.push(a);
    await a.start();
    assert.equal(a.isLeader(), false);
    assert.equal(server.count({ resource: 'leases', method: 'POST', status: 409 }), 1);
    assert.equal(a.conflicts, 1);
    assert.equal((server.get('leases', NS, LEASE)!.spec as { holderIdentity: string }).holderIdentity, 'control-b');
  });

  it('of two candidates starting together, one creates the Lease and the other follows', async () => {
    server = await FakeApiServer.start();
    const a = elector(server, 'control-a');
    const b = elector(server, 'control-b');
    electors.push(a, b);
    await Promise.all([a.start(), b.start()]);
    assert.equal(Number(a.isLeader()) + Number(b.isLeader()), 1);
    assert.equal(server.count({ resource: 'leases', method: 'POST', status: 201 }), 1);
  });

  it('a takeover counts a transition and sets a new acquireTime', async () => {
    server = await FakeApiServer.start();
    const a = elector(server, 'control-a');
    electors.push(a);
    await a.start();
    const first = server.get('leases', NS, LEASE)!.spec as { acquireTime: string; leaseTransitions: number };
    await a.stop();
    assert.equal((server.get('leases', NS, LEASE)!.spec as { holderIdentity?: string }).holderIdentity, undefined, 'released: no holder');
    const b = elector(server, 'control-b');
    electors.push(b);
    await b.start();
    assert.equal(b.isLeader(), true);
    const spec = server.get('leases', NS, LEASE)!.spec as { holderIdentity: string; acquireTime: string; leaseTransitions: number };
    assert.equal(spec.holderIdentity, 'control-b');
    assert.equal(spec.leaseTransitions, first.leaseTransitions + 1);
    assert.notEqual(spec.acquireTime, first.acquireTime);
  });

  it('a holder whose renewTime lies in our future (its clock runs ahead) still expires once the Lease stops changing', async () => {
    server = await FakeApiServer.start();
    server.put('leases', {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: LEASE, namespace: NS },
      spec: { holderIdentity: 'dead-pod-with-fast-clock', leaseDurationSeconds: 2, renewTime: new Date(Date.now() + 3_600_000).toISOString() },
    });
    const b = elector(server, 'control-b');
    electors.push(b);
    await b.start();
    assert.equal(b.isLeader(), false);
    await until(() => b.isLeader(), DURATION_MS * 3, 'takeover by observation');
  });
});
