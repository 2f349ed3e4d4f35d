/**
 * Every failure the RTMP stack reports is an RtmpError with a stable `code`. A peer's bad bytes are
 * never recoverable inside one connection (chunk-header compression means the stream position is
 * lost), so callers close that one connection and log `code` and `message`.
 */
export type RtmpErrorCode =
  | 'RTMP_ERR_HANDSHAKE_VERSION'
  | 'RTMP_ERR_HANDSHAKE'
  | 'RTMP_ERR_CHUNK_SIZE'
  | 'RTMP_ERR_MESSAGE_TOO_LARGE'
  | 'RTMP_ERR_TOO_MANY_CHUNK_STREAMS'
  | 'RTMP_ERR_NO_PREVIOUS_CHUNK'
  | 'RTMP_ERR_BUFFER_LIMIT'
  | 'RTMP_ERR_MALFORMED_MESSAGE'
  | 'RTMP_ERR_PROTOCOL';

const kRtmpError = Symbol.for('firstmile.rtmp.error');

export class RtmpError extends Error {
  readonly code: RtmpErrorCode;

  constructor(code: RtmpErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RtmpError';
    this.code = code;
    Object.defineProperty(this, kRtmpError, { value: true });
  }

  // Symbol.for keeps instanceof true across duplicate copies of this package in a workspace.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kRtmpError in value;
  }
}
