import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { PlaybackAuthorizer, SignedAuthorizer, signPlaybackToken, signPublishUrl, verifyPlaybackToken, type PublishDecision, type StreamPolicy } from '../src/index.ts';

const SECRET = 'signing-secret-0123456789abcdef';
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const now = () => NOW;
const req = (name: string, app = 'live', tcUrl?: string) => ({ app, name, tcUrl, clientIp: '192.0.2.1' });
const code = (d: PublishDecision) => (d.ok ? 'OK' : d.code);

test('signPublishUrl() is expires=<unix s>&sig=<hex HMAC-SHA256(secret, "app/stream:expires")>', () => {
  const q = signPublishUrl({ secret: SECRET, app: 'live', stream: 'cam', expiresAt: NOW + 60_000 });
  const expires = Math.floor((NOW + 60_000) / 1000);
  const sig = createHmac('sha256', SECRET).update(`live/cam:${expires}`).digest('hex');
  assert.equal(q, `expires=${expires}&sig=${sig}`);
  assert.equal(signPublishUrl({ secret: SECRET, app: 'live', stream: 'cam', expiresAt: new Date(NOW + 60_000) }), q);
});

test('SignedAuthorizer: valid, expired, wrong signature, wrong app or stream, missing and malformed params', async () => {
  const auth = new SignedAuthorizer({ secret: SECRET, now });
  const valid = signPublishUrl({ secret: SECRET, app: 'live', stream: 'cam', expiresAt: NOW + 60_000 });
  const expired = signPublishUrl({ secret: SECRET, app: 'live', stream: 'cam', expiresAt: NOW - 1000 });
  const otherSecret = signPublishUrl({ secret: 'another-secret-0123456789abcdef', app: 'live', stream: 'cam', expiresAt: NOW + 60_000 });
  const [, validSig] = /sig=([0-9a-f]+)/.exec(valid)!;
  const cases: { why: string; r: ReturnType<typeof req>; expect: string }[] = [
    { why: 'valid', r: req(`cam?${valid}`), expect: 'OK' },
    { why: 'signature in upper-case hex', r: req(`cam?${valid.replace(/sig=(.*)$/, (_, s: string) => `sig=${s.toUpperCase()}`)}`), expect: 'OK' },
    { why: 'params on the tcUrl instead', r: req('cam', 'live', `rtmp://edge/live?${valid}`), expect: 'OK' },
    { why: 'expired', r: req(`cam?${expired}`), expect: 'AUTH_EXPIRED' },
    { why: 'signed with another secret', r: req(`cam?${otherSecret}`), expect: 'AUTH_BAD_SIGNATURE' },
    { why: 'another stream', r: req(`cam2?${valid}`), expect: 'AUTH_BAD_SIGNATURE' },
    { why: 'another app', r: req(`cam?${valid}`, 'live2'), expect: 'AUTH_BAD_SIGNATURE' },
    { why: 'expiry moved later', r: req(`cam?expires=${Math.floor(NOW / 1000) + 999_999}&sig=${validSig}`), expect: 'AUTH_BAD_SIGNATURE' },
    { why: 'no query', r: req('cam'), expect: 'AUTH_BAD_SIGNATURE' },
    { why: 'no sig', r: req(`cam?expires=${Math.floor(NOW / 1000) + 60}`), expect: 'AUTH_BAD_SIGNATURE' },
    { why: 'expires not a number', r: req(`cam?expires=tomorrow&sig=${validSig}`), expect: 'AUTH_BAD_SIGNATURE' },
    { why: 'sig too short', r: req(`cam?${valid.slice(0, -2)}`), expect: 'AUTH_BAD_SIGNATURE' },
    {
      why: 'app/stream split elsewhere (signed for app live/x, stream cam)',
      r: req(`x/cam?${signPublishUrl({ secret: SECRET, app: 'live/x', stream: 'cam', expiresAt: NOW + 60_000 })}`),
      expect: 'AUTH_BAD_SIGNATURE',
    },
    { why: 'app with a slash, signed for it', r: req(`cam?${signPublishUrl({ secret: SECRET, app: 'live/x', stream: 'cam', expiresAt: NOW + 60_000 })}`, 'live/x'), expect: 'OK' },
  ];
  for (const c of cases) {
    const d = await auth.authorize(c.r);
    assert.equal(code(d), c.expect, c.why);
    assert.equal(d.mode, 'signed');
    if (d.ok) assert.equal(d.playName, 'cam', 'the play name is the stream without its query');
    else assert.ok(!d.reason.includes(validSig!), 'the reason never echoes the signature');
  }
});

