import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { KeysAuthorizer, createKeyAuthResponder, verifyPlaybackToken } from '@firstmile/auth';
import { KEYS_CHANGED_SUBJECT, type KeysChanged } from '@firstmile/bus';
import {
  ADMIN_TOKEN,
  FlakyIndex,
  KEY_HASH_SECRET,
  createStream,
  edgeResponder,
  goLive,
  startApi,
  type ApiErrorBody,
  type RevokeResult,
  type RotatedStream,
  type StreamList,
  type StreamResource,
  type TestApi,
} from './helpers.ts';

const hmac = (key: string) => createHmac('sha256', KEY_HASH_SECRET).update(key).digest('hex');

/** The edges' rule: a key is accepted when it belongs to an unrevoked stream and its entry has not expired. */
async function accepted(api: TestApi, key: string, now: number): Promise<string | undefined> {
  const record = await api.store.findByKeyHash(hmac(key));
  const entry = record?.keys.find((k) => k.hash === hmac(key));
  if (!record || !entry || record.revokedAt !== undefined) return undefined;
  if (entry.expiresAt !== undefined && Date.parse(entry.expiresAt) <= now) return undefined;
  return record.id;
}

function keysChangedListener(api: TestApi): KeysChanged[] {
  const seen: KeysChanged[] = [];
  api.bus.subscribe(KEYS_CHANGED_SUBJECT, (m) => seen.push(JSON.parse(Buffer.from(m.data).toString()) as KeysChanged));
  return seen;
}

test('create returns the stream key once with full ingest URLs; GET and list never show it', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const created = await api.call<RotatedStream>({ method: 'post', url: '/v1/streams', body: { name: 'Main stage', metadata: { venue: 'hall-a' } } });
  assert.equal(created.status, 201);
  const s = created.body;
  assert.match(s.id, /^st_[a-z2-7]{16}$/);
  assert.match(s.streamKey, /^sk_[A-Za-z0-9_-]{43}$/);
  assert.equal(created.headers['location'], `/v1/streams/${s.id}`);
  assert.deepEqual(s.ingest, { rtmp: `rtmp://ingest.test/live/${s.streamKey}`, rtmps: `rtmps://ingest.test:443/live/${s.streamKey}` });
  assert.deepEqual(s.playback, { rtmp: `rtmp://play.test/live/${s.id}` });
  assert.equal(s.status, 'idle');
  assert.equal(s.playbackPolicy, 'public');
  assert.deepEqual(s.metadata, { venue: 'hall-a' });
  assert.equal(s.name, 'Main stage');

  const got = await api.call<StreamResource>({ method: 'get', url: `/v1/streams/${s.id}` });
  assert.equal(got.status, 200);
  assert.ok(!JSON.stringify(got.body).includes(s.streamKey), 'GET must not show the key');
  assert.ok(!('streamKey' in got.body));
  assert.equal(got.body.ingest.rtmp, 'rtmp://ingest.test/live/{stream_key}');
  const list = await api.call<StreamList>({ method: 'get', url: '/v1/streams' });
  assert.equal(list.body.data.length, 1);
  assert.ok(!JSON.stringify(list.body).includes(s.streamKey), 'list must not show the key');
  assert.ok(!JSON.stringify(list.body).includes(hmac(s.streamKey)), 'list must not show the key hash');
});

test('the store holds only the HMAC-SHA256 of the key, and no log line holds the key or the admin token', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const s = await createStream(api);
  const rotated = await api.call<RotatedStream>({ method: 'post', url: `/v1/streams/${s.id}/rotate-key`, body: { overlapSeconds: 30 } });
  await api.call({ method: 'post', url: '/v1/encoder-config', token: null, body: { streamKey: rotated.body.streamKey } });
  const stored = await api.store.get(s.id);
  assert.ok(stored);
  assert.deepEqual(
    stored.record.keys.map((k) => k.hash),
    [hmac(s.streamKey), hmac(rotated.body.streamKey)],
  );
  const raw = JSON.stringify(stored.record);
  for (const key of [s.streamKey, rotated.body.streamKey]) {
    assert.ok(!raw.includes(key), 'the stored record must not contain the key');
    assert.ok(!api.logger.text().includes(key), 'the logs must not contain the key');
  }
  assert.ok(!api.logger.text().includes(ADMIN_TOKEN), 'the logs must not contain the admin token');
  assert.ok(api.logger.lines.some((l) => l.msg === 'stream created' && l.bindings['reqId'] !== undefined), 'mutations are logged with the request id');
});

