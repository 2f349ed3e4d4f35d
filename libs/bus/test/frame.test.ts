import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  BusError,
  FRAME_HEADER_SIZE,
  FrameAssembler,
  FrameFlag,
  FrameKind,
  decodeFrame,
  encodeFrame,
  type Frame,
} from '../src/index.ts';

const frame = (payload: Uint8Array, over: Partial<Frame> = {}): Frame => ({
  kind: FrameKind.Media,
  messageType: 9,
  flags: FrameFlag.Keyframe,
  epoch: 0xdeadbeef,
  seq: 7,
  timestamp: 0xfffffff0,
  payload,
  ...over,
});

test('encodeFrame() writes the documented 20-byte header', () => {
  const [bytes] = encodeFrame(frame(Buffer.from([1, 2, 3])), 1024);
  assert.equal(Buffer.from(bytes!).toString('hex'), '01000901' + 'deadbeef' + '00000007' + 'fffffff0' + '0000' + '0001' + '010203');
});

test('encodeFrame() → decodeFrame() round-trips every field, and the payload is a view', () => {
  const [bytes] = encodeFrame(frame(Buffer.from('hello')), 1024);
  const f = decodeFrame(bytes!);
  assert.equal(f.kind, FrameKind.Media);
  assert.equal(f.epoch, 0xdeadbeef);
  assert.equal(f.seq, 7);
  assert.equal(f.timestamp, 0xfffffff0);
  assert.equal(f.flags, FrameFlag.Keyframe);
  assert.equal(Buffer.from(f.payload).toString(), 'hello');
  assert.equal(f.payload.buffer, bytes!.buffer);
});

test('encodeFrame() with headroom writes the header in front of the payload: same bytes, no copy', () => {
  const memory = Buffer.alloc(64, 0xaa);
  const payload = memory.subarray(FRAME_HEADER_SIZE + 8, FRAME_HEADER_SIZE + 8 + 3);
  payload.set([1, 2, 3]);
  const parts = encodeFrame(frame(payload), 1024, undefined, FRAME_HEADER_SIZE + 8);
  assert.equal(parts.length, 1);
  assert.deepEqual(parts[0], encodeFrame(frame(Buffer.from([1, 2, 3])), 1024)[0]);
  assert.equal(parts[0]!.buffer, memory.buffer);
  assert.equal(parts[0]!.byteOffset, 8);
  // Bytes outside the frame are untouched.
  assert.equal(memory[7], 0xaa);
  assert.equal(memory[FRAME_HEADER_SIZE + 8 + 3], 0xaa);
});

test('encodeFrame() copies when the headroom is short or the frame needs fragments', () => {
  const memory = Buffer.alloc(FRAME_HEADER_SIZE + 3000, 0xaa);
  const short = encodeFrame(frame(memory.subarray(19, 22)), 1024, undefined, 19);
  assert.notEqual(short[0]!.buffer, memory.buffer);
  assert.equal(memory[0], 0xaa);
  const big = encodeFrame(frame(memory.subarray(FRAME_HEADER_SIZE)), 1000, undefined, FRAME_HEADER_SIZE);
  assert.equal(big.length, 4);
  for (const part of big) assert.notEqual(part.buffer, memory.buffer);
  assert.equal(memory[0], 0xaa);
});

test('a frame larger than the max payload is fragmented and reassembled exactly', () => {
  const payload = Buffer.alloc(10_000, 0).map((_, i) => i & 0xff);
  const parts = encodeFrame(frame(payload), 1000);
  assert.equal(parts.length, Math.ceil(10_000 / (1000 - FRAME_HEADER_SIZE)));
  for (const p of parts) assert.ok(p.byteLength <= 1000);
  const asm = new FrameAssembler(1 << 20);
  const out = parts.map((p) => asm.push(decodeFrame(p)));
  assert.deepEqual(out.slice(0, -1), new Array(parts.length - 1).fill(undefined));
  assert.deepEqual(Buffer.from(out.at(-1)!.payload), Buffer.from(payload));
});

test('FrameAssembler discards a frame with a missing fragment and recovers on the next frame', () => {
  const asm = new FrameAssembler(1 << 20);
  const a = encodeFrame(frame(Buffer.alloc(3000, 1), { seq: 1 }), 1000);
  const b = encodeFrame(frame(Buffer.alloc(3000, 2), { seq: 2 }), 1000);
  asm.push(decodeFrame(a[0]!));
  asm.push(decodeFrame(a[2]!)); // a[1] lost
  let done: Frame | undefined;
  for (const p of b) done = asm.push(decodeFrame(p));
  assert.equal(done?.seq, 2);
  assert.ok(asm.discarded >= 1);
});

test('FrameAssembler caps the bytes of one frame', () => {
  const asm = new FrameAssembler(2500);
  let done: Frame | undefined;
  for (const p of encodeFrame(frame(Buffer.alloc(5000)), 1000)) done = asm.push(decodeFrame(p));
  assert.equal(done, undefined);
  assert.equal(asm.discarded, 1);
});

test('decodeFrame() rejects short, unversioned and inconsistent frames with BUS_ERR_FRAME', () => {
  const good = Buffer.from(encodeFrame(frame(Buffer.alloc(4)), 100)[0]!);
  const bad = [
    good.subarray(0, 19),
    Buffer.concat([Buffer.from([2]), good.subarray(1)]),
    (() => { const b = Buffer.from(good); b[1] = 9; return b; })(),
    (() => { const b = Buffer.from(good); b.writeUInt16BE(0, 18); return b; })(),
    (() => { const b = Buffer.from(good); b.writeUInt16BE(3, 16); b.writeUInt16BE(2, 18); return b; })(),
  ];
  for (const b of bad) {
    assert.throws(() => decodeFrame(b), (e: unknown) => e instanceof BusError && e.code === 'BUS_ERR_FRAME');
  }
});

test('property: any payload at any max payload survives encode → decode → assemble', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 5000 }), fc.integer({ min: 21, max: 2000 }), (payload, max) => {
      const asm = new FrameAssembler(1 << 20);
      let done: Frame | undefined;
      for (const p of encodeFrame(frame(payload), max)) done = asm.push(decodeFrame(p));
      assert.deepEqual(Buffer.from(done!.payload), Buffer.from(payload));
    }),
    { numRuns: 300 },
  );
});

test('property: decodeFrame() on arbitrary bytes returns or throws BusError only', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        decodeFrame(bytes);
      } catch (e) {
        assert.ok(e instanceof BusError, String(e));
      }
    }),
    { numRuns: 2000 },
  );
});
