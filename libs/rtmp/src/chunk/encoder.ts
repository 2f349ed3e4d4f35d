import type { RtmpMessage } from '../message/types.ts';
import { DEFAULT_CHUNK_SIZE } from './decoder.ts';

const EXTENDED = 0xffffff;
const MESSAGE_HEADER_SIZE = [11, 7, 3, 0] as const;

function basicHeaderSize(csid: number): number {
  return csid < 64 ? 1 : csid < 320 ? 2 : 3;
}

function checkMessage(message: RtmpMessage): void {
  const { chunkStreamId: csid, messageStreamId: msid, type } = message;
  if (!Number.isInteger(csid) || csid < 2 || csid > 65599) {
    throw new RangeError(`chunk stream id must be an integer in 2..65599, got ${csid}`);
  }
  if (!Number.isInteger(msid) || msid < 0 || msid > 0xffffffff) {
    throw new RangeError(`message stream id must be a uint32, got ${msid}`);
  }
  if (!Number.isInteger(type) || type < 0 || type > 255) {
    throw new RangeError(`message type id must be an integer in 0..255, got ${type}`);
  }
  if (message.payload.length > 0xffffff) {
    throw new RangeError(`message payload of ${message.payload.length} bytes exceeds the 24-bit length field`);
  }
}

function checkChunkSize(chunkSize: number): number {
  // Spec 5.4.1: "Valid sizes are 1 to 2147483647 (0x7FFFFFFF) inclusive".
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 0x7fffffff) {
    throw new RangeError(`chunk size must be an integer in 1..2147483647, got ${chunkSize}`);
  }
  return chunkSize;
}

/** Encoded size of a message whose first chunk has header type `fmt`, with or without extended timestamps. */
function encodedSize(message: RtmpMessage, fmt: number, extended: boolean, chunkSize: number): number {
  const length = message.payload.length;
  const basic = basicHeaderSize(message.chunkStreamId);
  const ext = extended ? 4 : 0;
  const chunks = length === 0 ? 1 : Math.ceil(length / chunkSize);
  return basic + MESSAGE_HEADER_SIZE[fmt]! + ext + length + (chunks - 1) * (basic + ext);
}

function writeBasicHeader(buf: Buffer, off: number, fmt: number, csid: number): number {
  if (csid < 64) {
    buf[off] = (fmt << 6) | csid;
    return off + 1;
  }
  if (csid < 320) {
    buf[off] = fmt << 6;
    buf[off + 1] = csid - 64;
    return off + 2;
  }
  const id = csid - 64;
  buf[off] = (fmt << 6) | 1;
  buf[off + 1] = id & 0xff;
  buf[off + 2] = id >>> 8;
  return off + 3;
}

/**
 * Writes a message as chunks at buf[off..]: the first chunk with header type `fmt`, the rest type
 * 3. `time` is the timestamp (type 0) or delta (types 1-2) value; `extended` says whether the
 * extended timestamp field is present (then it carries `time`). Returns the new offset.
 */
function writeMessage(
  buf: Buffer,
  off: number,
  message: RtmpMessage,
  fmt: number,
  time: number,
  extended: boolean,
  chunkSize: number,
): number {
  const { chunkStreamId: csid, payload } = message;
  const length = payload.length;
  let p = writeBasicHeader(buf, off, fmt, csid);
  if (fmt <= 2) {
    const field = extended ? EXTENDED : time;
    buf[p] = field >>> 16;
    buf[p + 1] = (field >>> 8) & 0xff;
    buf[p + 2] = field & 0xff;
    p += 3;
    if (fmt <= 1) {
      buf[p] = length >>> 16;
      buf[p + 1] = (length >>> 8) & 0xff;
      buf[p + 2] = length & 0xff;
      buf[p + 3] = message.type;
      p += 4;
      if (fmt === 0) {
        buf.writeUInt32LE(message.messageStreamId, p);
        p += 4;
      }
    }
  }
  if (extended) p = buf.writeUInt32BE(time, p);
  let sent = Math.min(chunkSize, length);
  p += payload.copy(buf, p, 0, sent);
  while (sent < length) {
    p = writeBasicHeader(buf, p, 3, csid);
    // Spec 5.3.1.3: the extended timestamp "is present in Type 3 chunks when the most recent Type
    // 0, 1, or 2 chunk for the same chunk stream ID indicated the presence of an extended timestamp
    // field" -- so every continuation chunk repeats it.
    if (extended) p = buf.writeUInt32BE(time, p);
    const next = Math.min(sent + chunkSize, length);
    p += payload.copy(buf, p, sent, next);
    sent = next;
  }
  return p;
}

/**
 * Encodes one message statelessly: a type 0 chunk (absolute timestamp) followed by type 3
 * continuation chunks (repeating the extended timestamp when timestamp >= 0xFFFFFF), in one
 * Buffer of the exact size. This is the fan-out hot path: encode each media message once and
 * write the same bytes to every player on the same chunk size. Because every message starts with
 * a type 0 header, dropping any whole message for a slow player can never corrupt that player's
 * header decompression. Timestamps are taken modulo 2^32. Throws RangeError on invalid input.
 */
