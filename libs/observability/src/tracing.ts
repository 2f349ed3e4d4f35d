import {
  context,
  propagation,
  trace,
  SpanStatusCode,
  type Attributes,
  type Context,
  type Span,
  type SpanOptions,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
} from '@opentelemetry/api';

/**
 * Tracing on @opentelemetry/api alone. Until an SDK is registered (tracing-sdk.ts, opt-in), the
 * API hands out non-recording spans and a propagator that writes nothing, so instrumented code
 * costs a few calls and no allocation beyond them.
 */

export const TRACER_NAME = 'firstmile';

/** Span names (docs/metrics.md). */
export const SpanName = Object.freeze({
  connect: 'rtmp.connect',
  auth: 'rtmp.auth',
  publish: 'rtmp.publish',
  play: 'rtmp.play',
  controlAuthPublish: 'control.auth.publish',
} as const);

/**
 * Span attribute keys. `stream` is the public play name or the stream id, never a key: spans leave
 * the process for whatever backend the operator runs.
 */
export const SpanAttr = Object.freeze({
  app: 'firstmile.app',
  stream: 'firstmile.stream',
  streamId: 'firstmile.stream_id',
  connectionId: 'firstmile.connection_id',
  /** OpenTelemetry semantic convention for the peer's address. */
  clientIp: 'client.address',
  authMode: 'firstmile.auth.mode',
  /** allow | deny, or accepted | refused for connect and play. */
  result: 'firstmile.result',
  /** A deny or error code (AUTH_BAD_KEY, ...). */
  code: 'firstmile.code',
} as const);

export function getTracer(version?: string): Tracer {
  return trace.getTracer(TRACER_NAME, version);
}

/** W3C trace context headers are small; anything longer is not ours and is not read. */
const MAX_HEADER_VALUE = 1024;

const setter: TextMapSetter<Record<string, string>> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};

/**
 * NATS headers keep the case they were sent with, and the W3C names are lower case; a peer that
 * capitalised them is still understood.
 */
const getter: TextMapGetter<Readonly<Record<string, string>>> = {
  keys(carrier) {
    return Object.keys(carrier);
  },
  get(carrier, key) {
    let value = Object.hasOwn(carrier, key) ? carrier[key] : undefined;
    if (value === undefined) {
      for (const k of Object.keys(carrier)) {
        if (k.toLowerCase() === key) {
          value = carrier[k];
          break;
        }
      }
    }
    return value !== undefined && value.length <= MAX_HEADER_VALUE ? value : undefined;
  },
};

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * The trace context of `ctx` (default: the active one) as message headers (traceparent,
 * tracestate, baggage). Without a registered propagator this is a shared empty object.
 */
export function injectHeaders(ctx: Context = context.active()): Readonly<Record<string, string>> {
  if (propagation.fields().length === 0) return NO_HEADERS;
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier, setter);
  return carrier;
}

/** The context carried by message headers, on top of `base` (default: the active context). */
export function extractContext(headers: Readonly<Record<string, string>> | undefined, base: Context = context.active()): Context {
  if (!headers) return base;
  return propagation.extract(base, headers, getter);
}

/**
 * Runs `fn` inside a new active span and ends it when `fn` settles; a throw or rejection marks the
 * span as an error (the exception's message only: messages here never carry keys).
 */
export async function withSpan<T>(
  tracer: Tracer,
  name: string,
  options: SpanOptions,
  parent: Context | undefined,
  fn: (span: Span) => Promise<T> | T,
): Promise<T> {
  const ctx = parent ?? context.active();
  return tracer.startActiveSpan(name, options, ctx, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

export type { Attributes, Context, Span, Tracer };
