import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  FlvReader,
  FlvWriter,
  isAudioSequenceHeader,
  isVideoKeyframe,
  isVideoSequenceHeader,
  parseAudioTagHeader,
  parseFlvHeader,
  parseTagHeader,
  parseVideoTagHeader,
  TagType,
  type FlvTag,
  type FlvTagInput,
} from '../src/index.ts';
import { flvOrUndefined } from './helpers.ts';

const writer = new FlvWriter();

/** Split points → chunks of `buf`. */
function split(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

/** Feeds chunks then end(); returns the tags, or undefined if an FlvError was thrown (others propagate). */
function readAll(chunks: readonly Uint8Array[]): FlvTag[] | undefined {
  const reader = new FlvReader({ maxTagSize: 4096 });
  const tags: FlvTag[] = [];
  return flvOrUndefined(() => {
    for (const c of chunks) tags.push(...reader.push(c));
    reader.end();
    return tags;
  });
}

const tagArb: fc.Arbitrary<FlvTagInput> = fc.record({
  type: fc.constantFrom(TagType.Audio, TagType.Video, TagType.Script),
  timestamp: fc.nat({ max: 0xffff_ffff }),
  data: fc.uint8Array({ maxLength: 300 }),
});

const fileArb = fc
  .record({ hasAudio: fc.boolean(), hasVideo: fc.boolean(), tags: fc.array(tagArb, { maxLength: 12 }) })
  .map(({ hasAudio, hasVideo, tags }) => ({
    tags,
    file: Buffer.concat([writer.header({ hasAudio, hasVideo }), ...tags.map((t) => writer.tag(t))]),
  }));

const cutsArb = fc.array(fc.nat(), { maxLength: 8 });

/** Payloads biased towards the interesting first bytes (legacy AVC, enhanced, ExHeader audio). */
const payloadArb = fc.oneof(
  fc.uint8Array({ maxLength: 24 }),
  fc
    .tuple(fc.constantFrom(0x17, 0x27, 0x1c, 0x57, 0x90, 0x91, 0x93, 0x96, 0x97, 0xa6, 0xd0, 0xd4, 0xaf, 0x95), fc.uint8Array({ maxLength: 24 }))
    .map(([b0, rest]) => Uint8Array.of(b0, ...rest)),
);

describe('properties', () => {
  it('writer → reader round-trips arbitrary tag lists under arbitrary chunking', () => {
    fc.assert(
      fc.property(fileArb, cutsArb, ({ tags, file }, cuts) => {
        const got = readAll(split(file, cuts));
        assert.ok(got !== undefined, 'a writer-built file must parse');
        assert.deepStrictEqual(
          got.map((t) => ({ type: t.type, timestamp: t.timestamp, data: Buffer.from(t.data) })),
          tags.map((t) => ({ type: t.type, timestamp: t.timestamp, data: Buffer.from(t.data) })),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('FlvReader throws nothing but FlvError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), cutsArb, (data, cuts) => {
        readAll(split(Buffer.from(data), cuts));
      }),
      { numRuns: 500 },
    );
  });

  it('FlvReader throws nothing but FlvError on corrupted valid files; every tag it returns consumed ≥ 15 bytes', () => {
    fc.assert(
      fc.property(fileArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), cutsArb, ({ file }, edits, cuts) => {
        const corrupt = Buffer.from(file);
        for (const [at, value] of edits) corrupt[at % corrupt.length] = value;
        const got = readAll(split(corrupt, cuts));
        if (got !== undefined) assert.ok(got.length <= Math.floor((corrupt.length - 13) / 15));
      }),
      { numRuns: 500 },
    );
  });

  it('header parsers throw nothing but FlvError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 32 }), fc.integer({ min: -2, max: 40 }), (data, offset) => {
        flvOrUndefined(() => parseFlvHeader(data));
        flvOrUndefined(() => parseTagHeader(data, offset));
        flvOrUndefined(() => parseVideoTagHeader(data));
        flvOrUndefined(() => parseAudioTagHeader(data));
      }),
      { numRuns: 1000 },
    );
  });

  it('video predicates agree with parseVideoTagHeader, and headerLength bytes suffice', () => {
    fc.assert(
      fc.property(payloadArb, (p) => {
        const h = flvOrUndefined(() => parseVideoTagHeader(p));
        assert.equal(isVideoKeyframe(p), h?.isKeyframe ?? false);
        assert.equal(isVideoSequenceHeader(p), h?.isSequenceHeader ?? false);
        if (h !== undefined) {
          assert.ok(h.headerLength >= 1 && h.headerLength <= p.length);
          assert.deepStrictEqual(parseVideoTagHeader(p.subarray(0, h.headerLength)), h);
          assert.ok(!(h.isKeyframe && h.isSequenceHeader));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('audio predicate agrees with parseAudioTagHeader, and headerLength bytes suffice', () => {
    fc.assert(
      fc.property(payloadArb, (p) => {
        const h = flvOrUndefined(() => parseAudioTagHeader(p));
        assert.equal(isAudioSequenceHeader(p), h?.isSequenceHeader ?? false);
        if (h !== undefined) {
          assert.ok(h.headerLength >= 1 && h.headerLength <= p.length);
          assert.deepStrictEqual(parseAudioTagHeader(p.subarray(0, h.headerLength)), h);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
