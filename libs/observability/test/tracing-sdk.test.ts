import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, trace, SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { MemoryBus } from '@firstmile/bus';
import { extractContext, getTracer, injectHeaders, ObservabilityError, SpanAttr, SpanName, withSpan } from '../src/index.ts';
import { registerTracing, startTracing, tracingEnabled, type TracingEnv } from '../src/tracing-sdk.ts';

// One SDK registration at a time per process: each test registers and shuts down its own.

test('a span injected into bus headers on the edge is the parent of the span control starts from them', async (t) => {
  const exporter = new InMemorySpanExporter();
  const tracing = registerTracing({ serviceName: 'firstmile-test', version: '0.0.0', exporter, processor: 'simple' });
  t.after(() => tracing.shutdown());
  const bus = new MemoryBus();
  t.after(() => bus.close());
  const tracer = getTracer('0.0.0');

  // "control": answers auth requests, continuing the caller's trace from the message headers.
  let seenHeaders: Readonly<Record<string, string>> | undefined;
  bus.subscribe('fm.test.auth.publish', (msg) => {
    seenHeaders = msg.headers;
    const parent = extractContext(msg.headers);
    const span = tracer.startSpan(SpanName.controlAuthPublish, { kind: SpanKind.SERVER, attributes: { [SpanAttr.result]: 'allow' } }, parent);
    span.end();
    bus.publish(msg.reply!, new Uint8Array([1]));
  });

  // "edge": rtmp.connect, then rtmp.auth around the request.
  const ids = await withSpan(tracer, SpanName.connect, {}, undefined, () =>
    withSpan(tracer, SpanName.auth, { kind: SpanKind.CLIENT, attributes: { [SpanAttr.app]: 'live' } }, undefined, async (span) => {
      const reply = await bus.request('fm.test.auth.publish', new Uint8Array([0]), { timeoutMs: 1000, headers: injectHeaders() });
      assert.deepEqual([...reply.data], [1]);
      return span.spanContext();
    }),
  );

  assert.match(seenHeaders?.['traceparent'] ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  const spans = exporter.getFinishedSpans();
  const byName = new Map(spans.map((s) => [s.name, s]));
  const connect = byName.get(SpanName.connect);
  const auth = byName.get(SpanName.auth);
  const control = byName.get(SpanName.controlAuthPublish);
  assert.ok(connect && auth && control, `spans: ${spans.map((s) => s.name).join(', ')}`);
  assert.equal(auth.spanContext().spanId, ids.spanId);
  assert.equal(auth.parentSpanContext?.spanId, connect.spanContext().spanId);
  assert.equal(control.spanContext().traceId, connect.spanContext().traceId, 'one trace across the bus');
  assert.equal(control.parentSpanContext?.spanId, auth.spanContext().spanId, 'control span is a child of rtmp.auth');
  assert.equal(control.parentSpanContext?.isRemote, true);
  assert.equal(control.resource.attributes['service.name'], 'firstmile-test');
});

test('withSpan() marks the span as an error when the work throws, and rethrows', async (t) => {
  const exporter = new InMemorySpanExporter();
  const tracing = registerTracing({ serviceName: 's', version: 'v', exporter, processor: 'simple' });
  t.after(() => tracing.shutdown());
  await assert.rejects(withSpan(getTracer(), SpanName.publish, {}, undefined, () => Promise.reject(new Error('claim failed'))), /claim failed/);
  const [span] = exporter.getFinishedSpans();
  assert.equal(span?.status.code, 2 /* SpanStatusCode.ERROR */);
  assert.equal(span?.status.message, 'claim failed');
});

test('registerTracing() refuses a second registration while one is active', async (t) => {
  const tracing = registerTracing({ serviceName: 's', version: 'v', exporter: new InMemorySpanExporter(), processor: 'simple' });
  t.after(() => tracing.shutdown());
  assert.throws(
    () => registerTracing({ serviceName: 's', version: 'v', exporter: new InMemorySpanExporter(), processor: 'simple' }),
    (e) => e instanceof ObservabilityError && e.code === 'OBS_ERR_OTEL_CONFIG',
  );
});

test('after shutdown() the API is back to its no-op defaults', async () => {
  const tracing = registerTracing({ serviceName: 's', version: 'v', exporter: new InMemorySpanExporter(), processor: 'simple' });
  await tracing.shutdown();
  assert.deepEqual(injectHeaders(), {});
  assert.equal(getTracer().startSpan('x').isRecording(), false);
  assert.equal(context.active(), context.active());
});

test('tracingEnabled() follows the standard OTEL_* variables', () => {
  const cases: Array<[TracingEnv, boolean | 'throws']> = [
    [{}, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, true],
    [{ OTEL_TRACES_EXPORTER: 'otlp' }, true],
    [{ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, false],
    [{ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: '   ' }, false],
    [{ OTEL_TRACES_EXPORTER: 'zipkin' }, 'throws'],
  ];
  for (const [env, expected] of cases) {
    if (expected === 'throws') {
      assert.throws(() => tracingEnabled(env), (e) => e instanceof ObservabilityError && e.code === 'OBS_ERR_OTEL_CONFIG', JSON.stringify(env));
    } else {
      assert.equal(tracingEnabled(env), expected, JSON.stringify(env));
    }
  }
});

test('startTracing() without OTEL_* settings registers nothing', () => {
  assert.equal(startTracing({}, { serviceName: 's', version: 'v' }), undefined);
  assert.equal(getTracer().startSpan('x').isRecording(), false);
});

test('startTracing() refuses OTEL_* values it cannot honour', () => {
  const base = { OTEL_TRACES_EXPORTER: 'otlp' };
  for (const env of [
    { ...base, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
    { ...base, OTEL_TRACES_SAMPLER: 'jaeger_remote' },
    { ...base, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' },
    { ...base, OTEL_PROPAGATORS: 'b3' },
    { ...base, OTEL_BSP_MAX_QUEUE_SIZE: 'lots' },
    { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'not a url' },
  ]) {
    assert.throws(
      () => startTracing(env, { serviceName: 's', version: 'v' }),
      (e) => e instanceof ObservabilityError && e.code === 'OBS_ERR_OTEL_CONFIG',
      JSON.stringify(env),
    );
  }
  assert.equal(getTracer().startSpan('x').isRecording(), false, 'a refused configuration registers nothing');
});

test('startTracing() exports spans as OTLP/HTTP protobuf to OTEL_EXPORTER_OTLP_ENDPOINT, with its headers and service name', async (t) => {
  const received: Array<{ path: string | undefined; type: string | undefined; team: string | undefined; body: Buffer }> = [];
  const collector = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url, type: req.headers['content-type'], team: req.headers['x-team'] as string | undefined, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => collector.close(() => resolve())));
  const port = (collector.address() as AddressInfo).port;

  const tracing = startTracing(
    {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}/`,
      OTEL_EXPORTER_OTLP_HEADERS: 'x-team=firstmile',
      OTEL_SERVICE_NAME: 'fm-edge-under-test',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test',
      OTEL_BSP_SCHEDULE_DELAY: '50',
    },
    { serviceName: 'firstmile-edge', version: '1.0.0', attributes: { 'service.instance.id': 'edge-1' } },
  );
  assert.ok(tracing);
  t.after(() => tracing.shutdown());
  const span = getTracer('1.0.0').startSpan(SpanName.connect, { attributes: { [SpanAttr.clientIp]: '192.0.2.7' } });
  assert.equal(span.isRecording(), true);
  span.end();
  await tracing.forceFlush();

  assert.equal(received.length, 1);
  const [post] = received;
  assert.equal(post!.path, '/v1/traces');
  assert.equal(post!.type, 'application/x-protobuf');
  assert.equal(post!.team, 'firstmile');
  // Protobuf strings are raw UTF-8 in the body.
  for (const s of ['rtmp.connect', 'fm-edge-under-test', 'edge-1', 'deployment.environment', '192.0.2.7', 'firstmile']) {
    assert.ok(post!.body.includes(s), `${s} in the exported body`);
  }
  assert.equal(trace.getActiveSpan(), undefined);
});