test('SignedAuthorizer: maxTtlSeconds refuses URLs that live too long; a secret list verifies old and new', async () => {
  const auth = new SignedAuthorizer({ secret: ['new-secret-0123456789abcdef0123', SECRET], now, maxTtlSeconds: 3600 });
  const ok = signPublishUrl({ secret: SECRET, app: 'live', stream: 'cam', expiresAt: NOW + 3_600_000 });
  const tooLong = signPublishUrl({ secret: SECRET, app: 'live', stream: 'cam', expiresAt: NOW + 3_601_000 });
  assert.equal(code(await auth.authorize(req(`cam?${ok}`))), 'OK', 'the old secret still verifies');
  assert.equal(code(await auth.authorize(req(`cam?${tooLong}`))), 'AUTH_EXPIRED');
  const withNew = signPublishUrl({ secret: ['new-secret-0123456789abcdef0123', SECRET], app: 'live', stream: 'cam', expiresAt: NOW + 60_000 });
  assert.equal(code(await auth.authorize(req(`cam?${withNew}`))), 'OK', 'the first secret of a list signs');
  assert.equal(code(await new SignedAuthorizer({ secret: SECRET, now }).authorize(req(`cam?${withNew}`))), 'AUTH_BAD_SIGNATURE');
  assert.throws(() => new SignedAuthorizer({ secret: '' }), RangeError);
  assert.throws(() => signPublishUrl({ secret: SECRET, app: 'live', stream: 'a/b', expiresAt: NOW }), RangeError);
});

test('playback tokens: valid, expired, for another stream, tampered, malformed', () => {
  const token = signPlaybackToken({ secret: SECRET, streamId: 'st_a', expiresAt: NOW + 60_000 });
  assert.match(token, /^\d+\.[0-9a-f]{64}$/);
  const check = (t: string | undefined, streamId = 'st_a') => {
    const r = verifyPlaybackToken({ secret: SECRET, streamId, token: t, now });
    return r.ok ? 'OK' : r.code;
  };
  assert.equal(check(token), 'OK');
  assert.equal(check(signPlaybackToken({ secret: SECRET, streamId: 'st_a', expiresAt: NOW })), 'PLAY_EXPIRED');
  assert.equal(check(token, 'st_b'), 'PLAY_BAD_TOKEN');
  assert.equal(check(`${Number(token.split('.')[0]) + 1}.${token.split('.')[1]}`), 'PLAY_BAD_TOKEN');
  for (const bad of [undefined, '', 'abc', '123.', '.abc', `x${token}`]) assert.equal(check(bad), 'PLAY_BAD_TOKEN', String(bad));
  // A publish signature for the same secret never passes as a playback token.
  const pub = signPublishUrl({ secret: SECRET, app: 'play:st_a', stream: 'x', expiresAt: NOW + 60_000 });
  const [, exp, sig] = /expires=(\d+)&sig=([0-9a-f]+)/.exec(pub)!;
  assert.equal(check(`${exp}.${sig}`, 'st_a/x'), 'PLAY_BAD_TOKEN', 'the message play:st_a/x:<exp> is never a playback message');
  assert.throws(() => signPlaybackToken({ secret: SECRET, streamId: 'st_a/x', expiresAt: NOW }), RangeError);
});

test('PlaybackAuthorizer: public plays, signed needs a valid token, unknown is not found, a failing lookup is unavailable', async () => {
  const policies: Record<string, StreamPolicy> = { st_pub: 'public', st_sig: 'signed' };
  const auth = new PlaybackAuthorizer({
    lookup: (_app, stream) => {
      if (stream === 'st_down') throw new Error('control down');
      return policies[stream] ?? 'not_found';
    },
    secret: SECRET,
    now,
  });
  const token = signPlaybackToken({ secret: SECRET, streamId: 'st_sig', expiresAt: NOW + 60_000 });
  const expired = signPlaybackToken({ secret: SECRET, streamId: 'st_sig', expiresAt: NOW - 1 });
  const cases: [string, string, string | undefined, string][] = [
    ['st_pub', 'public stream, no token', undefined, 'OK'],
    ['st_pub?token=garbage', 'public stream ignores a token', undefined, 'OK'],
    [`st_sig?token=${token}`, 'signed stream, valid token', undefined, 'OK'],
    ['st_sig', 'signed stream, token on the tcUrl', `rtmp://o/live?token=${token}`, 'OK'],
    ['st_sig', 'signed stream, no token', undefined, 'PLAY_BAD_TOKEN'],
    [`st_sig?token=${expired}`, 'signed stream, expired token', undefined, 'PLAY_EXPIRED'],
    [`st_sig?token=${signPlaybackToken({ secret: SECRET, streamId: 'st_pub', expiresAt: NOW + 60_000 })}`, "another stream's token", undefined, 'PLAY_BAD_TOKEN'],
    ['st_none', 'unknown stream', undefined, 'PLAY_NOT_FOUND'],
    ['st_down', 'lookup fails', undefined, 'PLAY_UNAVAILABLE'],
  ];
  for (const [name, why, tcUrl, expect] of cases) {
    const d = await auth.authorize({ app: 'live', name, tcUrl, clientIp: '192.0.2.1' });
    assert.equal(d.ok ? 'OK' : d.code, expect, why);
    if (d.ok) assert.equal(d.playName, name.split('?')[0]);
  }
  const noSecret = new PlaybackAuthorizer({ lookup: () => 'signed' });
  const d = await noSecret.authorize({ app: 'live', name: `st_sig?token=${token}`, clientIp: '192.0.2.1' });
  assert.equal(d.ok ? 'OK' : d.code, 'PLAY_UNAVAILABLE', 'signed streams cannot play without a configured secret');
  assert.throws(() => new PlaybackAuthorizer({}), { code: 'AUTH_ERR_CONFIG' });
});
