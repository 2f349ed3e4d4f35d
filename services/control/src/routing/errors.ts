export type RoutingErrorCode =
  /** A routing setting (regions JSON, thresholds) is malformed. */
  | 'ROUTING_ERR_CONFIG'
  /** The GeoIP database cannot be opened or is not a MaxMind DB. */
  | 'ROUTING_ERR_GEOIP'
  /** The Kubernetes API refused or failed a request the caller must know about. */
  | 'ROUTING_ERR_KUBERNETES'
  /** Leader election could not start (lock bucket, lease). */
  | 'ROUTING_ERR_LEADER';

const kRoutingError = Symbol.for('firstmile.control.routing.error');

/** The error of ingest routing, the edge sources, geo lookup and leader election. */
export class RoutingError extends Error {
  readonly code: RoutingErrorCode;

  constructor(code: RoutingErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RoutingError';
    this.code = code;
    Object.defineProperty(this, kRoutingError, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kRoutingError in value;
  }
}
