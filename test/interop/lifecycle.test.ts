/**
 * A stream's life as players see it: a publisher that drops and comes back, a clean unpublish,
 * and what the server logs about it all.
 */
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startServer } from '../harness/server.ts';
import {
  avPackets,
  endPlayer,
  ffmpegPublishFile,
  ffmpegRecord,
  findNonMonotonic,
  isKeyframeTag,
  isSequenceHeaderTag,
  makeFlv,
  matchPackets,
  probePackets,
  randomKey,
  readFlv,
  requireTools,
  rtmpdumpRecord,
  sleep,
  tempDir,
  within,
  type Packet,
} from '../harness/media.ts';

// Required dependencies: a missing one fails every test here (never a skip).
beforeEach(() => requireTools('ffmpeg', 'ffprobe', 'rtmpdump'));

test('a publisher whose connection drops (SIGKILL) and comes back within the reconnect window continues the stream for attached players, timestamps monotonic', async (t) => {
  const server = await startServer({ args: ['--reconnect-window-ms', '5000'] });
  t.after(() => server.stop());
  const dir = tempDir();
  t.after(dir.cleanup);
  const [first, second] = await Promise.all([
    makeFlv({ duration: 8 }),
    makeFlv({ duration: 5, videoSource: 'smptebars', sineFrequency: 880 }),
  ]);
  const url = server.url(`live/${randomKey()}`);
  const rec = join(dir.path, 'ffmpeg.flv');
  const raw = join(dir.path, 'rtmpdump.flv');
  const player = ffmpegRecord(url, rec, { timeoutMs: 40_000 });
  const dump = rtmpdumpRecord(url, raw, { timeoutMs: 40_000 });
  t.after(() => player.kill());
  t.after(() => dump.kill());
  let plays = 0;
  await server.waitForLog((l) => l.msg === 'play requested' && ++plays === 2);

  const publisher1 = ffmpegPublishFile(first, url);
  t.after(() => publisher1.kill());
  await server.waitForLog((l) => l.msg === 'publish started');
  await sleep(3000);
  publisher1.kill('SIGKILL'); // a dropped connection: no FCUnpublish, no deleteStream
  await publisher1.result;
  await server.waitForLog((l) => l.msg === 'publisher dropped: holding players for a reconnect', 3000);
  // A player that arrives while the publisher is away waits with the others.
  const graceRaw = join(dir.path, 'grace-joiner.flv');
  const graceJoiner = rtmpdumpRecord(url, graceRaw, { timeoutMs: 40_000 });
  t.after(() => graceJoiner.kill());
  await sleep(1000);
  assert.ok(!player.exited && !dump.exited, 'the players stay connected while the publisher is away');
  assert.ok(!graceJoiner.exited, 'a player that joined while the publisher was away is still connected');

  const publisher2 = ffmpegPublishFile(second, url);
  t.after(() => publisher2.kill());
  await server.waitForLog((l) => l.msg === 'publisher came back: resuming players', 5000);
  const pub2 = await publisher2.result;
  assert.equal(pub2.code, 0, `the returning publisher failed:\n${pub2.stderr}`);
  const [p] = await Promise.all([endPlayer(player), endPlayer(dump), endPlayer(graceJoiner)]);
  assert.doesNotMatch(p.stderr, /Non-monoton/i, 'the ffmpeg player saw no timestamp going backwards');

  // The raw FLV rtmpdump wrote holds the server's timestamps as sent.
  for (const [name, file] of [['rtmpdump', raw], ['grace joiner', graceRaw]] as const) {
    const tags = readFlv(file).tags;
    for (const type of [8, 9]) {
      const ts = tags.filter((x) => x.type === type && !isSequenceHeaderTag(x)).map((x) => x.timestamp);
      assert.ok(ts.length > 0, `${name} got tags of type ${type}`);
      const back = ts.findIndex((v, i) => i > 0 && v < ts[i - 1]!);
      assert.equal(back, -1, `${name}: type ${type} timestamp ${ts[back]} after ${ts[back - 1]}`);
    }
    const firstFrame = tags.find((x) => x.type === 9 && !isSequenceHeaderTag(x));
    assert.ok(firstFrame && isKeyframeTag(firstFrame), `${name}: the first video frame is a keyframe`);
  }
  const graceFrames = readFlv(graceRaw).tags.filter((x) => x.type === 9 && !isSequenceHeaderTag(x)).length;
  assert.ok(graceFrames >= 0.9 * 150, `the grace joiner got the second session (${graceFrames} video frames)`);

  const [source1, source2, received] = await Promise.all([probePackets(first), probePackets(second), probePackets(rec)]);
  assert.equal(findNonMonotonic(received), undefined, 'the ffmpeg recording\'s timestamps never decrease');
  const from1 = new Set(source1.map((x) => x.data_hash));
  const from2 = new Set(source2.map((x) => x.data_hash));
  const av = avPackets(received);
  const unknown = av.filter((x) => !from1.has(x.data_hash) && !from2.has(x.data_hash));
  assert.equal(unknown.length, 0, `${unknown.length} received packets are in neither source`);
  // Split at the first packet that only the second session has.
  const boundary = av.findIndex((x) => from2.has(x.data_hash) && !from1.has(x.data_hash));
  assert.ok(boundary > 0, 'the player received packets from the first session, then from the second');
  const part1 = av.slice(0, boundary);
  const part2 = av.slice(boundary);
  assert.ok(part2.every((x: Packet) => from2.has(x.data_hash)), 'after the reconnect, only the second session');
  const m1 = matchPackets(avPackets(source1), part1);
  assert.ok(m1.ok, `first session: ${m1.ok ? '' : m1.reason}`);
  const m2 = matchPackets(avPackets(source2), part2);
  assert.ok(m2.ok, `second session: ${m2.ok ? '' : m2.reason}`);
  const video1 = m1.matches.find((x) => x.codec_type === 'video')!;
  const video2 = m2.matches.find((x) => x.codec_type === 'video')!;
  assert.equal(video1.startIndex, 0);
  assert.ok(video1.received >= 60, `about 3 s of the first session's video: ${video1.received} frames`);
  assert.equal(video2.startIndex, 0, 'the second session plays from its first keyframe');
  assert.ok(video2.received >= 0.9 * video2.source, `the second session's video: ${video2.received} of ${video2.source}`);
});

