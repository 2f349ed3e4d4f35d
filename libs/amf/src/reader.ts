// Internal: the bounds-checked byte cursor and limit bookkeeping shared by the AMF0 and AMF3 decoders.
import { constants } from 'node:buffer';
import { AmfError, type AmfErrorCode } from './errors.ts';
import { DEFAULT_AMF_LIMITS, type AmfLimits, type AmfValue } from './types.ts';

/** Hard ceiling for maxDepth (decoders and encoders recurse once per level; this stays far below V8's stack limit). */
export const MAX_DEPTH_CEILING = 1000;

const resolvedLimits = new WeakSet<object>([DEFAULT_AMF_LIMITS]);
const limitKeys = ['maxDepth', 'maxItems', 'maxTotalItems', 'maxStringBytes'] as const;

/** Merges a caller's partial limits over the defaults; a bad limit is a programming error (RangeError). */
export function resolveLimits(limits: Partial<AmfLimits> | undefined): Readonly<AmfLimits> {
  if (limits === undefined) return DEFAULT_AMF_LIMITS;
  if (resolvedLimits.has(limits)) return limits as Readonly<AmfLimits>;
  const out: AmfLimits = { ...DEFAULT_AMF_LIMITS };
  for (const key of limitKeys) {
    const v = limits[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || Number.isNaN(v) || v < 0) {
      throw new RangeError(`AmfLimits.${key} must be a non-negative number, got ${String(v)}`);
    }
    out[key] = v;
  }
  if (out.maxDepth > MAX_DEPTH_CEILING) {
    throw new RangeError(`AmfLimits.maxDepth must be at most ${MAX_DEPTH_CEILING}, got ${out.maxDepth}`);
  }
  const frozen = Object.freeze(out);
  resolvedLimits.add(frozen);
  return frozen;
}

/** A Buffer view over any Uint8Array (no copy). */
export function asBuffer(buf: Uint8Array): Buffer {
  if (Buffer.isBuffer(buf)) return buf;
  if (!(buf instanceof Uint8Array)) throw new TypeError('AMF input must be a Uint8Array or Buffer');
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * Assigns a decoded property. `__proto__` would hit Object.prototype's setter and swap the
 * object's prototype, so it becomes an own data property instead.
 */
export function setProperty(target: Record<string, AmfValue>, key: string, value: AmfValue): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/**
 * Base of Amf0Decoder and Amf3Decoder. Every read checks the bytes that remain first, so a
 * peer's length or count can never make us read past the buffer, allocate for bytes that are not
 * there, or loop more often than there are bytes.
 */
export abstract class AmfReader {
  protected readonly buf: Buffer;
  protected pos: number;
  protected readonly limits: Readonly<AmfLimits>;
  protected depth = 0;
  protected items = 0;

  constructor(buf: Uint8Array, offset: number, limits: Partial<AmfLimits> | undefined) {
    this.buf = asBuffer(buf);
    if (!Number.isInteger(offset) || offset < 0 || offset > this.buf.length) {
      throw new RangeError(`offset ${offset} is outside the buffer (length ${this.buf.length})`);
    }
    this.pos = offset;
    this.limits = resolveLimits(limits);
  }

  /** Offset of the next unread byte. */
  get offset(): number {
    return this.pos;
  }

  /** Bytes left after `offset`. */
  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** Decodes one value at `offset` and advances past it. After an AmfError the decoder must not be reused. */
  abstract readValue(): AmfValue;

  /** Continues the stream in another encoding (AMF0's AVM+ switch) with the same position, depth and budget. */
  protected delegate(sub: AmfReader): AmfValue {
    sub.depth = this.depth;
    sub.items = this.items;
    const value = sub.readValue();
    this.pos = sub.pos;
    this.items = sub.items;
    return value;
  }

  protected fail(code: AmfErrorCode, message: string): never {
    throw new AmfError(code, message);
  }

  protected need(n: number): void {
    if (n > this.buf.length - this.pos) {
      this.fail('AMF_ERR_TRUNCATED', `need ${n} bytes at offset ${this.pos}, only ${this.buf.length - this.pos} remain`);
    }
  }

  protected u8(): number {
    if (this.pos >= this.buf.length) this.need(1);
    return this.buf[this.pos++]!;
  }

  protected peekU8(): number {
    if (this.pos >= this.buf.length) this.need(1);
    return this.buf[this.pos]!;
  }

  protected u16(): number {
    this.need(2);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 2;
    return (b[p]! << 8) | b[p + 1]!;
  }

  protected u32(): number {
    this.need(4);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
  }

  protected f64(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  protected skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** `len` UTF-8 bytes as a string; invalid sequences become U+FFFD rather than failing. */
  protected utf8(len: number): string {
    if (len === 0) return '';
    this.checkByteLength(len, 'string');
    const start = this.pos;
    this.pos = start + len;
    return this.buf.toString('utf8', start, start + len);
  }

  /** A copy (not a view) of the next `len` bytes. */
  protected copyBytes(len: number): Buffer {
    this.checkByteLength(len, 'byte array');
    const start = this.pos;
    this.pos = start + len;
    return Buffer.from(this.buf.subarray(start, start + len));
  }

  private checkByteLength(len: number, what: string): void {
    if (len > this.limits.maxStringBytes) {
      this.fail('AMF_ERR_LIMIT', `${what} of ${len} bytes at offset ${this.pos} exceeds maxStringBytes ${this.limits.maxStringBytes}`);
    }
    this.need(len);
    // Only reachable with maxStringBytes raised past V8's string limit and a buffer that large.
    if (len > constants.MAX_STRING_LENGTH) {
      this.fail('AMF_ERR_LIMIT', `${what} of ${len} bytes at offset ${this.pos} exceeds the JS string limit`);
    }
  }

  /**
   * Vets a peer-claimed element count before anything is allocated or iterated: against maxItems,
   * then against the bytes left (each element needs at least `minBytesEach`).
   */
  protected claim(count: number, minBytesEach: number, what: string): void {
    if (count > this.limits.maxItems) {
      this.fail('AMF_ERR_LIMIT', `${what} at offset ${this.pos} claims ${count} items, maxItems is ${this.limits.maxItems}`);
    }
    if (count * minBytesEach > this.buf.length - this.pos) {
      this.fail('AMF_ERR_TRUNCATED', `${what} at offset ${this.pos} claims ${count} items but only ${this.buf.length - this.pos} bytes remain`);
    }
  }

  protected checkItems(n: number, what: string): void {
    if (n > this.limits.maxItems) {
      this.fail('AMF_ERR_LIMIT', `${what} at offset ${this.pos} has more than maxItems ${this.limits.maxItems} entries`);
    }
  }

  protected countItems(n: number): void {
    this.items += n;
    if (this.items > this.limits.maxTotalItems) {
      this.fail('AMF_ERR_LIMIT', `more than maxTotalItems ${this.limits.maxTotalItems} values in one decode`);
    }
  }

  protected enter(): void {
    if (++this.depth > this.limits.maxDepth) {
      this.fail('AMF_ERR_DEPTH', `nesting deeper than maxDepth ${this.limits.maxDepth} at offset ${this.pos}`);
    }
  }

  protected leave(): void {
    this.depth--;
  }
}
