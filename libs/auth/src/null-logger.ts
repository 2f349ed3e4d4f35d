import type { Logger } from '@firstmile/observability';

/**
 * Where no logger is injected. Local rather than observability's nullLogger so that this package
 * needs only observability's types at run time, not pino and the tracing SDK behind its index.
 */
export const silentLogger: Logger = Object.freeze({
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
  child() {
    return silentLogger;
  },
});
