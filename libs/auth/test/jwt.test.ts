import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { JwtAuthorizer, type PublishDecision } from '../src/index.ts';

let server: Server;
let jwksUrl: string;
let jwksHits = 0;
let signing: { privateKey: CryptoKey; publicKey: CryptoKey };
let other: { privateKey: CryptoKey; publicKey: CryptoKey };
let publicJwk: JWK;

before(async () => {
  signing = await generateKeyPair('ES256');
  other = await generateKeyPair('ES256');
  publicJwk = { ...(await exportJWK(signing.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  server = createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    jwksHits++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [publicJwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

interface TokenOptions {
  key?: CryptoKey | Uint8Array;
  kid?: string;
  alg?: string;
  claims?: Record<string, unknown>;
  audience?: string;
  issuer?: string;
  expiresIn?: string | number;
}

async function token(o: TokenOptions = {}): Promise<string> {
  const jwt = new SignJWT({ stream: 'cam', ...o.claims })
    .setProtectedHeader({ alg: o.alg ?? 'ES256', ...(o.kid === '' ? {} : { kid: o.kid ?? 'k1' }) })
    .setIssuedAt()
    .setIssuer(o.issuer ?? 'https://issuer.example')
    .setAudience(o.audience ?? 'firstmile');
  if (o.expiresIn !== undefined) jwt.setExpirationTime(o.expiresIn);
  else jwt.setExpirationTime('5m');
  return jwt.sign(o.key ?? signing.privateKey);
}

const req = (name: string, app = 'live', tcUrl?: string) => ({ app, name, tcUrl, clientIp: '192.0.2.1' });
const code = (d: PublishDecision) => (d.ok ? 'OK' : d.code);

function unsigned(payload: Record<string, unknown>): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
}

test('JwtAuthorizer with a JWKS URL: valid, expired, wrong audience, wrong stream, wrong signature, alg none', async () => {
  const auth = new JwtAuthorizer({ jwksUrl, audience: 'firstmile', issuer: 'https://issuer.example' });
  const exp = Math.floor(Date.now() / 1000) + 300;
  const cases: { why: string; name: string; tcUrl?: string; app?: string; expect: string }[] = [
    { why: 'valid', name: `cam?token=${await token()}`, expect: 'OK' },
    { why: 'valid, token on the tcUrl', name: 'cam', tcUrl: `rtmp://edge/live?token=${await token()}`, expect: 'OK' },
    { why: 'stream claim *', name: `any-name?token=${await token({ claims: { stream: '*' } })}`, expect: 'OK' },
    { why: 'expired', name: `cam?token=${await token({ expiresIn: Math.floor(Date.now() / 1000) - 60 })}`, expect: 'AUTH_EXPIRED' },
    { why: 'wrong audience', name: `cam?token=${await token({ audience: 'someone-else' })}`, expect: 'AUTH_BAD_TOKEN' },
    { why: 'wrong issuer', name: `cam?token=${await token({ issuer: 'https://evil.example' })}`, expect: 'AUTH_BAD_TOKEN' },
    { why: 'wrong stream', name: `cam2?token=${await token()}`, expect: 'AUTH_BAD_TOKEN' },
    { why: 'no stream claim', name: `cam?token=${await token({ claims: { stream: undefined } })}`, expect: 'AUTH_BAD_TOKEN' },
    { why: 'app claim for another app', name: `cam?token=${await token({ claims: { app: 'other' } })}`, expect: 'AUTH_BAD_TOKEN' },
    { why: 'app claim for this app', name: `cam?token=${await token({ claims: { app: 'live' } })}`, expect: 'OK' },
    { why: 'signed by another key, same kid', name: `cam?token=${await token({ key: other.privateKey })}`, expect: 'AUTH_BAD_SIGNATURE' },
    { why: 'signed by another key, unknown kid', name: `cam?token=${await token({ key: other.privateKey, kid: 'k9' })}`, expect: 'AUTH_BAD_SIGNATURE' },
    { why: 'alg none', name: `cam?token=${unsigned({ stream: 'cam', aud: 'firstmile', iss: 'https://issuer.example', exp })}`, expect: 'AUTH_BAD_TOKEN' },
    { why: 'HS256 with the public JWK as secret', name: `cam?token=${await token({ alg: 'HS256', key: new TextEncoder().encode(JSON.stringify(publicJwk)) })}`, expect: 'AUTH_BAD_TOKEN' },
    { why: 'no token', name: 'cam', expect: 'AUTH_BAD_TOKEN' },
    { why: 'garbage token', name: 'cam?token=not.a.jwt', expect: 'AUTH_BAD_TOKEN' },
  ];
  for (const c of cases) {
    const d = await auth.authorize(req(c.name, c.app, c.tcUrl));
    assert.equal(code(d), c.expect, c.why);
    assert.equal(d.mode, 'jwt');
    if (d.ok) assert.equal(d.playName, c.name.split('?')[0]);
  }
  assert.ok(jwksHits >= 1 && jwksHits <= 3, `the key set is cached by jose (fetched ${jwksHits} times)`);
});

test('JwtAuthorizer: a token without exp is refused', async () => {
  const auth = new JwtAuthorizer({ jwksUrl, audience: 'firstmile' });
  const noExp = await new SignJWT({ stream: 'cam' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setAudience('firstmile').sign(signing.privateKey);
  assert.equal(code(await auth.authorize(req(`cam?token=${noExp}`))), 'AUTH_BAD_TOKEN');
});

test('JwtAuthorizer: an unreachable JWKS URL denies with AUTH_UNAVAILABLE (fail closed)', async () => {
  const dead = createServer();
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  const port = (dead.address() as AddressInfo).port;
  await new Promise<void>((resolve) => dead.close(() => resolve()));
  const auth = new JwtAuthorizer({ jwksUrl: `http://127.0.0.1:${port}/jwks.json`, audience: 'firstmile', jwksTimeoutMs: 500 });
  assert.equal(code(await auth.authorize(req(`cam?token=${await token()}`))), 'AUTH_UNAVAILABLE');
});

test('JwtAuthorizer with a static key: PEM public key, public JWK, HMAC secret (at least 32 bytes)', async () => {
  const pem = await exportSPKI(signing.publicKey);
  for (const key of [pem, publicJwk]) {
    const auth = new JwtAuthorizer({ key, audience: 'firstmile' });
    assert.equal(code(await auth.authorize(req(`cam?token=${await token()}`))), 'OK');
    assert.equal(code(await auth.authorize(req(`cam?token=${await token({ key: other.privateKey })}`))), 'AUTH_BAD_SIGNATURE');
    // Algorithm confusion: an HS256 token whose secret is the public key's text.
    const confused = await token({ alg: 'HS256', key: new TextEncoder().encode(typeof key === 'string' ? key : JSON.stringify(key)) });
    assert.equal(code(await auth.authorize(req(`cam?token=${confused}`))), 'AUTH_BAD_TOKEN');
  }
  const secret = 'an-hmac-secret-of-at-least-32-bytes!';
  const hs = new JwtAuthorizer({ key: secret, audience: 'firstmile' });
  assert.equal(code(await hs.authorize(req(`cam?token=${await token({ alg: 'HS256', key: new TextEncoder().encode(secret) })}`))), 'OK');
  assert.equal(code(await hs.authorize(req(`cam?token=${await token({ alg: 'HS256', key: new TextEncoder().encode(`${secret}x`) })}`))), 'AUTH_BAD_SIGNATURE');
  assert.equal(code(await hs.authorize(req(`cam?token=${await token()}`))), 'AUTH_BAD_TOKEN', 'an ES256 token is refused by an HMAC config');
  assert.throws(() => new JwtAuthorizer({ key: 'short', audience: 'firstmile' }), { code: 'AUTH_ERR_CONFIG' });
  assert.throws(() => new JwtAuthorizer({ audience: 'firstmile' }), { code: 'AUTH_ERR_CONFIG' });
  assert.throws(() => new JwtAuthorizer({ key: secret, jwksUrl, audience: 'firstmile' }), { code: 'AUTH_ERR_CONFIG' });
  assert.throws(() => new JwtAuthorizer({ key: secret, audience: 'firstmile', algorithms: ['none' as 'HS256'] }), { code: 'AUTH_ERR_CONFIG' });
});

test('JwtAuthorizer: clock tolerance and an injected clock', async () => {
  const auth = new JwtAuthorizer({ jwksUrl, audience: 'firstmile', clockToleranceSeconds: 0, now: () => Date.now() + 10 * 60_000 });
  assert.equal(code(await auth.authorize(req(`cam?token=${await token({ expiresIn: '5m' })}`))), 'AUTH_EXPIRED');
  const lenient = new JwtAuthorizer({ jwksUrl, audience: 'firstmile', clockToleranceSeconds: 60 });
  assert.equal(code(await lenient.authorize(req(`cam?token=${await token({ expiresIn: Math.floor(Date.now() / 1000) - 30 })}`))), 'OK');
});
