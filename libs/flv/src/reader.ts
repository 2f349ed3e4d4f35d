import { readU32 } from './bytes.ts';
import { FlvError } from './errors.ts';
import {
  FLV_HEADER_SIZE,
  isFlvSignaturePrefix,
  parseFlvHeader,
  parseTagHeader,
  PREVIOUS_TAG_SIZE_SIZE,
  TAG_HEADER_SIZE,
  TagType,
  type FlvHeader,
} from './tag.ts';

/** A tag to write: TagType, 32-bit millisecond timestamp, payload. */
export interface FlvTagInput {
  readonly type: number;
  readonly timestamp: number;
  readonly data: Uint8Array;
}

/** A tag read from an FLV file. */
export interface FlvTag extends FlvTagInput {
  /** Payload: a view into the pushed chunk when it lay inside one chunk (do not mutate pushed chunks), else a copy. */
  readonly data: Buffer;
}

/** Options for {@link FlvReader}. */
export interface FlvReaderOptions {
  /** Largest DataSize accepted; larger fails with FLV_ERR_TAG_TOO_LARGE before any allocation. Default 16 MiB. */
  readonly maxTagSize?: number;
}

/** Default `maxTagSize`: 16 MiB, i.e. anything a UI24 DataSize can express. */
export const DEFAULT_MAX_TAG_SIZE = 16 * 1024 * 1024;

const State = {
  FileHeader: 0,
  HeaderPadding: 1,
  PreviousTagSize: 2,
  TagHeader: 3,
  TagData: 4,
} as const;
type State = (typeof State)[keyof typeof State];

const STATE_NAMES = ['FLV header', 'FLV header padding', 'PreviousTagSize', 'tag header', 'tag data'] as const;

/**
 * Incremental FLV file parser: feed arbitrary chunks, get complete tags. Keeps a list of pending
 * chunks plus an offset rather than concatenating on every push, so a tag that lies inside one chunk
 * is returned without copying. After an error the reader is dead: every later call rethrows it.
 */
export class FlvReader {
  /** Effective DataSize cap. */
  readonly maxTagSize: number;

  #chunks: Buffer[] = [];
  /** Index of the first chunk with unconsumed bytes. */
  #head = 0;
  /** Consumed bytes of `#chunks[#head]`. */
  #offset = 0;
  /** Unconsumed bytes over all pending chunks. */
  #buffered = 0;

  #state: State = State.FileHeader;
  #header: FlvHeader | undefined;
  #paddingLeft = 0;
  /** PreviousTagSize the next back-pointer must carry: 0 before the first tag, else 11 + DataSize. */
  #expectedPreviousTagSize = 0;
  #tagType = 0;
  #tagTimestamp = 0;
  #tagDataSize = 0;
  #error: FlvError | undefined;
  readonly #scratch = Buffer.allocUnsafe(TAG_HEADER_SIZE);

  constructor(options: FlvReaderOptions = {}) {
    const max = options.maxTagSize ?? DEFAULT_MAX_TAG_SIZE;
    if (!Number.isInteger(max) || max < 0) throw new RangeError(`maxTagSize must be a non-negative integer, got ${max}`);
    this.maxTagSize = max;
  }

  /** The FLV file header once its 9 bytes have arrived. */
  get header(): FlvHeader | undefined {
    return this.#header;
  }

