/**
 * Mode `keys` on one box: `firstmile up` (edge, origin and control over the in-memory bus) with an
 * admin token and a key-hash secret in files, driven through the HTTP API and by ffmpeg as the
 * encoder and the player. One server for the whole file; every test makes its own streams. The last
 * test stops the server and greps everything it printed for every key and secret used.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startServer, type ServerProcess } from '../harness/server.ts';
import {
  assertSamePackets,
  endPlayer,
  ffmpegPublishFile,
  ffmpegRecord,
  makeFlv,
  probePackets,
  randomKey,
  requireTools,
  sleep,
  tempDir,
  within,
} from '../harness/media.ts';
import {
  ControlClient,
  assertNoSecrets,
  busStreamId,
  logMark,
  pollUntil,
  publishAndWait,
  waitForLogAfter,
  writeSecret,
  type ApiErrorBody,
  type SecretFile,
} from './harness.ts';

const APP = 'live';
let dir: ReturnType<typeof tempDir>;
let server: ServerProcess;
let api: ControlClient;
let adminToken: SecretFile;
let keyHashSecret: SecretFile;
/** A 5 s H.264/AAC fixture published whole (packet comparison). */
let shortFlv: string;
/** A 30 s small fixture for publishers that are stopped or kicked early. */
let longFlv: string;
/** Every stream key this file used, for the final leak grep. */
const keysUsed = new Set<string>();

before(async () => {
  requireTools('ffmpeg', 'ffprobe');
  dir = tempDir('fm-keys-single-');
  adminToken = writeSecret(dir.path, 'admin-token');
  keyHashSecret = writeSecret(dir.path, 'key-hash-secret');
  [shortFlv, longFlv] = await Promise.all([
    makeFlv({ duration: 5 }),
    makeFlv({ duration: 30, width: 320, height: 180, videoBitrate: '300k' }),
  ]);
  server = await startServer({
    mode: 'up',
    env: {
      FIRSTMILE_AUTH_MODE: 'keys',
      FIRSTMILE_ADMIN_TOKEN_FILE: adminToken.path,
      FIRSTMILE_KEY_HASH_SECRET_FILE: keyHashSecret.path,
      // Heartbeats feed GET /v1/live's bitrate and viewers: faster than the default 2 s.
      FIRSTMILE_HEARTBEAT_MS: '500',
      // This file refuses keys on purpose; the lockout has its own test (keys-cluster).
      FIRSTMILE_LOCKOUT_FAILURES: '1000',
    },
  });
  api = new ControlClient(server.httpPort, adminToken.value);
});

after(async () => {
  await server?.stop();
  dir?.cleanup();
});

test('POST /v1/streams answers 201 with an sk_ key and the full ingest URL once; GET and the list never show the key, and the API refuses a missing or wrong admin token', async () => {
  const created = await api.createStream({ name: 'api-shape' });
  keysUsed.add(created.streamKey);
  assert.match(created.streamKey, /^sk_[A-Za-z0-9_-]{43}$/, 'a key is sk_ and 256 random bits in base64url');
  assert.match(created.id, /^st_/);
  assert.equal(created.ingest.rtmp, server.url(`${APP}/${created.streamKey}`), 'the create answer has the full ingest URL');
  assert.equal(created.playback.rtmp, server.url(`${APP}/${created.id}`), 'players play by id');
  assert.equal(created.status, 'idle');

  const one = await api.request<Record<string, unknown>>('GET', `/v1/streams/${created.id}`);
  const list = await api.request<{ data: { id: string }[] }>('GET', '/v1/streams?limit=100');
  assert.equal(one.status, 200);
  assert.equal(list.status, 200);
  assert.ok(list.body.data.some((s) => s.id === created.id), 'the list has the stream');
  for (const [what, body] of [['GET /v1/streams/{id}', one.body], ['GET /v1/streams', list.body]] as const) {
    const text = JSON.stringify(body);
    assert.ok(!text.includes(created.streamKey), `${what} does not show the key`);
    assert.ok(!text.includes('streamKey'), `${what} has no streamKey field`);
  }
  assert.equal((one.body['ingest'] as { rtmp: string }).rtmp, server.url(`${APP}/{stream_key}`), 'later reads show a template');

  for (const [what, token] of [['no token', null], ['a wrong token', randomBytes(24).toString('base64url')], ['the key-hash secret', keyHashSecret.value]] as const) {
    const res = await api.request<ApiErrorBody>('POST', '/v1/streams', {}, token);
    assert.equal(res.status, 401, `${what}: 401`);
    assert.equal(res.body.error.code, 'UNAUTHORIZED', `${what}: ${JSON.stringify(res.body)}`);
  }
});

