/**
 * Deterministic fuzzer for the chunk layer, driven by the repo fuzz script. Each iteration either
 * round-trips random messages through the encoders and ChunkDecoder (a mismatch is a crash), or
 * feeds mutated valid encodings / random bytes to a capped ChunkDecoder (anything thrown that is
 * not an RtmpError, or retaining more than maxBufferedBytes, is a crash).
 */
import { isDeepStrictEqual } from 'node:util';
import { ChunkDecoder, ChunkEncoder, encodeChunks } from '../src/chunk/index.ts';
import type { ChunkDecoderOptions } from '../src/chunk/index.ts';
import { abort, setChunkSize } from '../src/message/control.ts';
import type { RtmpMessage } from '../src/message/types.ts';
import { RtmpError } from '../src/errors.ts';

/** One failing input (base64) and what went wrong. */
export interface FuzzCrash {
  input: string;
  error: string;
}

const LIMITS: Partial<ChunkDecoderOptions> = {
  maxMessageLength: 64 * 1024,
  maxBufferedBytes: 256 * 1024,
  maxChunkStreams: 16,
};

/** mulberry32: small, fast, seedable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255);
    return b;
  }
}

function randomMessages(rng: Rng): RtmpMessage[] {
  const out: RtmpMessage[] = [];
  let ts = rng.next() < 0.2 ? rng.int(0, 0xffffffff) : 0;
  const bursts = rng.int(0, 6);
  for (let b = 0; b < bursts; b++) {
    const csid = rng.next() < 0.8 ? rng.pick([2, 3, 4, 6]) : rng.pick([63, 64, 319, 320, 65599, rng.int(2, 65599)]);
    const msid = rng.next() < 0.9 ? rng.pick([0, 1]) : rng.int(0, 0xffffffff);
    let type = rng.next() < 0.7 ? rng.pick([8, 9, 18, 20]) : rng.int(0, 255);
    if (type === 1 || type === 2) type = 9;
    const delta = rng.pick([0, 20, 33, rng.int(0, 1000), rng.int(0xfffff0, 0x1000010), rng.int(0, 0xffffffff)]);
    const length = rng.next() < 0.5 ? rng.pick([0, 1, 127, 128, 129]) : rng.int(0, 3000);
    const count = rng.int(1, 4);
    for (let i = 0; i < count; i++) {
      ts = (ts + delta) >>> 0;
      out.push({ chunkStreamId: csid, messageStreamId: msid, type, timestamp: ts, payload: rng.bytes(length) });
    }
  }
  return out;
}

function randomSplit(rng: Rng, bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < bytes.length) {
    const n = rng.next() < 0.3 ? rng.int(1, 4) : rng.int(1, Math.max(1, bytes.length));
    out.push(bytes.subarray(off, off + n));
    off += n;
  }
  return out;
}

/**
 * Reference encoding of one message the way some FFmpeg versions sent it: type 0 first chunk, type
 * 3 continuation chunks WITHOUT the repeated extended timestamp. Test-only, deliberately simple.
 */
