/**
 * The other publish auth modes and play auth, with ffmpeg against `firstmile up`: one server whose
 * apps use different modes (FIRSTMILE_AUTH_APPS: `sig` signed URLs, `jwt` JWT with an HS256 key
 * file, `hook` the operator's webhook, a real local node:http server; `live` managed keys with
 * playback tokens), and one more for JWT against a JWKS served by a local HTTP server. Tokens and
 * signatures are made here with node:crypto (signPublishUrl excepted: it is the documented way
 * operators make URLs), so the server's checks are tested against independent code.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { signPlaybackToken, signPublishUrl } from '@firstmile/auth';
import { startServer, type ServerProcess } from '../harness/server.ts';
import {
  assertSamePackets,
  endPlayer,
  ffmpegPublishFile,
  ffmpegRecord,
  makeFlv,
  probePackets,
  requireTools,
  tempDir,
  within,
  type ProcessResult,
} from '../harness/media.ts';
import {
  ControlClient,
  assertNoSecrets,
  busStreamId,
  logMark,
  publishAndWait,
  sendJson,
  signJwt,
  startHttpReceiver,
  waitForLogAfter,
  writeSecret,
  type HttpReceiver,
  type SecretFile,
} from './harness.ts';

const AUDIENCE = 'firstmile-ingest';
const ISSUER = 'https://issuer.example.test';

let dir: ReturnType<typeof tempDir>;
let server: ServerProcess;
let api: ControlClient;
let hook: HttpReceiver;
let secrets: Record<'admin' | 'keyHash' | 'signed' | 'jwt' | 'playback', SecretFile>;
/** A secret in the webhook URL's query: an operator's token that must never be logged. */
const hookUrlSecret = randomBytes(16).toString('hex');
let shortFlv: string;
let longFlv: string;
/** Every credential used in this file, for the final leak grep. */
const credentials = new Set<string>();

before(async () => {
  requireTools('ffmpeg', 'ffprobe');
  dir = tempDir('fm-keys-modes-');
  secrets = {
    admin: writeSecret(dir.path, 'admin-token'),
    keyHash: writeSecret(dir.path, 'key-hash-secret'),
    signed: writeSecret(dir.path, 'signed-secret'),
    // RFC 7518 §3.2: an HS256 key has at least 256 bits.
    jwt: writeSecret(dir.path, 'jwt-key', randomBytes(36).toString('base64url')),
    playback: writeSecret(dir.path, 'playback-secret'),
  };
  hook = await startHttpReceiver((r, res) => {
    let stream = '';
    try {
      stream = String((JSON.parse(r.body) as { stream?: unknown }).stream);
    } catch {
      // not JSON: denied below
    }
    if (stream === 'allowed-cam') return sendJson(res, 200, {});
    if (stream === 'renamed-cam') return sendJson(res, 200, { name: 'public-name' });
    if (stream === 'redirect-cam') return sendJson(res, 302, {}, { location: `${hook.base}/elsewhere` });
    return sendJson(res, 403, { error: 'not allowed' });
  });
  [shortFlv, longFlv] = await Promise.all([
    makeFlv({ duration: 5 }),
    makeFlv({ duration: 30, width: 320, height: 180, videoBitrate: '300k' }),
  ]);
  server = await startServer({
    mode: 'up',
    env: {
      FIRSTMILE_AUTH_MODE: 'keys',
      FIRSTMILE_AUTH_APPS: 'sig=signed,jwt=jwt,hook=webhook',
      FIRSTMILE_SIGNED_SECRET_FILE: secrets.signed.path,
      FIRSTMILE_JWT_KEY_FILE: secrets.jwt.path,
      FIRSTMILE_JWT_AUDIENCE: AUDIENCE,
      FIRSTMILE_JWT_ISSUER: ISSUER,
      FIRSTMILE_AUTH_WEBHOOK_URL: `${hook.base}/auth?operator_token=${hookUrlSecret}`,
      FIRSTMILE_ADMIN_TOKEN_FILE: secrets.admin.path,
      FIRSTMILE_KEY_HASH_SECRET_FILE: secrets.keyHash.path,
      FIRSTMILE_PLAYBACK_SECRET_FILE: secrets.playback.path,
      // This file is refused on purpose many times from 127.0.0.1.
      FIRSTMILE_LOCKOUT_FAILURES: '1000',
    },
  });
  api = new ControlClient(server.httpPort, secrets.admin.value);
});

