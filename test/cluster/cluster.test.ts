import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startNats } from '../harness/nats.ts';
import { startServer, type ServerProcess } from '../harness/server.ts';
import {
  assertSamePackets,
  avPackets,
  ffmpegPublishFile,
  ffmpegRecord,
  findNonMonotonic,
  makeFlv,
  probePackets,
  randomKey,
  sleep,
  tempDir,
  waitFor,
} from '../harness/media.ts';

// Separate edge and origin processes over a real nats-server (JetStream for the index): the
// cluster data plane as pods run it, minus Kubernetes.

async function cluster(t: import('node:test').TestContext) {
  const nats = await startNats({ jetstream: true });
  const env = { FIRSTMILE_NATS_URL: nats.url };
  const procs: ServerProcess[] = [];
  t.after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await nats.stop();
  });
  const start = async (mode: 'edge' | 'origin', id: string, args: string[] = []) => {
    const p = await startServer({ mode, env: { ...env, FIRSTMILE_EDGE_ID: id }, args });
    procs.push(p);
    return p;
  };
  return { nats, start };
}

test('an encoder publishing to an edge process is played from an origin process over NATS, packet for packet', async (t) => {
  const { start } = await cluster(t);
  const edge = await start('edge', 'edge-a');
  const origin = await start('origin', 'origin-a');
  const file = await makeFlv({ width: 640, height: 360, fps: 30, gop: 30, duration: 6 });
  const key = randomKey();
  const dir = tempDir();
  t.after(dir.cleanup);
  const out = join(dir.path, 'play.flv');
  const player = ffmpegRecord(origin.url(`live/${key}`), out, { timeoutMs: 30_000 });
  await origin.waitForLog((l) => l.msg === 'play requested');
  const pub = ffmpegPublishFile(file, edge.url(`live/${key}`));
  const published = await pub.result;
  assert.equal(published.code, 0, published.stderr);
  const played = await player.result;
  assert.equal(played.code, 0, played.stderr);
  assertSamePackets(avPackets(await probePackets(file)), avPackets(await probePackets(out)), 0.9, 'origin player');
  for (const p of [edge, origin]) assert.ok(!p.output().includes(key), 'the stream key reached a log');
});

test('a late joiner on an origin gets the GOP from the owning edge over NATS: its first packet is a keyframe', async (t) => {
  const { start } = await cluster(t);
  const edge = await start('edge', 'edge-a');
  const origin = await start('origin', 'origin-a');
  // 1080p with noise: GOPs of several MB, so the snapshot crosses NATS in fragments.
  const file = await makeFlv({ width: 1920, height: 1080, fps: 30, gop: 60, duration: 8, videoBitrate: '8M', bufsize: '16M', noise: 30 });
  const key = randomKey();
  const dir = tempDir();
  t.after(dir.cleanup);
  const pub = ffmpegPublishFile(file, edge.url(`live/${key}`));
  t.after(() => pub.stop());
  await edge.waitForLog((l) => l.msg === 'publish started');
  await sleep(3000);
  const out = join(dir.path, 'late.flv');
  const started = Date.now();
  const player = ffmpegRecord(origin.url(`live/${key}`), out, { timeoutMs: 20_000 });
  const joined = await origin.waitForLog((l) => l.msg === 'joined live stream from snapshot');
  console.log(`cluster late joiner: snapshot of ${String(joined['frames'])} bus messages (${String(joined['gop'])} GOP frames) in ${Date.now() - started} ms`);
  await pub.result;
  await player.result;
  const video = (await probePackets(out)).filter((p) => p.codec_type === 'video');
  assert.ok(video.length > 30, `only ${video.length} video packets`);
  assert.ok(video[0]!.flags.startsWith('K'), 'first video packet is a keyframe');
  assert.ok(Number(joined['gop']) > 1, 'the GOP came with the snapshot');
});

test('a second publisher on a live key is refused cluster-wide; after the owning edge is SIGKILLed the key is taken over at once and players continue', async (t) => {
  const { start } = await cluster(t);
  const edgeA = await start('edge', 'edge-a');
  const edgeB = await start('edge', 'edge-b');
  const origin = await start('origin', 'origin-a', ['--reconnect-window-ms', '10000']);
  const file = await makeFlv({ width: 640, height: 360, fps: 30, gop: 30, duration: 20 });
  const key = randomKey();
  const dir = tempDir();
  t.after(dir.cleanup);
  const out = join(dir.path, 'play.flv');

  const pub1 = ffmpegPublishFile(file, edgeA.url(`live/${key}`));
  t.after(() => pub1.stop());
  await edgeA.waitForLog((l) => l.msg === 'publish started');
  const player = ffmpegRecord(origin.url(`live/${key}`), out, { timeoutMs: 40_000 });
  t.after(() => player.stop());
  await origin.waitForLog((l) => l.msg === 'play started');
  await sleep(2000);

  const intruder = ffmpegPublishFile(file, edgeB.url(`live/${key}`), { timeoutMs: 15_000 });
  const refused = await intruder.result;
  assert.notEqual(refused.code, 0, 'the second publisher was accepted');
  await edgeB.waitForLog((l) => l.msg === 'refusing publish: stream is live on another edge');

  await edgeA.stop('SIGKILL');
  pub1.kill('SIGKILL');
  const killedAt = Date.now();
  const pub2 = ffmpegPublishFile(file, edgeB.url(`live/${key}`));
  t.after(() => pub2.stop());
  await edgeB.waitForLog((l) => l.msg === 'publish started', 10_000);
  console.log(`cluster takeover: publish accepted on another edge ${Date.now() - killedAt} ms after SIGKILL of the owner`);
  await sleep(4000);
  await player.stop('SIGINT');
  assert.equal(player.exited, true);
  const packets = await probePackets(out);
  const video = packets.filter((p) => p.codec_type === 'video');
  assert.equal(findNonMonotonic(packets), undefined, 'timestamps went backwards across the takeover');
  // ~2 s before the intruder + its refusal + ~4 s after takeover, at 30 fps.
  assert.ok(video.length >= 30 * 5, `player got only ${video.length} video packets`);
  const span = (video.at(-1)!.dts ?? 0) - (video[0]!.dts ?? 0);
  assert.ok(span >= 5000, `player timeline spans only ${span} ms`);
  await waitFor(() => origin.logs.some((l) => l.msg === 'stream is live' && l['resumed'] === false) , 1000, 'origin saw the new session');
});
