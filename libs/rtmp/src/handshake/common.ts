import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { RtmpError } from '../errors.ts';
import { RTMP_VERSION } from './digest.ts';

/** What one push() of handshake bytes produced. */
export interface HandshakeResult {
  /** Bytes to send to the peer now, in order (possibly none). */
  output: Buffer[];
  /** True once the handshake is complete; chunk stream bytes follow. */
  done: boolean;
  /** Bytes that followed the last handshake packet (e.g. pipelined chunks); empty if none. */
  remainder: Buffer;
}

/** Injectable sources of randomness and time, for deterministic tests. */
export interface HandshakeOptions {
  /** Returns n random bytes; defaults to node:crypto randomBytes. */
  randomBytes?: (n: number) => Buffer;
  /** Milliseconds for the C1/S1 time field (taken modulo 2^32); defaults to Date.now. */
  now?: () => number;
}

export const EMPTY = Buffer.alloc(0);

export const defaultRandomBytes = (n: number): Buffer => cryptoRandomBytes(n);
export const defaultNow = (): number => Date.now();

/** Fills packet[start..end) from the random source (zeros if the source returns fewer bytes). */
export function fillRandom(packet: Buffer, start: number, end: number, random: (n: number) => Buffer): void {
  const bytes = random(end - start);
  packet.fill(0, start, end);
  bytes.copy(packet, start, 0, Math.min(bytes.length, end - start));
}

/** Throws RTMP_ERR_HANDSHAKE_VERSION unless the C0/S0 byte is 3, with a hint for common mistakes. */
export function checkVersion(version: number, packet: 'C0' | 'S0'): void {
  if (version === RTMP_VERSION) return;
  let hint = '';
  if (version === 6) hint = ' (RTMPE encrypted RTMP is not supported; use plain rtmp:// or rtmps://)';
  else if (version === 0x16) hint = ' (looks like a TLS ClientHello; this port speaks plain RTMP)';
  else if (version >= 0x41 && version <= 0x5a) hint = ' (looks like a text protocol such as HTTP)';
  throw new RtmpError(
    'RTMP_ERR_HANDSHAKE_VERSION',
    `unsupported RTMP version ${version} in ${packet}, expected ${RTMP_VERSION}${hint}`,
  );
}
