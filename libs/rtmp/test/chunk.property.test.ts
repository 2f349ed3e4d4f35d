import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ChunkDecoder, ChunkEncoder, encodeChunks } from '../src/chunk/index.ts';
import { setChunkSize } from '../src/message/control.ts';
import type { RtmpMessage } from '../src/message/types.ts';
import { RtmpError } from '../src/errors.ts';
import { encodeWithoutContinuationTimestamps } from './fuzz-chunk.ts';

function payloadOf(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    b[i] = s >>> 16;
  }
  return b;
}

const csidArb = fc.oneof(
  { arbitrary: fc.constantFrom(3, 4, 6), weight: 6 },
  { arbitrary: fc.constantFrom(2, 63, 64, 319, 320, 65599), weight: 2 },
  { arbitrary: fc.integer({ min: 2, max: 65599 }), weight: 1 },
);
// Types 1 and 2 (SetChunkSize, Abort) change decoder state, so the round trip sends only others.
const typeArb = fc.oneof(fc.constantFrom(8, 9, 18, 20), fc.integer({ min: 0, max: 255 })).filter((t) => t !== 1 && t !== 2);
const msidArb = fc.oneof({ arbitrary: fc.constantFrom(0, 1), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 0xffffffff }), weight: 1 });
const deltaArb = fc.oneof(
  { arbitrary: fc.constantFrom(0, 20, 33), weight: 4 },
  { arbitrary: fc.integer({ min: 0, max: 1000 }), weight: 2 },
  { arbitrary: fc.integer({ min: 0xfffff0, max: 0x1000010 }), weight: 1 }, // around the extended threshold
  { arbitrary: fc.integer({ min: 0, max: 0xffffffff }), weight: 1 }, // wraps past 2^32 or goes "backwards"
);
const lengthArb = fc.oneof(
  { arbitrary: fc.constantFrom(0, 1, 100, 128, 129), weight: 3 },
  { arbitrary: fc.integer({ min: 0, max: 3000 }), weight: 2 },
);
const chunkSizeArb = fc.oneof(fc.constantFrom(1, 2, 128, 4096), fc.integer({ min: 1, max: 5000 }));

const messagesArb = fc
  .record({
    start: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff })),
    // Bursts of same-shaped messages with a constant delta exercise type 2/3 compression.
    bursts: fc.array(
      fc.record({
        csid: csidArb,
        msid: msidArb,
        type: typeArb,
        delta: deltaArb,
        length: lengthArb,
        seed: fc.nat(),
        count: fc.integer({ min: 1, max: 4 }),
      }),
      { maxLength: 8, size: 'medium' },
    ),
  })
  .map(({ start, bursts }) => {
    let ts = start;
    const out: RtmpMessage[] = [];
    for (const b of bursts) {
      for (let i = 0; i < b.count; i++) {
        ts = (ts + b.delta) >>> 0;
        out.push({
          chunkStreamId: b.csid,
          messageStreamId: b.msid,
          type: b.type,
          timestamp: ts,
          payload: payloadOf(b.length, b.seed + i),
        });
      }
    }
    return out;
  });

const splitsArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 });

function split(bytes: Buffer, fractions: number[]): Buffer[] {
  const points = fractions.map((f) => Math.floor(f * bytes.length)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    out.push(bytes.subarray(last, p));
    last = p;
  }
  out.push(bytes.subarray(last));
  return out;
}

function decode(pieces: Buffer[]): RtmpMessage[] {
  const decoder = new ChunkDecoder();
  const out: RtmpMessage[] = [];
  for (const piece of pieces) out.push(...decoder.push(piece));
  assert.equal(decoder.bufferedBytes, 0);
  return out;
}

