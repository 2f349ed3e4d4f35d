export { createLogger, nullLogger, REDACTED_FIELDS } from './logger.ts';
export type { Logger, LogLevel, CreateLoggerOptions } from './logger.ts';
