/**
 * rtmpdump (librtmp) as a player: it writes the FLV tags it receives as they are, so it shows the
 * server's output byte for byte, metadata included, and when it arrives.
 */
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startServer } from '../harness/server.ts';
import {
  assertSamePackets,
  endPlayer,
  ffmpegPublishFile,
  ffmpegRecord,
  isKeyframeTag,
  isSequenceHeaderTag,
  makeFlv,
  parseFlv,
  probeFormat,
  probePackets,
  randomKey,
  readFlv,
  requireTools,
  rtmpdumpRecord,
  sleep,
  tempDir,
  type FlvTag,
  type RunningProcess,
} from '../harness/media.ts';

// Required dependencies: a missing one fails every test here (never a skip).
beforeEach(() => requireTools('ffmpeg', 'ffprobe', 'rtmpdump'));

test('rtmpdump receives the publisher\'s onMetaData (custom keys included) and H.264/AAC packets identical to the source', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const dir = tempDir();
  t.after(dir.cleanup);
  const src = await makeFlv({ duration: 6 });
  const url = server.url(`live/${randomKey()}`);
  const marker = `hello-${randomBytes(6).toString('hex')}`;
  const out = join(dir.path, 'dump.flv');
  const player = rtmpdumpRecord(url, out, { timeoutMs: 40_000 });
  t.after(() => player.kill());
  await server.waitForLog((l) => l.msg === 'play requested');
  const publisher = ffmpegPublishFile(src, url, { outputArgs: ['-metadata', `firstmile_test=${marker}`] });
  t.after(() => publisher.kill());
  const pub = await publisher.result;
  assert.equal(pub.code, 0, pub.stderr);
  const dump = await endPlayer(player);
  assert.ok(!dump.timedOut, 'rtmpdump ended');

  // The metadata: the first script tag is the publisher's onMetaData, custom key and value intact.
  const flv = readFlv(out);
  const scripts = flv.tags.filter((x) => x.type === 18);
  const meta = scripts.find((x) => x.data.includes('onMetaData'));
  assert.ok(meta, `no onMetaData script tag among ${scripts.length} script tags`);
  const key = Buffer.from('firstmile_test');
  const at = meta.data.indexOf(key);
  assert.ok(at > 0, 'onMetaData has the custom key firstmile_test');
  // AMF0: key, then a string marker (0x02), a u16 length and the value.
  assert.equal(meta.data[at + key.length], 0x02);
  const len = meta.data.readUInt16BE(at + key.length + 1);
  assert.equal(meta.data.toString('utf8', at + key.length + 3, at + key.length + 3 + len), marker);
  assert.ok(meta.data.includes('width') && meta.data.includes('videocodecid'), 'the rest of ffmpeg\'s metadata is there too');

  const format = await probeFormat(out);
  assert.deepEqual(format.streams.map((s) => s.codec_name).sort(), ['aac', 'h264']);
  const [source, received] = await Promise.all([probePackets(src), probePackets(out)]);
  assertSamePackets(source, received, 0.9, 'rtmpdump');
});

/** Resolves when rtmpdump's stdout holds the first video frame: how long after `since`, and the tags so far. */
function firstVideoFrame(dump: RunningProcess, since: number): Promise<{ ms: number; tag: FlvTag; before: FlvTag[] }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error(`no video frame within 10 s; rtmpdump stderr:\n${dump.stderr()}`)), 10_000);
    dump.proc.stdout!.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 13) return;
      const tags = parseFlv(buf).tags;
      const at = tags.findIndex((x) => x.type === 9 && !isSequenceHeaderTag(x));
      if (at >= 0) {
        clearTimeout(timer);
        resolve({ ms: Date.now() - since, tag: tags[at]!, before: tags.slice(0, at) });
      }
    });
  });
}

test('late joiners get metadata, sequence headers and the cached GOP, so their first frame is a keyframe within a second of connecting', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const dir = tempDir();
  t.after(dir.cleanup);
  const src = await makeFlv({ duration: 8, gop: 60, fps: 30 }); // 2 s GOP
  const url = server.url(`live/${randomKey()}`);
  const publisher = ffmpegPublishFile(src, url);
  t.after(() => publisher.kill());
  const started = await server.waitForLog((l) => l.msg === 'publish started');
  const publishedAt = Date.parse(started['time'] as string);
  const mediaTime = () => Date.now() - publishedAt;

  // Both join inside the second GOP (keyframe at 2 s; the next is at 4 s), so only a cached GOP
  // can give them a keyframe within a second. The first joiner makes the origin subscribe and
  // fetch the edge's snapshot; the second finds the origin already live and uses its own cache.
  await sleep(Math.max(0, 2300 - mediaTime()));
  const firstAt = Date.now();
  const first = rtmpdumpRecord(url, '-', { timeoutMs: 30_000 });
  t.after(() => first.kill());
  const firstFrame = await firstVideoFrame(first, firstAt);
  await sleep(Math.max(0, 3000 - mediaTime()));
  const rec = join(dir.path, 'late.flv');
  const secondAt = Date.now();
  const second = rtmpdumpRecord(url, '-', { timeoutMs: 30_000 });
  const ffplayer = ffmpegRecord(url, rec, { timeoutMs: 30_000 });
  t.after(() => second.kill());
  t.after(() => ffplayer.kill());
  const secondFrame = await firstVideoFrame(second, secondAt);
  const joined = { first: firstAt - publishedAt, second: secondAt - publishedAt };
  console.log('late joiner first frame ms', firstFrame.ms, '(origin subscribes, edge snapshot);', secondFrame.ms, '(origin already live)');

  for (const [name, f, at] of [['first', firstFrame, joined.first], ['second', secondFrame, joined.second]] as const) {
    assert.ok(isKeyframeTag(f.tag), `the ${name} joiner's first video frame is a keyframe`);
    assert.ok(f.tag.timestamp <= at, `the ${name} joiner's first keyframe (ts ${f.tag.timestamp}) is the cached one from before it joined (at ~${at} ms), not the next`);
    assert.ok(f.ms < 1000, `the ${name} joiner's first video frame came ${f.ms} ms after it started`);
    const meta = f.before.find((x) => x.type === 18 && x.data.includes('onMetaData'));
    assert.ok(meta, `the ${name} joiner got onMetaData before the first frame`);
    assert.ok(f.before.some((x) => x.type === 9 && isSequenceHeaderTag(x)), `the ${name} joiner got the AVC sequence header before the first frame`);
    assert.ok(f.before.some((x) => x.type === 8 && isSequenceHeaderTag(x)), `the ${name} joiner got the AAC sequence header before the first frame`);
  }

  const pub = await publisher.result;
  assert.equal(pub.code, 0, pub.stderr);
  await endPlayer(ffplayer);
  await Promise.all([first.stop('SIGINT'), second.stop('SIGINT')]);
  const [source, received] = await Promise.all([probePackets(src), probePackets(rec)]);
  const firstVideoPacket = received.find((p) => p.codec_type === 'video');
  assert.ok(firstVideoPacket?.flags.includes('K'), 'the ffmpeg late joiner\'s first video packet has the K flag');
  const matches = assertSamePackets(source, received, 0.6, 'late ffmpeg player');
  const video = matches.find((m) => m.codec_type === 'video')!;
  assert.equal(video.startIndex, 60, 'the late ffmpeg player starts on the cached keyframe at 2 s');
});
