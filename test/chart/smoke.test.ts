import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { BIN } from '../harness/server.ts';
import {
  assertSamePackets,
  avPackets,
  ffmpegPublishFile,
  ffmpegRecord,
  makeFlv,
  probePackets,
  requireTools,
  sleep,
  tempDir,
} from '../harness/media.ts';
import { CHART, render, secretData, workload, type K8sObject } from './chart.ts';
import { cleanupStack, startChartNats, startComponent, type ChartNats, type FirstmileProcess } from './processes.ts';

// The chart and the code agree: the services, started as bare processes with exactly the env and
// secret files the chart renders for their pods, over a nats-server running the chart's own NATS
// configuration (its per-component users and subject permissions), carry a stream from an encoder
// to a player. Only what cannot exist on one host is changed: listen ports and the NATS address.

// One NATS server (no cluster routes), so JetStream buckets have one replica.
const SINGLE_NATS = ['nats.builtin.replicas=1', 'config.indexReplicas=1', 'config.keysReplicas=1'];

interface Release {
  nats: ChartNats;
  edge: FirstmileProcess;
  origin: FirstmileProcess;
  control: FirstmileProcess;
  dir: string;
}

async function startRelease(t: TestContext, objects: readonly K8sObject[]): Promise<Release> {
  requireTools('nats-server', 'ffmpeg', 'ffprobe');
  const defer = cleanupStack(t);
  const dir = tempDir('fm-chart-smoke-');
  defer(dir.cleanup);
  const nats = await startChartNats(objects, dir.path);
  defer(() => nats.stop());
  const start = async (component: 'edge' | 'origin' | 'control') => {
    const p = await startComponent({ objects, component, dir: dir.path, natsUrl: nats.url, entry: [process.execPath, BIN] });
    defer(() => p.stop());
    return p;
  };
  const control = await start('control');
  const [edge, origin] = await Promise.all([start('edge'), start('origin')]);
  return { nats, edge, origin, control, dir: dir.path };
}

async function publishAndPlay(r: Release, publishName: string, playName: string): Promise<void> {
  const file = await makeFlv({ width: 320, height: 240, fps: 25, gop: 25, duration: 4 });
  const out = join(r.dir, 'played.flv');
  const player = ffmpegRecord(`rtmp://127.0.0.1:${r.origin.rtmpPort}/live/${playName}`, out, { timeoutMs: 30_000 });
  // The origin holds a play of a stream that is not live yet (playWaitMs), so order is free; a
  // short head start keeps the first GOP from racing the player's subscription.
  await sleep(500);
  const pub = ffmpegPublishFile(file, `rtmp://127.0.0.1:${r.edge.rtmpPort}/live/${publishName}`, { timeoutMs: 30_000 });
  const published = await pub.result;
  assert.equal(published.code, 0, `publish failed: ${published.stderr}\n--- edge ---\n${r.edge.output().slice(-3000)}`);
  const played = await player.result;
  assert.equal(played.code, 0, `play failed: ${played.stderr}\n--- origin ---\n${r.origin.output().slice(-3000)}`);
  assertSamePackets(avPackets(await probePackets(file)), avPackets(await probePackets(out)), 0.8, 'player on the origin');
  assert.doesNotMatch(r.nats.process.output(), /Violation/, 'a service needed a subject its NATS user may not use');
  for (const p of [r.edge, r.origin, r.control]) assert.ok(!p.output().includes(publishName), 'the stream key reached a log');
}

test('edge, origin and control started with the env the chart renders, over the chart\'s NATS users and permissions, carry a stream from an encoder to a player', async (t) => {
  const objects = render({ set: [...SINGLE_NATS, 'config.authMode=none'] });
  const r = await startRelease(t, objects);
  await publishAndPlay(r, `sk-${Date.now().toString(36)}`, `sk-${Date.now().toString(36)}`);
});

