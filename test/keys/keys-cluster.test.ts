/**
 * Mode `keys` as deployed: a real nats-server with JetStream, two `firstmile edge` processes, one
 * `firstmile origin` and one `firstmile control` (the key store in a JetStream KV bucket, the
 * key-hash secret and the admin token in files), driven by ffmpeg through control's HTTP API.
 *
 * Every client here connects from 127.0.0.1, and the brute-force lockout counts per address across
 * the cluster: the lockout test runs last, after the failures of the earlier tests have left the
 * (short) counting window.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type LogLine, type ServerProcess } from '../harness/server.ts';
import { startNats, type NatsServer } from '../harness/nats.ts';
import {
  endPlayer,
  ffmpegRecord,
  makeFlv,
  matchPackets,
  avPackets,
  probePackets,
  requireTools,
  rtmpdumpRecord,
  sleep,
  tempDir,
  within,
} from '../harness/media.ts';
import {
  ControlClient,
  assertNoSecrets,
  busStreamId,
  logMark,
  kvStoredMessages,
  metricSum,
  pollUntil,
  publishAndWait,
  scrape,
  waitForLogAfter,
  writeSecret,
  type SecretFile,
} from './harness.ts';

const APP = 'live';
const LOCKOUT_FAILURES = 3;
const LOCKOUT_WINDOW_MS = 6000;

let dir: ReturnType<typeof tempDir>;
let nats: NatsServer;
let control: ServerProcess;
let edgeA: ServerProcess;
let edgeB: ServerProcess;
let origin: ServerProcess;
let api: ControlClient;
let adminToken: SecretFile;
let keyHashSecret: SecretFile;
let longFlv: string;
const processes: ServerProcess[] = [];
const keysUsed = new Set<string>();
/** Streams made by the first test that later tests use. */
let revokedStream: { id: string; key: string } | undefined;
let liveStream: { id: string; key: string } | undefined;

function clusterEnv(id: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    FIRSTMILE_NATS_URL: nats.url,
    FIRSTMILE_EDGE_ID: id,
    FIRSTMILE_AUTH_MODE: 'keys',
    FIRSTMILE_HEARTBEAT_MS: '500',
    FIRSTMILE_SHUTDOWN_TIMEOUT_MS: '1000',
    FIRSTMILE_LOCKOUT_FAILURES: String(LOCKOUT_FAILURES),
    FIRSTMILE_LOCKOUT_WINDOW_MS: String(LOCKOUT_WINDOW_MS),
    FIRSTMILE_LOCKOUT_MS: '60000',
    ...extra,
  };
}

async function startControl(id: string): Promise<ServerProcess> {
  const p = await startServer({
    mode: 'control',
    env: clusterEnv(id, { FIRSTMILE_KEY_HASH_SECRET_FILE: keyHashSecret.path, FIRSTMILE_ADMIN_TOKEN_FILE: adminToken.path }),
    startTimeoutMs: 30_000,
  });
  processes.push(p);
  return p;
}

async function startPlane(mode: 'edge' | 'origin', id: string): Promise<ServerProcess> {
  const p = await startServer({ mode, env: clusterEnv(id), startTimeoutMs: 30_000 });
  processes.push(p);
  return p;
}

before(async () => {
  requireTools('ffmpeg', 'ffprobe', 'rtmpdump', 'nats-server');
  dir = tempDir('fm-keys-cluster-');
  adminToken = writeSecret(dir.path, 'admin-token');
  keyHashSecret = writeSecret(dir.path, 'key-hash-secret');
  const fixture = makeFlv({ duration: 30, width: 320, height: 180, videoBitrate: '300k' });
  nats = await startNats({ jetstream: true });
  // The first process creates the index bucket; the others then find it.
  edgeA = await startPlane('edge', 'edge-a');
  [edgeB, origin, control] = await Promise.all([startPlane('edge', 'edge-b'), startPlane('origin', 'origin-a'), startControl('control-1')]);
  api = new ControlClient(control.httpPort, adminToken.value);
  longFlv = await fixture;
});

after(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await nats?.stop();
  dir?.cleanup();
});

/** Size of a file that may not exist yet. */
function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

