import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../src/index.ts';

function capture(): { stream: Writable; lines: () => string[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean) };
}

test('createLogger() redacts stream keys, tokens and URLs at the top level and one level down', () => {
  const { stream, lines } = capture();
  const log = createLogger({ level: 'info', destination: stream });
  log.info({ streamKey: 'sk_live_SECRET1', cmd: { tcUrl: 'rtmp://h/app?token=SECRET2', app: 'live' } }, 'x');
  log.child({ key: 'SECRET3' }).warn({ name: 'SECRET4' }, 'y');
  const out = lines().join('\n');
  for (const s of ['SECRET1', 'SECRET2', 'SECRET3', 'SECRET4']) assert.ok(!out.includes(s), `${s} leaked: ${out}`);
  assert.equal(JSON.parse(lines()[0]!).cmd.app, 'live');
  assert.equal(JSON.parse(lines()[0]!).streamKey, '[redacted]');
});

test('createLogger() honours the level', () => {
  const { stream, lines } = capture();
  const log = createLogger({ level: 'warn', destination: stream });
  log.info({}, 'dropped');
  log.warn({}, 'kept');
  assert.deepEqual(lines().map((l) => JSON.parse(l).msg), ['kept']);
});

test('createLogger() redacts tokens in URL-like fields, query strings, signatures, JWTs and auth headers', () => {
  const { stream, lines } = capture();
  const log = createLogger({ level: 'info', destination: stream });
  const cases: Array<Record<string, unknown>> = [
    { url: '/v1/live?token=SECRET_URL' },
    { req: { method: 'GET', url: '/hook?sig=SECRET_NESTED_URL' } },
    { query: 'token=SECRET_QUERY&exp=1' },
    { publish: { query: { token: 'SECRET_QUERY_OBJECT' } } },
    { sig: 'SECRET_SIG' },
    { jwt: 'eyJhbGciOiJIUzI1NiJ9.SECRET_JWT.x' },
    { req: { headers: { authorization: 'Bearer SECRET_BEARER', cookie: 'fm=SECRET_COOKIE', 'x-api-key': 'SECRET_API_KEY' } } },
  ];
  for (const c of cases) log.info(c, 'request');
  const out = lines();
  assert.equal(out.length, cases.length);
  for (const line of out) assert.ok(!line.includes('SECRET'), `leaked: ${line}`);
  assert.equal(JSON.parse(out[1]!).req.method, 'GET', 'what is not secret stays');
  assert.equal(JSON.parse(out[0]!).url, '[redacted]');
});
