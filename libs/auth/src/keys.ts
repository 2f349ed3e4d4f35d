/**
 * Stream key material. A stream key is a bearer secret: it is shown once (control's create/rotate
 * answer) and then only ever handled as HMAC-SHA256(keyHashSecret, key). A keyed hash, not a plain
 * hash, so a leaked store cannot be brute-forced offline without the server secret.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Prefix of generated stream keys; lets secret scanners (and operators) recognise a leaked key. */
export const STREAM_KEY_PREFIX = 'sk_';
/** Prefix of stream ids. */
export const STREAM_ID_PREFIX = 'st_';

const STREAM_KEY_BYTES = 32;
const STREAM_ID_LENGTH = 16;
// Base32 without padding, lower case (RFC 4648 alphabet): ids are safe in URLs, subjects and KV keys.
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** A new stream key: `sk_` + 256 random bits in base64url (43 characters). */
export function generateStreamKey(): string {
  return STREAM_KEY_PREFIX + randomBytes(STREAM_KEY_BYTES).toString('base64url');
}

/** A new stream id: `st_` + 16 base32 characters (80 random bits). Public, not a secret. */
export function generateStreamId(): string {
  const bytes = randomBytes(STREAM_ID_LENGTH);
  let id = STREAM_ID_PREFIX;
  for (const byte of bytes) {
    // 256 is a multiple of 32, so `& 31` keeps the distribution uniform.
    id += BASE32[byte & 31];
  }
  return id;
}

/** The stored lookup handle of a key: HMAC-SHA256(secret, key), lower-case hex (64 characters). */
export function hashStreamKey(secret: Uint8Array | string, key: string): string {
  return createHmac('sha256', secret).update(key, 'utf8').digest('hex');
}

/**
 * Compares two secrets in constant time. Both sides are first hashed to 32 bytes, so neither a
 * length mismatch (timingSafeEqual throws on it) nor the time of the comparison reveals the
 * expected value's length or a matching prefix.
 */
export function safeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/**
 * A short non-secret id for logs and caches, derived from a key or token: the first 12 hex
 * characters of its SHA-256. Unrelated to the stored keyed hash, so it cannot be used to look a
 * record up without the server secret.
 */
export function keyLogId(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 12);
}

/** Whether `id` looks like an id from generateStreamId (used to validate ids from peers). */
export function isStreamId(id: string): boolean {
  return /^st_[a-z2-7]{16}$/.test(id);
}