test('rotate keeps the previous key accepted for overlapSeconds, then only the new one; a later write prunes it', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const changes = keysChangedListener(api);
  const t0 = Date.parse('2026-06-01T12:00:00.000Z');
  api.clock.now = t0;
  const s = await createStream(api);
  api.clock.now = t0 + 1000;
  const rotated = await api.call<RotatedStream>({ method: 'post', url: `/v1/streams/${s.id}/rotate-key`, body: { overlapSeconds: 60 } });
  assert.equal(rotated.status, 200);
  const newKey = rotated.body.streamKey;
  assert.notEqual(newKey, s.streamKey);
  assert.equal(rotated.body.previousKeyExpiresAt, new Date(t0 + 61_000).toISOString());
  assert.equal(rotated.body.ingest.rtmp, `rtmp://ingest.test/live/${newKey}`);

  // Inside the overlap both keys open the same stream, through the store and through the API.
  assert.equal(await accepted(api, s.streamKey, t0 + 60_000), s.id);
  assert.equal(await accepted(api, newKey, t0 + 60_000), s.id);
  api.clock.now = t0 + 60_000;
  assert.equal((await api.call({ method: 'post', url: '/v1/encoder-config', token: null, body: { streamKey: s.streamKey } })).status, 200);

  // After it, only the new key.
  assert.equal(await accepted(api, s.streamKey, t0 + 61_000), undefined);
  assert.equal(await accepted(api, newKey, t0 + 61_000), s.id);
  api.clock.now = t0 + 61_000;
  assert.equal((await api.call({ method: 'post', url: '/v1/encoder-config', token: null, body: { streamKey: s.streamKey } })).status, 401);
  assert.equal((await api.call({ method: 'post', url: '/v1/encoder-config', token: null, body: { streamKey: newKey } })).status, 200);

  assert.equal((await api.call({ method: 'patch', url: `/v1/streams/${s.id}`, body: { name: 'after' } })).status, 200);
  assert.equal(await api.store.findByKeyHash(hmac(s.streamKey)), undefined, 'the expired entry is pruned by the next write');
  assert.equal((await api.store.get(s.id))?.record.keys.length, 1);
  await api.bus.flush();
  assert.deepEqual(changes.map((c) => c.id), [s.id], 'rotation announces the key change to edges');
});

test('rotate with overlapSeconds 0 stops the previous key at once; without a body the server overlap applies', async (t) => {
  const api = await startApi({ deps: { rotationOverlapMs: 120_000 } });
  t.after(() => api.close());
  const t0 = Date.parse('2026-06-01T12:00:00.000Z');
  api.clock.now = t0;
  const a = await createStream(api);
  const now = await api.call<RotatedStream>({ method: 'post', url: `/v1/streams/${a.id}/rotate-key`, body: { overlapSeconds: 0 } });
  assert.equal(now.body.previousKeyExpiresAt, null);
  assert.equal(await accepted(api, a.streamKey, t0), undefined);
  assert.equal(await api.store.findByKeyHash(hmac(a.streamKey)), undefined);
  assert.equal(await accepted(api, now.body.streamKey, t0), a.id);

  const b = await createStream(api);
  const def = await api.call<RotatedStream>({ method: 'post', url: `/v1/streams/${b.id}/rotate-key` });
  assert.equal(def.status, 200);
  assert.equal(def.body.previousKeyExpiresAt, new Date(t0 + 120_000).toISOString());
  assert.equal(await accepted(api, b.streamKey, t0 + 119_999), b.id);
  assert.equal(await accepted(api, b.streamKey, t0 + 120_000), undefined);
});

test('a burst of rotations keeps at most 8 keys: the previous keys that expire first go first', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const s = await createStream(api);
  const keys = [s.streamKey];
  for (let i = 0; i < 10; i++) {
    const r = await api.call<RotatedStream>({ method: 'post', url: `/v1/streams/${s.id}/rotate-key`, body: { overlapSeconds: 600 } });
    assert.equal(r.status, 200);
    keys.push(r.body.streamKey);
  }
  const stored = await api.store.get(s.id);
  assert.equal(stored?.record.keys.length, 8);
  assert.equal(await accepted(api, keys.at(-1)!, Date.now()), s.id);
  assert.equal(await accepted(api, keys[0]!, Date.now()), undefined, 'the oldest previous key was dropped');
});

