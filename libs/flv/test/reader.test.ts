import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_MAX_TAG_SIZE, FlvReader, FlvWriter, TagType, type FlvTag, type FlvTagInput } from '../src/index.ts';
import { bytes, throwsFlv } from './helpers.ts';

const writer = new FlvWriter();

const sampleTags: readonly FlvTagInput[] = [
  { type: TagType.Script, timestamp: 0, data: bytes(0x02, 0x00, 0x0a, 'onMetaData', 0x08, 0, 0, 0, 0, 0, 0, 9) },
  { type: TagType.Video, timestamp: 0, data: bytes(0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1) },
  { type: TagType.Audio, timestamp: 0, data: bytes(0xaf, 0x00, 0x12, 0x10) },
  { type: TagType.Video, timestamp: 33, data: bytes(0x17, 0x01, 0, 0, 0x21, 0, 0, 0, 1, 0x65) },
  { type: TagType.Audio, timestamp: 23, data: bytes(0xaf, 0x01, 0x21, 0x10, 0x04, 0x60, 0x8c) },
  { type: TagType.Audio, timestamp: 46, data: new Uint8Array(0) },
  { type: TagType.Video, timestamp: 0x1234_5678, data: bytes(0x27, 0x01, 0, 0, 0, 0x41) },
  { type: TagType.Video, timestamp: 0xffff_ffff, data: bytes(0x17, 0x02, 0, 0, 0) },
];

function buildFile(tags: readonly FlvTagInput[]): Buffer {
  return Buffer.concat([writer.header({ hasAudio: true, hasVideo: true }), ...tags.map((t) => writer.tag(t))]);
}

const sampleFile = buildFile(sampleTags);

/** Offsets where a complete file may legitimately end (after a PreviousTagSize). */
const boundaries = (() => {
  const out = [13];
  for (const t of sampleTags) out.push(out.at(-1)! + 11 + t.data.length + 4);
  return out;
})();

function plain(tags: readonly FlvTagInput[]): Array<{ type: number; timestamp: number; data: Buffer }> {
  return tags.map((t) => ({ type: t.type, timestamp: t.timestamp, data: Buffer.from(t.data) }));
}

function readChunks(chunks: readonly Uint8Array[], reader = new FlvReader()): FlvTag[] {
  const tags: FlvTag[] = [];
  for (const c of chunks) tags.push(...reader.push(c));
  reader.end();
  return tags;
}

describe('FlvWriter', () => {
  it('tag() writes tag header, data and PreviousTagSize = 11 + DataSize', () => {
    const out = writer.tag({ type: TagType.Audio, timestamp: 0x0100_0002, data: bytes(0xaf, 0x01) });
    assert.deepStrictEqual(out, bytes(8, 0, 0, 2, 0, 0, 2, 1, 0, 0, 0, 0xaf, 0x01, 0, 0, 0, 13));
  });

  it('tag() range-checks type, timestamp and size', () => {
    assert.throws(() => writer.tag({ type: 40, timestamp: 0, data: bytes(1) }), RangeError);
    assert.throws(() => writer.tag({ type: 9, timestamp: -5, data: bytes(1) }), RangeError);
    assert.throws(() => writer.tag({ type: 9, timestamp: 0, data: new Uint8Array(0x1000000) }), RangeError);
  });
});

