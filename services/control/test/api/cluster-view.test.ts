import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EDGE_HEARTBEAT_SUBJECT, MemoryBus, encodeJson, type EdgeHeartbeat } from '@firstmile/bus';
import { ClusterView, type HeartbeatEvent } from '../../src/api/cluster-view.ts';
import { RecordingLogger } from './helpers.ts';

function edge(id: string, connections = 1): EdgeHeartbeat {
  return { edge: id, connections, maxConnections: 100, publishers: 0, ingestBps: 0, cpu: 0, draining: false, streams: [], at: new Date().toISOString() };
}

test('ClusterView keeps the latest heartbeat per edge, at most maxEdges, dropping the least recently heard', () => {
  let now = 0;
  const view = new ClusterView({ bus: new MemoryBus(), heartbeatMs: 1000, logger: new RecordingLogger(), now: () => now, maxEdges: 3 });
  for (const id of ['e1', 'e2', 'e3']) view.addEdgeHeartbeat(edge(id));
  now = 10;
  view.addEdgeHeartbeat(edge('e1', 42));
  view.addEdgeHeartbeat(edge('e4'));
  assert.deepEqual(view.edges().map((e) => e.edge).sort(), ['e1', 'e3', 'e4']);
  assert.equal(view.edge('e1')?.connections, 42);
  now = 3011;
  assert.deepEqual(view.edges(), [], 'stale after three intervals');
});

test('ClusterView caps the streams it keeps per heartbeat', () => {
  const view = new ClusterView({ bus: new MemoryBus(), heartbeatMs: 1000, logger: new RecordingLogger(), maxStreamsPerHeartbeat: 2 });
  view.addOriginHeartbeat({ origin: 'o1', players: 3, draining: false, at: '', streams: [
    { app: 'live', streamId: 'a', viewers: 1 },
    { app: 'live', streamId: 'b', viewers: 1 },
    { app: 'live', streamId: 'c', viewers: 1 },
  ] });
  assert.equal(view.viewers('live', 'b').total, 1);
  assert.equal(view.viewers('live', 'c').total, 0);
});

test('ClusterView subscribes on start, tells listeners, ignores malformed heartbeats, and stops on close', async () => {
  const bus = new MemoryBus();
  const logger = new RecordingLogger();
  const view = new ClusterView({ bus, heartbeatMs: 1000, logger }).start();
  const events: HeartbeatEvent[] = [];
  view.onHeartbeat((e) => events.push(e));
  bus.publish(EDGE_HEARTBEAT_SUBJECT, encodeJson(edge('e1')));
  bus.publish(EDGE_HEARTBEAT_SUBJECT, encodeJson({ edge: 'e2', connections: -1, ingestBps: 0, streams: [] }));
  bus.publish(EDGE_HEARTBEAT_SUBJECT, Buffer.from('{not json'));
  await bus.flush();
  assert.deepEqual(events.map((e) => e.kind === 'edge' && e.heartbeat.edge), ['e1']);
  assert.equal(view.ignored, 2);
  view.close();
  bus.publish(EDGE_HEARTBEAT_SUBJECT, encodeJson(edge('e3')));
  await bus.flush();
  assert.deepEqual(view.edges(), []);
});