after(async () => {
  await server?.stop();
  await hook?.close();
  dir?.cleanup();
});

interface PublishCase {
  what: string;
  /** The publish name, query included. */
  name: string;
  /** The refusal code, or undefined when the publish must be accepted. */
  refused?: string;
  /** The play name an accepted publish must start under (default: the name without its query). */
  playName?: string;
}

/** Publishes each case with ffmpeg on `app`, checks the verdict and the code, stops accepted publishers. */
async function runPublishCases(target: ServerProcess, app: string, cases: readonly PublishCase[]): Promise<void> {
  for (const c of cases) {
    const playName = c.playName ?? c.name.split('?')[0]!;
    const outcome = await publishAndWait(target, longFlv, target.url(`${app}/${c.name}`), busStreamId(app, playName));
    if (c.refused === undefined) {
      if (!outcome.accepted) assert.fail(`${c.what}: refused with ${JSON.stringify(outcome.refusal)}\n${outcome.result.stderr}`);
      const mark = logMark(target);
      await outcome.publisher.stop('SIGINT');
      await waitForLogAfter(target, mark, (l) => l.msg === 'publish ended', 5000);
      continue;
    }
    if (outcome.accepted) {
      outcome.publisher.kill();
      assert.fail(`${c.what}: accepted; expected ${c.refused}`);
    }
    assert.notEqual(outcome.result.code, 0, `${c.what}: ffmpeg exits non-zero`);
    assert.ok(!outcome.result.timedOut, `${c.what}: ffmpeg ended by itself`);
    assert.equal(outcome.refusal?.['code'], c.refused, `${c.what}: ${JSON.stringify(outcome.refusal)}`);
    const query = c.name.indexOf('?');
    if (query >= 0) assert.ok(!JSON.stringify(outcome.refusal).includes(c.name.slice(query + 1)), `${c.what}: the refusal does not log the credential`);
  }
}

test('signed mode: ffmpeg publishes with a valid signPublishUrl query; an expired URL, a flipped signature, a signature for another stream or from another secret, and a missing one are refused (AUTH_EXPIRED, AUTH_BAD_SIGNATURE)', async () => {
  const secret = secrets.signed.value;
  const soon = Date.now() + 60_000;
  const sign = (stream: string, expiresAt: number, key = secret) => {
    const q = signPublishUrl({ secret: key, app: 'sig', stream, expiresAt });
    credentials.add(new URLSearchParams(q).get('sig')!);
    return q;
  };
  // Independent of the library: the documented message, HMAC-SHA256 in lower-case hex.
  const expires = Math.floor(soon / 1000);
  const byHand = createHmac('sha256', secret).update(`sig/cam-hand:${expires}`).digest('hex');
  credentials.add(byHand);
  const good = sign('cam-1', soon);
  const flipped = good.replace(/sig=([0-9a-f])/, (_m, c: string) => `sig=${c === '0' ? '1' : '0'}`);
  await runPublishCases(server, 'sig', [
    { what: 'a valid signed URL', name: `cam-1?${good}` },
    { what: 'a URL signed by hand per the README', name: `cam-hand?expires=${expires}&sig=${byHand}` },
    { what: 'an expired URL', name: `cam-1?${sign('cam-1', Date.now() - 60_000)}`, refused: 'AUTH_EXPIRED' },
    { what: 'a flipped signature', name: `cam-1?${flipped}`, refused: 'AUTH_BAD_SIGNATURE' },
    { what: "another stream's signature", name: `cam-2?${good}`, refused: 'AUTH_BAD_SIGNATURE' },
    { what: 'a signature from another secret', name: `cam-1?${sign('cam-1', soon, randomBytes(24).toString('hex'))}`, refused: 'AUTH_BAD_SIGNATURE' },
    { what: 'no signature', name: 'cam-1', refused: 'AUTH_BAD_SIGNATURE' },
  ]);
});

