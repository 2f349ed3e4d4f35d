/**
 * GStreamer's RTMP client (rtmp2sink / rtmp2src, plugins-bad) as publisher and as player.
 */
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer } from '../harness/server.ts';
import {
  assertSamePackets,
  endPlayer,
  ffmpegDecode,
  ffmpegPublishFile,
  ffmpegRecord,
  firstGstElement,
  makeFlv,
  probeFormat,
  probePackets,
  randomKey,
  requireGstElement,
  requireTools,
  spawnProcess,
  tempDir,
} from '../harness/media.ts';

// Required dependencies: a missing one fails every test here (never a skip).
beforeEach(() => requireTools('ffmpeg', 'ffprobe', 'gst-launch-1.0', 'gst-inspect-1.0'));

test('gstreamer rtmp2sink publishes a live H.264/AAC encode that an ffmpeg player records and decodes', async (t) => {
  for (const e of ['rtmp2sink', 'flvmux', 'h264parse', 'aacparse', 'videotestsrc', 'audiotestsrc']) await requireGstElement(e);
  // x264enc lives in plugins-ugly; openh264enc (plugins-bad) is the fallback setup installs.
  const h264 = await firstGstElement(['x264enc', 'openh264enc']);
  const aac = await firstGstElement(['avenc_aac', 'voaacenc']);
  const encoder = h264 === 'x264enc'
    ? 'x264enc key-int-max=30 tune=zerolatency speed-preset=veryfast bitrate=1000'
    : 'openh264enc gop-size=30 bitrate=1000000';
  const server = await startServer();
  t.after(() => server.stop());
  const dir = tempDir();
  t.after(dir.cleanup);
  const url = server.url(`live/${randomKey()}`);
  const rec = join(dir.path, 'from-gst.flv');
  const player = ffmpegRecord(url, rec, { timeoutMs: 40_000 });
  t.after(() => player.kill());
  await server.waitForLog((l) => l.msg === 'play requested');

  const frames = 150; // 5 s at 30 fps
  const pipeline = [
    'videotestsrc', 'is-live=true', `num-buffers=${frames}`, '!', 'video/x-raw,width=640,height=360,framerate=30/1', '!',
    ...encoder.split(' '), '!', 'h264parse', '!', 'flvmux', 'streamable=true', 'name=m', '!', 'rtmp2sink', `location=${url}`,
    'audiotestsrc', 'is-live=true', 'num-buffers=215', '!', 'audioconvert', '!', aac, '!', 'aacparse', '!', 'm.',
  ];
  const gst = spawnProcess('gst-launch-1.0', ['-e', ...pipeline], { timeoutMs: 30_000, timeoutSignal: 'SIGINT' });
  t.after(() => gst.kill());
  const g = await gst.result;
  assert.equal(g.code, 0, `gst-launch failed:\n${g.stdout}\n${g.stderr}`);
  assert.match(g.stdout, /Got EOS/, 'the pipeline ran to its end');
  await endPlayer(player);

  const format = await probeFormat(rec);
  assert.deepEqual(format.streams.map((s) => s.codec_name).sort(), ['aac', 'h264']);
  const video = format.streams.find((s) => s.codec_type === 'video')!;
  assert.equal(`${video.width}x${video.height}`, '640x360');
  const packets = await probePackets(rec);
  const videoPackets = packets.filter((p) => p.codec_type === 'video');
  assert.ok(videoPackets.length >= 0.9 * frames, `the player got ${videoPackets.length} of ${frames} video frames`);
  assert.ok(videoPackets[0]!.flags.includes('K'), 'the first video packet is a keyframe');
  assert.ok(packets.filter((p) => p.codec_type === 'audio').length >= 0.9 * 215, 'the player got the audio');
  const { report } = ffmpegDecode(rec, { timeoutMs: 30_000 });
  const d = await report;
  assert.equal(d.result.code, 0, d.result.stderr);
  assert.deepEqual(d.problems, [], 'the recording decodes without warnings or errors');
  assert.equal(d.frames, videoPackets.length, 'every received frame decodes');
});

test('gstreamer rtmp2src plays a stream published by ffmpeg and receives the source packets unchanged', async (t) => {
  for (const e of ['rtmp2src', 'filesink']) await requireGstElement(e);
  const server = await startServer();
  t.after(() => server.stop());
  const dir = tempDir();
  t.after(dir.cleanup);
  const src = await makeFlv({ duration: 6 });
  const url = server.url(`live/${randomKey()}`);
  const out = join(dir.path, 'rtmp2src.flv');
  const gst = spawnProcess('gst-launch-1.0', ['-e', 'rtmp2src', `location=${url}`, '!', 'filesink', `location=${out}`], {
    timeoutMs: 40_000,
    timeoutSignal: 'SIGINT',
  });
  t.after(() => gst.kill());
  await server.waitForLog((l) => l.msg === 'play requested');
  const publisher = ffmpegPublishFile(src, url);
  t.after(() => publisher.kill());
  const pub = await publisher.result;
  assert.equal(pub.code, 0, pub.stderr);
  const g = await endPlayer(gst);
  assert.equal(g.code, 0, `gst-launch failed:\n${g.stdout}\n${g.stderr}`);
  assert.match(g.stdout, /Got EOS/, 'rtmp2src ended the stream at the publisher\'s unpublish');
  const [source, received] = await Promise.all([probePackets(src), probePackets(out)]);
  assertSamePackets(source, received, 0.9, 'rtmp2src');
});
