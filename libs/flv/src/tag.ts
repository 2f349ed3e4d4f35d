import { readU24, readU32, writeU24 } from './bytes.ts';
import { FlvError } from './errors.ts';

/** FLV TagType (UB[5]); equal to the RTMP message type id carrying the same payload. */
export const TagType = { Audio: 8, Video: 9, Script: 18 } as const;
export type TagType = (typeof TagType)[keyof typeof TagType];

/** Bytes in the FLV file header as written by this package (DataOffset = 9). */
export const FLV_HEADER_SIZE = 9;
/** Bytes in an FLV tag header (TagType … StreamID). */
export const TAG_HEADER_SIZE = 11;
/** Bytes in a PreviousTagSize back-pointer. */
export const PREVIOUS_TAG_SIZE_SIZE = 4;
/** Largest DataSize an FLV tag header can express (UI24). */
export const MAX_TAG_DATA_SIZE = 0xff_ff_ff;

/** Parsed FLV file header (FLV spec v10.1 annex E.2). */
export interface FlvHeader {
  /** Version byte; 1 for every FLV written since 2002. */
  readonly version: number;
  readonly hasAudio: boolean;
  readonly hasVideo: boolean;
  /** DataOffset: bytes from file start to PreviousTagSize0 (9 unless a muxer pads the header). */
  readonly headerLength: number;
}

/** Parsed FLV tag header (FLV spec v10.1 annex E.4.1). */
export interface TagHeader {
  /** TagType (low 5 bits of the first byte). */
  readonly type: number;
  /** Filter bit: 1 means the payload is encrypted (pre-processing required). */
  readonly filter: boolean;
  /** Bits 7–6 of the first byte, reserved for FMS and required to be 0. */
  readonly reserved: number;
  /** DataSize: payload bytes following the 11-byte header. */
  readonly dataSize: number;
  /** Milliseconds: Timestamp (UI24) with TimestampExtended as the high byte, read as unsigned 32-bit. */
  readonly timestamp: number;
  /** StreamID (UI24), always 0 in conforming files. */
  readonly streamId: number;
}

/** Fields accepted by {@link buildTagHeader}. */
export interface TagHeaderInit {
  readonly type: number;
  readonly dataSize: number;
  readonly timestamp: number;
  readonly streamId?: number;
  readonly filter?: boolean;
}

const SIGNATURE = [0x46, 0x4c, 0x56] as const; // 'F' 'L' 'V'

/** @internal True when the first min(3, length) bytes are a prefix of the 'FLV' signature. */
export function isFlvSignaturePrefix(buf: Uint8Array): boolean {
  const n = buf.length < 3 ? buf.length : 3;
  for (let i = 0; i < n; i++) if (buf[i] !== SIGNATURE[i]) return false;
  return true;
}

/** Parses the 9-byte FLV file header at the start of `buf` (signature is checked before length). */
export function parseFlvHeader(buf: Uint8Array): FlvHeader {
  if (!isFlvSignaturePrefix(buf)) throw new FlvError('FLV_ERR_SIGNATURE', 'not an FLV file: signature is not "FLV"');
  if (buf.length < FLV_HEADER_SIZE) {
    throw new FlvError('FLV_ERR_TRUNCATED', `FLV header needs ${FLV_HEADER_SIZE} bytes, got ${buf.length}`);
  }
  const flags = buf[4]!;
  const headerLength = readU32(buf, 5);
  // DataOffset counts the header itself, so anything below 9 cannot be right.
  if (headerLength < FLV_HEADER_SIZE) {
    throw new FlvError('FLV_ERR_MALFORMED', `FLV DataOffset ${headerLength} is smaller than the header`);
  }
  return {
    version: buf[3]!,
    hasAudio: (flags & 0x04) !== 0,
    hasVideo: (flags & 0x01) !== 0,
    headerLength,
  };
}

/** Builds the 9-byte FLV header followed by PreviousTagSize0 (= 0): 13 bytes. */
export function buildFlvHeader(opts: { readonly hasAudio: boolean; readonly hasVideo: boolean }): Buffer {
  const out = Buffer.alloc(FLV_HEADER_SIZE + PREVIOUS_TAG_SIZE_SIZE);
  out[0] = 0x46;
  out[1] = 0x4c;
  out[2] = 0x56;
  out[3] = 1;
  out[4] = (opts.hasAudio ? 0x04 : 0) | (opts.hasVideo ? 0x01 : 0);
  out.writeUInt32BE(FLV_HEADER_SIZE, 5);
  return out; // bytes 9..12 stay 0: PreviousTagSize0
}

/** Parses the 11-byte tag header at `offset`. */
export function parseTagHeader(buf: Uint8Array, offset = 0): TagHeader {
  if (!(offset >= 0) || buf.length - offset < TAG_HEADER_SIZE) {
    throw new FlvError('FLV_ERR_TRUNCATED', `FLV tag header needs ${TAG_HEADER_SIZE} bytes at offset ${offset}`);
  }
  const b0 = buf[offset]!;
  return {
    type: b0 & 0x1f,
    filter: (b0 & 0x20) !== 0,
    reserved: b0 >> 6,
    dataSize: readU24(buf, offset + 1),
    // TimestampExtended (byte 7) holds bits 31–24, after the UI24 low part: 32-bit ms, ~49.7 days.
    timestamp: readU24(buf, offset + 4) + buf[offset + 7]! * 0x1_00_00_00,
    streamId: readU24(buf, offset + 8),
  };
}

/** Builds an 11-byte tag header. Throws RangeError on out-of-range fields (a caller bug, not bad input). */
export function buildTagHeader(init: TagHeaderInit): Buffer {
  const out = Buffer.allocUnsafe(TAG_HEADER_SIZE);
  writeTagHeader(out, 0, init);
  return out;
}

/** @internal Writes an 11-byte tag header into `out` at `offset` after range-checking every field. */
export function writeTagHeader(out: Uint8Array, offset: number, init: TagHeaderInit): void {
  const { type, dataSize, timestamp } = init;
  const streamId = init.streamId ?? 0;
  checkUint('type', type, 0x1f);
  checkUint('dataSize', dataSize, MAX_TAG_DATA_SIZE);
  checkUint('timestamp', timestamp, 0xff_ff_ff_ff);
  checkUint('streamId', streamId, 0xff_ff_ff);
  out[offset] = type | (init.filter === true ? 0x20 : 0);
  writeU24(out, offset + 1, dataSize);
  writeU24(out, offset + 4, timestamp & 0xff_ff_ff);
  out[offset + 7] = Math.floor(timestamp / 0x1_00_00_00);
  writeU24(out, offset + 8, streamId);
}

function checkUint(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`FLV tag ${name} must be an integer in [0, ${max}], got ${value}`);
  }
}
