import { context, diag, propagation, trace, DiagLogLevel, type TextMapPropagator } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator, parseKeyPairsIntoRecord } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { ObservabilityError } from './errors.ts';
import type { Logger } from './logger.ts';

/**
 * The OpenTelemetry SDK, opt-in: loaded only through the `@firstmile/observability/tracing-sdk`
 * entry, so a service that never enables tracing never loads it. This is the one module of the
 * package that reads configuration from the environment, and it takes the environment as a
 * parameter (the service passes process.env). The OTLP exporter itself still reads the TLS and
 * compression variables (OTEL_EXPORTER_OTLP_*CERTIFICATE, *_CLIENT_KEY, *_COMPRESSION) from
 * process.env.
 */

export type TracingEnv = Readonly<Record<string, string | undefined>>;

export interface TracingOptions {
  /** service.name unless OTEL_SERVICE_NAME overrides it, e.g. `firstmile-edge`. */
  serviceName: string;
  /** service.version. */
  version: string;
  /** More resource attributes, e.g. service.instance.id (the edge id or pod name). */
  attributes?: Readonly<Record<string, string>> | undefined;
  /** Exporter and SDK warnings and errors go here (they are dropped otherwise). */
  logger?: Logger | undefined;
}

export interface RegisterTracingOptions extends TracingOptions {
  exporter: SpanExporter;
  /** `batch` (default) exports in the background; `simple` exports each span as it ends (tests). */
  processor?: 'batch' | 'simple' | undefined;
  batch?: { scheduledDelayMillis?: number; exportTimeoutMillis?: number; maxQueueSize?: number; maxExportBatchSize?: number } | undefined;
  /** Default: parent-based, always on for root spans. */
  sampler?: Sampler | undefined;
  /** Default: W3C trace context and baggage. */
  propagators?: readonly PropagatorName[] | undefined;
}

export type PropagatorName = 'tracecontext' | 'baggage';

export interface TracingHandle {
  /** Exports what is queued. */
  forceFlush(): Promise<void>;
  /** Exports what is queued, then unregisters the SDK: the API is back to its no-op defaults. */
  shutdown(): Promise<void>;
}

/**
 * Whether the environment asks for traces: OTEL_TRACES_EXPORTER=otlp, or an OTLP endpoint
 * (OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) with no exporter named.
 * OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none turn it off.
 */
