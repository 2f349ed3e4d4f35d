/**
 * Several streams at once: isolation by app and key, and one publisher per key.
 */
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { connectClient } from '../harness/client.ts';
import { startServer } from '../harness/server.ts';
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
  type FlvOptions,
} from '../harness/media.ts';

// Required dependencies: a missing one fails every test here (never a skip).
beforeEach(() => requireTools('ffmpeg', 'ffprobe'));

test('streams on different keys, and on different apps with the same key, stay separate: each player gets only its own source', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const dir = tempDir();
  t.after(dir.cleanup);
  const shared = randomKey();
  const streams: { path: string; fixture: FlvOptions }[] = [
    { path: `live/${shared}`, fixture: { duration: 5, videoSource: 'testsrc2', sineFrequency: 440 } },
    { path: `live/${randomKey()}`, fixture: { duration: 5, videoSource: 'smptebars', sineFrequency: 880 } },
    { path: `studio/${shared}`, fixture: { duration: 5, videoSource: 'testsrc', sineFrequency: 660 } },
  ];
  const files = await Promise.all(streams.map((s) => makeFlv(s.fixture)));
  const recs = streams.map((_, i) => join(dir.path, `player-${i}.flv`));
  const players = streams.map((s, i) => ffmpegRecord(server.url(s.path), recs[i]!, { timeoutMs: 40_000 }));
  for (const p of players) t.after(() => p.kill());
  let plays = 0;
  await server.waitForLog((l) => l.msg === 'play requested' && ++plays === streams.length);
  const publishers = streams.map((s, i) => ffmpegPublishFile(files[i]!, server.url(s.path)));
  for (const p of publishers) t.after(() => p.kill());
  for (const p of publishers) {
    const r = await p.result;
    assert.equal(r.code, 0, `publisher failed:\n${r.stderr}`);
  }
  await Promise.all(players.map((p) => endPlayer(p)));

  const sources = await Promise.all(files.map((f) => probePackets(f)));
  const received = await Promise.all(recs.map((r) => probePackets(r)));
  for (let i = 0; i < streams.length; i++) {
    assertSamePackets(sources[i]!, received[i]!, 0.9, `player of ${streams[i]!.path.split('/')[0]}/#${i}`);
    for (let j = 0; j < streams.length; j++) {
      if (j === i) continue;
      // Packets both sources share (e.g. the final AAC frame of silence) prove nothing either way.
      const own = new Set(sources[i]!.map((p) => p.data_hash));
      const other = new Set(sources[j]!.map((p) => p.data_hash).filter((h) => !own.has(h)));
      const leaked = received[i]!.filter((p) => other.has(p.data_hash));
      assert.equal(leaked.length, 0, `player ${i} received ${leaked.length} packets of stream ${j}`);
    }
  }
});

test('a second publisher on a live key is refused with NetStream.Publish.BadName while the first one and its player go on', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const dir = tempDir();
  t.after(dir.cleanup);
  const [first, intruder] = await Promise.all([
    makeFlv({ duration: 6 }),
    makeFlv({ duration: 6, videoSource: 'smptebars', sineFrequency: 880 }),
  ]);
  const url = server.url(`live/${randomKey()}`);
  const rec = join(dir.path, 'player.flv');
  const player = ffmpegRecord(url, rec, { timeoutMs: 40_000 });
  t.after(() => player.kill());
  await server.waitForLog((l) => l.msg === 'play requested');
  const publisher = ffmpegPublishFile(first, url);
  t.after(() => publisher.kill());
  await server.waitForLog((l) => l.msg === 'publish started');
  await sleep(1500);

  const second = ffmpegPublishFile(intruder, url, { timeoutMs: 20_000 });
  t.after(() => second.kill());
  const refused = await second.result;
  assert.ok(!refused.timedOut, 'the second publisher was not left hanging');
  assert.notEqual(refused.code, 0, 'the second publisher exits with an error');
  assert.match(refused.stderr, /already being published|NetStream\.Publish\.BadName/, 'ffmpeg reports the server\'s refusal');
  await server.waitForLog((l) => l.msg.startsWith('refusing publish'), 1000);
  // ffmpeg prints the status description only; a plain RTMP client shows the status code itself.
  const probe = await connectClient(url);
  t.after(() => probe.destroy());
  await assert.rejects(probe.publish(), 'a third publisher is refused too');
  const refusal = probe.events.find((e) => e.type === 'status' && e.level === 'error');
  assert.ok(refusal && refusal.type === 'status', 'the refusal is an onStatus error');
  assert.equal(refusal.code, 'NetStream.Publish.BadName');
  probe.destroy();
  assert.ok(!publisher.exited, 'the first publisher is still publishing');
  assert.ok(!player.exited, 'the player is still playing');

  const pub = await publisher.result;
  assert.equal(pub.code, 0, `the first publisher failed:\n${pub.stderr}`);
  await endPlayer(player);
  const [source, received, intruderPackets] = await Promise.all([probePackets(first), probePackets(rec), probePackets(intruder)]);
  assertSamePackets(source, received, 0.9, 'player of the first publisher');
  const own = new Set(source.map((p) => p.data_hash));
  const foreign = new Set(intruderPackets.map((p) => p.data_hash).filter((h) => !own.has(h)));
  assert.equal(received.filter((p) => foreign.has(p.data_hash)).length, 0, 'nothing of the refused publisher reached the player');
});