for (const withPlayName of [true, false]) {
  test(`revoke ends a live session on the edge that holds it within 1 s (index record ${withPlayName ? 'with' : 'without'} the play name)`, async (t) => {
    const api = await startApi();
    t.after(() => api.close());
    const changes = keysChangedListener(api);
    const s = await createStream(api);
    const live = await goLive(api.index, { app: 'live', stream: s.id, edge: 'edge-a' });
    if (!withPlayName) {
      // An edge that predates the `stream` field: the API finds it by streamIdForName(app, id).
      const current = await api.index.get(live.app, live.streamId);
      await api.index.release(live.app, live.streamId, current!.revision);
      const { stream: _omit, ...rest } = live;
      assert.ok((await api.index.claim(rest, async () => true)).ok);
    }
    const edge = edgeResponder(api.bus, live);
    assert.equal((await api.call<StreamResource>({ method: 'get', url: `/v1/streams/${s.id}` })).body.status, 'live');

    const started = performance.now();
    const res = await api.call<RevokeResult>({ method: 'post', url: `/v1/streams/${s.id}/revoke` });
    const elapsed = performance.now() - started;
    assert.equal(res.status, 200);
    assert.ok(elapsed < 1000, `revoke took ${elapsed.toFixed(0)} ms`);
    assert.deepEqual(edge.kicks.map((k) => k.reason), ['revoked']);
    assert.deepEqual(res.body.kicked, [{ app: 'live', edge: 'edge-a', ok: true }]);
    assert.equal(res.body.stream.status, 'revoked');
    assert.ok(res.body.stream.revokedAt);
    await api.bus.flush();
    assert.deepEqual(changes.map((c) => c.id), [s.id]);

    assert.equal(await accepted(api, s.streamKey, Date.now()), undefined, 'no key of a revoked stream is accepted');
    assert.ok(await api.store.findByKeyHash(hmac(s.streamKey)), 'hashes stay so edges can answer AUTH_REVOKED');
    const rotate = await api.call<ApiErrorBody>({ method: 'post', url: `/v1/streams/${s.id}/rotate-key` });
    assert.equal(rotate.status, 409);
    assert.equal(rotate.body.error.code, 'STREAM_REVOKED');
    const cfg = await api.call<ApiErrorBody>({ method: 'post', url: '/v1/encoder-config', token: null, body: { streamKey: s.streamKey } });
    assert.equal(cfg.status, 401);
  });
}

test('revoke answers within about 1 s when the owning edge does not answer, and reports the session unconfirmed', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const s = await createStream(api);
  const silent = await goLive(api.index, { app: 'live', stream: s.id, edge: 'edge-silent' });
  // Subscribed (so not "no responders") but never replies: a wedged edge.
  api.bus.subscribe(`fm.ctl.live.${silent.streamId}`, () => {});
  await goLive(api.index, { app: 'other', stream: s.id, edge: 'edge-gone' });
  const started = performance.now();
  const res = await api.call<RevokeResult>({ method: 'post', url: `/v1/streams/${s.id}/revoke` });
  const elapsed = performance.now() - started;
  assert.equal(res.status, 200);
  assert.ok(elapsed >= 990 && elapsed < 1500, `revoke took ${elapsed.toFixed(0)} ms`);
  const byEdge = Object.fromEntries(res.body.kicked.map((k) => [k.edge, k]));
  assert.equal(byEdge['edge-silent']?.ok, false);
  assert.match(byEdge['edge-silent']?.error ?? '', /within 1000 ms/);
  assert.equal(byEdge['edge-gone']?.ok, false);
  assert.match(byEdge['edge-gone']?.error ?? '', /no edge holds the session/);
  assert.equal(res.body.stream.status, 'revoked');
});