  /** Feeds the next chunk; returns the tags completed by it (possibly none). Throws FlvError on bad input. */
  push(chunk: Uint8Array): FlvTag[] {
    if (this.#error !== undefined) throw this.#error;
    const out: FlvTag[] = [];
    if (chunk.length === 0) return out;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#chunks.push(buf);
    this.#buffered += buf.length;
    try {
      this.#drain(out);
    } catch (err) {
      if (err instanceof FlvError) this.#error = err;
      throw err;
    }
    return out;
  }

  /** Declares end of input; throws FLV_ERR_TRUNCATED unless it fell exactly after a PreviousTagSize. */
  end(): void {
    if (this.#error !== undefined) throw this.#error;
    if (this.#state === State.TagHeader && this.#buffered === 0) return;
    this.#error = new FlvError(
      'FLV_ERR_TRUNCATED',
      `FLV input ended inside ${STATE_NAMES[this.#state]} (${this.#buffered} bytes pending)`,
    );
    throw this.#error;
  }

  #drain(out: FlvTag[]): void {
    for (;;) {
      switch (this.#state) {
        case State.FileHeader: {
          // Check the signature on the first bytes so a non-FLV stream fails without waiting for 9.
          const n = this.#buffered < FLV_HEADER_SIZE ? this.#buffered : FLV_HEADER_SIZE;
          const head = this.#peek(n);
          if (!isFlvSignaturePrefix(head)) {
            throw new FlvError('FLV_ERR_SIGNATURE', 'not an FLV file: signature is not "FLV"');
          }
          if (n < FLV_HEADER_SIZE) return;
          this.#header = parseFlvHeader(head);
          this.#discard(FLV_HEADER_SIZE);
          this.#paddingLeft = this.#header.headerLength - FLV_HEADER_SIZE;
          this.#state = State.HeaderPadding;
          break;
        }
        case State.HeaderPadding: {
          // DataOffset > 9 leaves bytes the spec does not define; skip them without buffering.
          const n = this.#paddingLeft < this.#buffered ? this.#paddingLeft : this.#buffered;
          this.#discard(n);
          this.#paddingLeft -= n;
          if (this.#paddingLeft > 0) return;
          this.#expectedPreviousTagSize = 0;
          this.#state = State.PreviousTagSize;
          break;
        }
        case State.PreviousTagSize: {
          if (this.#buffered < PREVIOUS_TAG_SIZE_SIZE) return;
          const size = readU32(this.#peek(PREVIOUS_TAG_SIZE_SIZE), 0);
          this.#discard(PREVIOUS_TAG_SIZE_SIZE);
          // Some live muxers leave every back-pointer at 0, so 0 is accepted anywhere.
          if (size !== this.#expectedPreviousTagSize && size !== 0) {
            throw new FlvError(
              'FLV_ERR_MALFORMED',
              `PreviousTagSize is ${size}, expected ${this.#expectedPreviousTagSize}`,
            );
          }
          this.#state = State.TagHeader;
          break;
        }
        case State.TagHeader: {
          if (this.#buffered < TAG_HEADER_SIZE) return;
          const h = parseTagHeader(this.#peek(TAG_HEADER_SIZE), 0);
          if (h.reserved !== 0) throw new FlvError('FLV_ERR_MALFORMED', `FLV tag reserved bits are ${h.reserved}`);
          if (h.filter) throw new FlvError('FLV_ERR_UNSUPPORTED', 'encrypted FLV tags (Filter = 1) are not supported');
          if (h.type !== TagType.Audio && h.type !== TagType.Video && h.type !== TagType.Script) {
            throw new FlvError('FLV_ERR_MALFORMED', `unknown FLV TagType ${h.type}`);
          }
          if (h.dataSize > this.maxTagSize) {
            throw new FlvError('FLV_ERR_TAG_TOO_LARGE', `FLV tag DataSize ${h.dataSize} exceeds ${this.maxTagSize}`);
          }
          this.#discard(TAG_HEADER_SIZE);
          this.#tagType = h.type;
          this.#tagTimestamp = h.timestamp;
          this.#tagDataSize = h.dataSize;
          this.#state = State.TagData;
          break;
        }
        case State.TagData: {
          const size = this.#tagDataSize;
          if (this.#buffered < size) return;
          out.push({ type: this.#tagType, timestamp: this.#tagTimestamp, data: this.#take(size) });
          this.#expectedPreviousTagSize = TAG_HEADER_SIZE + size;
          this.#state = State.PreviousTagSize;
          break;
        }
      }
    }
  }

  /** Next `n` (≤ 11) unconsumed bytes without consuming them: a view if contiguous, else copied into scratch. */
  #peek(n: number): Buffer {
    const first = this.#chunks[this.#head];
    if (first === undefined) return this.#scratch.subarray(0, 0);
    if (first.length - this.#offset >= n) return first.subarray(this.#offset, this.#offset + n);
    let copied = 0;
    for (let i = this.#head; copied < n; i++) {
      const c = this.#chunks[i]!;
      const start = i === this.#head ? this.#offset : 0;
      copied += c.copy(this.#scratch, copied, start, Math.min(c.length, start + n - copied));
    }
    return this.#scratch.subarray(0, n);
  }

  /** Consumes `n` bytes and returns them: a zero-copy view when inside one chunk, else one new Buffer. */
  #take(n: number): Buffer {
    const first = this.#chunks[this.#head];
    if (first !== undefined && first.length - this.#offset >= n) {
      const view = first.subarray(this.#offset, this.#offset + n);
      this.#discard(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    while (copied < n) {
      const c = this.#chunks[this.#head]!;
      const k = c.copy(out, copied, this.#offset, Math.min(c.length, this.#offset + n - copied));
      copied += k;
      this.#discard(k);
    }
    return out;
  }

  /** Consumes `n` buffered bytes, releasing chunks that are fully read. */
  #discard(n: number): void {
    this.#buffered -= n;
    while (n > 0) {
      const c = this.#chunks[this.#head]!;
      const left = c.length - this.#offset;
      if (n < left) {
        this.#offset += n;
        return;
      }
      n -= left;
      this.#offset = 0;
      this.#head++;
    }
    if (this.#head === this.#chunks.length) {
      this.#chunks = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
  }
}
