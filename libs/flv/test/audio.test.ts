import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import {
  audioCodecName,
  audioSampleRate,
  isAudioSequenceHeader,
  parseAudioTagHeader,
  type AudioCodecName,
  type AudioTagHeader,
} from '../src/index.ts';
import { bytes, throwsFlv } from './helpers.ts';

interface Case {
  readonly name: string;
  readonly payload: Buffer;
  readonly expected: AudioTagHeader;
  readonly codec: AudioCodecName;
}

const none = { fourCc: undefined, multitrackType: undefined, trackId: undefined, timestampOffsetNano: undefined } as const;
const enhanced = { ...none, enhanced: true, soundFormat: 9, soundRate: 0, soundSize: 0, channels: 0 } as const;
const stereo44k16 = { ...none, enhanced: false, soundRate: 44100, soundSize: 16, channels: 2 } as const;

const cases: readonly Case[] = [
  {
    name: 'AAC sequence header',
    payload: bytes(0xaf, 0x00, 0x12, 0x10),
    codec: 'AAC',
    expected: { ...stereo44k16, soundFormat: 10, packetType: 0, isSequenceHeader: true, headerLength: 2 },
  },
  {
    name: 'AAC raw',
    payload: bytes(0xaf, 0x01, 0x21, 0x10, 0x04),
    codec: 'AAC',
    expected: { ...stereo44k16, soundFormat: 10, packetType: 1, isSequenceHeader: false, headerLength: 2 },
  },
  {
    name: 'MP3 (no packet type)',
    payload: bytes(0x2f, 0xff, 0xfb, 0x90),
    codec: 'MP3',
    expected: { ...stereo44k16, soundFormat: 2, packetType: -1, isSequenceHeader: false, headerLength: 1 },
  },
  {
    name: 'LPCM little-endian 11 kHz 8-bit mono',
    payload: bytes(0x34, 0x80, 0x80),
    codec: 'LPCM-LE',
    expected: {
      ...none,
      enhanced: false,
      soundFormat: 3,
      packetType: -1,
      soundRate: 11025,
      soundSize: 8,
      channels: 1,
      isSequenceHeader: false,
      headerLength: 1,
    },
  },
  {
    name: 'Speex 5.5 kHz 16-bit mono',
    payload: bytes(0xb2, 0x00),
    codec: 'Speex',
    expected: {
      ...none,
      enhanced: false,
      soundFormat: 11,
      packetType: -1,
      soundRate: 5512,
      soundSize: 16,
      channels: 1,
      isSequenceHeader: false,
      headerLength: 1,
    },
  },
  {
    name: 'enhanced Opus SequenceStart',
    payload: bytes(0x90, 'Opus', 'OpusHead', 0x01, 0x02),
    codec: 'Opus',
    expected: { ...enhanced, fourCc: 'Opus', packetType: 0, isSequenceHeader: true, headerLength: 5 },
  },
  {
    name: 'enhanced Opus CodedFrames',
    payload: bytes(0x91, 'Opus', 0xfc, 0xff, 0xfe),
    codec: 'Opus',
    expected: { ...enhanced, fourCc: 'Opus', packetType: 1, isSequenceHeader: false, headerLength: 5 },
  },
  {
    name: 'enhanced fLaC SequenceStart',
    payload: bytes(0x90, 'fLaC', 'fLaC', 0x80, 0x00, 0x00, 0x22),
    codec: 'FLAC',
    expected: { ...enhanced, fourCc: 'fLaC', packetType: 0, isSequenceHeader: true, headerLength: 5 },
  },
  {
    name: 'enhanced fLaC CodedFrames',
    payload: bytes(0x91, 'fLaC', 0xff, 0xf8, 0x69),
    codec: 'FLAC',
    expected: { ...enhanced, fourCc: 'fLaC', packetType: 1, isSequenceHeader: false, headerLength: 5 },
  },
  {
    name: 'enhanced ac-3 CodedFrames',
    payload: bytes(0x91, 'ac-3', 0x0b, 0x77, 0x01),
    codec: 'AC-3',
    expected: { ...enhanced, fourCc: 'ac-3', packetType: 1, isSequenceHeader: false, headerLength: 5 },
  },
  {
    name: 'enhanced ec-3 SequenceStart',
    payload: bytes(0x90, 'ec-3'),
    codec: 'E-AC-3',
    expected: { ...enhanced, fourCc: 'ec-3', packetType: 0, isSequenceHeader: true, headerLength: 5 },
  },
  {
    name: 'enhanced mp4a SequenceStart',
    payload: bytes(0x90, 'mp4a', 0x12, 0x10),
    codec: 'AAC',
    expected: { ...enhanced, fourCc: 'mp4a', packetType: 0, isSequenceHeader: true, headerLength: 5 },
  },
  {
    name: 'enhanced .mp3 CodedFrames',
    payload: bytes(0x91, '.mp3', 0xff, 0xfb),
    codec: 'MP3',
    expected: { ...enhanced, fourCc: '.mp3', packetType: 1, isSequenceHeader: false, headerLength: 5 },
  },
  {
    name: 'enhanced mp4a SequenceEnd',
    payload: bytes(0x92, 'mp4a'),
    codec: 'AAC',
    expected: { ...enhanced, fourCc: 'mp4a', packetType: 2, isSequenceHeader: false, headerLength: 5 },
  },
  {
    name: 'enhanced Opus MultichannelConfig',
    payload: bytes(0x94, 'Opus', 0x01, 0x06),
    codec: 'Opus',
    expected: { ...enhanced, fourCc: 'Opus', packetType: 4, isSequenceHeader: false, headerLength: 5 },
  },
  {
    name: 'enhanced Multitrack ManyTracks Opus CodedFrames',
    payload: bytes(0x95, 0x11, 'Opus', 0x00, 0x00, 0x00, 0x01, 0xfc, 0x01, 0x00, 0x00, 0x01, 0xfc),
    codec: 'Opus',
    expected: {
      ...enhanced,
      fourCc: 'Opus',
      packetType: 1,
      isSequenceHeader: false,
      multitrackType: 1,
      trackId: 0,
      headerLength: 10,
    },
  },
  {
    name: 'enhanced Multitrack OneTrack mp4a SequenceStart',
    payload: bytes(0x95, 0x00, 'mp4a', 0x03, 0x12, 0x10),
    codec: 'AAC',
    expected: {
      ...enhanced,
      fourCc: 'mp4a',
      packetType: 0,
      isSequenceHeader: true,
      multitrackType: 0,
      trackId: 3,
      headerLength: 7,
    },
  },
  {
    name: 'enhanced ModEx TimestampOffsetNano then mp4a SequenceStart',
    payload: bytes(0x97, 0x02, 0x00, 0x01, 0x00, 0x00, 'mp4a', 0x12, 0x10),
    codec: 'AAC',
    expected: { ...enhanced, fourCc: 'mp4a', packetType: 0, isSequenceHeader: true, timestampOffsetNano: 256, headerLength: 10 },
  },
];

