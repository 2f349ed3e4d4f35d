import { pino } from 'pino';

/**
 * The logging surface every firstmile module accepts. It is pino's, so a pino logger is passed in
 * as is; tests can pass a recording logger; libs never import pino.
 */
export interface Logger {
  trace(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  fatal(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/**
 * Field names whose values are secrets wherever they appear (top level and one level down). Stream keys are the
 * RTMP stream name of a publish, so code logs a derived stream id instead; this list is the safety
 * net for anything that slips through (a command object, a URL with a token).
 */
export const REDACTED_FIELDS: readonly string[] = Object.freeze([
  'streamKey',
  'key',
  'name',
  'streamName',
  'token',
  'secret',
  'password',
  'authorization',
  'cookie',
  // URLs and query strings carry signed-URL signatures, JWTs and `?token=` keys.
  'url',
  'query',
  'tcUrl',
  'swfUrl',
  'pageUrl',
  'sig',
  'jwt',
]);

/** Paths deeper than one level where secrets sit in well-known places (HTTP request logs). */
const REDACTED_PATHS: readonly string[] = Object.freeze([
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["x-api-key"]',
  'headers["x-api-key"]',
]);

export interface CreateLoggerOptions {
  level: LogLevel;
  /** Where JSON lines go; defaults to stdout. */
  destination?: NodeJS.WritableStream;
  base?: Record<string, unknown>;
}

export function createLogger(options: CreateLoggerOptions): Logger {
  const paths = [...REDACTED_FIELDS.flatMap((f) => [f, `*.${f}`]), ...REDACTED_PATHS];
  const opts = {
    level: options.level,
    base: options.base ?? {},
    redact: { paths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}

/** A logger that drops everything: the default where none is injected. */
export const nullLogger: Logger = Object.freeze({
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
  child() {
    return nullLogger;
  },
});
