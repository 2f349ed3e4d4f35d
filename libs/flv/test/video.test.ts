import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FlvError,
  isVideoKeyframe,
  isVideoSequenceHeader,
  parseVideoTagHeader,
  videoCodecName,
  type VideoCodecName,
  type VideoTagHeader,
} from '../src/index.ts';
import { bytes, throwsFlv } from './helpers.ts';

interface Case {
  readonly name: string;
  readonly payload: Buffer;
  readonly expected: VideoTagHeader;
  readonly codec: VideoCodecName;
}

const none = {
  codecId: undefined,
  fourCc: undefined,
  videoCommand: undefined,
  multitrackType: undefined,
  trackId: undefined,
  timestampOffsetNano: undefined,
} as const;

const legacy = { ...none, enhanced: false, isEndOfSequence: false, compositionTime: 0 } as const;
const enhanced = { ...none, enhanced: true, isEndOfSequence: false, compositionTime: 0 } as const;

const cases: readonly Case[] = [
  {
    name: 'legacy AVC sequence header',
    payload: bytes(0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x1f, 0xff),
    codec: 'H264',
    expected: { ...legacy, frameType: 1, codecId: 7, packetType: 0, isKeyframe: false, isSequenceHeader: true, headerLength: 5 },
  },
  {
    name: 'legacy AVC keyframe NALU with composition time',
    payload: bytes(0x17, 0x01, 0x00, 0x00, 0x42, 0, 0, 0, 2, 0x65, 0x88),
    codec: 'H264',
    expected: {
      ...legacy,
      frameType: 1,
      codecId: 7,
      packetType: 1,
      isKeyframe: true,
      isSequenceHeader: false,
      compositionTime: 66,
      headerLength: 5,
    },
  },
  {
    name: 'legacy AVC inter frame with negative composition time',
    payload: bytes(0x27, 0x01, 0xff, 0xff, 0xfe, 0, 0, 0, 2, 0x41, 0x9a),
    codec: 'H264',
    expected: {
      ...legacy,
      frameType: 2,
      codecId: 7,
      packetType: 1,
      isKeyframe: false,
      isSequenceHeader: false,
      compositionTime: -2,
      headerLength: 5,
    },
  },
  {
    name: 'legacy AVC end of sequence',
    payload: bytes(0x17, 0x02, 0, 0, 0),
    codec: 'H264',
    expected: {
      ...legacy,
      frameType: 1,
      codecId: 7,
      packetType: 2,
      isKeyframe: false,
      isSequenceHeader: false,
      isEndOfSequence: true,
      headerLength: 5,
    },
  },
  {
    name: 'legacy CodecID 12 (HEVC extension) sequence header',
    payload: bytes(0x1c, 0x00, 0, 0, 0, 0x01, 0x01),
    codec: 'HEVC',
    expected: { ...legacy, frameType: 1, codecId: 12, packetType: 0, isKeyframe: false, isSequenceHeader: true, headerLength: 5 },
  },
  {
    name: 'legacy Sorenson H.263 key frame (no packet type)',
    payload: bytes(0x12, 0x00, 0x00, 0x84),
    codec: 'H263',
    expected: { ...legacy, frameType: 1, codecId: 2, packetType: -1, isKeyframe: true, isSequenceHeader: false, headerLength: 1 },
  },
  {
    name: 'legacy VP6 disposable inter frame',
    payload: bytes(0x34, 0x00, 0x46),
    codec: 'VP6',
    expected: { ...legacy, frameType: 3, codecId: 4, packetType: -1, isKeyframe: false, isSequenceHeader: false, headerLength: 1 },
  },
  {
    name: 'legacy command frame (EndSeek)',
    payload: bytes(0x57, 0x01),
    codec: 'H264',
    expected: {
      ...legacy,
      frameType: 5,
      codecId: 7,
      packetType: -1,
      isKeyframe: false,
      isSequenceHeader: false,
      videoCommand: 1,
      headerLength: 2,
    },
  },
  {
    name: 'enhanced hvc1 SequenceStart',
    payload: bytes(0x90, 'hvc1', 0x01, 0x01, 0x60),
    codec: 'HEVC',
    expected: { ...enhanced, frameType: 1, fourCc: 'hvc1', packetType: 0, isKeyframe: false, isSequenceHeader: true, headerLength: 5 },
  },
  {
    name: 'enhanced hvc1 CodedFrames keyframe with composition time',
    payload: bytes(0x91, 'hvc1', 0x00, 0x00, 0x21, 0, 0, 0, 3, 0x26, 0x01, 0xaf),
    codec: 'HEVC',
    expected: {
      ...enhanced,
      frameType: 1,
      fourCc: 'hvc1',
      packetType: 1,
      isKeyframe: true,
      isSequenceHeader: false,
      compositionTime: 33,
      headerLength: 8,
    },
  },
  {
    name: 'enhanced hvc1 CodedFramesX inter frame (composition time implied 0)',
    payload: bytes(0xa3, 'hvc1', 0x00, 0x00, 0x21, 0x02),
    codec: 'HEVC',
    expected: { ...enhanced, frameType: 2, fourCc: 'hvc1', packetType: 3, isKeyframe: false, isSequenceHeader: false, headerLength: 5 },
  },
  {
    name: 'enhanced hvc1 CodedFramesX keyframe',
    payload: bytes(0x93, 'hvc1', 0x00, 0x00, 0x00, 0x05),
    codec: 'HEVC',
    expected: { ...enhanced, frameType: 1, fourCc: 'hvc1', packetType: 3, isKeyframe: true, isSequenceHeader: false, headerLength: 5 },
  },
  {
    name: 'enhanced hvc1 SequenceEnd',
    payload: bytes(0x92, 'hvc1'),
    codec: 'HEVC',
    expected: {
      ...enhanced,
      frameType: 1,
      fourCc: 'hvc1',
      packetType: 2,
      isKeyframe: false,
      isSequenceHeader: false,
      isEndOfSequence: true,
      headerLength: 5,
    },
  },
  {
    name: 'enhanced av01 SequenceStart',
    payload: bytes(0x90, 'av01', 0x81, 0x00, 0x0c, 0x00),
    codec: 'AV1',
    expected: { ...enhanced, frameType: 1, fourCc: 'av01', packetType: 0, isKeyframe: false, isSequenceHeader: true, headerLength: 5 },
  },
  {
    name: 'enhanced av01 CodedFrames keyframe (AV1 carries no composition time)',
    payload: bytes(0x91, 'av01', 0x12, 0x00, 0x0a, 0x0b),
    codec: 'AV1',
    expected: { ...enhanced, frameType: 1, fourCc: 'av01', packetType: 1, isKeyframe: true, isSequenceHeader: false, headerLength: 5 },
  },
  {
    name: 'enhanced av01 MPEG2TSSequenceStart',
    payload: bytes(0x95, 'av01', 0x80),
    codec: 'AV1',
    expected: { ...enhanced, frameType: 1, fourCc: 'av01', packetType: 5, isKeyframe: false, isSequenceHeader: true, headerLength: 5 },
  },
  {
    name: 'enhanced vp09 SequenceStart',
    payload: bytes(0x90, 'vp09', 0x01, 0x00, 0x00, 0x00),
    codec: 'VP9',
    expected: { ...enhanced, frameType: 1, fourCc: 'vp09', packetType: 0, isKeyframe: false, isSequenceHeader: true, headerLength: 5 },
  },
  {
    name: 'enhanced vp09 CodedFrames inter frame',
    payload: bytes(0xa1, 'vp09', 0x86, 0x00),
    codec: 'VP9',
    expected: { ...enhanced, frameType: 2, fourCc: 'vp09', packetType: 1, isKeyframe: false, isSequenceHeader: false, headerLength: 5 },
  },
  {
    name: 'enhanced Metadata (FrameType Command is ignored, FourCC follows)',
    payload: bytes(0xd4, 'hvc1', 0x02, 0x00, 0x09, 'colorInfo', 0x03),
    codec: 'HEVC',
    expected: { ...enhanced, frameType: 5, fourCc: 'hvc1', packetType: 4, isKeyframe: false, isSequenceHeader: false, headerLength: 5 },
  },
  {
    name: 'enhanced command frame (no FourCC)',
    payload: bytes(0xd0, 0x00),
    codec: 'unknown',
    expected: {
      ...enhanced,
      frameType: 5,
      packetType: 0,
      isKeyframe: false,
      isSequenceHeader: false,
      videoCommand: 0,
      headerLength: 2,
    },
  },
  {
    name: 'enhanced Multitrack OneTrack avc1 CodedFrames keyframe',
    payload: bytes(0x96, 0x01, 'avc1', 0x00, 0x00, 0x00, 0x10, 0, 0, 0, 1, 0x65),
    codec: 'H264',
    expected: {
      ...enhanced,
      frameType: 1,
      fourCc: 'avc1',
      packetType: 1,
      isKeyframe: true,
      isSequenceHeader: false,
      compositionTime: 16,
      multitrackType: 0,
      trackId: 0,
      headerLength: 10,
    },
  },
  {
    name: 'enhanced Multitrack ManyTracks hvc1 SequenceStart',
    payload: bytes(0x96, 0x10, 'hvc1', 0x01, 0x00, 0x00, 0x02, 0xaa, 0xbb, 0x02, 0x00, 0x00, 0x01, 0xcc),
    codec: 'HEVC',
    expected: {
      ...enhanced,
      frameType: 1,
      fourCc: 'hvc1',
      packetType: 0,
      isKeyframe: false,
      isSequenceHeader: true,
      multitrackType: 1,
      trackId: 1,
      headerLength: 10,
    },
  },
  {
    name: 'enhanced Multitrack ManyTracksManyCodecs CodedFramesX (first track av01)',
    payload: bytes(0xa6, 0x23, 'av01', 0x00, 0x00, 0x00, 0x01, 0xaa, 'vp09', 0x01, 0x00, 0x00, 0x01, 0xbb),
    codec: 'AV1',
    expected: {
      ...enhanced,
      frameType: 2,
      fourCc: 'av01',
      packetType: 3,
      isKeyframe: false,
      isSequenceHeader: false,
      multitrackType: 2,
      trackId: 0,
      headerLength: 10,
    },
  },
  {
    name: 'enhanced ModEx TimestampOffsetNano then avc1 CodedFrames',
    payload: bytes(0x97, 0x02, 0x0f, 0x42, 0x3f, 0x01, 'avc1', 0x00, 0x00, 0x00, 0x65),
    codec: 'H264',
    expected: {
      ...enhanced,
      frameType: 1,
      fourCc: 'avc1',
      packetType: 1,
      isKeyframe: true,
      isSequenceHeader: false,
      timestampOffsetNano: 999_999,
      headerLength: 13,
    },
  },
  {
    name: 'enhanced ModEx with 16-bit size and unknown ModExType then vp08 SequenceStart',
    payload: bytes(0x97, 0xff, 0x00, 0x02, 0xaa, 0xbb, 0xcc, 0x10, 'vp08', 0x01),
    codec: 'VP8',
    expected: { ...enhanced, frameType: 1, fourCc: 'vp08', packetType: 0, isKeyframe: false, isSequenceHeader: true, headerLength: 12 },
  },
  {
    name: 'enhanced unknown FourCC is reported, not rejected',
    payload: bytes(0xa1, 'xyz9', 0x00),
    codec: 'unknown',
    expected: { ...enhanced, frameType: 2, fourCc: 'xyz9', packetType: 1, isKeyframe: false, isSequenceHeader: false, headerLength: 5 },
  },
];

