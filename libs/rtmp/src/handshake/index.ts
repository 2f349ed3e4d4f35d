/** RTMP handshake (spec 5.2): C0/C1/C2 and S0/S1/S2, simple and digest forms, sans-I/O. */
export { ServerHandshake } from './server.ts';
export { ClientHandshake } from './client.ts';
export type { ClientHandshakeOptions } from './client.ts';
export type { HandshakeOptions, HandshakeResult } from './common.ts';
export {
  HANDSHAKE_SIZE,
  RTMP_VERSION,
  CLIENT_PARTIAL_KEY,
  CLIENT_FULL_KEY,
  SERVER_PARTIAL_KEY,
  SERVER_FULL_KEY,
} from './digest.ts';
export type { DigestScheme } from './digest.ts';