test('revoke through control kicks the publisher on edge A within 1 s and ends the play on the origin; the same key is refused on edge B; a second stream on edge B plays on, unaffected', async (t) => {
  const [s1, s2] = await Promise.all([api.createStream({ name: 'cluster-revoked' }), api.createStream({ name: 'cluster-bystander' })]);
  keysUsed.add(s1.streamKey);
  keysUsed.add(s2.streamKey);
  revokedStream = { id: s1.id, key: s1.streamKey };
  liveStream = { id: s2.id, key: s2.streamKey };
  const id1 = busStreamId(APP, s1.id);
  const id2 = busStreamId(APP, s2.id);

  const pub1 = await publishAndWait(edgeA, longFlv, edgeA.url(`${APP}/${s1.streamKey}`), id1);
  if (!pub1.accepted) return assert.fail(`edge A refused a valid key: ${JSON.stringify(pub1.refusal)}\n${pub1.result.stderr}`);
  t.after(() => pub1.publisher.kill());
  const pub2 = await publishAndWait(edgeB, longFlv, edgeB.url(`${APP}/${s2.streamKey}`), id2);
  if (!pub2.accepted) return assert.fail(`edge B refused a valid key: ${JSON.stringify(pub2.refusal)}\n${pub2.result.stderr}`);
  t.after(() => pub2.publisher.kill());

  // Players on the origin, by id: control tells the origin each stream exists and is public.
  const rec1 = join(dir.path, 'revoked.flv');
  const rec2 = join(dir.path, 'bystander.flv');
  let mark = logMark(origin);
  const player1 = ffmpegRecord(origin.url(`${APP}/${s1.id}`), rec1, { timeoutMs: 40_000 });
  // rtmpdump writes what it receives at once (ffmpeg probes first), so the file's growth is a live signal.
  const player2 = rtmpdumpRecord(origin.url(`${APP}/${s2.id}`), rec2, { timeoutMs: 40_000 });
  t.after(() => player1.kill());
  t.after(() => player2.kill());
  let playing = 0;
  await waitForLogAfter(origin, mark, (l) => l.msg === 'play started' && ++playing === 2, 10_000);
  const live = await pollUntil(() => api.live(), (list) => [s1.id, s2.id].every((id) => list.some((x) => x.id === id && x.viewers.total === 1)), 5000, 'both streams live with a viewer each');
  assert.deepEqual(
    [s1.id, s2.id].map((id) => live.find((x) => x.id === id)?.edge),
    ['edge-a', 'edge-b'],
    'GET /v1/live knows which edge holds each stream',
  );
  await sleep(1500);

  mark = logMark(edgeA);
  const revokedAt = Date.now();
  const result = await api.revoke(s1.id);
  const answeredMs = Date.now() - revokedAt;
  assert.deepEqual(result.kicked, [{ app: APP, edge: 'edge-a', ok: true }], 'control asked edge A over NATS, and edge A confirmed');
  const ended = await within(pub1.publisher.result, 3000);
  assert.ok(ended, 'the publisher on edge A was disconnected');
  const closed = await waitForLogAfter(edgeA, mark, (l) => l.msg === 'publish ended' && l['stream'] === id1, 2000);
  const kickMs = ended.endedAt - revokedAt;
  const serverMs = Date.parse(String(closed['time'])) - revokedAt;
  console.log(`# kick latency (cluster, control -> NATS -> edge A): revoke answered in ${answeredMs} ms; edge A ended the publish ${serverMs} ms and ffmpeg exited ${kickMs} ms after the revoke request`);
  assert.equal(closed['reason'], 'revoked');
  assert.ok(kickMs < 1000, `the publisher's connection ended ${kickMs} ms after the revoke (limit 1000 ms)`);
  const playerEnd = await within(player1.result, 5000);
  assert.ok(playerEnd, 'the player of the revoked stream on the origin got the end and stopped');
  t.diagnostic(`origin player ended ${playerEnd.endedAt - revokedAt} ms after the revoke`);

  const onB = await publishAndWait(edgeB, longFlv, edgeB.url(`${APP}/${s1.streamKey}`), id1);
  if (onB.accepted) {
    onB.publisher.kill();
    assert.fail('edge B accepted a revoked key');
  }
  assert.equal(onB.refusal?.['code'], 'AUTH_REVOKED', JSON.stringify(onB.refusal));
  assert.notEqual(onB.result.code, 0);

  // The bystander: its publisher and player still run, and the recording keeps growing.
  const size = sizeOf(rec2);
  await sleep(1000);
  assert.ok(!pub2.publisher.exited && !player2.exited, 'the second stream on edge B is still published and played');
  assert.ok(sizeOf(rec2) > size, `the second stream's player keeps receiving (${size} -> ${sizeOf(rec2)} bytes)`);
  assert.ok(!edgeB.logs.some((l) => l.msg === 'publish ended' && l['stream'] === id2), 'edge B did not end the second stream');
  mark = logMark(edgeB);
  await pub2.publisher.stop('SIGINT');
  await waitForLogAfter(edgeB, mark, (l) => l.msg === 'publish ended' && l['stream'] === id2 && l['reason'] === 'unpublished', 5000);
  await endPlayer(player2);
  const [source, received1, received2] = await Promise.all([probePackets(longFlv), probePackets(rec1), probePackets(rec2)]);
  // Both players joined mid-stream and were stopped early: a contiguous run of the source each.
  for (const [what, got] of [['revoked stream', received1], ['second stream', received2]] as const) {
    const m = matchPackets(avPackets(source), avPackets(got));
    assert.ok(m.ok, `${what}: ${m.ok ? '' : m.reason}`);
    assert.ok(avPackets(got).length > 50, `${what}: the player got ${avPackets(got).length} packets`);
  }
});

