/**
 * The package's errors. Authorization outcomes are not errors (they are decisions, see
 * PublishDecision); these are programming and storage errors. One base class with a stable `code`;
 * `Symbol.for` markers keep `instanceof` working across duplicate copies of the package.
 */
export type AuthErrorCode =
  /** Options that cannot work (a cache TTL over its bound, no key for JWT, a missing bus). */
  | 'AUTH_ERR_CONFIG'
  /** A remote decider (control) answered with something that is not an answer. */
  | 'AUTH_ERR_UNAVAILABLE'
  | KeyStoreErrorCode;

export type KeyStoreErrorCode =
  /** update(): the record changed since the revision the caller read (compare-and-set lost). */
  | 'KEYSTORE_ERR_CONFLICT'
  /** update()/delete(): no record with that id. */
  | 'KEYSTORE_ERR_NOT_FOUND'
  /** create(): the id exists, or a key hash already belongs to another stream. */
  | 'KEYSTORE_ERR_EXISTS'
  /** A record that breaks the stored format (bad id or hash, too many keys). */
  | 'KEYSTORE_ERR_INVALID'
  /** The store was closed. */
  | 'KEYSTORE_ERR_CLOSED';

const kAuthError = Symbol.for('firstmile.auth.error');
const kKeyStoreError = Symbol.for('firstmile.auth.keystore-error');

export class AuthError extends Error {
  readonly code: AuthErrorCode;

  constructor(code: AuthErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AuthError';
    this.code = code;
    Object.defineProperty(this, kAuthError, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kAuthError in value;
  }
}

export class KeyStoreError extends AuthError {
  declare readonly code: KeyStoreErrorCode;

  constructor(code: KeyStoreErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = 'KeyStoreError';
    Object.defineProperty(this, kKeyStoreError, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kKeyStoreError in value;
  }
}
