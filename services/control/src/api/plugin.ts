import { safeEqual } from '@firstmile/auth';
import type { Logger } from '@firstmile/observability';
import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import type { ApiContext, ApiRoute, ControlApiDeps } from './context.ts';
import { encoderRoutes } from './encoders.ts';
import { ControlApiError, type ApiErrorBody } from './errors.ts';
import { liveRoutes } from './live.ts';
import { describeErrors, openApiDocument, openApiText, routeSchemas, SchemaValidationError, validatorCompiler } from './openapi.ts';
import { streamRoutes } from './streams.ts';
import { Sweeper } from './sweeper.ts';
import { webhookRoutes } from './webhook-routes.ts';

/** Request bodies are small JSON objects; anything larger is a mistake or an attack. */
export const BODY_LIMIT_BYTES = 64 * 1024;

/**
 * The control HTTP API as a fastify plugin: every route under `/v1`, and `GET /openapi.json`.
 * Register it without a prefix on the process's fastify instance, next to /healthz and /readyz:
 * `app.register(controlApi(deps))`. Validation, errors and the JSON 404 under /v1 are the
 * plugin's own (encapsulated), whatever the host instance sets.
 */
export function controlApi(deps: ControlApiDeps): FastifyPluginAsync {
  return async (app) => {
    const ctx: ApiContext = {
      deps,
      now: deps.now ?? Date.now,
      rotationOverlapMs: deps.rotationOverlapMs ?? 600_000,
      kickTimeoutMs: deps.kickTimeoutMs ?? 1000,
      log: (request) => deps.logger.child({ reqId: request.id }),
    };
    if (deps.adminToken === undefined) {
      deps.logger.warn({}, 'no admin token configured: the control admin API answers 401 ADMIN_API_DISABLED');
    }
    const doc = openApiDocument();
    app.setValidatorCompiler(validatorCompiler());
    app.setErrorHandler((error: FastifyError, request, reply) => sendError(ctx, error, request, reply));
    app.addHook('onResponse', async (request, reply) => {
      const level = request.method === 'GET' && reply.statusCode < 500 ? 'debug' : reply.statusCode >= 500 ? 'error' : 'info';
      ctx.log(request)[level]({ method: request.method, route: request.routeOptions.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    });

    app.get('/openapi.json', { schema: routeSchemas(doc, 'get', '/openapi.json') }, async (_request, reply) =>
      reply.type('application/json; charset=utf-8').send(openApiText()),
    );

    const requireAdmin = adminAuth(deps.adminToken);
    const routes: ApiRoute[] = [...streamRoutes(ctx), ...liveRoutes(ctx), ...webhookRoutes(ctx), ...encoderRoutes(ctx)];
    await app.register(
      async (v1: FastifyInstance) => {
        v1.setNotFoundHandler(async (request, reply) =>
          reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no endpoint ${request.method} ${request.url.split('?')[0]}` } } satisfies ApiErrorBody),
        );
        for (const route of routes) {
          v1.route({
            method: route.method.toUpperCase() as HTTPMethods,
            url: route.path.replace(/^\/v1/, '').replace(/\{(\w+)\}/g, ':$1'),
            schema: routeSchemas(doc, route.method, route.path),
            bodyLimit: BODY_LIMIT_BYTES,
            // onRequest: a caller without the token is refused before its body is read.
            ...(route.auth === 'admin' ? { onRequest: requireAdmin } : {}),
            handler: route.handler,
          });
        }
      },
      { prefix: '/v1' },
    );

    if (deps.isLeader) {
      const sweeper = new Sweeper({
        index: deps.index,
        store: deps.store,
        isLeader: deps.isLeader,
        logger: deps.logger.child({ svc: 'sweeper' }),
        intervalMs: deps.sweepIntervalMs,
        now: ctx.now,
      }).start();
      app.addHook('onClose', async () => sweeper.stop());
    }
  };
}

function adminAuth(token: string | undefined) {
  const challenge = { 'www-authenticate': 'Bearer realm="firstmile"' };
  return async (request: FastifyRequest): Promise<void> => {
    if (token === undefined) {
      throw new ControlApiError(401, 'ADMIN_API_DISABLED', 'no admin token is configured on this server, so the admin API is disabled', { headers: challenge });
    }
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer +(\S+) *$/i.exec(header) : null;
    if (!match) throw new ControlApiError(401, 'UNAUTHORIZED', 'missing bearer token (Authorization: Bearer <admin token>)', { headers: challenge });
    if (!safeEqual(match[1]!, token)) throw new ControlApiError(401, 'UNAUTHORIZED', 'invalid admin token', { headers: challenge });
  };
}

/** fastify's own client errors, by code, and what this API calls them. */
const FASTIFY_ERRORS: Readonly<Record<string, [number, ControlApiError['code']]>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'PAYLOAD_TOO_LARGE'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'UNSUPPORTED_MEDIA_TYPE'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'BAD_REQUEST'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'BAD_REQUEST'],
};

function sendError(ctx: ApiContext, error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  let e: ControlApiError;
  if (error instanceof ControlApiError) {
    e = error;
  } else if (error instanceof SchemaValidationError || error.validation) {
    const part = error.validationContext ?? 'body';
    const details = error instanceof SchemaValidationError
      ? describeErrors(part, error.errors)
      : (error.validation ?? []).map((v) => ({ field: `${part}${v.instancePath}`, message: v.message ?? 'is invalid' }));
    const first = details[0];
    e = new ControlApiError(400, 'BAD_REQUEST', first ? `${first.field} ${first.message}` : 'invalid request', { details });
  } else if (error.code && FASTIFY_ERRORS[error.code]) {
    const [status, code] = FASTIFY_ERRORS[error.code]!;
    e = new ControlApiError(status, code, error.message);
  } else if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    // JSON syntax errors and the like: the message names the problem, never a secret of ours.
    e = new ControlApiError(400, 'BAD_REQUEST', error.message);
  } else if (error.name === 'BusError') {
    logFailure(ctx.log(request), error);
    e = new ControlApiError(503, 'UNAVAILABLE', 'the cluster bus is unavailable; try again');
  } else {
    logFailure(ctx.log(request), error);
    e = new ControlApiError(500, 'INTERNAL', 'internal error');
  }
  if (e.headers) reply.headers(e.headers);
  return reply.code(e.statusCode).type('application/json; charset=utf-8').send(e.toBody());
}

function logFailure(log: Logger, error: Error): void {
  log.error({ err: error.message, code: (error as { code?: unknown }).code, stack: error.stack }, 'request failed');
}