describe('parseAudioTagHeader', () => {
  for (const c of cases) {
    it(c.name, () => {
      const h = parseAudioTagHeader(c.payload);
      assert.deepStrictEqual(h, c.expected);
      assert.equal(audioCodecName(h), c.codec);
      assert.equal(isAudioSequenceHeader(c.payload), c.expected.isSequenceHeader);
    });

    it(`${c.name}: every proper prefix parses identically or throws FLV_ERR_TRUNCATED`, () => {
      for (let len = 0; len < c.payload.length; len++) {
        const prefix = c.payload.subarray(0, len);
        if (len < c.expected.headerLength) {
          throwsFlv(() => parseAudioTagHeader(prefix), 'FLV_ERR_TRUNCATED');
          assert.equal(isAudioSequenceHeader(prefix), false, `sequence header on ${len}-byte prefix`);
        } else {
          assert.deepStrictEqual(parseAudioTagHeader(prefix), c.expected);
          assert.equal(isAudioSequenceHeader(prefix), c.expected.isSequenceHeader);
        }
      }
    });
  }

  it('rejects a zero-length payload (RTMP "silence" message) with FLV_ERR_TRUNCATED', () => {
    throwsFlv(() => parseAudioTagHeader(Buffer.alloc(0)), 'FLV_ERR_TRUNCATED');
    assert.equal(isAudioSequenceHeader(Buffer.alloc(0)), false);
  });
});

describe('audioCodecName', () => {
  it('maps SoundFormats and FourCCs, and unknowns to "unknown"', () => {
    assert.equal(audioCodecName({ soundFormat: 10, fourCc: undefined }), 'AAC');
    assert.equal(audioCodecName({ soundFormat: 14, fourCc: undefined }), 'MP3');
    assert.equal(audioCodecName({ soundFormat: 7, fourCc: undefined }), 'G.711 A-law');
    assert.equal(audioCodecName({ soundFormat: 12, fourCc: undefined }), 'unknown');
    assert.equal(audioCodecName({ soundFormat: 9, fourCc: 'ec-3' }), 'E-AC-3');
    assert.equal(audioCodecName({ soundFormat: 9, fourCc: 'zzzz' }), 'unknown');
    assert.equal(audioCodecName({ soundFormat: 9, fourCc: undefined }), 'unknown');
  });
});

test('audioSampleRate reads AAC rates from the AudioSpecificConfig, legacy rates from SoundRate', () => {
  const cases: [string, number[], number | undefined][] = [
    ['AAC-LC 48 kHz stereo', [0xaf, 0x00, 0x11, 0x90], 48000],
    ['AAC-LC 44.1 kHz stereo', [0xaf, 0x00, 0x12, 0x10], 44100],
    ['AAC-LC 22.05 kHz mono', [0xaf, 0x00, 0x13, 0x88], 22050],
    ['AAC raw frame (not a header)', [0xaf, 0x01, 0x21, 0x00], undefined],
    ['AAC header truncated', [0xaf, 0x00, 0x11], undefined],
    ['MP3 22 kHz (SoundRate 2)', [0x2b, 0xff], 22050],
    ['reserved index 13', [0xaf, 0x00, 0x16, 0x80], undefined],
  ];
  for (const [label, bytes, rate] of cases) assert.equal(audioSampleRate(Uint8Array.from(bytes)), rate, label);
});
