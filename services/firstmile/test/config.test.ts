import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ConfigError, SETTINGS, configTable, loadConfig } from '../src/index.ts';

test('loadConfig() with nothing set gives the documented defaults, frozen', () => {
  const c = loadConfig({}, {});
  assert.equal(c.rtmpPort, 1935);
  assert.equal(c.httpPort, 8080);
  assert.equal(c.logLevel, 'info');
  assert.equal(c.rtmpsPort, undefined);
  assert.equal(c.chunkSize, 4096);
  assert.ok(c.edgeId.length > 0);
  assert.ok(Object.isFrozen(c));
});

test('flags win over FIRSTMILE_* variables, which win over defaults', () => {
  const c = loadConfig({ FIRSTMILE_RTMP_PORT: '2000', FIRSTMILE_HTTP_PORT: '9000' }, { 'rtmp-port': '3000' });
  assert.equal(c.rtmpPort, 3000);
  assert.equal(c.httpPort, 9000);
});

test('an unknown FIRSTMILE_* variable or flag is an error, not a silent default', () => {
  assert.throws(() => loadConfig({ FIRSTMILE_RTMP_PROT: '1' }, {}), (e: unknown) => e instanceof ConfigError && /FIRSTMILE_RTMP_PROT/.test(e.message));
  assert.throws(() => loadConfig({}, { 'rtmp-prot': '1' }), /unknown flag --rtmp-prot/);
});

test('invalid values name the variable and the flag', () => {
  assert.throws(() => loadConfig({ FIRSTMILE_RTMP_PORT: '70000' }, {}), /FIRSTMILE_RTMP_PORT \(--rtmp-port\)/);
  assert.throws(() => loadConfig({ FIRSTMILE_LOG_LEVEL: 'loud' }, {}), /FIRSTMILE_LOG_LEVEL/);
  assert.throws(() => loadConfig({ FIRSTMILE_CHUNK_SIZE: 'abc' }, {}), /FIRSTMILE_CHUNK_SIZE/);
});

test('RTMPS needs port, certificate and key together', () => {
  assert.throws(() => loadConfig({ FIRSTMILE_RTMPS_PORT: '443' }, {}), /RTMPS needs all of/);
  const c = loadConfig({ FIRSTMILE_RTMPS_PORT: '443', FIRSTMILE_TLS_CERT: '/c.pem', FIRSTMILE_TLS_KEY: '/k.pem' }, {});
  assert.equal(c.rtmpsPort, 443);
});

test('every setting has a distinct FIRSTMILE_* variable and flag', () => {
  assert.equal(new Set(SETTINGS.map((s) => s.env)).size, SETTINGS.length);
  assert.equal(new Set(SETTINGS.map((s) => s.flag)).size, SETTINGS.length);
  for (const s of SETTINGS) assert.match(s.env, /^FIRSTMILE_[A-Z0-9_]+$/);
});

test('docs/configuration.md contains the table the code generates', () => {
  const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  assert.ok(doc.includes(configTable()), 'docs/configuration.md is stale: regenerate with `firstmile config`');
});