test("ffmpeg publishing with a stream's key is accepted, a player on live/<id> receives the source's packets unchanged, and GET /v1/live lists the stream with codecs, ingest bitrate and the viewer while it is live", async (t) => {
  const s = await api.createStream({ name: 'publish-and-play' });
  keysUsed.add(s.streamKey);
  const streamId = busStreamId(APP, s.id);
  const rec = join(dir.path, 'player.flv');
  let mark = logMark(server);
  const player = ffmpegRecord(s.playback.rtmp, rec, { timeoutMs: 40_000 });
  t.after(() => player.kill());
  await waitForLogAfter(server, mark, (l) => l.msg === 'play requested');

  mark = logMark(server);
  const publisher = ffmpegPublishFile(shortFlv, s.ingest.rtmp, { timeoutMs: 40_000 });
  t.after(() => publisher.kill());
  await waitForLogAfter(server, mark, (l) => l.msg === 'publish started' && l['stream'] === streamId);

  const entry = await pollUntil(
    () => api.live(),
    (list) => list.some((x) => x.id === s.id && (x.ingestBps ?? 0) > 0 && x.viewers.total >= 1),
    4000,
    `GET /v1/live to list ${s.id} with a bitrate and a viewer`,
  ).then((list) => list.find((x) => x.id === s.id)!);
  t.diagnostic(`GET /v1/live: ${JSON.stringify(entry)}`);
  assert.equal(entry.app, APP);
  assert.equal(entry.streamId, streamId);
  // The codecs of the fixture (H.264 and AAC), by name or as RFC 6381 strings (openapi.json's examples).
  assert.match(entry.video ?? '', /^(H264|avc1\.)/, 'video codec');
  assert.match(entry.audio ?? '', /^(AAC|mp4a\.40\.)/, 'audio codec');
  assert.equal(entry.health, 'healthy');
  // The fixture is 1 Mbit/s of video and 128 kbit/s of audio, published in real time.
  assert.ok(entry.ingestBps! > 300_000 && entry.ingestBps! < 5_000_000, `ingest bitrate ${entry.ingestBps} bit/s`);
  assert.equal(entry.viewers.total, 1, 'the one player');
  assert.equal((await api.getStream(s.id)).status, 'live');

  const pub = await publisher.result;
  assert.equal(pub.code, 0, `publisher failed:\n${pub.stderr}`);
  const played = await endPlayer(player);
  assert.ok(played.code === 0 || played.code === 255, `player failed (code ${played.code}):\n${played.stderr}`);
  const [source, received] = await Promise.all([probePackets(shortFlv), probePackets(rec)]);
  const matches = assertSamePackets(source, received, 0.9);
  assert.equal(matches.find((m) => m.codec_type === 'video')?.startIndex, 0, 'a player waiting before the publish starts on the first keyframe');
  assert.ok((matches.find((m) => m.codec_type === 'audio')?.received ?? 0) > 0, 'the player got audio');
  await pollUntil(() => api.live(), (list) => !list.some((x) => x.id === s.id), 3000, 'the stream to leave GET /v1/live after the publisher ended');
});

test('ffmpeg publishing with a bad key exits non-zero; the server logs AUTH_BAD_KEY without the key', async () => {
  const other = await api.createStream({ name: 'not-a-key' });
  keysUsed.add(other.streamKey);
  const cases: { what: string; name: string; secret: boolean }[] = [
    { what: 'an unknown key of the right form', name: `sk_${randomBytes(32).toString('base64url')}`, secret: true },
    { what: 'a guessed string', name: randomKey('guess'), secret: true },
    { what: "another stream's id", name: other.id, secret: false },
  ];
  for (const c of cases) {
    if (c.secret) keysUsed.add(c.name);
    const outcome = await publishAndWait(server, longFlv, server.url(`${APP}/${c.name}`), undefined);
    assert.equal(outcome.accepted, false, `${c.what}: refused`);
    if (outcome.accepted) continue;
    assert.notEqual(outcome.result.code, 0, `${c.what}: ffmpeg exits non-zero`);
    assert.ok(!outcome.result.timedOut, `${c.what}: ffmpeg ended by itself`);
    assert.equal(outcome.refusal?.['code'], 'AUTH_BAD_KEY', `${c.what}: ${JSON.stringify(outcome.refusal)}`);
    assert.equal(outcome.refusal?.['mode'], 'keys');
    assert.ok(!JSON.stringify(outcome.refusal).includes(c.name), `${c.what}: the refusal line does not carry the name tried`);
  }
});

