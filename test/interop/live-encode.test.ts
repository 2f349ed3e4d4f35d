/**
 * Live encoders: ffmpeg encoding x264 + AAC in real time, and a player decoding what it gets.
 */
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../harness/server.ts';
import { encoderArgs, ffmpegDecode, lavfiInputArgs, randomKey, sleep, spawnProcess, requireTools } from '../harness/media.ts';

// Required dependencies: a missing one fails every test here (never a skip).
beforeEach(() => requireTools('ffmpeg'));

test('a live x264/AAC encode from ffmpeg decodes in an ffmpeg player: 3 s of frames without a decode error', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const url = server.url(`live/${randomKey()}`);
  const source = { width: 640, height: 360, fps: 30, gop: 30, videoBitrate: '1M' };
  const publisher = spawnProcess(
    'ffmpeg',
    ['-hide_banner', '-nostdin', '-loglevel', 'warning', ...lavfiInputArgs(source, true), '-t', '6', ...encoderArgs(source), '-tune', 'zerolatency', '-f', 'flv', url],
    { timeoutMs: 30_000 },
  );
  t.after(() => publisher.kill());
  await server.waitForLog((l) => l.msg === 'publish started');
  await sleep(1500);
  const { process: player, report } = ffmpegDecode(url, { seconds: 3, timeoutMs: 20_000 });
  t.after(() => player.kill());
  const r = await report;
  assert.equal(r.result.code, 0, `player failed:\n${r.result.stderr.slice(-3000)}`);
  assert.ok(!r.result.timedOut, 'the player finished its 3 s by itself');
  assert.deepEqual(r.problems, [], 'no decoder warnings or errors');
  assert.ok(r.streams.some((s) => /^Video: h264.*640x360/.test(s)), `an H.264 640x360 stream: ${r.streams.join(' | ')}`);
  assert.ok(r.streams.some((s) => /^Audio: aac/.test(s)), `an AAC stream: ${r.streams.join(' | ')}`);
  assert.ok(r.frames >= 85, `decoded ${r.frames} video frames in 3 s at 30 fps`);
  const pub = await publisher.result;
  assert.equal(pub.code, 0, `publisher failed:\n${pub.stderr}`);
});