test('a publisher that drops and does not come back ends the stream for its players when the reconnect window closes', async (t) => {
  const windowMs = 1500;
  const server = await startServer({ args: ['--reconnect-window-ms', String(windowMs)] });
  t.after(() => server.stop());
  const dir = tempDir();
  t.after(dir.cleanup);
  const src = await makeFlv({ duration: 6 });
  const url = server.url(`live/${randomKey()}`);
  const player = ffmpegRecord(url, join(dir.path, 'player.flv'), { timeoutMs: 30_000 });
  const dump = rtmpdumpRecord(url, join(dir.path, 'dump.flv'), { timeoutMs: 30_000 });
  t.after(() => player.kill());
  t.after(() => dump.kill());
  let plays = 0;
  await server.waitForLog((l) => l.msg === 'play requested' && ++plays === 2);
  const publisher = ffmpegPublishFile(src, url);
  t.after(() => publisher.kill());
  await server.waitForLog((l) => l.msg === 'publish started');
  await sleep(2000);
  publisher.kill('SIGKILL');
  const dropped = (await publisher.result).endedAt;
  const [p, d] = await Promise.all([within(player.result, windowMs + 4000), within(dump.result, windowMs + 4000)]);
  assert.ok(p && d, `the players were still connected ${windowMs + 4000} ms after the drop`);
  for (const [name, r] of [['ffmpeg', p], ['rtmpdump', d]] as const) {
    const after = r.endedAt - dropped;
    assert.ok(after >= windowMs - 200, `${name} ended ${after} ms after the drop: it was not held for the ${windowMs} ms window`);
    assert.ok(after < windowMs + 2500, `${name} ended ${after} ms after the drop`);
  }
  assert.equal(p.code, 0, p.stderr);
});

