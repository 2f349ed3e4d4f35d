import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildFlvHeader, buildTagHeader, parseFlvHeader, parseTagHeader, TagType } from '../src/index.ts';
import { bytes, throwsFlv } from './helpers.ts';

describe('FLV file header', () => {
  it('buildFlvHeader writes signature, version, flags, DataOffset 9 and PreviousTagSize0', () => {
    assert.deepStrictEqual(buildFlvHeader({ hasAudio: true, hasVideo: true }), bytes('FLV', 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0));
    assert.deepStrictEqual(buildFlvHeader({ hasAudio: true, hasVideo: false }), bytes('FLV', 1, 0x04, 0, 0, 0, 9, 0, 0, 0, 0));
    assert.deepStrictEqual(buildFlvHeader({ hasAudio: false, hasVideo: true }), bytes('FLV', 1, 0x01, 0, 0, 0, 9, 0, 0, 0, 0));
  });

  it('parseFlvHeader reads every field', () => {
    assert.deepStrictEqual(parseFlvHeader(bytes('FLV', 1, 0x04, 0, 0, 0, 12)), {
      version: 1,
      hasAudio: true,
      hasVideo: false,
      headerLength: 12,
    });
    assert.deepStrictEqual(parseFlvHeader(buildFlvHeader({ hasAudio: false, hasVideo: true })), {
      version: 1,
      hasAudio: false,
      hasVideo: true,
      headerLength: 9,
    });
  });

  it('checks the signature before the length', () => {
    throwsFlv(() => parseFlvHeader(bytes('FLX', 1, 5, 0, 0, 0, 9)), 'FLV_ERR_SIGNATURE');
    throwsFlv(() => parseFlvHeader(bytes('G')), 'FLV_ERR_SIGNATURE');
    throwsFlv(() => parseFlvHeader(bytes('FL')), 'FLV_ERR_TRUNCATED');
    throwsFlv(() => parseFlvHeader(bytes('FLV', 1, 5, 0, 0, 0)), 'FLV_ERR_TRUNCATED');
    throwsFlv(() => parseFlvHeader(new Uint8Array(0)), 'FLV_ERR_TRUNCATED');
  });

  it('rejects a DataOffset smaller than the header', () => {
    throwsFlv(() => parseFlvHeader(bytes('FLV', 1, 5, 0, 0, 0, 8)), 'FLV_ERR_MALFORMED');
  });
});

describe('FLV tag header', () => {
  it('parseTagHeader joins TimestampExtended as the high byte', () => {
    const buf = bytes(0xaa, TagType.Video, 0x01, 0x02, 0x03, 0x34, 0x56, 0x78, 0x12, 0, 0, 0);
    assert.deepStrictEqual(parseTagHeader(buf, 1), {
      type: 9,
      filter: false,
      reserved: 0,
      dataSize: 0x010203,
      timestamp: 0x12345678,
      streamId: 0,
    });
  });

  it('parseTagHeader reports Filter, reserved bits, a timestamp above 2^31 and StreamID', () => {
    assert.deepStrictEqual(parseTagHeader(bytes(0xe8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 7)), {
      type: 8,
      filter: true,
      reserved: 3,
      dataSize: 0,
      timestamp: 0xffffffff,
      streamId: 7,
    });
  });

  it('parseTagHeader needs 11 bytes from the offset', () => {
    throwsFlv(() => parseTagHeader(Buffer.alloc(10)), 'FLV_ERR_TRUNCATED');
    throwsFlv(() => parseTagHeader(Buffer.alloc(11), 1), 'FLV_ERR_TRUNCATED');
    throwsFlv(() => parseTagHeader(Buffer.alloc(11), -1), 'FLV_ERR_TRUNCATED');
  });

  it('buildTagHeader is the inverse of parseTagHeader', () => {
    const built = buildTagHeader({ type: TagType.Script, dataSize: 300, timestamp: 0x01000001, streamId: 0 });
    assert.deepStrictEqual(built, bytes(18, 0x00, 0x01, 0x2c, 0x00, 0x00, 0x01, 0x01, 0, 0, 0));
    assert.deepStrictEqual(parseTagHeader(built), {
      type: 18,
      filter: false,
      reserved: 0,
      dataSize: 300,
      timestamp: 0x01000001,
      streamId: 0,
    });
    assert.equal(buildTagHeader({ type: 8, dataSize: 0, timestamp: 0, filter: true })[0], 0x28);
  });

  it('buildTagHeader range-checks its fields', () => {
    assert.throws(() => buildTagHeader({ type: 32, dataSize: 0, timestamp: 0 }), RangeError);
    assert.throws(() => buildTagHeader({ type: 9, dataSize: 0x1000000, timestamp: 0 }), RangeError);
    assert.throws(() => buildTagHeader({ type: 9, dataSize: 0, timestamp: 2 ** 32 }), RangeError);
    assert.throws(() => buildTagHeader({ type: 9, dataSize: 0, timestamp: -1 }), RangeError);
    assert.throws(() => buildTagHeader({ type: 9, dataSize: 1.5, timestamp: 0 }), RangeError);
    assert.throws(() => buildTagHeader({ type: 9, dataSize: 0, timestamp: 0, streamId: 0x1000000 }), RangeError);
  });
});