test('the keys bucket (fm_keys) holds HMAC-SHA256(key-hash secret, key) and never a key: h.<hmac> points at the stream, s.<id> lists the hash', async () => {
  assert.ok(revokedStream && liveStream, 'the first test made the streams');
  const stored = await kvStoredMessages(nats.url, 'fm_keys');
  assert.ok(stored.length >= 4, `the bucket holds ${stored.length} messages`);
  for (const s of [revokedStream, liveStream]) {
    // Computed here with node:crypto, not with the library under test.
    const hmac = createHmac('sha256', keyHashSecret.value).update(s.key, 'utf8').digest('hex');
    const pointer = stored.filter((m) => m.subject === `$KV.fm_keys.h.${hmac}`).at(-1);
    assert.equal(pointer?.data.toString(), s.id, `h.<hmac> of the key points at ${s.id}`);
    const record = stored.filter((m) => m.subject === `$KV.fm_keys.s.${s.id}`).at(-1);
    assert.ok(record, `s.${s.id} is stored`);
    const parsed = JSON.parse(record.data.toString()) as { keys: { hash: string }[] };
    assert.deepEqual(parsed.keys.map((k) => k.hash), [hmac], 'the record lists the hash of its one key');
  }
  assertNoSecrets(stored.map((m) => `${m.subject} ${m.data.toString('latin1')}`).join('\n'), [...keysUsed, keyHashSecret.value, adminToken.value], 'the keys bucket');
});

test('stream keys survive a control restart: the new control process reads them from the JetStream KV bucket and edges accept and refuse them as before', async (t) => {
  assert.ok(revokedStream && liveStream, 'the first test made the streams');
  const before = await api.getStream(liveStream.id);
  await control.stop();
  // While no control runs, edges cannot check keys: they refuse (fail closed), uncounted by the lockout.
  const blind = await publishAndWait(edgeA, longFlv, edgeA.url(`${APP}/${liveStream.key}`), busStreamId(APP, liveStream.id));
  if (blind.accepted) {
    blind.publisher.kill();
    assert.fail('a key was accepted with no control running');
  }
  assert.equal(blind.refusal?.['code'], 'AUTH_UNAVAILABLE', JSON.stringify(blind.refusal));

  control = await startControl('control-2');
  api = new ControlClient(control.httpPort, adminToken.value);
  const after = await api.getStream(liveStream.id);
  assert.deepEqual({ ...after, updatedAt: before.updatedAt }, before, 'the new control serves the same record');
  assert.equal((await api.getStream(revokedStream.id)).status, 'revoked');

  const id = busStreamId(APP, liveStream.id);
  const again = await pollUntil(
    async () => {
      const o = await publishAndWait(edgeA, longFlv, edgeA.url(`${APP}/${liveStream!.key}`), id);
      return o;
    },
    (o) => o.accepted || o.refusal?.['code'] !== 'AUTH_UNAVAILABLE',
    10_000,
    'the new control to answer key checks',
  );
  if (!again.accepted) return assert.fail(`the key was refused after the restart: ${JSON.stringify(again.refusal)}`);
  t.after(() => again.publisher.kill());
  const mark = logMark(edgeA);
  await again.publisher.stop('SIGINT');
  await waitForLogAfter(edgeA, mark, (l) => l.msg === 'publish ended' && l['stream'] === id, 5000);

  const revoked = await publishAndWait(edgeB, longFlv, edgeB.url(`${APP}/${revokedStream.key}`), busStreamId(APP, revokedStream.id));
  if (revoked.accepted) {
    revoked.publisher.kill();
    assert.fail('a revoked key was accepted after the restart');
  }
  assert.equal(revoked.refusal?.['code'], 'AUTH_REVOKED', JSON.stringify(revoked.refusal));
});

