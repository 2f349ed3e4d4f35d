import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkDecoder, ChunkEncoder, DEFAULT_CHUNK_DECODER_OPTIONS, encodeChunks } from '../src/chunk/index.ts';
import type { RtmpMessage } from '../src/message/types.ts';
import { RtmpError } from '../src/errors.ts';
import type { RtmpErrorCode } from '../src/errors.ts';

/** Hex strings (spaces ignored) and Buffers, concatenated. */
function h(...parts: Array<string | Buffer>): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p.replace(/\s+/g, ''), 'hex') : p)));
}
/** A recognisable payload of n bytes. */
function pat(n: number, seed = 0): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed * 13 + 1) & 0xff;
  return b;
}
function m(chunkStreamId: number, messageStreamId: number, type: number, timestamp: number, payload: Buffer): RtmpMessage {
  return { chunkStreamId, messageStreamId, type, timestamp, payload };
}
const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};

interface Case {
  name: string;
  /** Chunk size both sides use for `bytes` (announced to the decoder by a SetChunkSize first when not 128). */
  chunkSize: number;
  messages: RtmpMessage[];
  bytes: Buffer;
  /** Bytes a spec-conformant peer may send but our encoder would not produce. */
  decodeOnly?: boolean;
}

const P300 = pat(300, 1);
const A200 = pat(200, 2);
const V200 = pat(200, 3);
const X150 = pat(150, 4);
const Q200 = pat(200, 5);
const p = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => pat(12, 10 + i));
const two = pat(2, 20);
const one = Buffer.from([0xaa]);
const P130 = pat(130, 6);