export function encodeChunks(message: RtmpMessage, chunkSize: number): Buffer {
  checkChunkSize(chunkSize);
  checkMessage(message);
  const time = message.timestamp >>> 0;
  const extended = time >= EXTENDED;
  const buf = Buffer.allocUnsafe(encodedSize(message, 0, extended, chunkSize));
  writeMessage(buf, 0, message, 0, time, extended, chunkSize);
  return buf;
}

/** What the encoder remembers of the last message sent on a chunk stream id. */
class EncoderStreamState {
  messageStreamId = 0;
  length = 0;
  type = 0;
  timestamp = 0;
  /** Delta of the last type 1/2/3 header; invalid after a type 0 (peers disagree on its meaning). */
  delta = 0;
  deltaValid = false;
}

/**
 * Stateful per-connection chunk encoder with header compression per chunk stream id (spec
 * 5.3.1.2): type 1 when the message stream id matches the previous message on that csid, type 2
 * when length and type id also match, type 3 when the timestamp delta also matches. A timestamp
 * going backwards (or wrapping past 2^32) gets a type 0 header rather than a huge delta.
 */
export class ChunkEncoder {
  #chunkSize: number;
  readonly #streams = new Map<number, EncoderStreamState>();
  /** Scratch for encodeMany: header type and time field per message. */
  #fmts: number[] = [];
  #times: number[] = [];

  /** Spec 5.4.1: "The maximum chunk size defaults to 128 bytes". */
  constructor(chunkSize: number = DEFAULT_CHUNK_SIZE) {
    this.#chunkSize = checkChunkSize(chunkSize);
  }

  /** Our current outgoing maximum chunk size. */
  get chunkSize(): number {
    return this.#chunkSize;
  }

  /**
   * Changes the outgoing chunk size. Send the SetChunkSize message to the peer first, encoded with
   * the OLD size (the peer switches only after it has read it), then call this.
   */
  setChunkSize(chunkSize: number): void {
    this.#chunkSize = checkChunkSize(chunkSize);
  }

  /** Forgets the state of a chunk stream id so its next message gets a type 0 header (use after dropping a message). */
  resetChunkStream(chunkStreamId: number): void {
    this.#streams.delete(chunkStreamId);
  }

  /** Encodes one message with header compression. Throws RangeError on invalid input. */
  encode(message: RtmpMessage): Buffer {
    checkMessage(message);
    const fmt = this.#plan(message);
    const time = this.#planTime;
    const extended = time >= EXTENDED;
    const buf = Buffer.allocUnsafe(encodedSize(message, fmt, extended, this.#chunkSize));
    writeMessage(buf, 0, message, fmt, time, extended, this.#chunkSize);
    return buf;
  }

  /** Encodes many messages, in order, into one Buffer (all at the current chunk size). */
  encodeMany(messages: readonly RtmpMessage[]): Buffer {
    const fmts = this.#fmts;
    const times = this.#times;
    fmts.length = 0;
    times.length = 0;
    let total = 0;
    for (const message of messages) checkMessage(message);
    for (const message of messages) {
      const fmt = this.#plan(message);
      fmts.push(fmt);
      times.push(this.#planTime);
      total += encodedSize(message, fmt, this.#planTime >= EXTENDED, this.#chunkSize);
    }
    const buf = Buffer.allocUnsafe(total);
    let off = 0;
    for (let i = 0; i < messages.length; i++) {
      const time = times[i]!;
      off = writeMessage(buf, off, messages[i]!, fmts[i]!, time, time >= EXTENDED, this.#chunkSize);
    }
    return buf;
  }

  /** Time field value chosen by the last #plan() call. */
  #planTime = 0;

  /** Chooses the header type for `message` and records it as the csid's last message. */
  #plan(message: RtmpMessage): number {
    const csid = message.chunkStreamId;
    const time = message.timestamp >>> 0;
    const length = message.payload.length;
    let s = this.#streams.get(csid);
    let fmt = 0;
    let delta = 0;
    if (s === undefined) {
      s = new EncoderStreamState();
      this.#streams.set(csid, s);
    } else if (s.messageStreamId === message.messageStreamId && time >= s.timestamp) {
      delta = time - s.timestamp;
      if (length !== s.length || message.type !== s.type) fmt = 1;
      else if (s.deltaValid && delta === s.delta) fmt = 3;
      else fmt = 2;
    }
    s.messageStreamId = message.messageStreamId;
    s.length = length;
    s.type = message.type;
    s.timestamp = time;
    s.delta = delta;
    s.deltaValid = fmt !== 0;
    this.#planTime = fmt === 0 ? time : delta;
    return fmt;
  }
}