test('DELETE /v1/streams/{id} removes the record and its key hashes and ends a live session', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const changes = keysChangedListener(api);
  const s = await createStream(api);
  const live = await goLive(api.index, { app: 'live', stream: s.id, edge: 'edge-b' });
  const edge = edgeResponder(api.bus, live);
  const res = await api.call({ method: 'delete', url: `/v1/streams/${s.id}` });
  assert.equal(res.status, 204);
  assert.equal(res.body, undefined);
  assert.deepEqual(edge.kicks.map((k) => k.reason), ['revoked']);
  assert.equal(await api.store.findByKeyHash(hmac(s.streamKey)), undefined);
  const after = await api.call<ApiErrorBody>({ method: 'get', url: `/v1/streams/${s.id}` });
  assert.equal(after.status, 404);
  assert.equal(after.body.error.code, 'STREAM_NOT_FOUND');
  assert.equal((await api.call<ApiErrorBody>({ method: 'delete', url: `/v1/streams/${s.id}` })).status, 404);
  await api.bus.flush();
  assert.deepEqual(changes.map((c) => c.id), [s.id]);
});

test('PATCH changes name, playback policy and metadata (metadata replaced as a whole)', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const changes = keysChangedListener(api);
  const s = await createStream(api, { name: 'a', metadata: { x: '1', y: '2' } });
  const res = await api.call<StreamResource>({ method: 'patch', url: `/v1/streams/${s.id}`, body: { name: 'b', playbackPolicy: 'signed', metadata: { z: '3' } } });
  assert.equal(res.status, 200);
  assert.equal(res.body.name, 'b');
  assert.equal(res.body.playbackPolicy, 'signed');
  assert.deepEqual(res.body.metadata, { z: '3' });
  assert.ok(res.body.updatedAt >= s.updatedAt);
  const stored = await api.store.get(s.id);
  assert.equal(stored?.record.playback, 'signed');
  await api.bus.flush();
  assert.deepEqual(changes.map((c) => c.id), [s.id], 'a playback policy change is announced (origins cache play decisions)');
});

const tooManyMetadata = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v']));
const badRequests: { what: string; method: 'post' | 'patch' | 'get'; url: (id: string) => string; body?: unknown; field: string }[] = [
  { what: 'an unknown field', method: 'patch', url: (id) => `/v1/streams/${id}`, body: { color: 'red' }, field: 'body/color' },
  { what: 'an empty name', method: 'patch', url: (id) => `/v1/streams/${id}`, body: { name: '' }, field: 'body/name' },
  { what: 'a name that is not a string', method: 'patch', url: (id) => `/v1/streams/${id}`, body: { name: 5 }, field: 'body/name' },
  { what: 'a name over 128 characters', method: 'post', url: () => '/v1/streams', body: { name: 'n'.repeat(129) }, field: 'body/name' },
  { what: 'an unknown playback policy', method: 'post', url: () => '/v1/streams', body: { playbackPolicy: 'private' }, field: 'body/playbackPolicy' },
  { what: 'a metadata value that is not a string', method: 'patch', url: (id) => `/v1/streams/${id}`, body: { metadata: { k: 5 } }, field: 'body/metadata/k' },
  { what: 'a metadata name with a leading underscore', method: 'post', url: () => '/v1/streams', body: { metadata: { _x: 'v' } }, field: 'body/metadata/_x' },
  { what: 'more than 32 metadata entries', method: 'post', url: () => '/v1/streams', body: { metadata: tooManyMetadata }, field: 'body/metadata' },
  { what: 'an empty PATCH', method: 'patch', url: (id) => `/v1/streams/${id}`, body: {}, field: 'body' },
  { what: 'overlapSeconds over a day', method: 'post', url: (id) => `/v1/streams/${id}/rotate-key`, body: { overlapSeconds: 86_401 }, field: 'body/overlapSeconds' },
  { what: 'a negative overlapSeconds', method: 'post', url: (id) => `/v1/streams/${id}/rotate-key`, body: { overlapSeconds: -1 }, field: 'body/overlapSeconds' },
  { what: 'overlapSeconds as a string', method: 'post', url: (id) => `/v1/streams/${id}/rotate-key`, body: { overlapSeconds: '60' }, field: 'body/overlapSeconds' },
  { what: 'limit over 100', method: 'get', url: () => '/v1/streams?limit=101', field: 'querystring/limit' },
  { what: 'limit 0', method: 'get', url: () => '/v1/streams?limit=0', field: 'querystring/limit' },
  { what: 'a limit that is not a number', method: 'get', url: () => '/v1/streams?limit=ten', field: 'querystring/limit' },
  { what: 'an unknown query parameter', method: 'get', url: () => '/v1/streams?sort=asc', field: 'querystring/sort' },
  { what: 'a cursor the API did not issue', method: 'get', url: () => '/v1/streams?cursor=bm90LWEtY3Vyc29y', field: 'querystring/cursor' },
  { what: 'a stream id with a dot', method: 'get', url: () => '/v1/streams/st_a.b', field: 'params/id' },
];

