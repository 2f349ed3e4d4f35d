export { SETTINGS, ConfigError, configTable, loadConfig } from './config.ts';
export type { Config } from './config.ts';
export { run } from './run.ts';
export type { Mode, Running } from './run.ts';
export { NODE_ENV, NODE_FLAGS } from './node-runtime.ts';
