export { RtmpConnection } from './connection.ts';
export type { ConnectionHandler, RtmpConnectionOptions } from './connection.ts';
export { RtmpServer } from './server.ts';
export type { RtmpServerOptions } from './server.ts';
