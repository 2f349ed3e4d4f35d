import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { FastifySchemaCompiler } from 'fastify';

/**
 * The committed OpenAPI document is the single source of the API's request schemas: routes take
 * their body, query and path schemas from it, so what is documented is what is validated and the
 * two cannot drift. Responses are checked against it by the tests.
 */
export type JsonSchema = { [keyword: string]: unknown };

export interface OpenApiParameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: JsonSchema;
  $ref?: string;
}

export interface OpenApiOperation {
  operationId?: string;
  security?: Record<string, string[]>[];
  parameters?: OpenApiParameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonSchema }> };
  responses: Record<string, { $ref?: string; content?: Record<string, { schema?: JsonSchema }> }>;
}

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';
export const HTTP_METHODS: readonly HttpMethod[] = ['get', 'post', 'put', 'patch', 'delete'];

export type OpenApiPathItem = { parameters?: OpenApiParameter[] } & { [M in HttpMethod]?: OpenApiOperation };

export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description?: string };
  paths: Record<string, OpenApiPathItem>;
  components: { schemas: Record<string, JsonSchema>; parameters?: Record<string, OpenApiParameter>; responses?: Record<string, unknown> };
  [key: string]: unknown;
}

export const OPENAPI_FILE = new URL('../../openapi.json', import.meta.url);

let cached: { doc: OpenApiDocument; text: string } | undefined;

/** The document as committed (parsed once; frozen, shared). */
export function openApiDocument(): OpenApiDocument {
  return load().doc;
}

/** The document's bytes as served at /openapi.json. */
export function openApiText(): string {
  return load().text;
}

function load(): { doc: OpenApiDocument; text: string } {
  if (!cached) {
    const raw = readFileSync(OPENAPI_FILE, 'utf8');
    const doc = deepFreeze(JSON.parse(raw) as OpenApiDocument);
    cached = { doc, text: JSON.stringify(doc) };
  }
  return cached;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Follows a local `#/...` reference. */
export function resolvePointer(doc: OpenApiDocument, ref: string): unknown {
  if (!ref.startsWith('#/')) throw new Error(`only local references are supported: ${ref}`);
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const token = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (typeof node !== 'object' || node === null || !(token in node)) throw new Error(`unresolved reference ${ref}`);
    node = (node as Record<string, unknown>)[token];
  }
  return node;
}

/**
 * A copy of `schema` with every `$ref` replaced by its target. The document has no recursive
 * schemas, so inlining terminates, and the result is self-contained for any JSON Schema compiler.
 */
export function inlineRefs(doc: OpenApiDocument, schema: unknown, depth = 0): unknown {
  if (depth > 32) throw new Error('schema nesting too deep (a recursive $ref?)');
  if (Array.isArray(schema)) return schema.map((s) => inlineRefs(doc, s, depth + 1));
  if (typeof schema !== 'object' || schema === null) return schema;
  const obj = schema as Record<string, unknown>;
  if (typeof obj['$ref'] === 'string') {
    const { $ref, ...siblings } = obj;
    const target = inlineRefs(doc, resolvePointer(doc, $ref as string), depth + 1) as Record<string, unknown>;
    return Object.keys(siblings).length === 0 ? target : { ...target, ...(inlineRefs(doc, siblings, depth + 1) as object) };
  }
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, inlineRefs(doc, v, depth + 1)]));
}

/**
 * Marks the body schema of an operation whose body may be left out. Fastify hands a missing body
 * to the validator as null; the compiler lets null through for these and strips the marker (it is
 * not a JSON Schema keyword).
 */
const OPTIONAL_BODY = 'x-firstmile-optional-body';

export interface RouteSchemas {
  body?: JsonSchema;
  querystring?: JsonSchema;
  params?: JsonSchema;
}

/** The operation at `method path` (OpenAPI path syntax, `/v1/streams/{id}`), or throws. */
export function operation(doc: OpenApiDocument, method: HttpMethod, path: string): OpenApiOperation {
  const op = doc.paths[path]?.[method];
  if (!op) throw new Error(`${method.toUpperCase()} ${path} is not in openapi.json`);
  return op;
}