for (const c of badRequests) {
  test(`${c.method.toUpperCase()} with ${c.what} answers 400 BAD_REQUEST naming ${c.field}`, async (t) => {
    const api = await startApi();
    t.after(() => api.close());
    const s = await createStream(api);
    const res = await api.call<ApiErrorBody>({ method: c.method, url: c.url(s.id), body: c.body });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'BAD_REQUEST');
    assert.ok(
      res.body.error.details?.some((d) => d.field === c.field),
      `details ${JSON.stringify(res.body.error.details)} should name ${c.field}`,
    );
    assert.ok(res.body.error.message.length > 0);
  });
}

test('malformed JSON, prototype keys and bodies over 64 KiB are refused with JSON errors', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const json = { 'content-type': 'application/json' };
  const syntax = await api.call<ApiErrorBody>({ method: 'post', url: '/v1/streams', body: '{"name": ', headers: json });
  assert.equal(syntax.status, 400);
  assert.equal(syntax.body.error.code, 'BAD_REQUEST');
  const proto = await api.call<ApiErrorBody>({ method: 'post', url: '/v1/streams', body: '{"metadata": {"__proto__": {"x": "1"}}}', headers: json });
  assert.equal(proto.status, 400);
  const big = await api.call<ApiErrorBody>({ method: 'post', url: '/v1/streams', body: { name: 'x', metadata: { a: 'b'.repeat(70_000) } } });
  assert.equal(big.status, 413);
  assert.equal(big.body.error.code, 'PAYLOAD_TOO_LARGE');
  assert.equal((await api.store.list()).length, 0);
});

test('GET /v1/streams pages newest first with limit and cursor', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const t0 = Date.parse('2026-06-01T12:00:00.000Z');
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    api.clock.now = t0 + i * 1000;
    ids.push((await createStream(api)).id);
  }
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const url: string = `/v1/streams?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
    const page = await api.call<StreamList>({ method: 'get', url });
    assert.equal(page.status, 200);
    assert.ok(page.body.data.length <= 2);
    seen.push(...page.body.data.map((s) => s.id));
    cursor = page.body.nextCursor;
    pages++;
  } while (cursor !== null && pages < 10);
  assert.equal(pages, 3);
  assert.deepEqual(seen, [...ids].reverse());
  const all = await api.call<StreamList>({ method: 'get', url: '/v1/streams' });
  assert.equal(all.body.data.length, 5);
  assert.equal(all.body.nextCursor, null);
});

test('playback tokens: signed streams get a token and URLs that carry it; public ones 409; no signer 503', async (t) => {
  const api = await startApi({ deps: { playbackSecret: 'test-playback-secret' } });
  t.after(() => api.close());
  const s = await createStream(api, { playbackPolicy: 'signed' });
  api.clock.now = Date.parse('2026-06-01T12:00:00.000Z');
  const res = await api.call<{ token: string; expiresAt: string; playback: { rtmp: string } }>({ method: 'post', url: `/v1/streams/${s.id}/playback-token`, body: { ttlSeconds: 60 } });
  assert.equal(res.status, 200);
  assert.equal(res.body.expiresAt, '2026-06-01T12:01:00.000Z');
  // The token is the one origins accept for this stream id (and no other), until it expires.
  const verify = (streamId: string, now: number) => verifyPlaybackToken({ secret: 'test-playback-secret', streamId, token: res.body.token, now: () => now });
  assert.deepEqual(verify(s.id, api.clock.now + 59_000), { ok: true, expiresAt: new Date('2026-06-01T12:01:00.000Z') });
  assert.equal(verify(s.id, api.clock.now + 60_000).ok, false);
  assert.equal(verify('st_otherstream00000', api.clock.now).ok, false);
  assert.equal(res.body.playback.rtmp, `rtmp://play.test/live/${s.id}?token=${encodeURIComponent(res.body.token)}`);
  const pub = await createStream(api);
  assert.equal((await api.call<ApiErrorBody>({ method: 'post', url: `/v1/streams/${pub.id}/playback-token` })).body.error.code, 'CONFLICT');

  const noSigner = await startApi();
  t.after(() => noSigner.close());
  const s2 = await createStream(noSigner, { playbackPolicy: 'signed' });
  const off = await noSigner.call<ApiErrorBody>({ method: 'post', url: `/v1/streams/${s2.id}/playback-token` });
  assert.equal(off.status, 503);
  assert.equal(off.body.error.code, 'PLAYBACK_SIGNING_DISABLED');
});

