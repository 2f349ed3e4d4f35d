import { BusError } from './bus.ts';

/**
 * The media frame: one FLV/RTMP message of a live stream on the bus. Binary, fixed 20-byte header,
 * big-endian, so an origin reads a frame with subarray views and no parsing of JSON per message.
 *
 *   0  u8   version (1)
 *   1  u8   kind: FrameKind
 *   2  u8   RTMP message type (8 audio, 9 video, 18 data), 0 for non-media kinds
 *   3  u8   flags: FrameFlag bits
 *   4  u32  epoch: one publisher session of the stream; a reconnect gets a new epoch
 *   8  u32  seq: per epoch, +1 per frame, so a receiver sees loss (core NATS is at-most-once)
 *   12 u32  timestamp (ms, RTMP's 32-bit clock)
 *   16 u16  fragment index
 *   18 u16  fragment count (1 = whole)
 *   20 ...  payload (the RTMP message body, unchanged)
 */
export const FRAME_HEADER_SIZE = 20;
export const FRAME_VERSION = 1;

export const FrameKind = {
  /** An audio, video or data message. */
  Media: 0,
  /** A publisher session began; payload is JSON StreamStartInfo. */
  Start: 1,
  /** The publisher session ended cleanly or its connection dropped. */
  End: 2,
  /** Closes an init snapshot reply; seq is the last seq the snapshot covers. */
  SnapshotEnd: 3,
} as const;
export type FrameKindId = (typeof FrameKind)[keyof typeof FrameKind];

export const FrameFlag = {
  /** A video keyframe: a receiver that lost data may restart here. */
  Keyframe: 1,
  /** Metadata or a sequence header: state a decoder needs, never dropped, kept for late joiners. */
  Config: 2,
} as const;

export interface Frame {
  kind: FrameKindId;
  messageType: number;
  flags: number;
  epoch: number;
  seq: number;
  timestamp: number;
  payload: Uint8Array;
}

export interface FrameFragment extends Frame {
  fragmentIndex: number;
  fragmentCount: number;
}

/**
 * A frame as bus payloads: one when it fits `maxPayload`, else fragments of the same seq. The
 * payload is copied once, into the bus message (the bus owns what is published), into memory from
 * `alloc` (unpooled by default). With `headroom` of at least FRAME_HEADER_SIZE, the caller owns
 * that many bytes in front of `frame.payload` (the chunk decoder's headroom, see ServerSession's
 * media event): a frame that needs no fragments is then built in place, its header written into
 * those bytes, and the payload is not copied at all.
 */
export function encodeFrame(
  frame: Frame,
  maxPayload: number,
  alloc: (size: number) => Buffer = Buffer.allocUnsafeSlow,
  headroom = 0,
): Uint8Array[] {
  const room = maxPayload - FRAME_HEADER_SIZE;
  if (room <= 0) throw new BusError('BUS_ERR_FRAME', `max payload ${maxPayload} leaves no room for a frame`);
  const payload = frame.payload;
  const total = payload.byteLength;
  if (headroom >= FRAME_HEADER_SIZE && payload.byteOffset >= FRAME_HEADER_SIZE && total <= room) {
    const buf = Buffer.from(payload.buffer, payload.byteOffset - FRAME_HEADER_SIZE, total + FRAME_HEADER_SIZE);
    writeHeader(buf, frame, 0, 1);
    return [buf];
  }
  const count = Math.max(1, Math.ceil(total / room));
  if (count > 0xffff) throw new BusError('BUS_ERR_FRAME', `frame of ${total} bytes needs more than 65535 fragments`);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const start = i * room;
    const end = Math.min(total, start + room);
    // Never Node's shared pool: an edge keeps frames of the current GOP for seconds, and a small
    // frame carved from the shared 8 KiB pool would keep unrelated memory alive with it. Edges pass
    // a per-stream SlabAllocator.
    const buf = alloc(FRAME_HEADER_SIZE + (end - start));
    writeHeader(buf, frame, i, count);
    buf.set(payload.subarray(start, end), FRAME_HEADER_SIZE);
    out.push(buf);
  }
  return out;
}