test('signed mode: an encoder that keeps the signature on the connect tcUrl (rtmp://host/sig?expires=..&sig=..) is accepted, and a bad signature there is refused', async () => {
  const secret = secrets.signed.value;
  const good = signPublishUrl({ secret, app: 'sig', stream: 'cam-tc', expiresAt: Date.now() + 60_000 });
  const bad = signPublishUrl({ secret: randomBytes(24).toString('hex'), app: 'sig', stream: 'cam-tc', expiresAt: Date.now() + 60_000 });
  for (const q of [good, bad]) credentials.add(new URLSearchParams(q).get('sig')!);
  const tcUrl = (q: string) => ['-rtmp_tcurl', `rtmp://127.0.0.1:${server.rtmpPort}/sig?${q}`];
  const accepted = await publishAndWait(server, longFlv, server.url('sig/cam-tc'), busStreamId('sig', 'cam-tc'), { outputArgs: tcUrl(good) });
  if (!accepted.accepted) return assert.fail(`refused: ${JSON.stringify(accepted.refusal)}\n${accepted.result.stderr}`);
  const mark = logMark(server);
  await accepted.publisher.stop('SIGINT');
  await waitForLogAfter(server, mark, (l) => l.msg === 'publish ended', 5000);
  const refused = await publishAndWait(server, longFlv, server.url('sig/cam-tc'), busStreamId('sig', 'cam-tc'), { outputArgs: tcUrl(bad) });
  if (refused.accepted) {
    refused.publisher.kill();
    assert.fail('a bad signature on the tcUrl was accepted');
  }
  assert.equal(refused.refusal?.['code'], 'AUTH_BAD_SIGNATURE', JSON.stringify(refused.refusal));
});

test('jwt mode with an HS256 key file: a valid token publishes; an expired one (AUTH_EXPIRED), a wrong stream claim, audience or app (AUTH_BAD_TOKEN), a wrong signature (AUTH_BAD_SIGNATURE), alg none and no token are refused', async () => {
  const now = Math.floor(Date.now() / 1000);
  const claims = { aud: AUDIENCE, iss: ISSUER, stream: 'cam-jwt', exp: now + 120, iat: now };
  const token = (c: Record<string, unknown>, key = secrets.jwt.value, alg: 'HS256' | 'none' = 'HS256') => {
    const t = signJwt(alg, key, c);
    credentials.add(t);
    return t;
  };
  await runPublishCases(server, 'jwt', [
    { what: 'a valid token', name: `cam-jwt?token=${token(claims)}` },
    { what: 'a wildcard stream claim', name: `cam-any?token=${token({ ...claims, stream: '*' })}` },
    { what: 'an expired token', name: `cam-jwt?token=${token({ ...claims, exp: now - 60 })}`, refused: 'AUTH_EXPIRED' },
    { what: 'a token for another stream', name: `cam-jwt?token=${token({ ...claims, stream: 'other-cam' })}`, refused: 'AUTH_BAD_TOKEN' },
    { what: 'a token for another audience', name: `cam-jwt?token=${token({ ...claims, aud: 'someone-else' })}`, refused: 'AUTH_BAD_TOKEN' },
    { what: 'a token for another app', name: `cam-jwt?token=${token({ ...claims, app: 'live' })}`, refused: 'AUTH_BAD_TOKEN' },
    { what: 'a token signed with another secret', name: `cam-jwt?token=${token(claims, randomBytes(36).toString('base64url'))}`, refused: 'AUTH_BAD_SIGNATURE' },
    { what: 'an unsigned token (alg none)', name: `cam-jwt?token=${token(claims, undefined, 'none')}`, refused: 'AUTH_BAD_TOKEN' },
    { what: 'no token', name: 'cam-jwt', refused: 'AUTH_BAD_TOKEN' },
  ]);
});