const cases: Case[] = [
  {
    name: 'fmt 0 single chunk',
    chunkSize: 128,
    messages: [m(3, 1, 20, 0x010203, pat(5))],
    bytes: h('03 010203 000005 14 01000000', pat(5)),
  },
  {
    name: '300-byte message at chunk size 128: fmt 0 + two fmt 3',
    chunkSize: 128,
    messages: [m(6, 1, 9, 1000, P300)],
    bytes: h('06 0003e8 00012c 09 01000000', P300.subarray(0, 128), 'c6', P300.subarray(128, 256), 'c6', P300.subarray(256)),
  },
  {
    name: 'interleaved audio and video on two chunk streams',
    chunkSize: 128,
    messages: [m(4, 1, 8, 0, A200), m(6, 1, 9, 0, V200)],
    bytes: h(
      '04 000000 0000c8 08 01000000', A200.subarray(0, 128),
      '06 000000 0000c8 09 01000000', V200.subarray(0, 128),
      'c4', A200.subarray(128),
      'c6', V200.subarray(128),
    ),
    decodeOnly: true,
  },
  {
    name: 'fmt 1/2/3 header compression, new stream id and backwards timestamp get fmt 0',
    chunkSize: 128,
    messages: [
      m(4, 1, 8, 1000, p[0]!.subarray(0, 10)),
      m(4, 1, 8, 1020, p[1]!), // length changed: fmt 1, delta 20
      m(4, 1, 8, 1050, p[2]!), // same length/type: fmt 2, delta 30
      m(4, 1, 8, 1080, p[3]!), // same delta: fmt 3 starting a new message, delta re-applied
      m(4, 1, 9, 1080, p[4]!), // type changed: fmt 1, delta 0
      m(4, 2, 9, 1100, p[5]!), // stream id changed: fmt 0
      m(4, 2, 9, 500, p[6]!), // timestamp went backwards: fmt 0
    ],
    bytes: h(
      '04 0003e8 00000a 08 01000000', p[0]!.subarray(0, 10),
      '44 000014 00000c 08', p[1]!,
      '84 00001e', p[2]!,
      'c4', p[3]!,
      '44 000000 00000c 09', p[4]!,
      '04 00044c 00000c 09 02000000', p[5]!,
      '04 0001f4 00000c 09 02000000', p[6]!,
    ),
  },
  {
    name: 'extended timestamp repeated in the fmt 3 continuation (spec)',
    chunkSize: 100,
    messages: [m(6, 1, 9, 0x01000000, X150)],
    bytes: h('06 ffffff 000096 09 01000000 01000000', X150.subarray(0, 100), 'c6 01000000', X150.subarray(100)),
  },
  {
    name: 'extended timestamp not repeated in the fmt 3 continuation (FFmpeg-style)',
    chunkSize: 100,
    messages: [m(6, 1, 9, 0x01000000, X150)],
    bytes: h('06 ffffff 000096 09 01000000 01000000', X150.subarray(0, 100), 'c6', X150.subarray(100)),
    decodeOnly: true,
  },
  {
    name: 'FFmpeg-style continuation whose payload begins like the extended timestamp',
    chunkSize: 100,
    messages: [m(6, 1, 9, 0x01000000, h(X150.subarray(0, 100), '0100', X150.subarray(102)))],
    bytes: h('06 ffffff 000096 09 01000000 01000000', X150.subarray(0, 100), 'c6 0100', X150.subarray(102)),
    decodeOnly: true,
  },
  {
    name: 'FFmpeg-style short last chunk completes without waiting for 4 more bytes',
    chunkSize: 100,
    messages: [m(6, 1, 9, 0x01000000, pat(101, 4))],
    bytes: h('06 ffffff 000065 09 01000000 01000000', pat(101, 4).subarray(0, 100), 'c6', pat(101, 4).subarray(100)),
    decodeOnly: true,
  },
  {
    name: 'extended timestamp of exactly 0xFFFFFF',
    chunkSize: 128,
    messages: [m(6, 1, 9, 0xffffff, two)],
    bytes: h('06 ffffff 000002 09 01000000 00ffffff', two),
  },
  {
    name: 'fmt 3 new message re-applies an extended delta',
    chunkSize: 128,
    messages: [
      m(4, 1, 8, 0, two),
      m(4, 1, 8, 0x01000000, two), // fmt 2, extended delta
      m(4, 1, 8, 0x02000000, two), // fmt 3 with the extended delta repeated
      m(4, 1, 8, 0x02000005, two), // fmt 2, small delta again
    ],
    bytes: h('04 000000 000002 08 01000000', two, '84 ffffff 01000000', two, 'c4 01000000', two, '84 000005', two),
  },
  {
    name: 'timestamp delta wrapping past 2^32',
    chunkSize: 128,
    messages: [m(4, 1, 8, 0xfffffff0, one), m(4, 1, 8, 0x10, one), m(4, 1, 8, 0x30, one)],
    bytes: h('04 ffffff 000001 08 01000000 fffffff0', one, '84 000020', one, 'c4', one),
    decodeOnly: true,
  },
  {
    name: 'timestamp wrapping past 2^32: the encoder sends fmt 0',
    chunkSize: 128,
    messages: [m(4, 1, 8, 0xfffffff0, one), m(4, 1, 8, 0x10, one)],
    bytes: h('04 ffffff 000001 08 01000000 fffffff0', one, '04 000010 000001 08 01000000', one),
  },
  {
    name: 'chunk stream ids 2, 63, 64, 319, 320, 65599 (1, 2 and 3-byte basic headers)',
    chunkSize: 128,
    messages: [2, 63, 64, 319, 320, 65599].map((csid) => m(csid, 0, 8, 0, one)),
    bytes: h(
      '02 000000 000001 08 00000000 aa',
      '3f 000000 000001 08 00000000 aa',
      '00 00 000000 000001 08 00000000 aa',
      '00 ff 000000 000001 08 00000000 aa',
      '01 00 01 000000 000001 08 00000000 aa',
      '01 ff ff 000000 000001 08 00000000 aa',
    ),
  },
  {
    name: '3-byte basic header on continuation chunks',
    chunkSize: 128,
    messages: [m(65599, 1, 9, 5, P130)],
    bytes: h('01 ff ff 000005 000082 09 01000000', P130.subarray(0, 128), 'c1 ff ff', P130.subarray(128)),
  },
  {
    name: 'csid 64 in the 3-byte form',
    chunkSize: 128,
    messages: [m(64, 0, 8, 0, one)],
    bytes: h('01 00 00 000000 000001 08 00000000 aa'),
    decodeOnly: true,
  },
  {
    name: 'SetChunkSize mid-stream changes how the following chunks are split',
    chunkSize: 128,
    messages: [m(3, 0, 20, 0, A200), m(2, 0, 1, 0, h('00000040')), m(3, 0, 20, 0, Q200)],
    bytes: h(
      '03 000000 0000c8 14 00000000', A200.subarray(0, 128), 'c3', A200.subarray(128),
      '02 000000 000004 01 00000000 00000040',
      '83 000000', Q200.subarray(0, 64), 'c3', Q200.subarray(64, 128), 'c3', Q200.subarray(128, 192), 'c3', Q200.subarray(192),
    ),
  },
  {
    name: 'Abort discards the partial message on its chunk stream',
    chunkSize: 128,
    messages: [m(2, 0, 2, 0, h('00000004')), m(4, 1, 8, 9, pat(3))],
    bytes: h(
      '04 000000 0000c8 08 01000000', A200.subarray(0, 128),
      '02 000000 000004 02 00000000 00000004',
      '04 000009 000003 08 01000000', pat(3),
    ),
    decodeOnly: true,
  },
  {
    name: 'zero-length messages (fmt 0, 2, 3)',
    chunkSize: 128,
    messages: [m(5, 1, 18, 7, Buffer.alloc(0)), m(5, 1, 18, 10, Buffer.alloc(0)), m(5, 1, 18, 13, Buffer.alloc(0))],
    bytes: h('05 000007 000000 12 01000000', '85 000003', 'c5'),
  },
  {
    name: 'unknown type ids pass through',
    chunkSize: 128,
    messages: [m(7, 3, 0xfe, 0, pat(4)), m(7, 3, 0, 1, pat(4))],
    bytes: h('07 000000 000004 fe 03000000', pat(4), '47 000001 000004 00', pat(4)),
  },
];