test('with the chart\'s default keys auth, a key created through control\'s API with the chart\'s admin token publishes, and the stream plays by its id', async (t) => {
  const objects = render({ set: SINGLE_NATS });
  const control = workload(objects, 'control').template.spec.containers[0]!;
  assert.equal(control.env?.find((e) => e.name === 'FIRSTMILE_AUTH_MODE')?.value, 'keys');
  const r = await startRelease(t, objects);
  const tokenFile = join(r.dir, 'control', 'secrets', 'admin-token');
  const token = readFileSync(tokenFile, 'utf8');
  const res = await fetch(`http://127.0.0.1:${r.control.httpPort}/v1/streams`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'chart-smoke' }),
  });
  const body = (await res.json().catch(() => ({}))) as { id?: string; streamKey?: string };
  assert.equal(res.status, 201, JSON.stringify(body));
  assert.ok(body.id && body.streamKey, JSON.stringify(body));
  await publishAndPlay(r, body.streamKey, body.id);
});

/** The certificate fingerprint an RTMPS listener presents. */
function presentedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'ingest.example.com' }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (cert) resolve(cert.fingerprint256);
      else reject(new Error('no peer certificate'));
    });
    socket.once('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('TLS handshake timed out')));
  });
}

/**
 * Rewrites a mounted Secret's directory the way kubelet does: files live in a timestamped
 * directory, `..data` points at it, and each key is a symlink through `..data`; an update writes a
 * new directory and swaps `..data` atomically.
 */
function kubeletWrite(dir: string, files: Record<string, Buffer>, generation: number): void {
  const stamp = `..2026_11_22_00_00_0${generation}.000000000`;
  mkdirSync(join(dir, stamp));
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, stamp, name), bytes, { mode: 0o440 });
  symlinkSync(stamp, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of Object.keys(files)) {
    try {
      symlinkSync(join('..data', name), join(dir, name));
    } catch {
      // the key's symlink already points through ..data
    }
  }
  for (const e of readdirSync(dir)) if (e.startsWith('..2') && e !== stamp) rmSync(join(dir, e), { recursive: true });
}

test('an edge with the chart\'s RTMPS values serves the certificate of its Secret and takes a renewed one the way kubelet writes it, without a restart', async (t) => {
  // NATS TLS stays off here: the chart's NATS certificate names the in-cluster Service, not 127.0.0.1.
  const set = [...SINGLE_NATS, 'config.authMode=none'];
  const tlsValues = [join(CHART, 'ci', 'tls-values.yaml')];
  const objects = render({ valuesFiles: tlsValues, set: [...set, 'nats.tls.enabled=false'] });
  requireTools('nats-server');
  const defer = cleanupStack(t);
  const dir = tempDir('fm-chart-rtmps-');
  defer(dir.cleanup);
  const nats = await startChartNats(objects, dir.path);
  defer(() => nats.stop());
  const edge = await startComponent({ objects, component: 'edge', dir: dir.path, natsUrl: nats.url, entry: [process.execPath, BIN] });
  defer(() => edge.stop());
  assert.ok(edge.rtmpsPort, 'the chart turned RTMPS on');
  const tlsDir = join(dir.path, 'edge', 'tls');
  const first = secretData(objects, 'fm-firstmile-tls');
  assert.equal(await presentedFingerprint(edge.rtmpsPort), new X509Certificate(first['tls.crt']!).fingerprint256);

  // Replace the plain files with kubelet's layout, then renew: a fresh render makes a new certificate.
  rmSync(join(tlsDir, 'tls.crt'));
  rmSync(join(tlsDir, 'tls.key'));
  kubeletWrite(tlsDir, { 'tls.crt': first['tls.crt']!, 'tls.key': first['tls.key']! }, 1);
  const renewed = secretData(render({ valuesFiles: tlsValues, set }), 'fm-firstmile-tls');
  const want = new X509Certificate(renewed['tls.crt']!).fingerprint256;
  const started = Date.now();
  kubeletWrite(tlsDir, { 'tls.crt': renewed['tls.crt']!, 'tls.key': renewed['tls.key']! }, 2);
  let seen = '';
  while (Date.now() - started < 15_000) {
    seen = await presentedFingerprint(edge.rtmpsPort);
    if (seen === want) break;
    await sleep(250);
  }
  assert.equal(seen, want, 'the renewed certificate was not picked up');
  console.log(`chart smoke: renewed RTMPS certificate served ${Date.now() - started} ms after the Secret's files changed`);
  await edge.waitForLog((l) => l['msg'] === 'RTMPS certificate reloaded', 1000);
});
