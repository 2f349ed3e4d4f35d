// Internal: the growable output buffer both encoders write into (one buffer per encode call).
import { AmfError } from './errors.ts';

/** Nesting beyond this is refused by the encoders (AMF_ERR_ENCODE) instead of overflowing the stack. */
export const MAX_ENCODE_DEPTH = 1000;

export class ByteWriter {
  #buf: Buffer;
  #pos = 0;

  constructor(capacity = 256) {
    this.#buf = Buffer.allocUnsafe(capacity);
  }

  get length(): number {
    return this.#pos;
  }

  #reserve(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const size = Math.max(this.#buf.length * 2, this.#pos + n);
    let next: Buffer;
    try {
      next = Buffer.allocUnsafe(size);
    } catch (cause) {
      throw new AmfError('AMF_ERR_ENCODE', `encoded output of ${size} bytes cannot be allocated`, { cause });
    }
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  u8(v: number): void {
    this.#reserve(1);
    this.#buf[this.#pos++] = v;
  }

  u16(v: number): void {
    this.#reserve(2);
    const b = this.#buf;
    const p = this.#pos;
    b[p] = v >>> 8;
    b[p + 1] = v;
    this.#pos = p + 2;
  }

  u32(v: number): void {
    this.#reserve(4);
    this.#pos = this.#buf.writeUInt32BE(v, this.#pos);
  }

  i32(v: number): void {
    this.#reserve(4);
    this.#pos = this.#buf.writeInt32BE(v, this.#pos);
  }

  f64(v: number): void {
    this.#reserve(8);
    this.#pos = this.#buf.writeDoubleBE(v, this.#pos);
  }

  /** Writes `s` whose UTF-8 length the caller already measured with Buffer.byteLength. */
  utf8(s: string, byteLength: number): void {
    if (byteLength === 0) return;
    this.#reserve(byteLength);
    this.#pos += this.#buf.write(s, this.#pos, byteLength, 'utf8');
  }

  bytes(b: Uint8Array): void {
    this.#reserve(b.length);
    this.#buf.set(b, this.#pos);
    this.#pos += b.length;
  }

  /** The bytes written so far (a view of the writer's buffer). */
  finish(): Buffer {
    return this.#buf.subarray(0, this.#pos);
  }
}