/** Fastify route schemas (body, querystring, params) of one documented operation. */
export function routeSchemas(doc: OpenApiDocument, method: HttpMethod, path: string): RouteSchemas {
  const op = operation(doc, method, path);
  const params = [...(doc.paths[path]?.parameters ?? []), ...(op.parameters ?? [])].map(
    (p) => (p.$ref ? resolvePointer(doc, p.$ref) : p) as OpenApiParameter,
  );
  const out: RouteSchemas = {};
  for (const where of ['query', 'path'] as const) {
    const list = params.filter((p) => p.in === where);
    if (list.length === 0) continue;
    const schema: JsonSchema = {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(list.map((p) => [p.name, inlineRefs(doc, p.schema ?? {})])),
      required: list.filter((p) => p.required).map((p) => p.name),
    };
    if (where === 'query') out.querystring = schema;
    else out.params = schema;
  }
  const body = op.requestBody?.content?.['application/json']?.schema;
  if (body) {
    out.body = inlineRefs(doc, body) as JsonSchema;
    if (op.requestBody?.required !== true) out.body = { [OPTIONAL_BODY]: true, ...out.body };
  }
  return out;
}

/** The response schema of `method path status` (inlined), or undefined when it has no JSON body. */
export function responseSchema(doc: OpenApiDocument, method: HttpMethod, path: string, status: number): JsonSchema | undefined {
  const op = operation(doc, method, path);
  let response = op.responses[String(status)];
  if (!response) throw new Error(`${method.toUpperCase()} ${path} documents no ${status} response`);
  if (response.$ref) response = resolvePointer(doc, response.$ref) as typeof response;
  const schema = response.content?.['application/json']?.schema;
  return schema ? (inlineRefs(doc, schema) as JsonSchema) : undefined;
}

// RFC 3339 date-time as Date#toISOString and most clients write it.
const DATE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/i;

/**
 * A JSON Schema 2020-12 compiler (the dialect of OpenAPI 3.1). Its own, not the host fastify's:
 * fastify's default ajv removes unknown properties silently, and this API answers them with 400.
 * `coerce` turns query and path strings into the documented integers.
 */
export function createAjv(options: { coerce: boolean }): Ajv2020 {
  const ajv = new Ajv2020({
    allErrors: true,
    coerceTypes: options.coerce,
    useDefaults: options.coerce,
    removeAdditional: false,
    strict: true,
    // `examples` and `description` are annotations; OpenAPI adds none inside these schemas.
  });
  ajv.addFormat('date-time', DATE_TIME);
  return ajv;
}

/** The fastify validator compiler of the API's routes. */
export function validatorCompiler(): FastifySchemaCompiler<JsonSchema> {
  const strict = createAjv({ coerce: false });
  const coercing = createAjv({ coerce: true });
  return ({ schema, httpPart }) => {
    const { [OPTIONAL_BODY]: optional, ...jsonSchema } = schema;
    const fn: ValidateFunction = (httpPart === 'body' ? strict : coercing).compile(jsonSchema);
    return (data: unknown) => {
      if (optional === true && (data === null || data === undefined)) return { value: data };
      return fn(data) ? { value: data } : { error: new SchemaValidationError(fn.errors ?? []) };
    };
  };
}

/**
 * Ajv's errors as `{field, message}` pairs, `field` a JSON pointer under the request part:
 * `body/name`, `querystring/limit`. An unknown property is named as the field itself.
 */
export function describeErrors(part: string, errors: readonly ErrorObject[]): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  for (const e of errors) {
    let pointer = e.instancePath;
    let message = e.message ?? 'is invalid';
    const params = e.params as { additionalProperty?: unknown; unevaluatedProperty?: unknown; missingProperty?: unknown; propertyName?: unknown };
    if (e.keyword === 'additionalProperties' || e.keyword === 'unevaluatedProperties') {
      pointer += `/${String(params.additionalProperty ?? params.unevaluatedProperty)}`;
      message = 'is not a known field';
    } else if (e.keyword === 'required') {
      pointer += `/${String(params.missingProperty)}`;
      message = 'is required';
    } else if (e.keyword === 'propertyNames') {
      pointer += `/${String(params.propertyName)}`;
      message = 'is not an allowed name';
    }
    const field = `${part}${pointer}`;
    // allErrors can report one field several times (e.g. a propertyNames failure and its pattern).
    if (!out.some((d) => d.field === field && d.message === message)) out.push({ field, message });
    if (out.length >= 20) break;
  }
  return out;
}

export class SchemaValidationError extends Error {
  readonly errors: readonly ErrorObject[];

  constructor(errors: readonly ErrorObject[]) {
    super(errors.map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`).join('; '));
    this.name = 'SchemaValidationError';
    this.errors = errors;
  }
}