test('brute force: three bad keys on edge A lock the address out cluster-wide; a good key on edge B from the same address is then refused with AUTH_LOCKED_OUT, and /metrics shows the lockout on both edges', async () => {
  assert.ok(liveStream, 'the first test made the stream');
  // Failures of the earlier tests (revoked keys) must leave the counting window first.
  const refusals = [edgeA, edgeB].flatMap((e) => e.logs.filter((l: LogLine) => typeof l.msg === 'string' && l.msg.startsWith('refusing publish')));
  const last = Math.max(0, ...refusals.map((l) => Date.parse(String(l['time']))));
  await sleep(Math.max(0, last + LOCKOUT_WINDOW_MS + 300 - Date.now()));
  const beforeA = await scrape(edgeA.httpPort);
  const beforeB = await scrape(edgeB.httpPort);
  assert.equal(metricSum(beforeB, 'firstmile_auth_locked_out_ips'), 0, 'nobody is locked out yet');

  for (let i = 1; i <= LOCKOUT_FAILURES; i++) {
    const guess = `sk_${randomBytes(32).toString('base64url')}`;
    keysUsed.add(guess);
    const o = await publishAndWait(edgeA, longFlv, edgeA.url(`${APP}/${guess}`), undefined);
    assert.equal(o.accepted, false);
    if (!o.accepted) assert.equal(o.refusal?.['code'], 'AUTH_BAD_KEY', `attempt ${i}: ${JSON.stringify(o.refusal)}`);
  }
  // Edge A's failures reach edge B on fm.auth.fail.
  const lockedOnB = await pollUntil(() => scrape(edgeB.httpPort), (text) => metricSum(text, 'firstmile_auth_locked_out_ips') >= 1, 3000, 'edge B to count the address as locked out');
  const good = await publishAndWait(edgeB, longFlv, edgeB.url(`${APP}/${liveStream.key}`), busStreamId(APP, liveStream.id));
  if (good.accepted) {
    good.publisher.kill();
    assert.fail('a locked-out address published on edge B');
  }
  assert.notEqual(good.result.code, 0, 'ffmpeg exits non-zero');
  assert.equal(good.refusal?.['code'], 'AUTH_LOCKED_OUT', JSON.stringify(good.refusal));
  const afterA = await scrape(edgeA.httpPort);
  for (const [edge, beforeText, afterText] of [['edge A', beforeA, afterA], ['edge B', beforeB, lockedOnB]] as const) {
    assert.equal(metricSum(afterText, 'firstmile_auth_locked_out_ips'), 1, `${edge}: one address locked out`);
    assert.equal(metricSum(afterText, 'firstmile_auth_lockouts_total') - metricSum(beforeText, 'firstmile_auth_lockouts_total'), 1, `${edge}: one lockout counted`);
  }
  const afterB = await scrape(edgeB.httpPort);
  assert.ok(metricSum(afterB, 'firstmile_auth_decisions_total', { code: 'AUTH_LOCKED_OUT' }) >= 1, 'edge B counted the locked-out refusal');
});

test("no process's output (edges, origin, both controls) contains a key used, the admin token or the key-hash secret", async () => {
  assert.ok(keysUsed.size >= 5);
  await Promise.all(processes.map((p) => p.stop()));
  for (const p of processes) assertNoSecrets(p.output(), [...keysUsed, adminToken.value, keyHashSecret.value], `the output of pid ${p.proc.pid}`);
});
