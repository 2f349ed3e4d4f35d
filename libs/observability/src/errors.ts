export type ObservabilityErrorCode =
  /** An option passed to a metrics or tracing factory is out of range. */
  | 'OBS_ERR_INVALID_OPTION'
  /** An OTEL_* environment value names something this build does not support, or does not parse. */
  | 'OBS_ERR_OTEL_CONFIG';

const kObservabilityError = Symbol.for('firstmile.observability.error');

export class ObservabilityError extends Error {
  readonly code: ObservabilityErrorCode;

  constructor(code: ObservabilityErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ObservabilityError';
    this.code = code;
    Object.defineProperty(this, kObservabilityError, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kObservabilityError in value;
  }
}
