import type { Bus } from '@firstmile/bus';
import type { Logger } from '@firstmile/observability';
import type { JWK, JWSAlgorithm } from 'jose';
import { AuthError } from './errors.ts';
import { JwtAuthorizer } from './jwt.ts';
import { KeysAuthorizer } from './keys-auth.ts';
import { NoneAuthorizer } from './none.ts';
import { SignedAuthorizer, type SigningSecret } from './signed.ts';
import type { AuthContext, AuthMode, PublishAuthorizer, PublishDecision, PublishRequest } from './types.ts';
import { WebhookAuthorizer } from './webhook.ts';

/** One app's publish auth, as a plain (JSON/YAML-friendly) object; see each authorizer's options. */
export type PublishAuthConfig =
  | { mode: 'none' }
  | { mode: 'keys'; timeoutMs?: number | undefined; cacheTtlMs?: number | undefined; maxCacheEntries?: number | undefined }
  | { mode: 'signed'; secret: SigningSecret; maxTtlSeconds?: number | undefined }
  | {
      mode: 'webhook';
      url: string;
      timeoutMs?: number | undefined;
      failOpen?: boolean | undefined;
      cacheTtlMs?: number | undefined;
      denyCacheTtlMs?: number | undefined;
      maxCacheEntries?: number | undefined;
      headers?: Record<string, string> | undefined;
    }
  | {
      mode: 'jwt';
      jwksUrl?: string | undefined;
      key?: string | JWK | undefined;
      issuer?: string | string[] | undefined;
      audience: string | string[];
      streamClaim?: string | undefined;
      algorithms?: JWSAlgorithm[] | undefined;
      clockToleranceSeconds?: number | undefined;
    };

/** What the authorizers need from the service: the bus (mode `keys`), a logger, a clock. */
export interface PublishAuthDeps {
  bus?: Bus | undefined;
  logger?: Logger | undefined;
  now?: (() => number) | undefined;
}

/** An authorizer some modes must be closed (they subscribe to the bus). */
export type ClosablePublishAuthorizer = PublishAuthorizer & { close?(): void };

export function createPublishAuthorizer(config: PublishAuthConfig, deps: PublishAuthDeps = {}): ClosablePublishAuthorizer {
  switch (config.mode) {
    case 'none': {
      return new NoneAuthorizer();
    }
    case 'keys': {
      if (!deps.bus) throw new AuthError('AUTH_ERR_CONFIG', 'auth mode keys needs the bus (control answers on it)');
      return new KeysAuthorizer({ ...config, bus: deps.bus, logger: deps.logger, now: deps.now });
    }
    case 'signed': {
      return new SignedAuthorizer({ ...config, now: deps.now });
    }
    case 'webhook': {
      return new WebhookAuthorizer({ ...config, logger: deps.logger, now: deps.now });
    }
    case 'jwt': {
      return new JwtAuthorizer({ ...config, logger: deps.logger, now: deps.now });
    }
    default: {
      const mode: unknown = (config as { mode?: unknown }).mode;
      throw new AuthError('AUTH_ERR_CONFIG', `unknown auth mode ${JSON.stringify(mode)}`);
    }
  }
}

export interface AppAuthorizersOptions {
  /** Authorizer per RTMP app name. */
  apps?: Readonly<Record<string, PublishAuthorizer>> | ReadonlyMap<string, PublishAuthorizer> | undefined;
  /** For apps not listed; unset: publishing to an unlisted app is refused. */
  default?: PublishAuthorizer | undefined;
}

/** Publish auth chosen per app: `live` may use keys while `test` uses none. */
export class AppAuthorizers implements PublishAuthorizer {
  readonly #apps: Map<string, PublishAuthorizer>;
  readonly #default: PublishAuthorizer | undefined;

  constructor(options: AppAuthorizersOptions) {
    const apps = options.apps;
    this.#apps = new Map(apps === undefined ? [] : apps instanceof Map ? apps : Object.entries(apps as Record<string, PublishAuthorizer>));
    this.#default = options.default;
  }

  /** Builds every app's authorizer from plain config. */
  static fromConfig(config: { default?: PublishAuthConfig | undefined; apps?: Readonly<Record<string, PublishAuthConfig>> | undefined }, deps: PublishAuthDeps = {}): AppAuthorizers {
    const apps = new Map<string, PublishAuthorizer>();
    for (const [app, c] of Object.entries(config.apps ?? {})) apps.set(app, createPublishAuthorizer(c, deps));
    return new AppAuthorizers({ apps, default: config.default ? createPublishAuthorizer(config.default, deps) : undefined });
  }

  /** The default's mode (the edge reports it for refusals made before an app is known). */
  get mode(): AuthMode {
    return this.#default?.mode ?? 'none';
  }

  /** The modes in use, e.g. to warn once at start when `none` is among them. */
  get modes(): ReadonlySet<AuthMode> {
    const modes = new Set<AuthMode>([...this.#apps.values()].map((a) => a.mode));
    if (this.#default) modes.add(this.#default.mode);
    return modes;
  }

  authorizerFor(app: string): PublishAuthorizer | undefined {
    return this.#apps.get(app) ?? this.#default;
  }

  async authorize(request: PublishRequest, context?: AuthContext): Promise<PublishDecision> {
    const authorizer = this.authorizerFor(request.app);
    if (!authorizer) return { ok: false, code: 'AUTH_DENIED', reason: 'app not configured', mode: 'none' };
    try {
      return await authorizer.authorize(request, context);
    } catch {
      // Authorizers resolve with decisions; a throw is a bug, and a bug must not open the door.
      return { ok: false, code: 'AUTH_UNAVAILABLE', reason: 'authorizer failed', mode: authorizer.mode };
    }
  }

  close(): void {
    const all = new Set<PublishAuthorizer>(this.#apps.values());
    if (this.#default) all.add(this.#default);
    for (const a of all) (a as ClosablePublishAuthorizer).close?.();
  }
}