test('jwt mode with a JWKS from a local HTTP server (RS256): a token signed by the published key publishes; one from an unknown key and an HS256 token keyed with the public key are refused', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'ingest-1', alg: 'RS256', use: 'sig' };
  const jwks = await startHttpReceiver((r, res) => (r.url === '/.well-known/jwks.json' ? sendJson(res, 200, { keys: [jwk] }) : sendJson(res, 404, {})));
  t.after(() => jwks.close());
  const jwtServer = await startServer({
    mode: 'up',
    env: {
      FIRSTMILE_AUTH_MODE: 'jwt',
      FIRSTMILE_JWT_JWKS_URL: `${jwks.base}/.well-known/jwks.json`,
      FIRSTMILE_JWT_AUDIENCE: AUDIENCE,
      FIRSTMILE_LOCKOUT_FAILURES: '1000',
    },
  });
  t.after(() => jwtServer.stop());
  const now = Math.floor(Date.now() / 1000);
  const claims = { aud: AUDIENCE, stream: 'cam-rs', exp: now + 120 };
  const tokens = {
    good: signJwt('RS256', privateKey, claims, { kid: 'ingest-1' }),
    stranger: signJwt('RS256', stranger.privateKey, claims, { kid: 'ingest-1' }),
    unknownKid: signJwt('RS256', stranger.privateKey, claims, { kid: 'ingest-2' }),
    // Algorithm confusion: the public key's PEM used as an HMAC secret.
    confused: signJwt('HS256', publicKey.export({ format: 'pem', type: 'spki' }).toString(), claims, { kid: 'ingest-1' }),
  };
  for (const x of Object.values(tokens)) credentials.add(x);
  await runPublishCases(jwtServer, 'live', [
    { what: 'a token signed by the JWKS key', name: `cam-rs?token=${tokens.good}` },
    { what: 'a token signed by another key under the same kid', name: `cam-rs?token=${tokens.stranger}`, refused: 'AUTH_BAD_SIGNATURE' },
    { what: 'a token with a kid the JWKS does not have', name: `cam-rs?token=${tokens.unknownKid}`, refused: 'AUTH_BAD_SIGNATURE' },
    { what: 'an HS256 token keyed with the public key', name: `cam-rs?token=${tokens.confused}`, refused: 'AUTH_BAD_TOKEN' },
  ]);
  const fetches = jwks.requests.filter((r) => r.url === '/.well-known/jwks.json').length;
  assert.ok(fetches >= 1 && fetches <= 3, `the JWKS was fetched ${fetches} times (cached; refetched at most for the unknown kid)`);
  await jwtServer.stop();
  assertNoSecrets(jwtServer.output(), Object.values(tokens), "the JWKS server's output");
});

test('webhook mode against a local HTTP server: the edge POSTs {action, app, stream, query, clientIp}; a 2xx allows (a JSON name renames the stream), a 403 and a redirect deny with AUTH_DENIED, and the redirect is not followed', async () => {
  const token = randomBytes(16).toString('hex');
  credentials.add(token);
  const seen = hook.requests.length;
  await runPublishCases(server, 'hook', [
    { what: 'an allowed stream', name: `allowed-cam?token=${token}&extra=1` },
    { what: 'a stream the webhook renames', name: `renamed-cam?token=${token}`, playName: 'public-name' },
    { what: 'a denied stream', name: `denied-cam?token=${token}`, refused: 'AUTH_DENIED' },
    { what: 'a stream answered with a redirect', name: `redirect-cam?token=${token}`, refused: 'AUTH_DENIED' },
  ]);
  const calls = hook.requests.slice(seen);
  assert.deepEqual(calls.map((r) => `${r.method} ${r.url}`), Array(4).fill(`POST /auth?operator_token=${hookUrlSecret}`), 'one POST per attempt to the configured URL; the redirect was not followed');
  for (const r of calls) assert.match(String(r.headers['content-type']), /^application\/json/);
  assert.deepEqual(JSON.parse(calls[0]!.body), {
    action: 'publish',
    app: 'hook',
    stream: 'allowed-cam',
    query: { token, extra: '1' },
    clientIp: '127.0.0.1',
  }, 'the documented body: the name without its query, the query as an object, the client address');
  assert.deepEqual(calls.map((r) => (JSON.parse(r.body) as { stream: string }).stream), ['allowed-cam', 'renamed-cam', 'denied-cam', 'redirect-cam']);
});

