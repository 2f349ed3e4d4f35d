/**
 * The "digest" (a.k.a. complex, FP9) handshake that Flash-era clients and several encoders use.
 * Adobe never published it in the RTMP 1.0 spec; it is what Flash Player / FMS interoperate with
 * and what every server implements. C1/S1 carry an HMAC-SHA256 of the packet (minus the digest
 * itself) at an offset derived from four bytes of the packet; C2/S2 end with an HMAC keyed on the
 * peer's digest.
 */
import { createHmac } from 'node:crypto';

/** Size of C1, C2, S1 and S2 (spec 5.2.3: "The C1 and S1 packets are 1536 octets long"). */
export const HANDSHAKE_SIZE = 1536;
/** The only C0/S0 version byte plain RTMP uses (spec 5.2.2). */
export const RTMP_VERSION = 3;
/** Length of an HMAC-SHA256 digest. */
export const DIGEST_LENGTH = 32;

/** Where the digest sits in C1/S1: scheme 0 derives the offset from bytes 8..11, scheme 1 from 772..775. */
export type DigestScheme = 0 | 1;

const KEY_SUFFIX = Buffer.from([
  0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1, 0x02, 0x9e, 0x7e, 0x57, 0x6e,
  0xec, 0x5d, 0x2d, 0x29, 0x80, 0x6f, 0xab, 0x93, 0xb8, 0xe6, 0x36, 0xcf, 0xeb, 0x31, 0xae,
]);

/** Key for the client's C1 digest: 'Genuine Adobe Flash Player 001' (30 bytes). */
export const CLIENT_PARTIAL_KEY = Buffer.from('Genuine Adobe Flash Player 001', 'latin1');
/** Key for the client's C2 signature: the 30-byte string + the 32-byte suffix. */
export const CLIENT_FULL_KEY = Buffer.concat([CLIENT_PARTIAL_KEY, KEY_SUFFIX]);
/** Key for the server's S1 digest: 'Genuine Adobe Flash Media Server 001' (36 bytes). */
export const SERVER_PARTIAL_KEY = Buffer.from('Genuine Adobe Flash Media Server 001', 'latin1');
/** Key for the server's S2 signature: the 36-byte string + the 32-byte suffix. */
export const SERVER_FULL_KEY = Buffer.concat([SERVER_PARTIAL_KEY, KEY_SUFFIX]);

/** Byte offset of the 32-byte digest inside a 1536-byte C1/S1 for the given scheme. */
export function digestOffset(packet: Buffer, scheme: DigestScheme): number {
  // Scheme 0: the first 764-byte block starts at 8; its first 4 bytes select the digest position
  // among the following 728 bytes. Scheme 1: the same, with the block at 772.
  const base = scheme === 0 ? 8 : 772;
  const sum = packet[base]! + packet[base + 1]! + packet[base + 2]! + packet[base + 3]!;
  return (sum % 728) + base + 4;
}

/** HMAC-SHA256 over the 1536-byte packet with the 32 digest bytes at `offset` left out. */
export function computeDigest(packet: Buffer, offset: number, key: Buffer): Buffer {
  return createHmac('sha256', key)
    .update(packet.subarray(0, offset))
    .update(packet.subarray(offset + DIGEST_LENGTH, HANDSHAKE_SIZE))
    .digest();
}

/** The scheme under which `packet` carries a valid digest for `key`, or null. */
export function findDigestScheme(packet: Buffer, key: Buffer): DigestScheme | null {
  for (const scheme of [0, 1] as const) {
    const offset = digestOffset(packet, scheme);
    if (computeDigest(packet, offset, key).equals(packet.subarray(offset, offset + DIGEST_LENGTH))) {
      return scheme;
    }
  }
  return null;
}

/** The digest bytes (a view) of a packet already known to validate under `scheme`. */
export function digestOf(packet: Buffer, scheme: DigestScheme): Buffer {
  const offset = digestOffset(packet, scheme);
  return packet.subarray(offset, offset + DIGEST_LENGTH);
}

/** Writes a digest into `packet` (1536 bytes, all other bytes final) at the scheme's offset. */
export function writeDigest(packet: Buffer, scheme: DigestScheme, key: Buffer): Buffer {
  const offset = digestOffset(packet, scheme);
  const digest = computeDigest(packet, offset, key);
  digest.copy(packet, offset);
  return digest;
}

/**
 * The signature that closes C2/S2: HMAC(HMAC(fullKey, peerDigest), packet[0..1504]), where
 * peerDigest is the digest found in the peer's C1/S1.
 */
export function responseSignature(packet: Buffer, peerDigest: Buffer, fullKey: Buffer): Buffer {
  const key = createHmac('sha256', fullKey).update(peerDigest).digest();
  return createHmac('sha256', key)
    .update(packet.subarray(0, HANDSHAKE_SIZE - DIGEST_LENGTH))
    .digest();
}
