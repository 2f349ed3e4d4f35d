/**
 * RTMPS: RTMP over TLS on its own port, with a self-signed certificate made by openssl.
 */
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer } from '../harness/server.ts';
import {
  assertSamePackets,
  endPlayer,
  ffmpegPublishFile,
  ffmpegRecord,
  makeFlv,
  probePackets,
  randomKey,
  requireTools,
  runProcess,
  tempDir,
} from '../harness/media.ts';

// Required dependencies: a missing one fails every test here (never a skip).
beforeEach(() => requireTools('ffmpeg', 'ffprobe', 'openssl'));

test('ffmpeg publishes over RTMPS; players on plain RTMP and on RTMPS receive the source packets unchanged', async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const cert = join(dir.path, 'cert.pem');
  const key = join(dir.path, 'key.pem');
  const ssl = await runProcess(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
      '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    { timeoutMs: 20_000 },
  );
  assert.equal(ssl.code, 0, ssl.stderr);

  const server = await startServer({ args: ['--rtmps-port', '0', '--tls-cert', cert, '--tls-key', key] });
  t.after(() => server.stop());
  assert.ok(server.rtmpsPort !== undefined && server.rtmpsPort > 0, 'the started log reports ports.rtmps');
  assert.notEqual(server.rtmpsPort, server.rtmpPort);

  const src = await makeFlv({ duration: 6 });
  const path = `live/${randomKey()}`;
  const plainUrl = server.url(path);
  const tlsUrl = `rtmps://127.0.0.1:${server.rtmpsPort}/${path}`;
  const plainRec = join(dir.path, 'plain.flv');
  const tlsRec = join(dir.path, 'tls.flv');
  const plainPlayer = ffmpegRecord(plainUrl, plainRec, { timeoutMs: 40_000 });
  const tlsPlayer = ffmpegRecord(tlsUrl, tlsRec, { timeoutMs: 40_000 });
  t.after(() => plainPlayer.kill());
  t.after(() => tlsPlayer.kill());
  let plays = 0;
  await server.waitForLog((l) => l.msg === 'play requested' && ++plays === 2);

  // ffmpeg 5.1 does not verify the peer's certificate unless asked to (-tls_verify 1).
  const publisher = ffmpegPublishFile(src, tlsUrl);
  t.after(() => publisher.kill());
  const pub = await publisher.result;
  assert.equal(pub.code, 0, `RTMPS publisher failed:\n${pub.stderr}`);
  await Promise.all([endPlayer(plainPlayer), endPlayer(tlsPlayer)]);

  const [source, plain, tls] = await Promise.all([probePackets(src), probePackets(plainRec), probePackets(tlsRec)]);
  assertSamePackets(source, plain, 0.9, 'plain RTMP player');
  assertSamePackets(source, tls, 0.9, 'RTMPS player');
});
