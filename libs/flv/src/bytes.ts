// Big-endian field helpers over plain Uint8Array (so Buffers and views both work); callers bounds-check.

export function readU16(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

export function readU24(buf: Uint8Array, at: number): number {
  return (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
}

/** SI24, two's complement (FLV CompositionTime). */
export function readSi24(buf: Uint8Array, at: number): number {
  return (readU24(buf, at) << 8) >> 8;
}

/** UI32 as a non-negative number (also used for FourCC comparisons without allocating a string). */
export function readU32(buf: Uint8Array, at: number): number {
  return buf[at]! * 0x1_00_00_00 + ((buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!);
}

export function writeU24(out: Uint8Array, at: number, value: number): void {
  out[at] = (value >>> 16) & 0xff;
  out[at + 1] = (value >>> 8) & 0xff;
  out[at + 2] = value & 0xff;
}

export function writeU32(out: Uint8Array, at: number, value: number): void {
  out[at] = (value >>> 24) & 0xff;
  out[at + 1] = (value >>> 16) & 0xff;
  out[at + 2] = (value >>> 8) & 0xff;
  out[at + 3] = value & 0xff;
}

/** FourCC string ('avc1') → UI32 as it appears on the wire. */
export function fourCcValue(code: string): number {
  return code.charCodeAt(0) * 0x1_00_00_00 + ((code.charCodeAt(1) << 16) | (code.charCodeAt(2) << 8) | code.charCodeAt(3));
}

/** UI32 read from the wire → FourCC string (one char per byte, Latin-1). */
export function fourCcString(value: number): string {
  return String.fromCharCode((value / 0x1_00_00_00) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

/**
 * Shared walker state for the E-RTMP ExVideoTagHeader / ExAudioTagHeader prefix. One module-level
 * instance per media type is reused so the hot-path predicates allocate nothing.
 */
export class ExScan {
  pos = 0;
  packetType = -1;
  timestampOffsetNano = -1;
  multitrackType = -1;
  trackId = -1;
  fourCc = -1;

  resetEx(): void {
    this.pos = 0;
    this.packetType = -1;
    this.timestampOffsetNano = -1;
    this.multitrackType = -1;
    this.trackId = -1;
    this.fourCc = -1;
  }

  /**
   * Consumes ModEx packets while packetType is `modEx` (7 for both audio and video): each carries
   * UI8 size-1 (0xff escapes to UI16 size-1), the data, then UB[4] ModExType + UB[4] the next PacketType.
   * Returns false when the payload ends inside one.
   */
  modEx(p: Uint8Array, modEx: number): boolean {
    const n = p.length;
    while (this.packetType === modEx) {
      let pos = this.pos;
      if (pos >= n) return false;
      let size = p[pos++]! + 1;
      if (size === 256) {
        if (pos + 2 > n) return false;
        size = readU16(p, pos) + 1;
        pos += 2;
      }
      if (pos + size + 1 > n) return false;
      const next = p[pos + size]!;
      // ModExType TimestampOffsetNano (0): UI24 nanoseconds added to the millisecond timestamp.
      if (next >> 4 === 0 && size >= 3) this.timestampOffsetNano = readU24(p, pos);
      this.packetType = next & 0x0f;
      this.pos = pos + size + 1;
    }
    return true;
  }

  /**
   * Multitrack prefix: UB[4] AvMultitrackType + UB[4] inner PacketType, a shared FourCC unless
   * ManyTracksManyCodecs, then the first track's [FourCC] TrackId [UI24 size unless OneTrack].
   */
  multitrack(p: Uint8Array): boolean {
    const n = p.length;
    let pos = this.pos;
    if (pos >= n) return false;
    const mt = p[pos]! >> 4;
    this.multitrackType = mt;
    this.packetType = p[pos]! & 0x0f;
    pos++;
    // Whether shared (one codec for every track) or per track (ManyTracksManyCodecs = 2), the first
    // FourCC sits right here: for per-track codecs it opens the first track's entry.
    if (pos + 4 > n) return false;
    this.fourCc = readU32(p, pos);
    pos += 4;
    if (pos >= n) return false;
    this.trackId = p[pos++]!;
    if (mt !== 0) {
      if (pos + 3 > n) return false;
      pos += 3; // sizeOfTrack: offset to the next track, not needed to describe the first one
    }
    this.pos = pos;
    return true;
  }

  fourCcAt(p: Uint8Array): boolean {
    if (this.pos + 4 > p.length) return false;
    this.fourCc = readU32(p, this.pos);
    this.pos += 4;
    return true;
  }
}
