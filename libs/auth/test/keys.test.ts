import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import {
  generateStreamId,
  generateStreamKey,
  hashStreamKey,
  isStreamId,
  keyLogId,
  safeEqual,
  signPlaybackToken,
  signPublishUrl,
  SignedAuthorizer,
  verifyPlaybackToken,
} from '../src/index.ts';

test('generateStreamKey() makes sk_ + 256 random bits in base64url, never twice the same', () => {
  const keys = new Set(Array.from({ length: 1000 }, () => generateStreamKey()));
  assert.equal(keys.size, 1000);
  for (const k of keys) assert.match(k, /^sk_[A-Za-z0-9_-]{43}$/);
});

test('generateStreamId() makes st_ + 16 base32 characters, recognised by isStreamId()', () => {
  const ids = new Set(Array.from({ length: 1000 }, () => generateStreamId()));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.ok(isStreamId(id), id);
  // Every base32 character shows up: the alphabet is used uniformly, not a subset.
  assert.equal(new Set([...ids].join('').replace(/st_/g, '')).size, 32);
  for (const bad of ['st_', 'st_ABCDEFGHIJKLMNOP', 'st_abcdefghijklmno1', 'sk_abcdefghijklmnop', 'st_abcdefghijklmnop.']) assert.equal(isStreamId(bad), false, bad);
});

test('hashStreamKey() is HMAC-SHA256 in hex (the well-known vector) and depends on the server secret', () => {
  // HMAC-SHA256(key="key", "The quick brown fox jumps over the lazy dog"), the well-known vector.
  assert.equal(hashStreamKey('key', 'The quick brown fox jumps over the lazy dog'), 'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8');
  assert.equal(hashStreamKey(Buffer.from('key'), 'The quick brown fox jumps over the lazy dog'), hashStreamKey('key', 'The quick brown fox jumps over the lazy dog'));
  const key = generateStreamKey();
  assert.notEqual(hashStreamKey('secret-a', key), hashStreamKey('secret-b', key));
  assert.ok(!hashStreamKey('secret-a', key).includes(key));
});

test('safeEqual() compares without throwing on different lengths', () => {
  const cases: [string | Uint8Array, string | Uint8Array, boolean][] = [
    ['abc', 'abc', true],
    ['abc', 'abd', false],
    ['abc', 'abcd', false],
    ['', '', true],
    ['', 'x', false],
    [Buffer.from('abc'), 'abc', true],
  ];
  for (const [a, b, expected] of cases) assert.equal(safeEqual(a, b), expected, `${String(a)} vs ${String(b)}`);
});

test('keyLogId() is a short stable id unrelated to the stored hash', () => {
  const key = generateStreamKey();
  assert.match(keyLogId(key), /^[0-9a-f]{12}$/);
  assert.equal(keyLogId(key), keyLogId(key));
  assert.ok(!hashStreamKey('s', key).startsWith(keyLogId(key)));
});

test('signature and token checks go through crypto.timingSafeEqual (constant time)', async (t) => {
  let calls = 0;
  const original = crypto.timingSafeEqual;
  mock.method(crypto, 'timingSafeEqual', (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
    calls++;
    return original(a, b);
  });
  syncBuiltinESMExports();
  t.after(() => {
    mock.restoreAll();
    syncBuiltinESMExports();
  });
  const secret = 'x'.repeat(32);
  const auth = new SignedAuthorizer({ secret });
  const query = signPublishUrl({ secret, app: 'live', stream: 'cam', expiresAt: Date.now() + 60_000 });
  assert.ok((await auth.authorize({ app: 'live', name: `cam?${query}`, clientIp: '127.0.0.1' })).ok);
  assert.ok(calls >= 1, 'publish signature compared with timingSafeEqual');
  const before = calls;
  assert.ok(verifyPlaybackToken({ secret, streamId: 'st_a', token: signPlaybackToken({ secret, streamId: 'st_a', expiresAt: Date.now() + 60_000 }) }).ok);
  assert.ok(calls > before, 'playback token compared with timingSafeEqual');
  const beforeSafe = calls;
  safeEqual('a', 'b');
  assert.equal(calls, beforeSafe + 1);
});
