/**
 * The HTTP API's errors. Every error answer is `{ error: { code, message, details? } }` with a
 * code from API_ERROR_CODES: clients branch on the code, never on the message, so codes are
 * stable and messages may improve. `Symbol.for` keeps `instanceof` working across duplicate copies
 * of the package (see BusError).
 */
export const API_ERROR_CODES = [
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'ADMIN_API_DISABLED',
  'NOT_FOUND',
  'STREAM_NOT_FOUND',
  'LIVE_STREAM_NOT_FOUND',
  'DELIVERY_NOT_FOUND',
  'STREAM_REVOKED',
  'CONFLICT',
  'DELIVERY_IN_PROGRESS',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'PLAYBACK_SIGNING_DISABLED',
  'TOO_MANY_REQUESTS',
  'UNAVAILABLE',
  'INTERNAL',
] as const;

export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/** One problem with a request: `field` is a JSON pointer into the part named (`body/name`). */
export interface ApiErrorDetail {
  field: string;
  message: string;
}

export interface ApiErrorBody {
  error: { code: ApiErrorCode; message: string; details?: ApiErrorDetail[] };
}

const kControlApiError = Symbol.for('firstmile.control.api-error');

export class ControlApiError extends Error {
  readonly code: ApiErrorCode;
  readonly statusCode: number;
  readonly details: ApiErrorDetail[] | undefined;
  /** Response headers the answer needs (WWW-Authenticate on 401). */
  readonly headers: Readonly<Record<string, string>> | undefined;

  constructor(
    statusCode: number,
    code: ApiErrorCode,
    message: string,
    options?: ErrorOptions & { details?: ApiErrorDetail[]; headers?: Readonly<Record<string, string>> },
  ) {
    super(message, options);
    this.name = 'ControlApiError';
    this.code = code;
    this.statusCode = statusCode;
    this.details = options?.details;
    this.headers = options?.headers;
    Object.defineProperty(this, kControlApiError, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kControlApiError in value;
  }

  toBody(): ApiErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

export function streamNotFound(id: string): ControlApiError {
  return new ControlApiError(404, 'STREAM_NOT_FOUND', `no stream with id ${JSON.stringify(id)}`);
}