/** Runs ffmpeg as a player of `url` and resolves once it exits (refused) or the origin started the play. */
async function playVerdict(url: string, out: string): Promise<{ refused: true; result: ProcessResult; code: unknown } | { refused: false }> {
  const mark = logMark(server);
  const player = ffmpegRecord(url, out, { timeoutMs: 15_000 });
  const decided = waitForLogAfter(server, mark, (l) => l.msg === 'refusing play: not authorized' || l.msg === 'play requested', 10_000);
  const line = await decided;
  if (line.msg === 'play requested') {
    player.kill();
    return { refused: false };
  }
  const result = await within(player.result, 5000);
  player.kill();
  assert.ok(result, 'a refused player exits by itself');
  return { refused: true, result, code: line['code'] };
}

test("play auth: a stream with playbackPolicy 'signed' cannot be played without a valid token (ffmpeg fails: none, another stream's, expired, tampered) and plays packet for packet with the token from POST /v1/streams/{id}/playback-token", async (t) => {
  const [s, other] = await Promise.all([
    api.createStream({ name: 'signed-playback', playbackPolicy: 'signed' }),
    api.createStream({ name: 'other-signed', playbackPolicy: 'signed' }),
  ]);
  credentials.add(s.streamKey);
  credentials.add(other.streamKey);
  const issued = await api.playbackToken(s.id, 600);
  credentials.add(issued.token);
  assert.match(issued.token, /^\d+\.[0-9a-f]{64}$/);
  assert.equal(issued.playback.rtmp, server.url(`live/${s.id}?token=${issued.token}`));
  const secret = secrets.playback.value;
  const expired = signPlaybackToken({ secret, streamId: s.id, expiresAt: Date.now() - 60_000 });
  const forOther = (await api.playbackToken(other.id, 600)).token;
  const tampered = issued.token.replace(/\.(.)/, (_m, c: string) => `.${c === 'a' ? 'b' : 'a'}`);
  for (const x of [expired, forOther, tampered]) credentials.add(x);
  const refusals: [string, string, string][] = [
    ['no token', s.playback.rtmp, 'PLAY_BAD_TOKEN'],
    ["another stream's token", `${s.playback.rtmp}?token=${forOther}`, 'PLAY_BAD_TOKEN'],
    ['an expired token', `${s.playback.rtmp}?token=${expired}`, 'PLAY_EXPIRED'],
    ['a tampered token', `${s.playback.rtmp}?token=${tampered}`, 'PLAY_BAD_TOKEN'],
  ];
  for (const [what, url, code] of refusals) {
    const v = await playVerdict(url, join(dir.path, 'refused.flv'));
    assert.ok(v.refused, `${what}: the play was refused`);
    if (!v.refused) continue;
    assert.equal(v.code, code, what);
    assert.notEqual(v.result.code, 0, `${what}: ffmpeg exits non-zero`);
  }

  const rec = join(dir.path, 'signed-player.flv');
  const mark = logMark(server);
  const player = ffmpegRecord(issued.playback.rtmp, rec, { timeoutMs: 40_000 });
  t.after(() => player.kill());
  await waitForLogAfter(server, mark, (l) => l.msg === 'play requested');
  const publisher = ffmpegPublishFile(shortFlv, s.ingest.rtmp, { timeoutMs: 40_000 });
  t.after(() => publisher.kill());
  const pub = await publisher.result;
  assert.equal(pub.code, 0, `publisher failed:\n${pub.stderr}`);
  await endPlayer(player);
  const [source, received] = await Promise.all([probePackets(shortFlv), probePackets(rec)]);
  const matches = assertSamePackets(source, received, 0.9);
  assert.equal(matches.find((m) => m.codec_type === 'video')?.startIndex, 0);
});

test("the server's output contains no key, signature, token, webhook query or secret used in this file", async () => {
  assert.ok(credentials.size >= 20, `${credentials.size} credentials used`);
  await server.stop();
  for (const msg of ['refusing publish: not authorized', 'refusing play: not authorized', 'publish started']) {
    assert.ok(server.logs.some((l) => l.msg === msg), `the server logged "${msg}"`);
  }
  assertNoSecrets(server.output(), [...credentials, hookUrlSecret, ...Object.values(secrets).map((s) => s.value)]);
});
