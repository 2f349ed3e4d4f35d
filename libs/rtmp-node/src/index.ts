export { RtmpConnection, CLOSE_CODES } from './connection.ts';
export type { ConnectionHandler, RtmpConnectionOptions, RtmpConnectionState, CloseCode } from './connection.ts';
export { RtmpServer } from './server.ts';
export type { RtmpServerOptions, RtmpServerStats, RefuseReason } from './server.ts';