describe('chunk stream properties', () => {
  it('ChunkEncoder output round-trips through ChunkDecoder at any chunk size and any split', () => {
    fc.assert(
      fc.property(messagesArb, chunkSizeArb, splitsArb, fc.boolean(), (messages, chunkSize, fractions, many) => {
        const encoder = new ChunkEncoder();
        const announce = setChunkSize(chunkSize);
        const parts = [encoder.encode(announce)];
        encoder.setChunkSize(chunkSize);
        if (many) parts.push(encoder.encodeMany(messages));
        else for (const message of messages) parts.push(encoder.encode(message));
        const bytes = Buffer.concat(parts);
        assert.deepEqual(decode([bytes]), [announce, ...messages]);
        assert.deepEqual(decode(split(bytes, fractions)), [announce, ...messages]);
      }),
      { numRuns: 1000 },
    );
  });

  it('with payload headroom, any stream at any split decodes the same, and writing every headroom changes no payload', () => {
    const MEDIA = new Set([8, 9, 15, 18, 22]);
    fc.assert(
      fc.property(messagesArb, chunkSizeArb, splitsArb, fc.constantFrom(0, 256, 4096, 65536), (messages, chunkSize, fractions, slab) => {
        const encoder = new ChunkEncoder();
        const announce = setChunkSize(chunkSize);
        const parts = [encoder.encode(announce)];
        encoder.setChunkSize(chunkSize);
        for (const message of messages) parts.push(encoder.encode(message));
        const decoder = new ChunkDecoder({ payloadHeadroom: 20, payloadSlabSize: slab });
        const got: RtmpMessage[] = [];
        for (const piece of split(Buffer.concat(parts), fractions)) {
          for (const msg of decoder.push(piece)) {
            got.push(msg);
            if (!MEDIA.has(msg.type) || msg.payload.length === 0) continue;
            new Uint8Array(msg.payload.buffer, msg.payload.byteOffset - 20, 20).fill(0xee);
          }
        }
        assert.deepEqual(got, [announce, ...messages]);
        assert.equal(decoder.bufferedBytes, 0);
      }),
      { numRuns: 1000 },
    );
  });

  it('encodeChunks output round-trips through ChunkDecoder at any chunk size and any split', () => {
    fc.assert(
      fc.property(messagesArb, chunkSizeArb, splitsArb, (messages, chunkSize, fractions) => {
        const announce = setChunkSize(chunkSize);
        const bytes = Buffer.concat([encodeChunks(announce, 128), ...messages.map((x) => encodeChunks(x, chunkSize))]);
        assert.deepEqual(decode(split(bytes, fractions)), [announce, ...messages]);
      }),
      { numRuns: 1000 },
    );
  });

  it('FFmpeg-style streams (no extended timestamp in continuation chunks) decode too', () => {
    fc.assert(
      fc.property(messagesArb, chunkSizeArb, splitsArb, (messages, chunkSize, fractions) => {
        const announce = setChunkSize(chunkSize);
        // A short last chunk may wait for bytes that could be the extended timestamp; any next
        // message settles it.
        const sentinel: RtmpMessage = { chunkStreamId: 63, messageStreamId: 0, type: 8, timestamp: 0, payload: Buffer.alloc(0) };
        const body = [...messages, sentinel].map((x) => encodeWithoutContinuationTimestamps(x, chunkSize));
        const bytes = Buffer.concat([encodeChunks(announce, 128), ...body]);
        assert.deepEqual(decode(split(bytes, fractions)), [announce, ...messages, sentinel]);
      }),
      { numRuns: 1000 },
    );
  });

  const LIMITS = { maxMessageLength: 64 * 1024, maxBufferedBytes: 256 * 1024 };

  /**
   * Pushes pieces, without and with payload headroom (media copied into slabs); only RtmpError may
   * escape, and retained bytes stay under the cap.
   */
  function survive(pieces: Buffer[]): void {
    for (const options of [LIMITS, { ...LIMITS, payloadHeadroom: 20, payloadSlabSize: 4096 }]) {
      const decoder = new ChunkDecoder(options);
      try {
        for (const piece of pieces) {
          decoder.push(piece);
          assert.ok(decoder.bufferedBytes <= LIMITS.maxBufferedBytes);
        }
      } catch (error) {
        if (!(error instanceof RtmpError)) throw error;
        assert.ok(decoder.bufferedBytes <= LIMITS.maxBufferedBytes);
      }
    }
  }

  it('arbitrary bytes only ever raise RtmpError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096, size: 'max' }), splitsArb, (bytes, fractions) => {
        survive(split(Buffer.from(bytes), fractions));
      }),
      { numRuns: 3000 },
    );
  });

  it('mutated valid streams only ever raise RtmpError', () => {
    const mutation = fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), value: fc.integer({ min: 0, max: 255 }) });
    fc.assert(
      fc.property(messagesArb, chunkSizeArb, fc.array(mutation, { minLength: 1, maxLength: 6 }), splitsArb, (messages, chunkSize, mutations, fractions) => {
        const encoder = new ChunkEncoder();
        const bytes = Buffer.concat([encoder.encode(setChunkSize(chunkSize)), (encoder.setChunkSize(chunkSize), encoder.encodeMany(messages))]);
        for (const { at, value } of mutations) bytes[Math.floor(at * (bytes.length - 1))] = value;
        survive(split(bytes, fractions));
      }),
      { numRuns: 1500 },
    );
  });

  it('many large partial messages never make the decoder hold more than maxBufferedBytes', () => {
    // Well-formed first chunks of big messages on many chunk streams, never completed.
    const op = fc.record({ csid: fc.integer({ min: 2, max: 80 }), length: fc.integer({ min: 1, max: 70000 }), seed: fc.nat() });
    fc.assert(
      fc.property(fc.integer({ min: 1024, max: 65536 }), fc.array(op, { maxLength: 80 }), (chunkSize, ops) => {
        const parts = [encodeChunks(setChunkSize(chunkSize), 128)];
        for (const { csid, length, seed } of ops) {
          const full = encodeChunks({ chunkStreamId: csid, messageStreamId: 1, type: 9, timestamp: seed, payload: Buffer.alloc(length) }, chunkSize);
          const basic = csid < 64 ? 1 : 2;
          parts.push(full.subarray(0, basic + 11 + Math.min(chunkSize, length)));
        }
        survive(parts);
      }),
      { numRuns: 300 },
    );
  });
});