test('rotate and revoke through the API take effect on an edge\'s KeysAuthorizer over the bus (cache included)', async (t) => {
  const api = await startApi();
  t.after(() => api.close());
  const t0 = Date.parse('2026-06-01T12:00:00.000Z');
  api.clock.now = t0;
  const now = () => api.clock.now;
  // Control's bus responder and an edge's authorizer, both from libs/auth, over the API's MemoryBus.
  const responder = createKeyAuthResponder({ bus: api.bus, store: api.store, keyHashSecret: KEY_HASH_SECRET, logger: api.logger, now });
  const edge = new KeysAuthorizer({ bus: api.bus, now });
  t.after(() => {
    responder.close();
    edge.close();
  });
  const publish = (key: string) => edge.authorize({ app: 'live', name: key, clientIp: '192.0.2.7' });

  const s = await createStream(api);
  assert.deepEqual(await publish(s.streamKey), { ok: true, playName: s.id, mode: 'keys', streamRecordId: s.id });
  const rotated = await api.call<RotatedStream>({ method: 'post', url: `/v1/streams/${s.id}/rotate-key`, body: { overlapSeconds: 30 } });
  await api.bus.flush();
  assert.equal((await publish(s.streamKey)).ok, true, 'old key inside the overlap');
  assert.equal((await publish(rotated.body.streamKey)).ok, true, 'new key');
  api.clock.now = t0 + 31_000;
  assert.equal((await publish(s.streamKey)).ok, false, 'old key after the overlap');
  assert.equal((await publish(rotated.body.streamKey)).ok, true);

  // The allow just cached is dropped by the revocation's KeysChanged, not kept for its TTL.
  await api.call({ method: 'post', url: `/v1/streams/${s.id}/revoke` });
  await api.bus.flush();
  const denied = await publish(rotated.body.streamKey);
  assert.equal(denied.ok, false);
  assert.equal(!denied.ok && denied.code, 'AUTH_REVOKED');
});

for (const op of ['revoke', 'delete'] as const) {
  test(`${op} with the live-stream index unreachable answers 503 after refusing the keys; repeating it ends the session`, async (t) => {
    const index = new FlakyIndex({ ttlMs: 15_000 });
    const api = await startApi({ index });
    t.after(() => api.close());
    const s = await createStream(api);
    const live = await goLive(index, { app: 'live', stream: s.id, edge: 'edge-a' });
    const edge = edgeResponder(api.bus, live);
    const request = () =>
      op === 'revoke'
        ? api.call<ApiErrorBody>({ method: 'post', url: `/v1/streams/${s.id}/revoke` })
        : api.call<ApiErrorBody>({ method: 'delete', url: `/v1/streams/${s.id}` });
    index.down = true;
    const failed = await request();
    assert.equal(failed.status, 503);
    assert.equal(failed.body.error.code, 'UNAVAILABLE');
    assert.match(failed.body.error.message, /retry/);
    assert.equal(edge.kicks.length, 0);
    assert.equal(await accepted(api, s.streamKey, Date.now()), undefined, 'the keys are refused already');
    assert.ok((await api.store.get(s.id))?.record.revokedAt, 'the record stays, revoked, for the retry');

    index.down = false;
    const retried = await request();
    assert.equal(retried.status, op === 'revoke' ? 200 : 204);
    assert.deepEqual(edge.kicks.map((k) => k.reason), ['revoked']);
    assert.equal((await api.store.get(s.id)) === undefined, op === 'delete');
  });
}
