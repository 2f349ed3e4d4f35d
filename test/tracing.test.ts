import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { nullLogger, SpanName } from '@firstmile/observability';
import { registerTracing } from '@firstmile/observability/tracing-sdk';
import { loadConfig, run } from 'firstmile';
import { connectClient } from './harness/client.ts';
import { tempDir, waitFor } from './harness/media.ts';
import { startNats } from './harness/nats.ts';

/**
 * An edge and a control service as two `run()`s in this process, talking over a real nats-server:
 * the edge's auth request carries its span context in NATS headers and control's span joins the
 * trace. In one process, so one in-memory exporter sees both services' spans; the processes of a
 * cluster export to a collector instead, which this cannot show (only that the context crosses
 * the bus, which is what links them there too).
 */
test('a keys publish yields rtmp.publish > rtmp.auth on the edge and control.auth.publish in control, one trace across NATS', async (t) => {
  // Hooks run in the order they were added: undo in reverse, NATS last.
  const cleanup: (() => unknown)[] = [];
  t.after(async () => {
    for (const step of cleanup.reverse()) await step();
  });
  const exporter = new InMemorySpanExporter();
  const tracing = registerTracing({ serviceName: 'firstmile-test', version: '0.0.0', exporter, processor: 'simple' });
  cleanup.push(() => tracing.shutdown());
  const nats = await startNats({ jetstream: true });
  cleanup.push(() => nats.stop());
  const dir = tempDir();
  cleanup.push(dir.cleanup);
  const secret = join(dir.path, 'key-hash-secret');
  writeFileSync(secret, 'a-key-hash-secret-of-some-length\n');
  const admin = join(dir.path, 'admin-token');
  writeFileSync(admin, 'an-admin-token-for-the-test\n');
  const env = {
    FIRSTMILE_NATS_URL: nats.url,
    FIRSTMILE_AUTH_MODE: 'keys',
    FIRSTMILE_KEY_HASH_SECRET_FILE: secret,
    FIRSTMILE_ADMIN_TOKEN_FILE: admin,
    FIRSTMILE_SHUTDOWN_TIMEOUT_MS: '0',
  };
  const flags = { host: '127.0.0.1', 'rtmp-port': '0', 'http-port': '0' };
  const control = await run('control', loadConfig(env, { ...flags, 'edge-id': 'control-1' }), nullLogger);
  cleanup.push(() => control.stop());
  const edge = await run('edge', loadConfig(env, { ...flags, 'edge-id': 'edge-1' }), nullLogger);
  cleanup.push(() => edge.stop());

  const created = await fetch(`http://127.0.0.1:${control.ports.http}/v1/streams`, {
    method: 'POST',
    headers: { authorization: 'Bearer an-admin-token-for-the-test', 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(created.status, 201);
  const { streamKey, id } = (await created.json()) as { streamKey: string; id: string };

  const publisher = await connectClient(`rtmp://127.0.0.1:${edge.ports.rtmp}/live/${streamKey}`);
  cleanup.push(() => publisher.destroy());
  await publisher.publish();

  const byName = (name: string) => exporter.getFinishedSpans().filter((s: ReadableSpan) => s.name === name);
  await waitFor(() => byName(SpanName.controlAuthPublish).length > 0 && byName(SpanName.publish).length > 0, 5000, 'spans');
  const [publish] = byName(SpanName.publish);
  const [auth] = byName(SpanName.auth);
  const [controlSpan] = byName(SpanName.controlAuthPublish);
  assert.ok(publish && auth && controlSpan);
  const traceId = publish.spanContext().traceId;
  assert.equal(auth.spanContext().traceId, traceId, 'rtmp.auth is in the publish trace');
  assert.equal(auth.parentSpanContext?.spanId, publish.spanContext().spanId, 'rtmp.auth is a child of rtmp.publish');
  assert.equal(controlSpan.spanContext().traceId, traceId, 'control joined the edge trace through the NATS headers');
  assert.equal(controlSpan.parentSpanContext?.spanId, auth.spanContext().spanId, 'control.auth.publish is a child of rtmp.auth');
  assert.equal(controlSpan.attributes['firstmile.result'], 'allow');
  assert.equal(controlSpan.attributes['firstmile.stream'], id);
  assert.equal(publish.attributes['firstmile.stream'], id);
  // Spans leave the process: no attribute may carry the key.
  for (const s of exporter.getFinishedSpans()) {
    for (const v of Object.values(s.attributes)) assert.ok(!String(v).includes(streamKey), `span ${s.name} carries the key`);
  }
});