describe('parseVideoTagHeader', () => {
  for (const c of cases) {
    it(c.name, () => {
      const h = parseVideoTagHeader(c.payload);
      assert.deepStrictEqual(h, c.expected);
      assert.equal(videoCodecName(h), c.codec);
      assert.equal(isVideoKeyframe(c.payload), c.expected.isKeyframe);
      assert.equal(isVideoSequenceHeader(c.payload), c.expected.isSequenceHeader);
    });

    it(`${c.name}: every proper prefix parses identically or throws FLV_ERR_TRUNCATED`, () => {
      for (let len = 0; len < c.payload.length; len++) {
        const prefix = c.payload.subarray(0, len);
        if (len < c.expected.headerLength) {
          throwsFlv(() => parseVideoTagHeader(prefix), 'FLV_ERR_TRUNCATED');
          assert.equal(isVideoKeyframe(prefix), false, `keyframe on ${len}-byte prefix`);
          assert.equal(isVideoSequenceHeader(prefix), false, `sequence header on ${len}-byte prefix`);
        } else {
          assert.deepStrictEqual(parseVideoTagHeader(prefix), c.expected);
          assert.equal(isVideoKeyframe(prefix), c.expected.isKeyframe);
          assert.equal(isVideoSequenceHeader(prefix), c.expected.isSequenceHeader);
        }
      }
    });
  }

  it('rejects a zero-length payload with FLV_ERR_TRUNCATED', () => {
    throwsFlv(() => parseVideoTagHeader(new Uint8Array(0)), 'FLV_ERR_TRUNCATED');
  });

  it('accepts a Uint8Array view at a non-zero byteOffset', () => {
    const backing = bytes(0xee, 0xee, 0x17, 0x01, 0x00, 0x00, 0x05, 0x00);
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 2, 6);
    const h = parseVideoTagHeader(view);
    assert.equal(h.compositionTime, 5);
    assert.equal(h.isKeyframe, true);
  });

  it('throws nothing but FlvError on a truncated ModEx 16-bit size', () => {
    assert.throws(() => parseVideoTagHeader(bytes(0x97, 0xff, 0x00)), FlvError);
  });
});

describe('videoCodecName', () => {
  it('maps legacy ids and FourCCs, and unknowns to "unknown"', () => {
    assert.equal(videoCodecName({ codecId: 7, fourCc: undefined }), 'H264');
    assert.equal(videoCodecName({ codecId: 15, fourCc: undefined }), 'VP9');
    assert.equal(videoCodecName({ codecId: 9, fourCc: undefined }), 'unknown');
    assert.equal(videoCodecName({ codecId: undefined, fourCc: 'vvc1' }), 'VVC');
    assert.equal(videoCodecName({ codecId: undefined, fourCc: 'toString' }), 'unknown');
    assert.equal(videoCodecName({ codecId: undefined, fourCc: undefined }), 'unknown');
  });
});