export function tracingEnabled(env: TracingEnv): boolean {
  if (value(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return false;
  const exporters = list(env, 'OTEL_TRACES_EXPORTER');
  if (exporters) {
    const unsupported = exporters.filter((e) => e !== 'otlp' && e !== 'none');
    if (unsupported.length > 0) {
      throw new ObservabilityError('OBS_ERR_OTEL_CONFIG', `OTEL_TRACES_EXPORTER: unsupported exporter ${unsupported.join(', ')} (supported: otlp, none)`);
    }
    return exporters.includes('otlp');
  }
  return value(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') !== undefined || value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') !== undefined;
}

/**
 * Registers the SDK with an OTLP/HTTP (protobuf) exporter when the environment asks for traces
 * (tracingEnabled); returns undefined otherwise, leaving the API's no-op defaults in place.
 * Throws ObservabilityError OBS_ERR_OTEL_CONFIG for a value it cannot honour.
 */
export function startTracing(env: TracingEnv, options: TracingOptions): TracingHandle | undefined {
  if (!tracingEnabled(env)) return undefined;
  const protocol = value(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? value(env, 'OTEL_EXPORTER_OTLP_PROTOCOL') ?? 'http/protobuf';
  if (protocol !== 'http/protobuf') {
    throw new ObservabilityError('OBS_ERR_OTEL_CONFIG', `OTLP protocol ${protocol} is not supported (supported: http/protobuf)`);
  }
  const exporter = new OTLPTraceExporter({
    url: tracesUrl(env),
    headers: {
      ...parseKeyPairsIntoRecord(value(env, 'OTEL_EXPORTER_OTLP_HEADERS')),
      ...parseKeyPairsIntoRecord(value(env, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS')),
    },
    timeoutMillis: int(env, 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT') ?? int(env, 'OTEL_EXPORTER_OTLP_TIMEOUT') ?? 10_000,
  });
  const serviceName = value(env, 'OTEL_SERVICE_NAME') ?? options.serviceName;
  return registerTracing({
    ...options,
    serviceName,
    attributes: { ...parseKeyPairsIntoRecord(value(env, 'OTEL_RESOURCE_ATTRIBUTES')), ...options.attributes },
    exporter,
    processor: 'batch',
    batch: {
      ...optional('scheduledDelayMillis', int(env, 'OTEL_BSP_SCHEDULE_DELAY')),
      ...optional('exportTimeoutMillis', int(env, 'OTEL_BSP_EXPORT_TIMEOUT')),
      ...optional('maxQueueSize', int(env, 'OTEL_BSP_MAX_QUEUE_SIZE')),
      ...optional('maxExportBatchSize', int(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE')),
    },
    sampler: samplerFromEnv(env),
    propagators: propagatorsFromEnv(env),
  });
}

/**
 * Registers a tracer provider, the W3C propagators and an AsyncLocalStorage context manager as the
 * API's globals, exporting to `exporter`. One registration per process at a time.
 */
export function registerTracing(options: RegisterTracingOptions): TracingHandle {
  const spanProcessor: SpanProcessor =
    options.processor === 'simple'
      ? new SimpleSpanProcessor({ exporter: options.exporter })
      : // The queue is bounded: when the collector is slow, spans are dropped, never buffered without end.
        new BatchSpanProcessor({ maxQueueSize: 2048, ...options.batch, exporter: options.exporter });
  const provider = new TracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({ ...options.attributes, 'service.name': options.serviceName, 'service.version': options.version }),
    ),
    sampler: options.sampler ?? new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: [spanProcessor],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  if (!context.setGlobalContextManager(contextManager)) {
    contextManager.disable();
    throw new ObservabilityError('OBS_ERR_OTEL_CONFIG', 'an OpenTelemetry context manager is already registered in this process');
  }
  const propagators = (options.propagators ?? ['tracecontext', 'baggage']).map(
    (p): TextMapPropagator => (p === 'tracecontext' ? new W3CTraceContextPropagator() : new W3CBaggagePropagator()),
  );
  propagation.setGlobalPropagator(new CompositePropagator({ propagators }));
  if (!trace.setGlobalTracerProvider(provider)) {
    propagation.disable();
    context.disable();
    throw new ObservabilityError('OBS_ERR_OTEL_CONFIG', 'an OpenTelemetry tracer provider is already registered in this process');
  }
  const logger = options.logger;
  if (logger) {
    const warn = (message: string) => logger.warn({ otel: message }, 'OpenTelemetry SDK warning');
    diag.setLogger(
      { error: (message) => logger.error({ otel: message }, 'OpenTelemetry SDK error'), warn, info: () => {}, debug: () => {}, verbose: () => {} },
      { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
    );
  }
  let shutdown: Promise<void> | undefined;
  return {
    forceFlush: () => provider.forceFlush(),
    shutdown() {
      shutdown ??= provider.shutdown().finally(() => {
        trace.disable();
        propagation.disable();
        context.disable();
        if (logger) diag.disable();
      });
      return shutdown;
    },
  };
}

function value(env: TracingEnv, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

function list(env: TracingEnv, name: string): string[] | undefined {
  const v = value(env, name);
  return v === undefined ? undefined : v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
}

function int(env: TracingEnv, name: string): number | undefined {
  const v = value(env, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ObservabilityError('OBS_ERR_OTEL_CONFIG', `${name} must be a non-negative integer, got ${v}`);
  return n;
}

function optional<K extends string>(key: K, v: number | undefined): Partial<Record<K, number>> {
  return v === undefined ? {} : ({ [key]: v } as Record<K, number>);
}

/** OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as is; the generic endpoint gets the signal path. */
function tracesUrl(env: TracingEnv): string {
  const specific = value(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const generic = value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  const url = specific ?? (generic ? `${generic.replace(/\/+$/, '')}/v1/traces` : 'http://localhost:4318/v1/traces');
  if (!URL.canParse(url)) throw new ObservabilityError('OBS_ERR_OTEL_CONFIG', 'the OTLP traces endpoint is not a valid URL');
  return url;
}

function samplerFromEnv(env: TracingEnv): Sampler {
  const name = value(env, 'OTEL_TRACES_SAMPLER')?.toLowerCase() ?? 'parentbased_always_on';
  const ratio = () => {
    const arg = value(env, 'OTEL_TRACES_SAMPLER_ARG');
    const r = arg === undefined ? 1 : Number(arg);
    if (!(r >= 0 && r <= 1)) throw new ObservabilityError('OBS_ERR_OTEL_CONFIG', `OTEL_TRACES_SAMPLER_ARG must be a ratio in 0..1, got ${arg}`);
    return r;
  };
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio());
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio()) });
    default:
      throw new ObservabilityError('OBS_ERR_OTEL_CONFIG', `OTEL_TRACES_SAMPLER: unsupported sampler ${name}`);
  }
}

function propagatorsFromEnv(env: TracingEnv): PropagatorName[] {
  const names = list(env, 'OTEL_PROPAGATORS') ?? ['tracecontext', 'baggage'];
  const out: PropagatorName[] = [];
  for (const n of names) {
    if (n === 'tracecontext' || n === 'baggage') out.push(n);
    else if (n !== 'none') {
      throw new ObservabilityError('OBS_ERR_OTEL_CONFIG', `OTEL_PROPAGATORS: unsupported propagator ${n} (supported: tracecontext, baggage, none)`);
    }
  }
  return out;
}
