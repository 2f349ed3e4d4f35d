// Interop with a real muxer: ffmpeg (a required test dependency) writes an H.264 + AAC FLV that we
// read, classify and re-write byte for byte.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  audioCodecName,
  FlvReader,
  FlvWriter,
  isAudioSequenceHeader,
  isVideoKeyframe,
  isVideoSequenceHeader,
  parseAudioTagHeader,
  parseVideoTagHeader,
  TagType,
  videoCodecName,
  type FlvTag,
} from '../src/index.ts';
import { bytes } from './helpers.ts';

describe('ffmpeg-generated FLV (H.264 + AAC, 2 s, GOP 30)', () => {
  let dir = '';
  let file: Buffer = Buffer.alloc(0);
  let tags: FlvTag[] = [];
  let reader: FlvReader;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'firstmile-flv-'));
    const out = join(dir, 'out.flv');
    // -sc_threshold 0: no scene-cut keyframes, so the GOP is exactly -g 30 (testsrc can trip scenecut).
    execFileSync(
      'ffmpeg',
      [
        '-nostdin', '-hide_banner', '-loglevel', 'error', '-y',
        '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=30',
        '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
        '-t', '2',
        '-c:v', 'libx264', '-g', '30', '-bf', '0', '-sc_threshold', '0', '-pix_fmt', 'yuv420p',
        '-c:a', 'aac',
        '-f', 'flv', out,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 },
    );
    file = readFileSync(out);
    reader = new FlvReader();
    // Odd-sized chunks so some tags span chunk boundaries, like a socket would deliver them.
    for (let i = 0; i < file.length; i += 4093) tags.push(...reader.push(file.subarray(i, i + 4093)));
    reader.end();
  });

  after(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('has a header flagging audio and video, and the three tag types', () => {
    assert.deepStrictEqual(reader.header, { version: 1, hasAudio: true, hasVideo: true, headerLength: 9 });
    assert.deepStrictEqual(new Set(tags.map((t) => t.type)), new Set([TagType.Script, TagType.Video, TagType.Audio]));
  });

  it('starts with an onMetaData script tag', () => {
    const first = tags[0]!;
    assert.equal(first.type, TagType.Script);
    assert.deepStrictEqual(first.data.subarray(0, 13), bytes(0x02, 0x00, 0x0a, 'onMetaData'));
  });

  it('first video tag is an AVC sequence header, first audio tag an AAC sequence header', () => {
    const video = tags.find((t) => t.type === TagType.Video)!;
    const v = parseVideoTagHeader(video.data);
    assert.equal(v.isSequenceHeader, true);
    assert.equal(v.codecId, 7);
    assert.equal(v.packetType, 0);
    assert.equal(videoCodecName(v), 'H264');
    assert.equal(isVideoSequenceHeader(video.data), true);
    assert.equal(video.data[5], 0x01, 'AVCDecoderConfigurationRecord.configurationVersion');

    const audio = tags.find((t) => t.type === TagType.Audio)!;
    const a = parseAudioTagHeader(audio.data);
    assert.equal(a.isSequenceHeader, true);
    assert.equal(a.soundFormat, 10);
    assert.equal(audioCodecName(a), 'AAC');
    assert.equal(isAudioSequenceHeader(audio.data), true);
  });

  it('has exactly one sequence header per track and keyframes every 30 video frames', () => {
    const video = tags.filter((t) => t.type === TagType.Video).map((t) => parseVideoTagHeader(t.data));
    const audio = tags.filter((t) => t.type === TagType.Audio).map((t) => parseAudioTagHeader(t.data));
    assert.equal(video.filter((h) => h.isSequenceHeader).length, 1);
    assert.equal(audio.filter((h) => h.isSequenceHeader).length, 1);

    const videoData = tags.filter((t) => t.type === TagType.Video && parseVideoTagHeader(t.data).packetType === 1);
    assert.equal(videoData.length, 60, '2 s at 30 fps');
    const keyIndexes = videoData.flatMap((t, i) => (isVideoKeyframe(t.data) ? [i] : []));
    assert.deepStrictEqual(keyIndexes, [0, 30]);
    // -bf 0: no reordering, so every CompositionTime is 0.
    assert.ok(video.every((h) => h.compositionTime === 0));
    // ffmpeg closes an H.264 stream with an AVC end-of-sequence tag.
    assert.equal(video.at(-1)!.isEndOfSequence, true);
  });

  it('timestamps are non-decreasing per track', () => {
    for (const type of [TagType.Video, TagType.Audio]) {
      const ts = tags.filter((t) => t.type === type).map((t) => t.timestamp);
      for (let i = 1; i < ts.length; i++) assert.ok(ts[i]! >= ts[i - 1]!, `type ${type} tag ${i}: ${ts[i - 1]} → ${ts[i]}`);
      assert.ok(ts.at(-1)! >= 1900, `type ${type} should span ~2 s, ends at ${ts.at(-1)}`);
    }
  });

  it('FlvWriter re-writes the file byte for byte', () => {
    const writer = new FlvWriter();
    const rewritten = Buffer.concat([
      writer.header({ hasAudio: reader.header!.hasAudio, hasVideo: reader.header!.hasVideo }),
      ...tags.map((t) => writer.tag(t)),
    ]);
    assert.equal(rewritten.length, file.length);
    assert.ok(rewritten.equals(file), 'rewritten bytes differ from the ffmpeg file');
  });
});