test('a clean unpublish ends the stream for its players: an ffmpeg player and rtmpdump exit by themselves within seconds', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const dir = tempDir();
  t.after(dir.cleanup);
  const src = await makeFlv({ duration: 4 });
  const url = server.url(`live/${randomKey()}`);
  const player = ffmpegRecord(url, join(dir.path, 'player.flv'), { timeoutMs: 40_000 });
  const dump = rtmpdumpRecord(url, join(dir.path, 'dump.flv'), { timeoutMs: 40_000 });
  t.after(() => player.kill());
  t.after(() => dump.kill());
  let plays = 0;
  await server.waitForLog((l) => l.msg === 'play requested' && ++plays === 2);
  const publisher = ffmpegPublishFile(src, url);
  t.after(() => publisher.kill());
  const pub = await publisher.result;
  assert.equal(pub.code, 0, pub.stderr);
  await server.waitForLog((l) => l.msg === 'publish ended' && l['reason'] === 'unpublished', 2000);
  const [p, d] = await Promise.all([within(player.result, 5000), within(dump.result, 5000)]);
  assert.ok(p, 'the ffmpeg player did not exit within 5 s of the unpublish');
  assert.ok(d, 'rtmpdump did not exit within 5 s of the unpublish');
  // From the publisher's exit (it unpublishes, then closes) to the last player's exit.
  const elapsed = Math.max(p.endedAt, d.endedAt) - pub.endedAt;
  console.log('players ended after unpublish ms', elapsed, `(ffmpeg ${p.endedAt - pub.endedAt}, rtmpdump ${d.endedAt - pub.endedAt})`);
  assert.ok(elapsed < 3000, `the players took ${elapsed} ms to end`);
  assert.equal(p.code, 0, `ffmpeg player:\n${p.stderr}`);
  assert.notEqual(d.signal, 'SIGKILL');
  const received = await probePackets(join(dir.path, 'player.flv'));
  assert.ok(received.filter((x) => x.codec_type === 'video').length > 100, 'the player got the stream before it ended');
});

test('stream keys (and secrets in them) never appear in the server\'s output', async (t) => {
  const server = await startServer({
    args: ['--reconnect-window-ms', '1000', '--play-wait-ms', '1500'],
    env: { FIRSTMILE_LOG_LEVEL: 'trace' },
  });
  t.after(() => server.stop());
  const dir = tempDir();
  t.after(dir.cleanup);
  const src = await makeFlv({ duration: 4 });
  const secret = randomBytes(12).toString('hex');
  const keyA = randomKey('live-key');
  const keyB = randomKey('dropped-key');
  const keyC = randomKey('never-live');
  const nameA = `${keyA}?token=${secret}`;
  const secrets = [keyA, keyB, keyC, secret];

  // Key A: a player, rtmpdump, a publisher, a refused second publisher.
  const player = ffmpegRecord(server.url(`live/${nameA}`), join(dir.path, 'a.flv'), { timeoutMs: 30_000 });
  const dump = rtmpdumpRecord(server.url(`live/${nameA}`), join(dir.path, 'a-dump.flv'), { timeoutMs: 30_000 });
  // Key C: nobody publishes; the play is refused after --play-wait-ms.
  const lonely = ffmpegRecord(server.url(`live/${keyC}`), join(dir.path, 'c.flv'), { timeoutMs: 30_000 });
  for (const x of [player, dump, lonely]) t.after(() => x.kill());
  const publisherA = ffmpegPublishFile(src, server.url(`live/${nameA}`));
  t.after(() => publisherA.kill());
  // Key B: a publisher that drops, and never comes back within the window.
  const publisherB = ffmpegPublishFile(src, server.url(`other/${keyB}`));
  t.after(() => publisherB.kill());
  let published = 0;
  await server.waitForLog((l) => l.msg === 'publish started' && ++published === 2);
  const second = ffmpegPublishFile(src, server.url(`live/${nameA}`), { timeoutMs: 20_000 });
  t.after(() => second.kill());
  assert.notEqual((await second.result).code, 0, 'the second publisher on key A is refused');
  await sleep(1000);
  publisherB.kill('SIGKILL');
  assert.equal((await publisherA.result).code, 0);
  await Promise.all([endPlayer(player), endPlayer(dump), endPlayer(lonely)]);
  await server.waitForLog((l) => l.msg === 'stream not live: giving up on play', 5000);
  await server.waitForLog((l) => l.msg === 'publisher dropped: holding players for a reconnect' || l.msg === 'publish ended', 5000);
  await server.stop();

  const output = server.output();
  // The run did log the events a key could leak through.
  for (const msg of ['publish started', 'refusing publish', 'play requested', 'play started', 'stream not live', 'publish ended', 'connection closed']) {
    assert.ok(server.logs.some((l) => l.msg.startsWith(msg)), `the server logged "${msg}..."`);
  }
  const got = await probePackets(join(dir.path, 'a.flv'));
  assert.ok(got.length > 50, 'the player of key A got the stream (the run exercised the key)');
  for (const s of secrets) {
    const at = output.indexOf(s);
    assert.equal(at, -1, `"${s}" appears in the server's output: ...${output.slice(Math.max(0, at - 300), at + 100)}`);
  }
});
