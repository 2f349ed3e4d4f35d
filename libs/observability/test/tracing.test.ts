import { test } from 'node:test';
import assert from 'node:assert/strict';
import { context, trace } from '@opentelemetry/api';
import { extractContext, getTracer, injectHeaders, SpanName } from '../src/index.ts';

// No SDK is registered in this file: the API's defaults must make tracing free and inert.

test('without an SDK, injectHeaders() returns the same empty object and spans do not record', () => {
  const a = injectHeaders();
  const b = injectHeaders();
  assert.deepEqual(a, {});
  assert.equal(a, b, 'no allocation per call');
  const span = getTracer('0.0.0').startSpan(SpanName.connect);
  assert.equal(span.isRecording(), false);
  span.end();
});

test('without an SDK, extractContext() hands back the base context, headers or not', () => {
  const base = context.active();
  const headers = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
  assert.equal(extractContext(headers, base), base);
  assert.equal(extractContext(undefined, base), base);
  assert.equal(trace.getSpanContext(extractContext(headers)), undefined);
});
