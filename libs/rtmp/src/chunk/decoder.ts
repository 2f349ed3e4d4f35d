import { RtmpError } from '../errors.ts';
import { MessageType } from '../message/types.ts';
import type { RtmpMessage } from '../message/types.ts';

/** Limits that bound what one peer can make the decoder hold or accept. */
export interface ChunkDecoderOptions {
  /** Largest SetChunkSize accepted from the peer (default 0xFFFFFF: no chunk exceeds a message). */
  maxChunkSize: number;
  /** Largest message length accepted, checked on the header (default 0xFFFFFF, the 24-bit maximum). */
  maxMessageLength: number;
  /** Distinct chunk stream ids with state per connection (default 64). */
  maxChunkStreams: number;
  /** Bytes held in partially reassembled messages across all chunk streams (default 32 MiB). */
  maxBufferedBytes: number;
  /**
   * Bytes left free in front of the payload of every audio, video, data and aggregate message
   * (default 0). With headroom H, such a message of nonzero length comes up as `b.subarray(H)` of a
   * Buffer `b` that holds nothing else, so the application may write its own header into those H
   * bytes and forward header and payload as one buffer, without copying the payload again.
   */
  payloadHeadroom: number;
  /**
   * With headroom, payloads up to a quarter of this size are carved in arrival order from
   * unpooled slabs of this size, so ingest does not cost one allocation per message (default 0:
   * one unpooled allocation per payload). A slab lives as long as the newest payload in it.
   */
  payloadSlabSize: number;
  /**
   * The caller reuses each pushed Buffer once push() returns (one read buffer shared by every
   * socket, so a read costs no allocation). Then nothing the decoder returns or keeps refers to
   * pushed bytes: a message that arrived whole is copied once into memory of its own, and the
   * parts of a message that spans pushes are copied as they arrive (default false: views).
   */
  transientInput: boolean;
}

/** Defaults for ChunkDecoderOptions. */
export const DEFAULT_CHUNK_DECODER_OPTIONS: Readonly<ChunkDecoderOptions> = Object.freeze({
  maxChunkSize: 0xffffff,
  maxMessageLength: 0xffffff,
  maxChunkStreams: 64,
  maxBufferedBytes: 32 * 1024 * 1024,
  payloadHeadroom: 0,
  payloadSlabSize: 0,
  transientInput: false,
});

/** Spec 5.4.1: "The maximum chunk size defaults to 128 bytes". */
export const DEFAULT_CHUNK_SIZE = 128;

/** Longest chunk header: 3-byte basic header + 11-byte type 0 message header + 4-byte extended timestamp. */
const MAX_HEADER_SIZE = 18;
const EXTENDED = 0xffffff;

const Phase = { Header: 0, Payload: 1 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];

/** Per chunk stream id state: the last header's fields (for compression) and the message in progress. */
class ChunkStreamState {
  readonly csid: number;
  /** Absolute timestamp of the current/last message, modulo 2^32. */
  timestamp = 0;
  /** Delta re-applied by a type 3 chunk that starts a new message (0 after a type 0 header). */
  delta = 0;
  length = 0;
  type = 0;
  messageStreamId = 0;
  /** Whether the last type 0/1/2 (or new-message type 3) header on this csid carried an extended timestamp. */
  extended = false;
  /** The value that extended timestamp field carried. */
  extendedValue = 0;
  /** A message is partially received on this csid. */
  inProgress = false;
  /** Payload bytes of the message in progress received so far. */
  received = 0;
  /**
   * The message's final memory, when it was allocated at its first chunk: only when the bytes in
   * hand already covered its claimed length, so a peer never makes us reserve memory it has not
   * sent. Each chunk is copied straight into it.
   */
  target: Buffer | null = null;
  /**
   * Otherwise the message being reassembled, as views of the pushed Buffers, copied once into one
   * Buffer of the message's length when it completes. Chunks under SMALL_PIECE bytes are copied
   * into `tail` instead: one view per chunk would let a peer at SetChunkSize 1 make us keep one
   * Buffer object per payload byte.
   */
  pieces: Buffer[] = [];
  tail: Buffer | null = null;
  tailLength = 0;