test('a key rotated with overlapSeconds 2: the old and the new key each publish during the overlap (one at a time), the old one is refused with AUTH_EXPIRED after it', async (t) => {
  const s = await api.createStream({ name: 'rotation' });
  keysUsed.add(s.streamKey);
  const streamId = busStreamId(APP, s.id);
  const rotated = await api.rotateKey(s.id, 2);
  keysUsed.add(rotated.streamKey);
  assert.notEqual(rotated.streamKey, s.streamKey);
  assert.ok(rotated.previousKeyExpiresAt, 'the answer says when the old key stops');
  const expiresAt = Date.parse(rotated.previousKeyExpiresAt);

  for (const [which, key] of [['old', s.streamKey], ['new', rotated.streamKey]] as const) {
    const outcome = await publishAndWait(server, longFlv, server.url(`${APP}/${key}`), streamId);
    if (!outcome.accepted) assert.fail(`the ${which} key was refused during the overlap: ${JSON.stringify(outcome.refusal)}\n${outcome.result.stderr}`);
    t.after(() => outcome.publisher.kill());
    const acceptedAt = Date.parse(String(outcome.started['time']));
    t.diagnostic(`${which} key accepted ${expiresAt - acceptedAt} ms before the old key's expiry`);
    assert.ok(acceptedAt < expiresAt, `the ${which} key was accepted inside the overlap`);
    // A clean unpublish, so the next publisher on the stream is not a second one.
    const mark = logMark(server);
    await outcome.publisher.stop('SIGINT');
    await waitForLogAfter(server, mark, (l) => l.msg === 'publish ended' && l['stream'] === streamId, 5000);
  }

  // Edges cache an allow for at most 1 s (documented staleness), so wait that out past the expiry.
  await sleep(Math.max(0, expiresAt + 1100 - Date.now()));
  const late = await publishAndWait(server, longFlv, server.url(`${APP}/${s.streamKey}`), streamId);
  if (late.accepted) {
    late.publisher.kill();
    assert.fail('the old key was accepted after the overlap');
  }
  assert.notEqual(late.result.code, 0);
  assert.equal(late.refusal?.['code'], 'AUTH_EXPIRED', JSON.stringify(late.refusal));
  const fresh = await publishAndWait(server, longFlv, server.url(`${APP}/${rotated.streamKey}`), streamId);
  assert.ok(fresh.accepted, 'the new key still publishes after the overlap');
  if (fresh.accepted) await fresh.publisher.stop('SIGINT');
});

test('revoke while ffmpeg publishes ends the publisher within 1 s, the player gets the end, and the key and the id are refused afterwards', async (t) => {
  const s = await api.createStream({ name: 'revoke-live' });
  keysUsed.add(s.streamKey);
  const streamId = busStreamId(APP, s.id);
  let mark = logMark(server);
  const player = ffmpegRecord(s.playback.rtmp, join(dir.path, 'revoked-player.flv'), { timeoutMs: 40_000 });
  t.after(() => player.kill());
  await waitForLogAfter(server, mark, (l) => l.msg === 'play requested');
  const outcome = await publishAndWait(server, longFlv, s.ingest.rtmp, streamId);
  if (!outcome.accepted) return assert.fail(`refused: ${JSON.stringify(outcome.refusal)}`);
  const publisher = outcome.publisher;
  t.after(() => publisher.kill());
  await waitForLogAfter(server, mark, (l) => l.msg === 'play started');
  await sleep(1500); // the player is receiving

  mark = logMark(server);
  const revokedAt = Date.now();
  const result = await api.revoke(s.id);
  const answeredMs = Date.now() - revokedAt;
  assert.equal(result.stream.status, 'revoked');
  assert.deepEqual(result.kicked.map((k) => k.ok), [true], `the edge confirmed the kick: ${JSON.stringify(result.kicked)}`);
  const ended = await within(publisher.result, 3000);
  assert.ok(ended, 'the publisher was disconnected');
  const kickMs = ended.endedAt - revokedAt;
  const closed = await waitForLogAfter(server, mark, (l) => l.msg === 'publish ended' && l['stream'] === streamId, 2000);
  const serverMs = Date.parse(String(closed['time'])) - revokedAt;
  console.log(`# kick latency (firstmile up): revoke answered in ${answeredMs} ms; server ended the publish ${serverMs} ms and ffmpeg exited ${kickMs} ms after the revoke request`);
  assert.equal(closed['reason'], 'revoked');
  assert.ok(kickMs < 1000, `the publisher's connection ended ${kickMs} ms after the revoke (limit 1000 ms)`);
  assert.notEqual(ended.code, 0, 'ffmpeg reports the lost connection');

  const playerEnd = await within(player.result, 5000);
  assert.ok(playerEnd, 'the player got the end of the stream and stopped by itself');
  t.diagnostic(`player ended ${playerEnd.endedAt - revokedAt} ms after the revoke (code ${playerEnd.code})`);

  const again = await publishAndWait(server, longFlv, s.ingest.rtmp, streamId);
  if (again.accepted) {
    again.publisher.kill();
    assert.fail('a revoked key was accepted');
  }
  assert.equal(again.refusal?.['code'], 'AUTH_REVOKED', JSON.stringify(again.refusal));
  mark = logMark(server);
  const replay = ffmpegRecord(s.playback.rtmp, join(dir.path, 'after-revoke.flv'), { timeoutMs: 15_000 });
  t.after(() => replay.kill());
  const refusedPlay = await waitForLogAfter(server, mark, (l) => l.msg === 'refusing play: not authorized', 5000);
  assert.equal(refusedPlay['code'], 'PLAY_NOT_FOUND', 'a revoked stream cannot be played');
  const r = await within(replay.result, 5000);
  assert.ok(r && r.code !== 0, 'the player of a revoked stream exits non-zero');
});

