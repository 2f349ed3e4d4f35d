/**
 * ffmpeg publishes prepared FLV files with `-c copy`, ffmpeg players record what they get with
 * `-c copy`, and every packet the player received must be the source's packet, unchanged.
 */
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer } from '../harness/server.ts';
import {
  assertSamePackets,
  endPlayer,
  ffmpegPublishFile,
  ffmpegRecord,
  makeFlv,
  probeFormat,
  probePackets,
  randomKey,
  requireTools,
  sleep,
  tempDir,
  type FlvOptions,
  type RunningProcess,
} from '../harness/media.ts';

// Required dependencies: a missing one fails every test here (never a skip).
beforeEach(() => requireTools('ffmpeg', 'ffprobe'));

/**
 * Starts a player on a fresh key, waits until the server holds its play, publishes `fixture` with
 * ffmpeg -c copy, and returns the source's and the player's packets.
 */
async function publishAndRecord(t: import('node:test').TestContext, fixture: FlvOptions) {
  const server = await startServer();
  t.after(() => server.stop());
  const dir = tempDir();
  t.after(dir.cleanup);
  const src = await makeFlv(fixture);
  const url = server.url(`live/${randomKey()}`);
  const rec = join(dir.path, 'player.flv');
  const player = ffmpegRecord(url, rec, { timeoutMs: 60_000 });
  t.after(() => player.kill());
  await server.waitForLog((l) => l.msg === 'play requested');
  const publisher = ffmpegPublishFile(src, url, { timeoutMs: 60_000 });
  t.after(() => publisher.kill());
  const pub = await publisher.result;
  assert.equal(pub.code, 0, `publisher failed:\n${pub.stderr}`);
  await stopSoon(player);
  const [source, received] = await Promise.all([probePackets(src), probePackets(rec)]);
  return { server, src, rec, source, received };
}

/** Gives a player a few seconds to end by itself after the publisher left, then stops it. */
async function stopSoon(player: RunningProcess): Promise<void> {
  const r = await endPlayer(player);
  assert.ok(r.code === 0 || r.code === 255, `player failed (code ${r.code}):\n${r.stderr}`);
}

test('a prepared H.264/AAC FLV published with ffmpeg -c copy reaches a player that was waiting before the publish, packet for packet', async (t) => {
  const { source, received } = await publishAndRecord(t, { duration: 6 });
  const matches = assertSamePackets(source, received, 0.9);
  const video = matches.find((m) => m.codec_type === 'video');
  const audio = matches.find((m) => m.codec_type === 'audio');
  assert.ok(video && video.received > 0, 'the player got video');
  assert.ok(audio && audio.received > 0, 'the player got audio');
  // The player was there before the first keyframe: it must start on the source's first one.
  assert.equal(video.startIndex, 0, 'a player waiting before the publish starts on the first keyframe');
});

test('1080p30 at 8 Mbit/s with keyframes over 1 MiB (multi-chunk messages, fragmented bus frames) plays back packet for packet, from the start and for a late joiner', async (t) => {
  const fixture: FlvOptions = {
    width: 1920,
    height: 1080,
    fps: 30,
    videoBitrate: '8M',
    bufsize: '48M',
    gop: 60,
    duration: 6,
    noise: 40,
    x264Params: 'ipratio=4',
  };
  const server = await startServer();
  t.after(() => server.stop());
  const dir = tempDir();
  t.after(dir.cleanup);
  const src = await makeFlv(fixture);
  // Stream A has a player from the start; stream B only a late joiner, which makes the origin
  // subscribe and fetch the edge's snapshot: a GOP whose keyframe is itself fragmented on the bus.
  const urlA = server.url(`live/${randomKey()}`);
  const urlB = server.url(`live/${randomKey()}`);
  const recA = join(dir.path, 'a.flv');
  const recB = join(dir.path, 'b-late.flv');
  const player = ffmpegRecord(urlA, recA, { timeoutMs: 60_000 });
  t.after(() => player.kill());
  await server.waitForLog((l) => l.msg === 'play requested');
  const publisherA = ffmpegPublishFile(src, urlA, { timeoutMs: 60_000 });
  const publisherB = ffmpegPublishFile(src, urlB, { timeoutMs: 60_000 });
  t.after(() => publisherA.kill());
  t.after(() => publisherB.kill());
  let published = 0;
  await server.waitForLog((l) => l.msg === 'publish started' && ++published === 2);
  await sleep(2600); // inside the second GOP (keyframes at 0, 2 and 4 s)
  const late = ffmpegRecord(urlB, recB, { timeoutMs: 60_000 });
  t.after(() => late.kill());
  for (const p of [publisherA, publisherB]) {
    const r = await p.result;
    assert.equal(r.code, 0, `publisher failed:\n${r.stderr}`);
  }
  await Promise.all([stopSoon(player), stopSoon(late)]);
  const [source, received, receivedLate] = await Promise.all([probePackets(src), probePackets(recA), probePackets(recB)]);

  const keyframes = source.filter((p) => p.codec_type === 'video' && p.flags.includes('K'));
  const largest = Math.max(...keyframes.map((p) => p.size));
  // Larger than the outbound chunk (4096) and the in-memory bus's max payload (1 MiB).
  assert.ok(largest > 1024 * 1024, `the fixture's largest keyframe is ${largest} bytes; it must exceed 1 MiB to exercise fragmentation`);
  const matches = assertSamePackets(source, received, 0.9);
  const video = matches.find((m) => m.codec_type === 'video')!;
  assert.equal(video.startIndex, 0);
  const got = received.filter((p) => p.codec_type === 'video' && p.flags.includes('K'));
  assert.equal(got.length, keyframes.length, `the player got ${got.length} of ${keyframes.length} keyframes`);

  const lateMatches = assertSamePackets(source, receivedLate, 0.5, 'late joiner');
  const lateVideo = lateMatches.find((m) => m.codec_type === 'video')!;
  assert.equal(lateVideo.startIndex, 60, 'the late joiner starts on the cached keyframe at 2 s');
  const snapshotKeyframe = source.filter((p) => p.codec_type === 'video')[60]!;
  assert.ok(snapshotKeyframe.size > 1024 * 1024, `the snapshot's keyframe (${snapshotKeyframe.size} bytes) spans several bus fragments`);
});

test('an audio-only stream (AAC) publishes and plays with identical packets', async (t) => {
  const { source, received, rec } = await publishAndRecord(t, { video: false, duration: 5 });
  assert.ok(source.every((p) => p.codec_type === 'audio'));
  const matches = assertSamePackets(source, received, 0.9);
  assert.deepEqual(matches.map((m) => m.codec_type), ['audio']);
  const format = await probeFormat(rec);
  assert.deepEqual(format.streams.map((s) => s.codec_name), ['aac'], 'the recording has exactly one AAC stream');
});

test('a video-only stream (H.264) publishes and plays with identical packets', async (t) => {
  const { source, received, rec } = await publishAndRecord(t, { audio: false, duration: 5 });
  assert.ok(source.every((p) => p.codec_type === 'video'));
  const matches = assertSamePackets(source, received, 0.9);
  assert.deepEqual(matches.map((m) => m.codec_type), ['video']);
  assert.equal(matches[0]!.startIndex, 0);
  const format = await probeFormat(rec);
  assert.deepEqual(format.streams.map((s) => s.codec_name), ['h264'], 'the recording has exactly one H.264 stream');
});
