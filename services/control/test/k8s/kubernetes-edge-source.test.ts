/**
 * KubernetesEdgeSource, i.e. client-node's informers and our projection, against the loopback
 * stand-in in fake-apiserver.ts serving recorded EndpointSlice and Node objects.
 *
 * What this cannot prove (see also fake-apiserver.ts): that a real API server sends the same
 * events in the same order; watch bookmarks, the watch cache and its 410 timing; RBAC (the Role for
 * endpointslices and the ClusterRole for nodes must be checked on a real cluster); the
 * EndpointSlice controller's real behaviour during a rollout (the rollout here is a recorded
 * sequence, replayed); TLS and service-account authentication (the stand-in is plain HTTP, no auth).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { KubernetesEdgeSource, makeKubeConfig } from '../../src/k8s/index.ts';
import type { EdgeInfo } from '../../src/routing/index.ts';
import { FakeApiServer, type KubeObject } from './fake-apiserver.ts';
import { fixture, recordingLogger, seed, until, type LogEntry } from './helpers.ts';

const NS = 'firstmile';
const SERVICE = 'firstmile-edge';

interface Setup {
  server: FakeApiServer;
  source: KubernetesEdgeSource;
  changes: () => number;
  logs: LogEntry[];
}

let s: Setup;

async function setup(options: { pageSize?: number; seedSlices?: boolean } = {}): Promise<Setup> {
  const server = await FakeApiServer.start();
  seed(server, 'nodes', 'nodes.json');
  if (options.seedSlices !== false) seed(server, 'endpointslices', 'endpointslices.json');
  const logger = recordingLogger();
  const source = new KubernetesEdgeSource({
    kubeConfig: makeKubeConfig({ kind: 'server', server: server.url, skipTLSVerify: true }),
    namespace: NS,
    service: SERVICE,
    logger,
    retryDelayMs: 50,
    maxRetryDelayMs: 200,
    ...(options.pageSize ? { pageSize: options.pageSize } : {}),
  });
  let n = 0;
  source.onChange(() => n++);
  await withTimeout(source.start(), 5000, 'initial sync');
  return { server, source, changes: () => n, logs: logger.entries };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms).unref())]);
}

function byId(edges: readonly EdgeInfo[]): Record<string, Omit<EdgeInfo, 'id'>> {
  return Object.fromEntries(edges.map(({ id, ...rest }) => [id, rest]));
}

function sliceA(): KubeObject {
  return structuredClone(fixture<{ items: KubeObject[] }>('endpointslices.json').items[0]!);
}

describe('KubernetesEdgeSource against the API stand-in', () => {
  beforeEach(async () => {
    s = await setup();
  });
  afterEach(async () => {
    await s.source.stop();
    await s.server.close();
  });

  it('initial list: one edge per pod of the edge Service, region from its Node, zone from the endpoint or the Node', () => {
    assert.deepEqual(byId(s.source.edges()), {
      // In both the IPv4 and the IPv6 slice (dual stack): one edge, the IPv4 address.
      'firstmile-edge-0': { ready: true, draining: false, region: 'eu-west', zone: 'eu-west-1a', node: 'node-eu-1', address: '10.244.1.7' },
      'firstmile-edge-1': { ready: true, draining: false, region: 'us-east', zone: 'us-east-1b', node: 'node-us-1', address: '10.244.2.9' },
      // conditions.ready false; no zone on the endpoint, so the Node's.
      'firstmile-edge-2': { ready: false, draining: false, region: 'eu-west', zone: 'eu-west-1b', node: 'node-eu-2', address: '10.244.1.12' },
    });
    // The origin Service's slice is excluded by the label selector, on the server.
    const list = s.server.requests.find((r) => r.resource === 'endpointslices' && !r.watch);
    assert.equal(list?.query.labelSelector, `kubernetes.io/service-name=${SERVICE}`);
    assert.equal(s.server.openWatches('endpointslices'), 1);
    assert.equal(s.server.openWatches('nodes'), 1);
  });

  it('follows a recorded rolling update through watch events: terminating is draining, then gone, then the new pod turns ready', async () => {
    const events = fixture<{ type: string; object: KubeObject }[]>('rollout-events.json');
    const steps: [string, Omit<EdgeInfo, 'id'> | undefined, string, Omit<EdgeInfo, 'id'> | undefined][] = [
      ['firstmile-edge-1', { ready: false, draining: true, region: 'us-east', zone: 'us-east-1b', node: 'node-us-1', address: '10.244.2.9' }, 'firstmile-edge-3', undefined],
      ['firstmile-edge-1', undefined, 'firstmile-edge-3', { ready: false, draining: false, region: 'us-east', zone: 'us-east-1b', node: 'node-us-1', address: '10.244.2.14' }],
      ['firstmile-edge-1', undefined, 'firstmile-edge-3', { ready: true, draining: false, region: 'us-east', zone: 'us-east-1b', node: 'node-us-1', address: '10.244.2.14' }],
    ];
    for (const [i, e] of events.entries()) {
      const before = s.changes();
      s.server.put('endpointslices', e.object);
      await until(() => s.changes() > before, 3000, `event ${i}`);
      const [oldId, oldWant, newId, newWant] = steps[i]!;
      const now = byId(s.source.edges());
      assert.deepEqual(now[oldId], oldWant, `step ${i}: ${oldId}`);
      assert.deepEqual(now[newId], newWant, `step ${i}: ${newId}`);
    }
    assert.equal(s.server.count({ resource: 'endpointslices', watch: false }), 1, 'events alone, no relist');
  });

  it('a deleted EndpointSlice takes its edges away; a slice of another Service changes nothing', async () => {
    const before = s.changes();
    s.server.put('endpointslices', { ...sliceA(), metadata: { ...sliceA().metadata, name: 'firstmile-origin-new', labels: { 'kubernetes.io/service-name': 'firstmile-origin' } } });
    s.server.remove('endpointslices', NS, 'firstmile-edge-7xk2p'); // the IPv4 slice: edge-0 stays in the IPv6 one
    await until(() => s.source.edges().length === 1, 3000, 'slice deletion');
    assert.deepEqual(s.source.edges().map((e) => [e.id, e.address]), [['firstmile-edge-0', 'fd00:10:244:1::7']]);
    assert.ok(s.changes() > before);
  });

  it('a watch the server ends is resumed from the last resourceVersion, without a relist', async () => {
    const rvBefore = s.server.resourceVersion;
    assert.equal(s.server.endWatches('endpointslices'), 1);
    await until(() => s.server.openWatches('endpointslices') === 1, 5000, 'watch restart');
    const resumed = s.server.requests.filter((r) => r.resource === 'endpointslices' && r.watch).at(-1)!;
    assert.ok(Number(resumed.query.resourceVersion) > 0 && Number(resumed.query.resourceVersion) <= rvBefore);
    assert.equal(s.server.count({ resource: 'endpointslices', watch: false }), 1);
    // And the resumed watch delivers.
    const a = sliceA();
    (a.endpoints as { conditions: { ready: boolean } }[])[1]!.conditions.ready = false;
    s.server.put('endpointslices', a);
    await until(() => byId(s.source.edges())['firstmile-edge-1']?.ready === false, 3000, 'event on the resumed watch');
  });

  it('a 410 Gone ERROR event on the watch makes it relist, and changes it missed (even deletions) show up', async () => {
    const lists = s.server.count({ resource: 'endpointslices', watch: false });
    // Changes the client never hears about: compacted away before it could watch them.
    const a = sliceA();
    (a.endpoints as unknown[]).splice(1, 1); // edge-1 vanishes
    s.server.put('endpointslices', a, { silent: true });
    s.server.compact('endpointslices', { notify: true });
    await until(() => s.server.count({ resource: 'endpointslices', watch: false }) === lists + 1, 5000, 'relist');
    await until(() => !s.source.edges().some((e) => e.id === 'firstmile-edge-1'), 3000, 'missed deletion applied');
    await until(() => s.server.openWatches('endpointslices') === 1, 3000, 'watch after relist');
  });

  it('an HTTP 410 on the watch request makes it relist too', async () => {
    const lists = s.server.count({ resource: 'endpointslices', watch: false });
    s.server.failNext('endpointslices', true, 410);
    s.server.remove('endpointslices', NS, 'firstmile-edge-7xk2p', { silent: true });
    s.server.endWatches('endpointslices');
    await until(() => s.server.count({ resource: 'endpointslices', watch: false }) === lists + 1, 5000, 'relist after HTTP 410');
    assert.equal(s.server.count({ resource: 'endpointslices', watch: true, status: 410 }), 1);
    await until(() => s.source.edges().map((e) => e.id).join() === 'firstmile-edge-0', 3000, 'view after relist');
  });

  it('a watch resumed from a compacted resourceVersion gets 410 and relists', async () => {
    const lists = s.server.count({ resource: 'endpointslices', watch: false });
    s.server.remove('endpointslices', NS, 'firstmile-edge-q9w4d', { silent: true });
    s.server.compact('endpointslices');
    s.server.endWatches('endpointslices');
    await until(() => s.server.count({ resource: 'endpointslices', watch: false }) === lists + 1, 5000, 'relist');
    await until(() => s.source.edges().find((e) => e.id === 'firstmile-edge-0')?.address === '10.244.1.7' && s.server.openWatches('endpointslices') === 1, 3000, 'watching again');
    assert.ok(s.server.count({ resource: 'endpointslices', watch: true }) >= 3);
  });

  it('a Node label change moves its edges to another region', async () => {
    const node = fixture<{ items: KubeObject[] }>('nodes.json').items.find((n) => n.metadata.name === 'node-us-1')!;
    node.metadata.labels = { ...node.metadata.labels, 'topology.kubernetes.io/region': 'us-west', 'topology.kubernetes.io/zone': 'us-west-2a' };
    s.server.put('nodes', node);
    await until(() => byId(s.source.edges())['firstmile-edge-1']?.region === 'us-west', 3000, 'region move');
    // The endpoint's own zone wins over the Node's.
    assert.equal(byId(s.source.edges())['firstmile-edge-1']?.zone, 'us-east-1b');
  });

  it('an API failure (HTTP 500 on the watch) is retried with backoff, and the last view is kept meanwhile', async () => {
    const before = s.source.edges();
    s.server.failNext('endpointslices', true, 500);
    s.server.endWatches('endpointslices');
    await until(() => s.server.count({ resource: 'endpointslices', watch: true, status: 500 }) === 1, 3000, 'failed watch');
    assert.deepEqual(s.source.edges(), before);
    await until(() => s.server.openWatches('endpointslices') === 1, 5000, 'watch back after the error');
    assert.ok(s.logs.some((l) => l.level === 'warn' && /restarting/.test(l.msg ?? '') && (l.fields as { status?: number }).status === 500));
  });
});

describe('KubernetesEdgeSource start-up', () => {
  it('lists in pages (limit/continue) and only resolves start() once Nodes and EndpointSlices are both in', async () => {
    const server = await FakeApiServer.start();
    seed(server, 'nodes', 'nodes.json');
    seed(server, 'endpointslices', 'endpointslices.json');
    server.failNext('nodes', false, 503);
    const source = new KubernetesEdgeSource({ kubeConfig: makeKubeConfig({ kind: 'server', server: server.url, skipTLSVerify: true }), namespace: NS, service: SERVICE, pageSize: 2, retryDelayMs: 50 });
    try {
      await withTimeout(source.start(), 5000, 'sync');
      assert.equal(server.count({ resource: 'nodes', watch: false, status: 503 }), 1);
      // 5 nodes in pages of 2: 3 requests after the failed one.
      assert.equal(server.count({ resource: 'nodes', watch: false, status: 200 }), 3);
      assert.ok(server.requests.some((r) => r.resource === 'nodes' && r.query.continue));
      assert.equal(source.edges().find((e) => e.id === 'firstmile-edge-1')?.region, 'us-east');
    } finally {
      await source.stop();
      await server.close();
    }
  });

  it('logs an RBAC hint when the API answers 403', async () => {
    const server = await FakeApiServer.start();
    server.failNext('endpointslices', false, 403);
    const logger = recordingLogger();
    const source = new KubernetesEdgeSource({ kubeConfig: makeKubeConfig({ kind: 'server', server: server.url, skipTLSVerify: true }), namespace: NS, service: SERVICE, retryDelayMs: 50, logger });
    try {
      await withTimeout(source.start(), 5000, 'sync');
      assert.ok(logger.entries.some((l) => l.level === 'error' && /RBAC/.test(l.msg ?? '')));
      assert.deepEqual(source.edges(), []);
    } finally {
      await source.stop();
      await server.close();
    }
  });
});
