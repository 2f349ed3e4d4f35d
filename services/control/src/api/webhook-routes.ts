import type { DeliveryStatus } from '../webhooks/dispatcher.ts';
import type { ApiContext, ApiRoute } from './context.ts';
import { ControlApiError } from './errors.ts';

export function webhookRoutes(ctx: ApiContext): ApiRoute[] {
  const { webhooks } = ctx.deps;
  return [
    {
      method: 'get',
      path: '/v1/webhooks/deliveries',
      auth: 'admin',
      async handler(request) {
        const query = request.query as { limit?: number; status?: DeliveryStatus };
        return { data: webhooks.deliveries({ limit: query.limit ?? 100, status: query.status }), dropped: webhooks.dropped };
      },
    },
    {
      method: 'post',
      path: '/v1/webhooks/deliveries/{id}/retry',
      auth: 'admin',
      async handler(request, reply) {
        const id = (request.params as { id: string }).id;
        const result = webhooks.retry(id);
        if (!result.ok) {
          throw result.reason === 'not_found'
            ? new ControlApiError(404, 'DELIVERY_NOT_FOUND', `no delivery with id ${id} on this replica`)
            : new ControlApiError(409, 'DELIVERY_IN_PROGRESS', `delivery ${id} is still being attempted`);
        }
        ctx.log(request).info({ delivery: id }, 'webhook delivery requeued');
        return reply.code(202).send(result.delivery);
      },
    },
  ];
}