describe('FlvReader', () => {
  const expected = plain(sampleTags);

  it('reads a writer-built file fed whole, with zero-copy tag data', () => {
    const reader = new FlvReader();
    const tags = reader.push(sampleFile);
    reader.end();
    assert.deepStrictEqual(plain(tags), expected);
    assert.deepStrictEqual(reader.header, { version: 1, hasAudio: true, hasVideo: true, headerLength: 9 });
    for (const t of tags) assert.equal(t.data.buffer, sampleFile.buffer, 'data must be a view of the pushed chunk');
  });

  it('reads the same tags fed one byte at a time', () => {
    const chunks = [...sampleFile].map((b) => Uint8Array.of(b));
    assert.deepStrictEqual(plain(readChunks(chunks)), expected);
  });

  it('reads the same tags split in two at every offset', () => {
    for (let i = 0; i <= sampleFile.length; i++) {
      const got = readChunks([sampleFile.subarray(0, i), sampleFile.subarray(i)]);
      assert.deepStrictEqual(plain(got), expected, `split at ${i}`);
    }
  });

  it('reads the same tags split in three at every pair of offsets', () => {
    for (let i = 0; i <= sampleFile.length; i += 3) {
      for (let j = i; j <= sampleFile.length; j += 5) {
        const got = readChunks([sampleFile.subarray(0, i), sampleFile.subarray(i, j), sampleFile.subarray(j)]);
        assert.deepStrictEqual(plain(got), expected, `split at ${i}, ${j}`);
      }
    }
  });

  it('copies a tag that spans chunks, and returns it as soon as its data is complete', () => {
    const big: FlvTagInput = { type: TagType.Video, timestamp: 7, data: Buffer.alloc(70_000, 0x5a) };
    const file = buildFile([big]);
    const reader = new FlvReader();
    const dataEnd = 13 + 11 + 70_000;
    assert.deepStrictEqual(reader.push(file.subarray(0, 20_000)), []);
    assert.deepStrictEqual(reader.push(file.subarray(20_000, dataEnd - 1)), []);
    const tags = reader.push(file.subarray(dataEnd - 1, dataEnd));
    assert.equal(tags.length, 1, 'tag is emitted before its PreviousTagSize arrives');
    assert.notEqual(tags[0]!.data.buffer, file.buffer);
    assert.deepStrictEqual(plain(tags), plain([big]));
    assert.deepStrictEqual(reader.push(file.subarray(dataEnd)), []);
    reader.end();
  });

  it('reads a large tag delivered in 1-, 2- and 3-byte chunks', () => {
    const tags: FlvTagInput[] = [
      { type: TagType.Video, timestamp: 1, data: Buffer.from(Array.from({ length: 5000 }, (_, i) => i & 0xff)) },
      { type: TagType.Audio, timestamp: 2, data: bytes(0xaf, 0x01, 0x99) },
    ];
    const file = buildFile(tags);
    for (const size of [1, 2, 3]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < file.length; i += size) chunks.push(file.subarray(i, i + size));
      assert.deepStrictEqual(plain(readChunks(chunks)), plain(tags), `${size}-byte chunks`);
    }
  });

  it('accepts plain Uint8Array chunks', () => {
    const view = new Uint8Array(sampleFile.buffer, sampleFile.byteOffset, sampleFile.length);
    assert.deepStrictEqual(plain(readChunks([view])), expected);
  });

  it('end() throws FLV_ERR_TRUNCATED unless the input stops right after a PreviousTagSize', () => {
    for (let cut = 0; cut < sampleFile.length; cut++) {
      const reader = new FlvReader();
      const tags = reader.push(sampleFile.subarray(0, cut));
      const boundary = boundaries.indexOf(cut);
      if (boundary >= 0) {
        reader.end();
        assert.deepStrictEqual(plain(tags), expected.slice(0, boundary), `cut at ${cut}`);
      } else {
        throwsFlv(() => reader.end(), 'FLV_ERR_TRUNCATED');
      }
    }
  });

  it('fails fast on a bad signature, from the first byte', () => {
    throwsFlv(() => new FlvReader().push(bytes('G')), 'FLV_ERR_SIGNATURE');
    throwsFlv(() => new FlvReader().push(bytes('FLX')), 'FLV_ERR_SIGNATURE');
    const reader = new FlvReader();
    assert.deepStrictEqual(reader.push(bytes('FL')), []);
    throwsFlv(() => reader.push(bytes('A')), 'FLV_ERR_SIGNATURE');
  });

  it('fails with FLV_ERR_TAG_TOO_LARGE as soon as the tag header arrives', () => {
    const file = buildFile([{ type: TagType.Video, timestamp: 0, data: Buffer.alloc(1000) }]);
    const reader = new FlvReader({ maxTagSize: 999 });
    assert.equal(reader.maxTagSize, 999);
    assert.deepStrictEqual(reader.push(file.subarray(0, 13 + 10)), []);
    throwsFlv(() => reader.push(file.subarray(13 + 10, 13 + 11)), 'FLV_ERR_TAG_TOO_LARGE');
    // The reader is dead afterwards: the same error again, even for valid-looking input.
    throwsFlv(() => reader.push(file.subarray(13 + 11)), 'FLV_ERR_TAG_TOO_LARGE');
    throwsFlv(() => reader.end(), 'FLV_ERR_TAG_TOO_LARGE');
    // Exactly at the cap is fine.
    assert.equal(readChunks([file], new FlvReader({ maxTagSize: 1000 })).length, 1);
  });

  it('defaults maxTagSize to 16 MiB and rejects nonsense caps', () => {
    assert.equal(DEFAULT_MAX_TAG_SIZE, 16 * 1024 * 1024);
    assert.equal(new FlvReader().maxTagSize, DEFAULT_MAX_TAG_SIZE);
    assert.throws(() => new FlvReader({ maxTagSize: -1 }), RangeError);
    assert.throws(() => new FlvReader({ maxTagSize: Number.NaN }), RangeError);
  });

  it('rejects a wrong PreviousTagSize but accepts 0', () => {
    const file = Buffer.from(sampleFile);
    const firstPrevSize = boundaries[1]! - 4;
    file.writeUInt32BE(11 + sampleTags[0]!.data.length + 1, firstPrevSize);
    throwsFlv(() => new FlvReader().push(file), 'FLV_ERR_MALFORMED');

    const zeroed = Buffer.from(sampleFile);
    for (const b of boundaries.slice(1)) zeroed.writeUInt32BE(0, b - 4);
    assert.deepStrictEqual(plain(readChunks([zeroed])), expected);
  });

  it('rejects a non-zero PreviousTagSize0', () => {
    const file = Buffer.from(sampleFile);
    file.writeUInt32BE(11, 9);
    throwsFlv(() => new FlvReader().push(file), 'FLV_ERR_MALFORMED');
  });

  it('rejects unknown TagTypes, reserved bits and encrypted tags', () => {
    const at = 13; // first tag's TagType byte
    for (const [byte, code] of [
      [0x07, 'FLV_ERR_MALFORMED'],
      [0x48, 'FLV_ERR_MALFORMED'],
      [0x92, 'FLV_ERR_MALFORMED'],
      [0x32, 'FLV_ERR_UNSUPPORTED'],
    ] as const) {
      const file = Buffer.from(sampleFile);
      file[at] = byte;
      throwsFlv(() => new FlvReader().push(file), code);
    }
  });

  it('skips header padding when DataOffset > 9', () => {
    const padded = Buffer.concat([bytes('FLV', 1, 0x05, 0, 0, 0, 12, 0xde, 0xad, 0xbe), sampleFile.subarray(9)]);
    const reader = new FlvReader();
    const tags = [...padded].flatMap((b) => reader.push(Uint8Array.of(b)));
    reader.end();
    assert.deepStrictEqual(plain(tags), expected);
    assert.equal(reader.header?.headerLength, 12);
  });

  it('a header-only file is complete; an empty input is truncated', () => {
    assert.deepStrictEqual(readChunks([writer.header({ hasAudio: false, hasVideo: true })]), []);
    throwsFlv(() => new FlvReader().end(), 'FLV_ERR_TRUNCATED');
    throwsFlv(() => readChunks([bytes('FLV', 1, 5, 0, 0, 0, 9)]), 'FLV_ERR_TRUNCATED');
  });

  it('ignores empty chunks', () => {
    const reader = new FlvReader();
    assert.deepStrictEqual(reader.push(new Uint8Array(0)), []);
    assert.deepStrictEqual(plain(readChunks([new Uint8Array(0), sampleFile, new Uint8Array(0)], reader)), expected);
  });
});
