import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EDGE_HEARTBEAT_SUBJECT,
  ORIGIN_HEARTBEAT_SUBJECT,
  encodeJson,
  streamIdForName,
  type EdgeHeartbeat,
  type OriginHeartbeat,
} from '@firstmile/bus';
import type { LiveStream } from '../../src/api/live.ts';
import { createStream, edgeResponder, goLive, startApi, type ApiErrorBody, type KickedSession } from './helpers.ts';

function edgeHeartbeat(edge: string, streams: EdgeHeartbeat['streams']): EdgeHeartbeat {
  return { edge, connections: streams.length, maxConnections: 1000, publishers: streams.length, ingestBps: 0, cpu: 0.1, draining: false, streams, at: new Date().toISOString() };
}

function originHeartbeat(origin: string, streams: OriginHeartbeat['streams']): OriginHeartbeat {
  return { origin, players: streams.reduce((n, s) => n + s.viewers, 0), draining: false, streams, at: new Date().toISOString() };
}

test('GET /v1/live joins the index with the latest edge and origin heartbeats from the bus', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const s = await createStream(api);
  const keyed = await goLive(api.index, { app: 'live', stream: s.id, edge: 'edge-a', since: '2026-06-01T12:00:00.000Z', video: 'avc1.64001f', audio: 'mp4a.40.2' });
  // A stream of an app in auth mode `none`: its play name is the published name.
  const open = await goLive(api.index, { app: 'dev', stream: 'camera-1', edge: 'edge-b', since: '2026-06-01T12:05:00.000Z' });

  const pub = (subject: string, body: object) => api.bus.publish(subject, encodeJson(body));
  pub(EDGE_HEARTBEAT_SUBJECT, edgeHeartbeat('edge-a', [{ app: 'live', stream: s.id, streamId: keyed.streamId, since: keyed.since, ingestBps: 3_000_000, health: 'degraded' }]));
  pub(EDGE_HEARTBEAT_SUBJECT, edgeHeartbeat('edge-a', [{ app: 'live', stream: s.id, streamId: keyed.streamId, since: keyed.since, ingestBps: 4_500_000, video: 'avc1.64001f', health: 'healthy' }]));
  pub(EDGE_HEARTBEAT_SUBJECT, edgeHeartbeat('edge-b', [{ app: 'dev', stream: 'camera-1', streamId: open.streamId, since: open.since, ingestBps: 800_000, video: 'hvc1.1.6.L93.B0' }]));
  pub(ORIGIN_HEARTBEAT_SUBJECT, originHeartbeat('origin-1', [{ app: 'live', streamId: keyed.streamId, viewers: 3 }, { app: 'dev', streamId: open.streamId, viewers: 1 }]));
  pub(ORIGIN_HEARTBEAT_SUBJECT, originHeartbeat('origin-2', [{ app: 'live', streamId: keyed.streamId, viewers: 2 }]));
  pub(ORIGIN_HEARTBEAT_SUBJECT, { origin: 'origin-bad', streams: 'not an array' });
  await api.bus.flush();

  const res = await api.call<{ data: LiveStream[] }>({ method: 'get', url: '/v1/live' });
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.data, [
    {
      id: 'camera-1',
      app: 'dev',
      streamId: open.streamId,
      edge: 'edge-b',
      startedAt: '2026-06-01T12:05:00.000Z',
      video: 'hvc1.1.6.L93.B0',
      audio: null,
      ingestBps: 800_000,
      health: null,
      viewers: { total: 1, byOrigin: { 'origin-1': 1 } },
    },
    {
      id: s.id,
      app: 'live',
      streamId: keyed.streamId,
      edge: 'edge-a',
      startedAt: '2026-06-01T12:00:00.000Z',
      video: 'avc1.64001f',
      audio: 'mp4a.40.2',
      ingestBps: 4_500_000,
      health: 'healthy',
      viewers: { total: 5, byOrigin: { 'origin-1': 3, 'origin-2': 2 } },
    },
  ]);
  assert.equal(api.clusterView.ignored, 1, 'the malformed heartbeat is ignored');
});

test('heartbeats older than three intervals no longer count; a record without a play name is named from the store', async (t) => {
  const api = await startApi({ heartbeatMs: 1000 });
  t.after(() => api.close());
  const t0 = Date.now();
  api.clock.now = t0;
  const s = await createStream(api);
  // An index record without `stream` (older edge), whose stream id is still derivable from the store.
  const { stream: _unused, ...record } = { app: 'live', stream: s.id, streamId: streamIdForName('live', s.id), edge: 'edge-a', epoch: 1, since: new Date(t0).toISOString(), heartbeatAt: new Date(t0).toISOString() };
  assert.ok((await api.index.claim(record, async () => true)).ok);
  api.clusterView.addEdgeHeartbeat(edgeHeartbeat('edge-a', [{ app: 'live', stream: s.id, streamId: record.streamId, since: record.since, ingestBps: 2_000_000 }]));
  api.clusterView.addOriginHeartbeat(originHeartbeat('origin-1', [{ app: 'live', streamId: record.streamId, viewers: 7 }]));

  api.clock.now = t0 + 3000;
  let [live] = (await api.call<{ data: LiveStream[] }>({ method: 'get', url: '/v1/live' })).body.data;
  assert.equal(live?.ingestBps, 2_000_000);
  assert.equal(live?.viewers.total, 7);

  api.clock.now = t0 + 3001;
  [live] = (await api.call<{ data: LiveStream[] }>({ method: 'get', url: '/v1/live' })).body.data;
  assert.equal(live?.id, s.id, 'named from the stream records');
  assert.equal(live?.ingestBps, null);
  assert.deepEqual(live?.viewers, { total: 0, byOrigin: {} });
  assert.deepEqual(api.clusterView.edges(), []);
});

test('DELETE /v1/live/{id} makes the owning edge end the session with reason "kicked"; the key stays valid', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const s = await createStream(api);
  const live = await goLive(api.index, { app: 'live', stream: s.id, edge: 'edge-a' });
  const edge = edgeResponder(api.bus, live);
  const started = performance.now();
  const res = await api.call<{ kicked: KickedSession[] }>({ method: 'delete', url: `/v1/live/${s.id}` });
  assert.ok(performance.now() - started < 1000);
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.kicked, [{ app: 'live', edge: 'edge-a', ok: true }]);
  assert.deepEqual(edge.kicks.map((k) => k.reason), ['kicked']);
  const stream = await api.store.get(s.id);
  assert.equal(stream?.record.revokedAt, undefined);
  assert.equal(stream?.record.keys.length, 1);
});

test('DELETE /v1/live/{id} also takes the bus stream id, and answers 404 LIVE_STREAM_NOT_FOUND when nothing is live', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const live = await goLive(api.index, { app: 'dev', stream: 'camera 7', edge: 'edge-c' });
  const edge = edgeResponder(api.bus, live);
  const byBusId = await api.call<{ kicked: KickedSession[] }>({ method: 'delete', url: `/v1/live/${live.streamId}` });
  assert.equal(byBusId.status, 200);
  assert.equal(edge.kicks.length, 1);
  const byName = await api.call<{ kicked: KickedSession[] }>({ method: 'delete', url: `/v1/live/${encodeURIComponent('camera 7')}` });
  assert.equal(byName.status, 200);
  assert.equal(edge.kicks.length, 2);

  const missing = await api.call<ApiErrorBody>({ method: 'delete', url: '/v1/live/st_abcdefghijklmnop' });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, 'LIVE_STREAM_NOT_FOUND');
});
