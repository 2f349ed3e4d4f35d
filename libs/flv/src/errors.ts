/** Machine-readable reason carried by every {@link FlvError}. */
export type FlvErrorCode =
  /** Input ended before a complete header / tag / field (also: an empty payload). */
  | 'FLV_ERR_TRUNCATED'
  /** The file does not start with the bytes 'F' 'L' 'V'. */
  | 'FLV_ERR_SIGNATURE'
  /** A tag's DataSize exceeds the reader's `maxTagSize` cap. */
  | 'FLV_ERR_TAG_TOO_LARGE'
  /** Structurally invalid: bad DataOffset, PreviousTagSize mismatch, unknown TagType, reserved bits. */
  | 'FLV_ERR_MALFORMED'
  /** Valid FLV that this library deliberately does not handle (encrypted tags, Filter = 1). */
  | 'FLV_ERR_UNSUPPORTED';

const BRAND: unique symbol = Symbol.for('firstmile.flv.error') as never;

/** The only error type thrown by parsers in this package; `instanceof` works across duplicate package copies. */
export class FlvError extends Error {
  override readonly name = 'FlvError';
  readonly code: FlvErrorCode;

  constructor(code: FlvErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }

  // Branded check instead of prototype identity: two copies of @firstmile/flv in one process
  // (e.g. a service and a lib each resolving their own) must still recognise each other's errors.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
  }
}

Object.defineProperty(FlvError.prototype, BRAND, { value: true, enumerable: false, writable: false });