function writeHeader(buf: Uint8Array, frame: Frame, fragmentIndex: number, fragmentCount: number): void {
  buf[0] = FRAME_VERSION;
  buf[1] = frame.kind;
  buf[2] = frame.messageType;
  buf[3] = frame.flags;
  writeU32(buf, 4, frame.epoch);
  writeU32(buf, 8, frame.seq);
  writeU32(buf, 12, frame.timestamp);
  buf[16] = fragmentIndex >>> 8;
  buf[17] = fragmentIndex & 0xff;
  buf[18] = fragmentCount >>> 8;
  buf[19] = fragmentCount & 0xff;
}

function writeU32(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 24;
  buf[at + 1] = value >>> 16;
  buf[at + 2] = value >>> 8;
  buf[at + 3] = value;
}

/** Reads one bus payload; the fragment's payload is a view of `data`. */
export function decodeFrame(data: Uint8Array): FrameFragment {
  if (data.byteLength < FRAME_HEADER_SIZE) {
    throw new BusError('BUS_ERR_FRAME', `frame of ${data.byteLength} bytes is shorter than its header`);
  }
  if (data[0] !== FRAME_VERSION) throw new BusError('BUS_ERR_FRAME', `unknown frame version ${data[0]}`);
  const kind = data[1]!;
  if (kind > FrameKind.SnapshotEnd) throw new BusError('BUS_ERR_FRAME', `unknown frame kind ${kind}`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const fragmentIndex = view.getUint16(16);
  const fragmentCount = view.getUint16(18);
  if (fragmentCount === 0 || fragmentIndex >= fragmentCount) {
    throw new BusError('BUS_ERR_FRAME', `bad fragment ${fragmentIndex}/${fragmentCount}`);
  }
  return {
    kind: kind as FrameKindId,
    messageType: data[2]!,
    flags: data[3]!,
    epoch: view.getUint32(4),
    seq: view.getUint32(8),
    timestamp: view.getUint32(12),
    fragmentIndex,
    fragmentCount,
    payload: data.subarray(FRAME_HEADER_SIZE),
  };
}

/**
 * Rebuilds fragmented frames. Fragments of one frame are published back to back on one subject, so
 * they arrive in order or not at all; anything else (a missing fragment, another seq in between)
 * discards the partial frame and the caller treats it as loss.
 */
export class FrameAssembler {
  readonly #maxFrameBytes: number;
  #parts: Uint8Array[] = [];
  #bytes = 0;
  #head: FrameFragment | undefined;
  // The frame last given up on: its remaining fragments are ignored, not counted again.
  #dropEpoch = -1;
  #dropSeq = -1;
  /** Partial frames given up on, for the caller's loss accounting. */
  discarded = 0;

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  push(fragment: FrameFragment): Frame | undefined {
    if (fragment.fragmentCount === 1) {
      if (this.#head) this.#reset(true);
      return fragment;
    }
    const head = this.#head;
    if (fragment.fragmentIndex === 0) {
      if (head) this.#reset(true);
      this.#head = fragment;
      this.#parts = [fragment.payload];
      this.#bytes = fragment.payload.byteLength;
      return undefined;
    }
    if (!head && fragment.epoch === this.#dropEpoch && fragment.seq === this.#dropSeq) return undefined;
    if (!head || head.seq !== fragment.seq || head.epoch !== fragment.epoch
      || fragment.fragmentCount !== head.fragmentCount || fragment.fragmentIndex !== this.#parts.length) {
      if (head) this.#reset(true);
      else this.#drop(fragment);
      return undefined;
    }
    this.#bytes += fragment.payload.byteLength;
    if (this.#bytes > this.#maxFrameBytes) {
      this.#reset(true);
      return undefined;
    }
    this.#parts.push(fragment.payload);
    if (this.#parts.length < head.fragmentCount) return undefined;
    const payload = Buffer.concat(this.#parts, this.#bytes);
    const frame: Frame = { ...head, payload };
    this.#reset(false);
    return frame;
  }

  #drop(fragment: FrameFragment): void {
    this.discarded++;
    this.#dropEpoch = fragment.epoch;
    this.#dropSeq = fragment.seq;
  }

  #reset(discard: boolean): void {
    if (discard && this.#head) this.#drop(this.#head);
    this.#head = undefined;
    this.#parts = [];
    this.#bytes = 0;
  }
}

/** Payload of a Start frame. */
export interface StreamStartInfo {
  app: string;
  streamId: string;
  startedAt: string;
  edge: string;
}
