import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { BIN, startServer } from './harness/server.ts';

test('firstmile up serves /healthz and /readyz, and 404s with a JSON error elsewhere', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const base = `http://127.0.0.1:${server.httpPort}`;
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  const ready = await fetch(`${base}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { ready: true });
  const missing = await fetch(`${base}/nope`);
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
});

test('SIGTERM stops accepting, closes open connections and exits 0 within the shutdown timeout', async () => {
  const server = await startServer({ args: ['--shutdown-timeout-ms', '2000'] });
  const { connect } = await import('node:net');
  const sock = connect(server.rtmpPort, '127.0.0.1');
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  sock.on('error', () => {});
  const started = Date.now();
  const code = await server.stop('SIGTERM');
  await closed;
  assert.equal(code, 0);
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  assert.ok(server.logs.some((l) => l.msg === 'stopped'));
});

test('a bad setting stops firstmile at start with exit 2 and a message naming it', async () => {
  const proc = spawn(process.execPath, [BIN, 'up'], { env: { ...process.env, FIRSTMILE_RTMP_PORT: 'x' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  assert.equal(code, 2);
  assert.match(err, /FIRSTMILE_RTMP_PORT/);
});

test('firstmile with an unknown command prints usage and exits 2', async () => {
  const proc = spawn(process.execPath, [BIN, 'upp'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  assert.equal(code, 2);
  assert.match(err, /Usage: firstmile/);
});