export function encodeWithoutContinuationTimestamps(message: RtmpMessage, chunkSize: number): Buffer {
  const csid = message.chunkStreamId;
  const basic = (fmt: number): Buffer =>
    csid < 64
      ? Buffer.from([(fmt << 6) | csid])
      : csid < 320
        ? Buffer.from([fmt << 6, csid - 64])
        : Buffer.from([(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8]);
  const header = Buffer.alloc(11);
  const ts = message.timestamp >>> 0;
  header.writeUIntBE(Math.min(ts, 0xffffff), 0, 3);
  header.writeUIntBE(message.payload.length, 3, 3);
  header[6] = message.type;
  header.writeUInt32LE(message.messageStreamId, 7);
  const parts = [basic(0), header];
  if (ts >= 0xffffff) {
    const ext = Buffer.alloc(4);
    ext.writeUInt32BE(ts);
    parts.push(ext);
  }
  for (let off = 0; off < message.payload.length || off === 0; off += chunkSize) {
    if (off > 0) parts.push(basic(3));
    parts.push(message.payload.subarray(off, off + chunkSize));
    if (message.payload.length === 0) break;
  }
  return Buffer.concat(parts);
}

/**
 * For extended-timestamp messages sent FFmpeg-style, make some continuation chunks begin with 1-3
 * bytes of the timestamp (then a differing byte), so the decoder has to peek and back off.
 */
function plantTimestampPrefixes(rng: Rng, message: RtmpMessage, chunkSize: number): void {
  const ts = message.timestamp >>> 0;
  if (ts < 0xffffff) return;
  const payload = message.payload;
  for (let k = chunkSize; k < payload.length; k += chunkSize) {
    const n = rng.int(0, 3);
    if (n === 0 || k + n >= payload.length) continue;
    for (let j = 0; j < n; j++) payload[k + j] = (ts >>> (24 - 8 * j)) & 0xff;
    payload[k + n] = ~(ts >>> (24 - 8 * n)) & 0xff;
  }
}

/** Zero-length message closing FFmpeg-style streams: a short last chunk may wait for 4 more bytes. */
const SENTINEL: RtmpMessage = { chunkStreamId: 63, messageStreamId: 0, type: 8, timestamp: 0, payload: Buffer.alloc(0) };

/** Encodes [SetChunkSize, ...messages] one of three ways; `messages` gains SENTINEL for the FFmpeg style. */
function encodeStream(rng: Rng, messages: RtmpMessage[], chunkSize: number): Buffer {
  const announce = setChunkSize(chunkSize);
  if (rng.next() < 0.2) {
    for (const m of messages) plantTimestampPrefixes(rng, m, chunkSize);
    messages.push(SENTINEL);
    return Buffer.concat([encodeChunks(announce, 128), ...messages.map((m) => encodeWithoutContinuationTimestamps(m, chunkSize))]);
  }
  if (rng.next() < 0.5) {
    return Buffer.concat([encodeChunks(announce, 128), ...messages.map((m) => encodeChunks(m, chunkSize))]);
  }
  const encoder = new ChunkEncoder();
  const head = encoder.encode(announce);
  encoder.setChunkSize(chunkSize);
  return Buffer.concat([head, encoder.encodeMany(messages)]);
}

function mutate(rng: Rng, input: Buffer): Buffer {
  let bytes = Buffer.from(input);
  const rounds = rng.int(1, 6);
  for (let r = 0; r < rounds; r++) {
    const at = bytes.length === 0 ? 0 : rng.int(0, bytes.length - 1);
    switch (rng.int(0, 6)) {
      case 0:
        if (bytes.length > 0) bytes[at] = bytes[at]! ^ (1 << rng.int(0, 7));
        break;
      case 1:
        if (bytes.length > 0) bytes[at] = rng.pick([0, 1, 2, 3, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xff]);
        break;
      case 2:
        bytes = Buffer.concat([bytes.subarray(0, at), rng.bytes(rng.int(1, 16)), bytes.subarray(at)]);
        break;
      case 3:
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + rng.int(1, 16)))]);
        break;
      case 4: {
        const end = Math.min(bytes.length, at + rng.int(1, 64));
        bytes = Buffer.concat([bytes.subarray(0, end), bytes.subarray(at, end), bytes.subarray(end)]);
        break;
      }
      case 5:
        bytes = bytes.subarray(0, at);
        break;
      default: {
        // Splice in a control message: a SetChunkSize or Abort at a random place.
        const control = rng.next() < 0.5 ? setChunkSize(rng.int(1, 70000)) : abort(rng.int(0, 70));
        bytes = Buffer.concat([bytes.subarray(0, at), encodeChunks(control, 128), bytes.subarray(at)]);
      }
    }
  }
  return bytes;
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error);
}

/** Decodes `pieces` with a capped decoder; returns a crash description or null. */
function survive(pieces: Buffer[]): string | null {
  const decoder = new ChunkDecoder(LIMITS);
  try {
    for (const piece of pieces) {
      decoder.push(piece);
      if (decoder.bufferedBytes > LIMITS.maxBufferedBytes!) return `bufferedBytes ${decoder.bufferedBytes} over the cap`;
    }
  } catch (error) {
    if (!(error instanceof RtmpError)) return describeError(error);
  }
  return null;
}

function roundTrip(pieces: Buffer[], expected: RtmpMessage[]): string | null {
  const decoder = new ChunkDecoder();
  const got: RtmpMessage[] = [];
  try {
    for (const piece of pieces) got.push(...decoder.push(piece));
  } catch (error) {
    return `round trip threw ${describeError(error)}`;
  }
  if (!isDeepStrictEqual(got, expected)) return `round trip mismatch: expected ${expected.length} messages, got ${got.length}`;
  if (decoder.bufferedBytes !== 0) return `round trip left ${decoder.bufferedBytes} bytes buffered`;
  return null;
}

/** Runs `iterations` fuzz cases from `seed` (default 1) and reports crashes with their inputs. */
export function fuzzChunk(iterations: number, seed = 1): { executions: number; crashes: FuzzCrash[] } {
  const rng = new Rng(seed);
  const crashes: FuzzCrash[] = [];
  let executions = 0;
  for (let i = 0; i < iterations; i++) {
    const mode = rng.int(0, 9);
    const chunkSize = rng.next() < 0.3 ? rng.pick([1, 2, 128, 4096]) : rng.int(1, 5000);
    let input: Buffer;
    let problem: string | null;
    if (mode <= 2) {
      const messages = randomMessages(rng);
      input = encodeStream(rng, messages, chunkSize);
      problem = roundTrip(randomSplit(rng, input), [setChunkSize(chunkSize), ...messages]);
    } else if (mode <= 7) {
      input = mutate(rng, encodeStream(rng, randomMessages(rng), chunkSize));
      problem = survive(randomSplit(rng, input));
    } else {
      input = rng.bytes(rng.int(0, 4096));
      problem = survive(randomSplit(rng, input));
    }
    executions++;
    if (problem !== null) crashes.push({ input: input.toString('base64'), error: problem });
  }
  return { executions, crashes };
}