/** SetChunkSize announcing `size`, as raw bytes at chunk size 128. */
const announce = (size: number): Buffer => h('02 000000 000004 01 00000000', u32(size));

function splitsOf(bytes: Buffer): Array<{ name: string; pieces: Buffer[] }> {
  const out = [{ name: 'whole', pieces: [bytes] }];
  const single: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
  out.push({ name: 'one byte at a time', pieces: single });
  for (let k = 1; k < bytes.length; k++) out.push({ name: `split at ${k}`, pieces: [bytes.subarray(0, k), bytes.subarray(k)] });
  return out;
}

function decodeAll(pieces: Buffer[], decoder = new ChunkDecoder()): RtmpMessage[] {
  const out: RtmpMessage[] = [];
  for (const piece of pieces) out.push(...decoder.push(piece));
  return out;
}

function throwsCode(fn: () => unknown, code: RtmpErrorCode): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof RtmpError, `expected RtmpError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

describe('chunk stream', () => {
  describe('decode', () => {
    for (const c of cases) {
      it(c.name, () => {
        for (const { name, pieces } of splitsOf(c.bytes)) {
          const decoder = new ChunkDecoder();
          if (c.chunkSize !== 128) {
            assert.equal(decoder.push(announce(c.chunkSize)).length, 1);
            assert.equal(decoder.chunkSize, c.chunkSize);
          }
          assert.deepEqual(decodeAll(pieces, decoder), c.messages, name);
          assert.equal(decoder.bufferedBytes, 0, name);
        }
      });
    }
  });

  describe('decode with payload headroom', () => {
    const MEDIA = new Set([8, 9, 15, 18, 22]);
    for (const c of cases) {
      it(`${c.name}: same messages at every split, each media payload with 20 bytes of its own in front`, () => {
        for (const { name, pieces } of splitsOf(c.bytes)) {
          // A small slab so that the cases cross slab boundaries and use exact allocations too.
          const decoder = new ChunkDecoder({ payloadHeadroom: 20, payloadSlabSize: 512 });
          if (c.chunkSize !== 128) decoder.push(announce(c.chunkSize));
          const got: RtmpMessage[] = [];
          for (const piece of pieces) {
            for (const msg of decoder.push(piece)) {
              got.push(msg);
              if (!MEDIA.has(msg.type) || msg.payload.length === 0) continue;
              assert.ok(msg.payload.byteOffset >= 20, `${name}: headroom in front of the payload`);
              assert.notEqual(msg.payload.buffer, piece.buffer, `${name}: media is copied out of the pushed bytes`);
              // The application writes its header there: no other payload, earlier or later, may change.
              new Uint8Array(msg.payload.buffer, msg.payload.byteOffset - 20, 20).fill(0xee);
            }
          }
          assert.deepEqual(got, c.messages, name);
          assert.equal(decoder.bufferedBytes, 0, name);
        }
      });
    }

    it('a message whose claimed length is not in hand yet is not allocated up front', () => {
      const decoder = new ChunkDecoder({ payloadHeadroom: 20, payloadSlabSize: 64 * 1024 });
      decoder.push(announce(4096));
      // A 60000-byte video message, only its first 100 bytes sent.
      assert.deepEqual(decoder.push(h('06 000000 00ea60 09 01000000', pat(100))), []);
      assert.equal(decoder.bufferedBytes, 100);
    });

    it('a message in hand is copied once into its final memory and counted whole until it completes', () => {
      const decoder = new ChunkDecoder({ payloadHeadroom: 20, payloadSlabSize: 64 * 1024 });
      const payload = pat(300, 9);
      const bytes = encodeChunks(m(6, 1, 9, 0, payload), 128);
      // Everything but the last byte: the 300 claimed bytes are in hand, so the message is reserved whole.
      assert.deepEqual(decoder.push(bytes.subarray(0, bytes.length - 1)), []);
      assert.equal(decoder.bufferedBytes, 300);
      const [msg] = decoder.push(bytes.subarray(bytes.length - 1));
      assert.deepEqual(msg!.payload, payload);
      assert.equal(decoder.bufferedBytes, 0);
    });

    it('commands and protocol control stay zero-copy views', () => {
      const input = h('03 000000 000005 14 01000000', pat(5));
      const [msg] = new ChunkDecoder({ payloadHeadroom: 20, payloadSlabSize: 4096 }).push(input);
      assert.equal(msg!.payload.buffer, input.buffer);
    });

    it('small media payloads share a slab; large ones get memory of their own', () => {
      const decoder = new ChunkDecoder({ payloadHeadroom: 20, payloadSlabSize: 4096 });
      decoder.push(announce(65536));
      const [a, b, big] = decoder.push(h(
        encodeChunks(m(4, 1, 8, 0, pat(100)), 65536),
        encodeChunks(m(4, 1, 8, 1, pat(100)), 65536),
        encodeChunks(m(6, 1, 9, 0, pat(2000)), 65536),
      ));
      assert.equal(a!.payload.buffer, b!.payload.buffer);
      assert.equal(b!.payload.byteOffset - a!.payload.byteOffset, 120);
      assert.equal(a!.payload.buffer.byteLength, 4096);
      assert.equal(big!.payload.buffer.byteLength, 2020);
      assert.equal(big!.payload.byteOffset, 20);
    });

    it('rejects a negative or huge headroom or slab size', () => {
      assert.throws(() => new ChunkDecoder({ payloadHeadroom: -1 }), RangeError);
      assert.throws(() => new ChunkDecoder({ payloadHeadroom: 1.5 }), RangeError);
      assert.throws(() => new ChunkDecoder({ payloadSlabSize: 2 ** 40 }), RangeError);
    });
  });

  describe('decode with transient input (the caller reuses each pushed Buffer)', () => {
    for (const c of cases) {
      it(`${c.name}: every message survives the caller overwriting each pushed Buffer after push()`, () => {
        for (const headroom of [0, 20]) {
          for (const { name, pieces } of splitsOf(c.bytes)) {
            const decoder = new ChunkDecoder({ transientInput: true, payloadHeadroom: headroom, payloadSlabSize: headroom ? 512 : 0 });
            if (c.chunkSize !== 128) decoder.push(announce(c.chunkSize));
            const got: RtmpMessage[] = [];
            for (const piece of pieces) {
              // One read buffer, reused: the piece is copied into it and scribbled over afterwards.
              const shared = Buffer.from(piece);
              got.push(...decoder.push(shared));
              shared.fill(0xa5);
            }
            assert.deepEqual(got, c.messages, `${name}, headroom ${headroom}`);
            assert.equal(decoder.bufferedBytes, 0, name);
          }
        }
      });
    }

    it('the large parts of a message that spans pushes are kept as copies, not views', () => {
      for (const headroom of [0, 20]) {
        const decoder = new ChunkDecoder({ transientInput: true, payloadHeadroom: headroom, payloadSlabSize: headroom ? 4096 : 0 });
        decoder.push(announce(4096));
        const payload = pat(4000, 5);
        const bytes = encodeChunks(m(6, 1, 9, 0, payload), 4096);
        const shared = Buffer.alloc(bytes.length);
        const got: RtmpMessage[] = [];
        // Two reads of about 2000 bytes each through one reused buffer.
        for (const [from, to] of [[0, 2000], [2000, bytes.length]] as const) {
          bytes.copy(shared, 0, from, to);
          got.push(...decoder.push(shared.subarray(0, to - from)));
          shared.fill(0xa5);
        }
        assert.equal(got.length, 1);
        assert.deepEqual(got[0]!.payload, payload, `headroom ${headroom}`);
      }
    });

    it('without it, a whole one-chunk command is a view of the pushed bytes; with it, a copy', () => {
      const input = h('03 000000 000005 14 01000000', pat(5));
      const [view] = new ChunkDecoder().push(input);
      const [copy] = new ChunkDecoder({ transientInput: true }).push(input);
      input.fill(0);
      assert.deepEqual(view!.payload, Buffer.alloc(5), 'the view sees the overwrite');
      assert.deepEqual(copy!.payload, pat(5), 'the copy does not');
    });
  });

  describe('encode (ChunkEncoder)', () => {
    for (const c of cases.filter((x) => !x.decodeOnly)) {
      it(c.name, () => {
        const encoder = new ChunkEncoder(c.chunkSize);
        const parts: Buffer[] = [];
        for (const message of c.messages) {
          parts.push(encoder.encode(message));
          // The SetChunkSize message itself goes out at the old size; the encoder switches after.
          if (message.type === 1) encoder.setChunkSize(message.payload.readUInt32BE(0));
        }
        assert.deepEqual(Buffer.concat(parts), c.bytes);
        if (!c.messages.some((x) => x.type === 1)) {
          assert.deepEqual(new ChunkEncoder(c.chunkSize).encodeMany(c.messages), c.bytes, 'encodeMany');
        }
      });
    }
  });

  describe('encodeChunks', () => {
    const byName = (prefix: string): Case => cases.find((c) => c.name.startsWith(prefix))!;
    const stateless: Case[] = [
      byName('fmt 0 single chunk'),
      byName('300-byte message'),
      byName('extended timestamp repeated'),
      byName('extended timestamp of exactly'),
      byName('3-byte basic header on continuation'),
      {
        name: 'extended timestamp in every fmt 3 chunk at chunk size 1',
        chunkSize: 1,
        messages: [m(3, 0, 8, 0xfedcba98, pat(3))],
        bytes: h('03 ffffff 000003 08 00000000 fedcba98', pat(3).subarray(0, 1), 'c3 fedcba98', pat(3).subarray(1, 2), 'c3 fedcba98', pat(3).subarray(2)),
      },
      { name: 'zero length', chunkSize: 128, messages: [m(320, 1, 18, 7, Buffer.alloc(0))], bytes: h('01 00 01 000007 000000 12 01000000') },
    ];
    for (const c of stateless) {
      it(c.name, () => {
        assert.equal(c.messages.length, 1);
        assert.deepEqual(encodeChunks(c.messages[0]!, c.chunkSize), c.bytes);
      });
    }

    it('every message starts with fmt 0, so any subset of whole messages decodes', () => {
      const messages = [m(6, 1, 9, 0, P300), m(6, 1, 9, 33, P300), m(6, 1, 9, 66, P130)];
      const encoded = messages.map((x) => encodeChunks(x, 128));
      assert.deepEqual(decodeAll([encoded[0]!, encoded[2]!]), [messages[0], messages[2]]);
    });

    it('rejects invalid input with RangeError', () => {
      assert.throws(() => encodeChunks(m(1, 0, 8, 0, one), 128), RangeError);
      assert.throws(() => encodeChunks(m(65600, 0, 8, 0, one), 128), RangeError);
      assert.throws(() => encodeChunks(m(3, -1, 8, 0, one), 128), RangeError);
      assert.throws(() => encodeChunks(m(3, 0, 256, 0, one), 128), RangeError);
      assert.throws(() => encodeChunks(m(3, 0, 8, 0, one), 0), RangeError);
      assert.throws(() => new ChunkEncoder(0), RangeError);
      assert.throws(() => new ChunkEncoder().setChunkSize(0x80000000), RangeError);
    });
  });

  describe('ChunkEncoder', () => {
    it('resetChunkStream forces the next message on that csid to fmt 0', () => {
      const encoder = new ChunkEncoder();
      encoder.encode(m(4, 1, 8, 0, two));
      assert.equal(encoder.encode(m(4, 1, 8, 20, two))[0]! >> 6, 2);
      encoder.resetChunkStream(4);
      const bytes = encoder.encode(m(4, 1, 8, 40, two));
      assert.deepEqual(bytes, h('04 000028 000002 08 01000000', two));
    });

    it('after a dropped message the resynchronised stream still decodes', () => {
      const encoder = new ChunkEncoder();
      const decoder = new ChunkDecoder();
      const sent: RtmpMessage[] = [];
      const received: RtmpMessage[] = [];
      for (let i = 0; i < 10; i++) {
        const msg = m(6, 1, 9, i * 40, pat(150, i));
        const bytes = encoder.encode(msg);
        if (i % 3 === 1) {
          encoder.resetChunkStream(6); // dropped for a slow player
          continue;
        }
        sent.push(msg);
        received.push(...decodeAll([bytes], decoder));
      }
      assert.equal(sent.length, 7);
      assert.deepEqual(received, sent);
    });

    it('does not use fmt 3 right after fmt 0 (peers disagree on the implied delta)', () => {
      const encoder = new ChunkEncoder();
      encoder.encode(m(4, 1, 8, 0, two));
      assert.equal(encoder.encode(m(4, 1, 8, 0, two))[0]! >> 6, 2);
      assert.equal(encoder.encode(m(4, 1, 8, 0, two))[0]! >> 6, 3);
    });

    it('encodeMany of nothing is empty', () => {
      assert.equal(new ChunkEncoder().encodeMany([]).length, 0);
    });
  });

  describe('decoder behaviour', () => {
    it('returns a single-chunk message as a view of the pushed Buffer (zero copy)', () => {
      const input = h('03 000000 000005 14 01000000', pat(5), '03 000000 000005 14 01000000', pat(5));
      const [a, b] = new ChunkDecoder().push(input);
      assert.equal(a!.payload.buffer, input.buffer);
      assert.equal(a!.payload.byteOffset, input.byteOffset + 12);
      assert.equal(b!.payload.buffer, input.buffer);
    });

    it('copies a multi-chunk message into one fresh Buffer', () => {
      const input = cases[1]!.bytes;
      const [msg] = new ChunkDecoder().push(input);
      assert.notEqual(msg!.payload.buffer, input.buffer);
      assert.deepEqual(msg!.payload, P300);
    });

    it('counts bytesReceived and tracks bufferedBytes', () => {
      const decoder = new ChunkDecoder();
      const bytes = cases[1]!.bytes;
      decoder.push(bytes.subarray(0, 100));
      assert.equal(decoder.bufferedBytes, 88);
      decoder.push(bytes.subarray(100, 200));
      assert.equal(decoder.bytesReceived, 200);
      decoder.push(bytes.subarray(200));
      assert.equal(decoder.bufferedBytes, 0);
      assert.equal(decoder.bytesReceived, bytes.length);
    });

    it('a type 0 header on a csid with an unfinished message drops the partial message', () => {
      const input = h('04 000000 0000c8 08 01000000', A200.subarray(0, 128), '04 000001 000002 08 01000000', two);
      const decoder = new ChunkDecoder();
      assert.deepEqual(decoder.push(input), [m(4, 1, 8, 1, two)]);
      assert.equal(decoder.bufferedBytes, 0);
    });

    it('a short continuation whose bytes could still be the extended timestamp waits for the next bytes', () => {
      const payload = h(pat(100), '01');
      const decoder = new ChunkDecoder();
      decoder.push(announce(100));
      const head = h('06 ffffff 000065 09 01000000 01000000', payload.subarray(0, 100), 'c6 01');
      assert.deepEqual(decoder.push(head), []);
      // The next message's header (fmt 0, csid 4) rules out the extended timestamp 01000000.
      const next = h('04 000000 000000 08 01000000');
      assert.deepEqual(decoder.push(next), [m(6, 1, 9, 0x01000000, payload), m(4, 1, 8, 0, Buffer.alloc(0))]);
    });

    it('applies SetChunkSize and returns it', () => {
      const decoder = new ChunkDecoder();
      const out = decoder.push(announce(4096));
      assert.equal(decoder.chunkSize, 4096);
      assert.equal(out[0]!.type, 1);
    });

    it('accepts SetChunkSize up to maxChunkSize', () => {
      const decoder = new ChunkDecoder();
      decoder.push(announce(0xffffff));
      assert.equal(decoder.chunkSize, 0xffffff);
      assert.equal(DEFAULT_CHUNK_DECODER_OPTIONS.maxChunkSize, 0xffffff);
      assert.ok(Object.isFrozen(DEFAULT_CHUNK_DECODER_OPTIONS));
    });

    it('treats undefined options as defaults', () => {
      const decoder = new ChunkDecoder({ maxChunkSize: undefined, maxBufferedBytes: undefined });
      decoder.push(announce(0xffffff));
      assert.equal(decoder.chunkSize, 0xffffff);
    });

    it('rejects invalid options', () => {
      assert.throws(() => new ChunkDecoder({ maxMessageLength: 0x1000000 }), RangeError);
      assert.throws(() => new ChunkDecoder({ maxChunkStreams: 0 }), RangeError);
    });
  });

  describe('errors', () => {
    for (const size of [0, 0x7fffffff, 0x80000000]) {
      it(`SetChunkSize ${size.toString(16)} -> RTMP_ERR_CHUNK_SIZE`, () => {
        throwsCode(() => new ChunkDecoder().push(announce(size)), 'RTMP_ERR_CHUNK_SIZE');
      });
    }

    it('SetChunkSize above a configured maxChunkSize -> RTMP_ERR_CHUNK_SIZE', () => {
      throwsCode(() => new ChunkDecoder({ maxChunkSize: 65536 }).push(announce(65537)), 'RTMP_ERR_CHUNK_SIZE');
    });

    it('short SetChunkSize or Abort payload -> RTMP_ERR_MALFORMED_MESSAGE', () => {
      throwsCode(() => new ChunkDecoder().push(h('02 000000 000003 01 00000000 000080')), 'RTMP_ERR_MALFORMED_MESSAGE');
      throwsCode(() => new ChunkDecoder().push(h('02 000000 000000 02 00000000')), 'RTMP_ERR_MALFORMED_MESSAGE');
    });

    it('message length 0xFFFFFF over a 4 MiB limit -> RTMP_ERR_MESSAGE_TOO_LARGE right after the header', () => {
      const decoder = new ChunkDecoder({ maxMessageLength: 4 * 1024 * 1024 });
      throwsCode(() => decoder.push(h('06 000000 ffffff 09 01000000')), 'RTMP_ERR_MESSAGE_TOO_LARGE');
    });

    it('the decoder is dead after an error', () => {
      const decoder = new ChunkDecoder({ maxMessageLength: 16 });
      throwsCode(() => decoder.push(h('06 000000 000011 09 01000000')), 'RTMP_ERR_MESSAGE_TOO_LARGE');
      throwsCode(() => decoder.push(cases[0]!.bytes), 'RTMP_ERR_MESSAGE_TOO_LARGE');
    });

    for (const [fmt, first] of [[1, '44'], [2, '84'], [3, 'c4']] as const) {
      it(`fmt ${fmt} on a fresh csid -> RTMP_ERR_NO_PREVIOUS_CHUNK`, () => {
        throwsCode(() => new ChunkDecoder().push(h(first, '000000 000001 08 aa')), 'RTMP_ERR_NO_PREVIOUS_CHUNK');
      });
    }

    it('65 chunk streams -> RTMP_ERR_TOO_MANY_CHUNK_STREAMS', () => {
      const decoder = new ChunkDecoder();
      for (let csid = 2; csid < 66; csid++) decoder.push(encodeChunks(m(csid, 0, 8, 0, Buffer.alloc(0)), 128));
      assert.equal(decoder.chunkStreamCount, 64);
      // Reusing a known csid is fine; a 65th is not.
      decoder.push(encodeChunks(m(2, 0, 8, 0, Buffer.alloc(0)), 128));
      throwsCode(() => decoder.push(encodeChunks(m(66, 0, 8, 0, Buffer.alloc(0)), 128)), 'RTMP_ERR_TOO_MANY_CHUNK_STREAMS');
    });

    it('partial messages beyond maxBufferedBytes -> RTMP_ERR_BUFFER_LIMIT', () => {
      const decoder = new ChunkDecoder({ maxBufferedBytes: 256 * 1024, maxMessageLength: 64 * 1024 });
      decoder.push(announce(16384));
      let thrown: unknown;
      let opened = 0;
      try {
        // Open many 64 KiB messages, send only their first 16 KiB chunk, never finish them.
        for (let csid = 3; csid < 40; csid++) {
          decoder.push(encodeChunks(m(csid, 1, 9, 0, Buffer.alloc(65535)), 16384).subarray(0, 12 + 16384));
          opened++;
          assert.ok(decoder.bufferedBytes <= 256 * 1024);
        }
      } catch (error) {
        thrown = error;
      }
      assert.ok(thrown instanceof RtmpError);
      assert.equal(thrown.code, 'RTMP_ERR_BUFFER_LIMIT');
      assert.equal(opened, 16);
      assert.ok(decoder.bufferedBytes <= 256 * 1024);
    });
  });
});
