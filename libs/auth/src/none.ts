import { parseStreamName } from './stream-name.ts';
import type { PublishAuthorizer, PublishDecision, PublishRequest } from './types.ts';

/**
 * Auth mode `none`, for local development (`firstmile up` without configuration): anyone may
 * publish anything. The service logs a warning when it picks this mode. The play name is the
 * published name without its query.
 */
export class NoneAuthorizer implements PublishAuthorizer {
  readonly mode = 'none' as const;

  async authorize(request: PublishRequest): Promise<PublishDecision> {
    const parsed = parseStreamName(request.name);
    if (!parsed) return { ok: false, code: 'AUTH_DENIED', reason: 'malformed stream name', mode: 'none' };
    return { ok: true, playName: parsed.base, mode: 'none' };
  }
}