  constructor(csid: number) {
    this.csid = csid;
  }
}

/**
 * Reassembles RTMP messages from the peer's chunk stream (spec 5.3), sans-I/O: push() the bytes
 * that follow the handshake, get back the messages they completed. SetChunkSize and Abort are
 * applied here (they change how the following bytes parse), whatever chunk/message stream they
 * came on, and are still returned. Any protocol violation throws RtmpError and leaves the decoder
 * dead; the caller closes the connection. Leniencies: type 3 continuation chunks may omit the
 * extended timestamp (see #parseHeader); a type 0/1/2 header on a csid whose message is
 * unfinished drops that partial message.
 */
export class ChunkDecoder {
  readonly #maxChunkSize: number;
  readonly #maxMessageLength: number;
  readonly #maxChunkStreams: number;
  readonly #maxBufferedBytes: number;
  readonly #headroom: number;
  readonly #slabSize: number;
  readonly #transient: boolean;
  #slab: Buffer | null = null;
  #slabOffset = 0;
  readonly #streams = new Map<number, ChunkStreamState>();
  #chunkSize = DEFAULT_CHUNK_SIZE;
  #bytesReceived = 0;
  #bufferedBytes = 0;
  #phase: Phase = Phase.Header;
  /** Stream whose chunk payload is being read (valid in Phase.Payload). */
  #current: ChunkStreamState | null = null;
  /** Payload bytes left in the current chunk. */
  #chunkRemaining = 0;
  /** Bytes of a chunk header split across push() calls. */
  readonly #carry = Buffer.allocUnsafe(MAX_HEADER_SIZE);
  #carryLength = 0;
  #out: RtmpMessage[] = [];
  #failure: RtmpError | null = null;

