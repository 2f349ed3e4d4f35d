/**
 * Every failure the AMF codec reports is an AmfError with a stable `code`. Decoding bytes from a
 * peer never throws anything else, so callers can treat any AmfError as "this message is bad" and
 * anything else as a bug.
 */
export type AmfErrorCode =
  /** The buffer ended inside a value, or a length/count claims more bytes than remain. */
  | 'AMF_ERR_TRUNCATED'
  /** A type marker that neither spec defines. */
  | 'AMF_ERR_UNKNOWN_MARKER'
  /** Structurally invalid input, e.g. an AMF0 object-end marker where a value is expected. */
  | 'AMF_ERR_MALFORMED'
  /** Nesting deeper than AmfLimits.maxDepth. */
  | 'AMF_ERR_DEPTH'
  /** A container, string or decode call exceeds one of the other AmfLimits. */
  | 'AMF_ERR_LIMIT'
  /** A reference (AMF0 0x07, AMF3 string/object/traits) to an index not yet in its table. */
  | 'AMF_ERR_BAD_REFERENCE'
  /** A defined type this codec does not implement (AMF0 movieclip/recordset, AMF3 externalizable). */
  | 'AMF_ERR_UNSUPPORTED'
  /** A value that cannot be encoded (wrong JS type, key too long, nesting too deep, …). */
  | 'AMF_ERR_ENCODE';

const kAmfError = Symbol.for('firstmile.amf.error');

/** The one error type of @firstmile/amf; `code` is stable, `message` is for humans. */
export class AmfError extends Error {
  readonly code: AmfErrorCode;

  constructor(code: AmfErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AmfError';
    this.code = code;
    Object.defineProperty(this, kAmfError, { value: true });
  }

  // Symbol.for keeps instanceof true across duplicate copies of this package in a workspace.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kAmfError in value;
  }
}