test('DELETE /v1/live/{id} ends the live session within 1 s but keeps the key: the encoder publishes again with it', async (t) => {
  const s = await api.createStream({ name: 'kick-only' });
  keysUsed.add(s.streamKey);
  const streamId = busStreamId(APP, s.id);
  const first = await publishAndWait(server, longFlv, s.ingest.rtmp, streamId);
  if (!first.accepted) return assert.fail(`refused: ${JSON.stringify(first.refusal)}`);
  t.after(() => first.publisher.kill());
  const mark = logMark(server);
  const kickedAt = Date.now();
  const res = await api.request<{ kicked: { ok: boolean; edge: string }[] }>('DELETE', `/v1/live/${s.id}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(res.body.kicked.map((k) => k.ok), [true]);
  const ended = await within(first.publisher.result, 3000);
  assert.ok(ended && ended.endedAt - kickedAt < 1000, `the publisher ended ${ended ? ended.endedAt - kickedAt : '>3000'} ms after the kick`);
  const line = await waitForLogAfter(server, mark, (l) => l.msg === 'publish ended' && l['stream'] === streamId, 2000);
  assert.equal(line['reason'], 'kicked');
  assert.equal((await api.request<ApiErrorBody>('DELETE', `/v1/live/${s.id}`)).body.error.code, 'LIVE_STREAM_NOT_FOUND', 'nothing left to kick');
  const again = await publishAndWait(server, longFlv, s.ingest.rtmp, streamId);
  if (!again.accepted) return assert.fail(`the key was refused after a kick: ${JSON.stringify(again.refusal)}`);
  await again.publisher.stop('SIGINT');
});

test('a player asking for live/<streamKey> is refused with PLAY_NOT_FOUND: a key is never a play name', async (t) => {
  const s = await api.createStream({ name: 'key-as-play-name' });
  keysUsed.add(s.streamKey);
  const mark = logMark(server);
  const player = ffmpegRecord(s.ingest.rtmp, join(dir.path, 'by-key.flv'), { timeoutMs: 15_000 });
  t.after(() => player.kill());
  const line = await waitForLogAfter(server, mark, (l) => l.msg === 'refusing play: not authorized' || l.msg === 'play requested', 5000);
  assert.equal(line['code'], 'PLAY_NOT_FOUND', JSON.stringify(line));
  const r = await within(player.result, 5000);
  assert.ok(r && r.code !== 0, 'ffmpeg exits non-zero');
});

test("the server's whole output (logs, stdout, stderr) contains none of the keys used, nor the admin token or key-hash secret", async () => {
  assert.ok(keysUsed.size >= 8, `the file used ${keysUsed.size} keys`);
  await server.stop();
  // The run did log the events a key could leak through.
  for (const msg of ['stream created', 'stream key rotated', 'stream revoked', 'publish started', 'refusing publish: not authorized', 'publish ended', 'play requested']) {
    assert.ok(server.logs.some((l) => l.msg === msg || l.msg.startsWith(msg)), `the server logged "${msg}"`);
  }
  assertNoSecrets(server.output(), [...keysUsed, adminToken.value, keyHashSecret.value]);
});