  constructor(options?: Partial<ChunkDecoderOptions>) {
    const d = DEFAULT_CHUNK_DECODER_OPTIONS;
    this.#maxChunkSize = checkLimit('maxChunkSize', options?.maxChunkSize ?? d.maxChunkSize, 0x7fffffff);
    this.#maxMessageLength = checkLimit('maxMessageLength', options?.maxMessageLength ?? d.maxMessageLength, 0xffffff);
    // csids 2..65599 are the only ones the basic header can express.
    this.#maxChunkStreams = checkLimit('maxChunkStreams', options?.maxChunkStreams ?? d.maxChunkStreams, 65598);
    this.#maxBufferedBytes = checkLimit(
      'maxBufferedBytes',
      options?.maxBufferedBytes ?? d.maxBufferedBytes,
      Number.MAX_SAFE_INTEGER,
    );
    this.#headroom = checkSize('payloadHeadroom', options?.payloadHeadroom ?? d.payloadHeadroom, 1024);
    this.#slabSize = checkSize('payloadSlabSize', options?.payloadSlabSize ?? d.payloadSlabSize, 64 * 1024 * 1024);
    this.#transient = options?.transientInput ?? d.transientInput;
  }

  /** The peer's current maximum chunk size (128 until it sends SetChunkSize). */
  get chunkSize(): number {
    return this.#chunkSize;
  }

  /** Total bytes pushed so far (for Acknowledgement; may exceed 2^32). */
  get bytesReceived(): number {
    return this.#bytesReceived;
  }

  /**
   * Bytes currently held for partially received messages (never above maxBufferedBytes): the
   * received bytes of messages kept as views, the whole length of messages allocated up front.
   */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /** Number of chunk stream ids that have state. */
  get chunkStreamCount(): number {
    return this.#streams.size;
  }

  /**
   * Consumes bytes and returns the messages they completed, in arrival order. Without headroom,
   * payloads of messages that arrived in one chunk within one pushed Buffer are views of that
   * Buffer (copy them if you keep them long and the Buffer is large); reassembled payloads are
   * fresh Buffers. With headroom (see ChunkDecoderOptions.payloadHeadroom), media payloads are
   * always copied, once, into memory of their own.
   */
  push(data: Buffer): RtmpMessage[] {
    if (this.#failure !== null) {
      throw new RtmpError(this.#failure.code, `chunk decoder already failed: ${this.#failure.message}`);
    }
    this.#bytesReceived += data.length;
    const out: RtmpMessage[] = [];
    this.#out = out;
    try {
      this.#feed(data);
    } catch (error) {
      if (error instanceof RtmpError) this.#failure = error;
      else this.#failure = new RtmpError('RTMP_ERR_PROTOCOL', 'internal decoder error', { cause: error });
      this.#release();
      throw error;
    }
    return out;
  }

  #feed(data: Buffer): void {
    let off = 0;
    if (this.#carryLength > 0) {
      // A header began in an earlier push: complete it in the small carry buffer.
      const carry = this.#carry;
      const before = this.#carryLength;
      const take = Math.min(data.length, MAX_HEADER_SIZE - before);
      data.copy(carry, before, 0, take);
      const total = before + take;
      const n = this.#parseHeader(carry, 0, total);
      if (n < 0) {
        if (take < data.length) throw new Error('chunk header longer than MAX_HEADER_SIZE');
        this.#carryLength = total;
        return;
      }
      this.#carryLength = 0;
      if (n >= before) {
        off = n - before;
      } else {
        // The header ended inside the carried bytes (a type 3 chunk whose 4 peeked bytes were not
        // an extended timestamp): those carried bytes are payload, so feed them first, then `data`.
        this.#scan(Buffer.from(carry.subarray(n, before)), 0);
        this.#feed(data);
        return;
      }
    }
    this.#scan(data, off);
  }

  #scan(buf: Buffer, start: number): void {
    const end = buf.length;
    let off = start;
    while (off < end) {
      if (this.#phase === Phase.Header) {
        const n = this.#parseHeader(buf, off, end);
        if (n < 0) {
          buf.copy(this.#carry, 0, off, end);
          this.#carryLength = end - off;
          return;
        }
        off += n;
        continue;
      }
      const cs = this.#current!;
      const take = Math.min(this.#chunkRemaining, end - off);
      this.#chunkRemaining -= take;
      if (cs.received === 0) {
        const headroom = this.#headroomFor(cs.type);
        if (headroom === 0 && take === cs.length && !this.#transient) {
          // The whole message is one chunk inside this Buffer: hand up a view, no copy.
          off += take;
          this.#phase = Phase.Header;
          this.#complete(cs, buf.subarray(off - take, off));
          continue;
        }
        // Allocate the message's memory now only when the bytes in hand cover its claimed length
        // (the common case: an encoder writes a message at once). The peer cannot make us
        // reserve more than it has sent, and each chunk is then copied once, straight into place.
        if (cs.length <= end - off && this.#bufferedBytes + cs.length <= this.#maxBufferedBytes) {
          cs.target = this.#allocate(cs.length, headroom);
          this.#bufferedBytes += cs.length;
        }
      }
      const target = cs.target;
      if (target !== null) {
        buf.copy(target, cs.received, off, off + take);
        cs.received += take;
        off += take;
        if (this.#chunkRemaining === 0) {
          this.#phase = Phase.Header;
          if (cs.received === cs.length) {
            cs.target = null;
            this.#bufferedBytes -= cs.length;
            this.#complete(cs, target);
          }
        }
        continue;
      }
      if (this.#bufferedBytes + take > this.#maxBufferedBytes) {
        throw new RtmpError(
          'RTMP_ERR_BUFFER_LIMIT',
          `partially received messages would hold more than ${this.#maxBufferedBytes} bytes`,
        );
      }
      if (take >= SMALL_PIECE) {
        flushTail(cs);
        // A view would see the caller's next read: the part of a message that spans reads is
        // the one copy transient input costs beyond the final one.
        cs.pieces.push(this.#transient ? Buffer.from(buf.subarray(off, off + take)) : buf.subarray(off, off + take));
      } else {
        if (cs.tail !== null && cs.tailLength + take > cs.tail.length) flushTail(cs);
        cs.tail ??= Buffer.allocUnsafeSlow(Math.min(TAIL_SIZE, cs.length - cs.received));
        buf.copy(cs.tail, cs.tailLength, off, off + take);
        cs.tailLength += take;
      }
      cs.received += take;
      this.#bufferedBytes += take;
      off += take;
      if (this.#chunkRemaining === 0) {
        this.#phase = Phase.Header;
        if (cs.received === cs.length) {
          flushTail(cs);
          const pieces = cs.pieces;
          const headroom = this.#headroomFor(cs.type);
          let payload: Buffer;
          if (headroom === 0 && pieces.length === 1) {
            payload = pieces[0]!;
          } else {
            payload = this.#allocate(cs.length, headroom);
            let at = 0;
            for (const piece of pieces) {
              payload.set(piece, at);
              at += piece.length;
            }
          }
          this.#bufferedBytes -= cs.received;
          cs.pieces = [];
          this.#complete(cs, payload);
        }
      }
    }
  }

  /** Headroom for a message type: only the messages an application forwards get it. */
  #headroomFor(type: number): number {
    return type === MessageType.Audio || type === MessageType.Video || type === MessageType.DataAmf0
      || type === MessageType.DataAmf3 || type === MessageType.Aggregate ? this.#headroom : 0;
  }

  /** Memory for one payload of `length` bytes with `headroom` free bytes in front of it. */
  #allocate(length: number, headroom: number): Buffer {
    // Without headroom nothing is kept for long (like Buffer.concat, small ones come from the pool).
    if (headroom === 0) return Buffer.allocUnsafe(length);
    const size = headroom + length;
    const slabSize = this.#slabSize;
    // Never Node's shared pool: an application keeps media (a GOP cache) for seconds, and a small
    // payload carved from the shared pool would keep unrelated memory alive with it.
    if (size > slabSize >>> 2) return Buffer.allocUnsafeSlow(size).subarray(headroom);
    let slab = this.#slab;
    let start = this.#slabOffset;
    if (slab === null || start + size > slabSize) {
      slab = Buffer.allocUnsafeSlow(slabSize);
      this.#slab = slab;
      start = 0;
    }
    // 8-byte alignment keeps typed-array reads of the application's header aligned.
    this.#slabOffset = start + ((size + 7) & ~7);
    return slab.subarray(start + headroom, start + size);
  }

  /**
   * Parses one chunk header at buf[off..end). Returns the bytes consumed, or -1 (no state changed)
   * when more bytes are needed. On success the decoder is in Phase.Payload for that chunk, or the
   * message was empty and has been emitted.
   */
  #parseHeader(buf: Buffer, off: number, end: number): number {
    const avail = end - off;
    if (avail < 1) return -1;
    const b0 = buf[off]!;
    const fmt = b0 >>> 6;
    let csid = b0 & 0x3f;
    let p = off + 1;
    // Spec 5.3.1.1: "Value 0 indicates the 2 byte form and an ID in the range of 64-319 (the second
    // byte + 64). Value 1 indicates the 3 byte form and an ID in the range of 64-65599 ((the third
    // byte)*256 + the second byte + 64)."
    if (csid === 0) {
      if (avail < 2) return -1;
      csid = 64 + buf[p]!;
      p += 1;
    } else if (csid === 1) {
      if (avail < 3) return -1;
      csid = 64 + buf[p]! + buf[p + 1]! * 256;
      p += 2;
    }
    let cs = this.#streams.get(csid);
    if (cs === undefined && fmt !== 0) {
      throw new RtmpError(
        'RTMP_ERR_NO_PREVIOUS_CHUNK',
        `type ${fmt} chunk on chunk stream ${csid}, which has no previous type 0 header`,
      );
    }

    if (fmt === 3) {
      cs = cs!;
      if (cs.inProgress) {
        // Spec 5.3.1.3: extended timestamp "is present in Type 3 chunks when the most recent Type 0,
        // 1, or 2 chunk for the same chunk stream ID indicated the presence of an extended
        // timestamp field." Peers disagree for continuation chunks (FFmpeg has sent them without
        // it), so like librtmp/nginx-rtmp, take the 4 bytes only if they equal the expected value;
        // otherwise they are payload. With fewer than 4 bytes at hand, wait only while they are
        // still a prefix of the expected value (a short last chunk must not stall on bytes that
        // may never come).
        if (cs.extended) {
          const have = end - p;
          const expected = cs.extendedValue;
          if (have >= 4) {
            if (buf.readUInt32BE(p) === expected) p += 4;
          } else if (isPrefixOf(buf, p, have, expected)) {
            return -1;
          }
        }
        this.#continueMessage(cs);
        return p - off;
      }
      // A type 3 chunk starting a new message repeats the previous header, delta included (spec
      // 5.3.1.2.4); here the extended field is required by the same rule and carries the delta.
      if (cs.extended) {
        if (end - p < 4) return -1;
        cs.delta = buf.readUInt32BE(p);
        cs.extendedValue = cs.delta;
        p += 4;
      }
      cs.timestamp = (cs.timestamp + cs.delta) >>> 0;
      this.#startMessage(cs);
      return p - off;
    }

    // Type 0: 11 bytes (timestamp, length, type id, stream id); type 1: 7 (delta, length, type id);
    // type 2: 3 (delta). Timestamps and lengths are 24-bit big-endian, the stream id little-endian.
    const headerSize = fmt === 0 ? 11 : fmt === 1 ? 7 : 3;
    if (end - p < headerSize) return -1;
    let time = (buf[p]! << 16) | (buf[p + 1]! << 8) | buf[p + 2]!;
    const extended = time === EXTENDED;
    let q = p + headerSize;
    if (extended) {
      // Spec 5.3.1.3: "This field is present in Type 0, 1, or 2 chunks when the timestamp or
      // timestamp delta field in the Chunk Message Header is set to 16777215 (0xFFFFFF)."
      if (end - q < 4) return -1;
      time = buf.readUInt32BE(q);
      q += 4;
    }
    if (fmt !== 2) {
      const length = (buf[p + 3]! << 16) | (buf[p + 4]! << 8) | buf[p + 5]!;
      if (length > this.#maxMessageLength) {
        throw new RtmpError(
          'RTMP_ERR_MESSAGE_TOO_LARGE',
          `message length ${length} on chunk stream ${csid} exceeds the limit of ${this.#maxMessageLength}`,
        );
      }
      if (cs === undefined) cs = this.#createStream(csid);
      this.#dropPartial(cs);
      cs.length = length;
      cs.type = buf[p + 6]!;
      if (fmt === 0) cs.messageStreamId = buf.readUInt32LE(p + 7);
    } else {
      cs = cs!;
      this.#dropPartial(cs);
    }
    cs.extended = extended;
    cs.extendedValue = time;
    if (fmt === 0) {
      cs.timestamp = time;
      cs.delta = 0;
    } else {
      cs.delta = time;
      cs.timestamp = (cs.timestamp + time) >>> 0;
    }
    this.#startMessage(cs);
    return q - off;
  }

  #createStream(csid: number): ChunkStreamState {
    if (this.#streams.size >= this.#maxChunkStreams) {
      throw new RtmpError(
        'RTMP_ERR_TOO_MANY_CHUNK_STREAMS',
        `peer opened more than ${this.#maxChunkStreams} chunk streams (chunk stream ${csid})`,
      );
    }
    const cs = new ChunkStreamState(csid);
    this.#streams.set(csid, cs);
    return cs;
  }

  /**
   * A type 0/1/2 header on a csid whose message is unfinished: the spec leaves this undefined;
   * we drop the partial message (as an Abort would) and start the new one.
   */
  #dropPartial(cs: ChunkStreamState): void {
    if (!cs.inProgress) return;
    if (cs.target !== null) {
      this.#bufferedBytes -= cs.length;
      cs.target = null;
    } else {
      this.#bufferedBytes -= cs.received;
    }
    cs.pieces = [];
    cs.tail = null;
    cs.tailLength = 0;
    cs.received = 0;
    cs.inProgress = false;
  }

  #startMessage(cs: ChunkStreamState): void {
    if (cs.length === 0) {
      // Message length 0 is valid: the message is complete with its header.
      this.#complete(cs, Buffer.alloc(0));
      return;
    }
    cs.inProgress = true;
    cs.received = 0;
    this.#current = cs;
    this.#chunkRemaining = Math.min(this.#chunkSize, cs.length);
    this.#phase = Phase.Payload;
  }

  #continueMessage(cs: ChunkStreamState): void {
    this.#current = cs;
    this.#chunkRemaining = Math.min(this.#chunkSize, cs.length - cs.received);
    this.#phase = Phase.Payload;
  }

  #complete(cs: ChunkStreamState, payload: Buffer): void {
    cs.inProgress = false;
    cs.received = 0;
    const type = cs.type;
    if (type === MessageType.SetChunkSize) this.#applySetChunkSize(payload);
    else if (type === MessageType.Abort) this.#applyAbort(payload);
    this.#out.push({
      chunkStreamId: cs.csid,
      messageStreamId: cs.messageStreamId,
      type,
      timestamp: cs.timestamp,
      payload,
    });
  }

  #applySetChunkSize(payload: Buffer): void {
    if (payload.length < 4) {
      throw new RtmpError('RTMP_ERR_MALFORMED_MESSAGE', `SetChunkSize payload of ${payload.length} bytes, expected 4`);
    }
    const size = payload.readUInt32BE(0);
    // Spec 5.4.1: "The first bit of the data MUST be zero, and the rest of the field represents
    // the new maximum chunk size ... Valid sizes are 1 to 2147483647 (0x7FFFFFFF) inclusive;
    // however, all sizes larger than 16777215 (0xFFFFFF) are equivalent since no chunk is larger
    // than one message, and no message is larger than 16777215 bytes."
    if (size === 0 || size > 0x7fffffff || size > this.#maxChunkSize) {
      throw new RtmpError(
        'RTMP_ERR_CHUNK_SIZE',
        `SetChunkSize ${size} outside the accepted range 1..${this.#maxChunkSize}`,
      );
    }
    // Spec 5.4.1: the new size applies to the chunks that follow.
    this.#chunkSize = size;
  }

  #applyAbort(payload: Buffer): void {
    if (payload.length < 4) {
      throw new RtmpError('RTMP_ERR_MALFORMED_MESSAGE', `Abort payload of ${payload.length} bytes, expected 4`);
    }
    // Spec 5.4.2: the receiver, "if it is waiting for chunks to complete a message, then [is] to
    // discard the partially received message over a chunk stream."
    const target = this.#streams.get(payload.readUInt32BE(0));
    if (target !== undefined) this.#dropPartial(target);
  }

  /** After a failure: let go of every retained view. */
  #release(): void {
    for (const cs of this.#streams.values()) {
      cs.target = null;
      cs.pieces = [];
      cs.tail = null;
    }
    this.#streams.clear();
    this.#slab = null;
    this.#bufferedBytes = 0;
    this.#current = null;
  }
}

/** Whether buf[p..p+have) (have < 4) are the leading big-endian bytes of `value`. */
function isPrefixOf(buf: Buffer, p: number, have: number, value: number): boolean {
  for (let i = 0; i < have; i++) {
    if (buf[p + i] !== ((value >>> (24 - 8 * i)) & 0xff)) return false;
  }
  return true;
}

function checkSize(name: string, value: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new RangeError(`ChunkDecoderOptions.${name} must be an integer in 0..${max}, got ${value}`);
  }
  return value;
}

function checkLimit(name: string, value: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new RangeError(`ChunkDecoderOptions.${name} must be an integer in 1..${max}, got ${value}`);
  }
  return value;
}

/** Chunks smaller than this are copied rather than kept as views (see ChunkStreamState.pieces). */
const SMALL_PIECE = 512;
const TAIL_SIZE = 4096;

function flushTail(cs: ChunkStreamState): void {
  if (cs.tail === null) return;
  cs.pieces.push(cs.tailLength === cs.tail.length ? cs.tail : cs.tail.subarray(0, cs.tailLength));
  cs.tail = null;
  cs.tailLength = 0;
}
