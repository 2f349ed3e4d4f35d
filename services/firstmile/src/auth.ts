import { readFileSync } from 'node:fs';
import {
  AppAuthorizers,
  FailureCounter,
  LockoutGuard,
  PlaybackAuthorizer,
  StreamPolicyClient,
  type AuthMode,
  type PublishAuthConfig,
  type PlaybackLookup,
} from '@firstmile/auth';
import type { Bus } from '@firstmile/bus';
import type { Logger, Metrics } from '@firstmile/observability';
import type { Config } from './config.ts';

/** A secret from a mounted file (a Kubernetes Secret): trailing newlines are not part of it. */
export function readSecretFile(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${what} from ${path}: ${(error as Error).message}`);
  }
  const secret = text.replace(/[\r\n]+$/, '');
  if (secret.length < 16) throw new Error(`${what} in ${path} is shorter than 16 characters`);
  return secret;
}

/** Per-app auth modes: authApps entries, the rest on authMode. */
export function appModes(config: Config): { default: AuthMode; apps: Record<string, AuthMode> } {
  const apps: Record<string, AuthMode> = {};
  for (const pair of config.authApps?.split(',') ?? []) {
    const [app, mode] = pair.split('=') as [string, AuthMode];
    apps[app] = mode;
  }
  return { default: config.authMode, apps };
}

function modeConfig(mode: AuthMode, config: Config): PublishAuthConfig {
  switch (mode) {
    case 'none':
      return { mode };
    case 'keys':
      return { mode, timeoutMs: config.authTimeoutMs, cacheTtlMs: config.authCacheMs };
    case 'signed':
      if (!config.signedSecretFile) throw new Error('auth mode signed needs FIRSTMILE_SIGNED_SECRET_FILE');
      return { mode, secret: readSecretFile(config.signedSecretFile, 'the signed-URL secret') };
    case 'webhook':
      if (!config.authWebhookUrl) throw new Error('auth mode webhook needs FIRSTMILE_AUTH_WEBHOOK_URL');
      return { mode, url: config.authWebhookUrl, timeoutMs: config.authTimeoutMs, failOpen: config.authWebhookFailOpen, cacheTtlMs: config.authWebhookCacheMs };
    case 'jwt': {
      if (!config.jwtAudience) throw new Error('auth mode jwt needs FIRSTMILE_JWT_AUDIENCE');
      if (!config.jwtJwksUrl === !config.jwtKeyFile) throw new Error('auth mode jwt needs one of FIRSTMILE_JWT_JWKS_URL and FIRSTMILE_JWT_KEY_FILE');
      return {
        mode,
        audience: config.jwtAudience,
        issuer: config.jwtIssuer,
        streamClaim: config.jwtStreamClaim,
        ...(config.jwtJwksUrl ? { jwksUrl: config.jwtJwksUrl } : { key: readFileSync(config.jwtKeyFile!, 'utf8').trim() }),
      };
    }
  }
}

export interface EdgeAuth {
  authorizer: AppAuthorizers;
  lockout: LockoutGuard | undefined;
  close(): void;
}

/** The edge's publish auth and the cluster-wide brute-force lockout, from configuration. */
export function buildEdgeAuth(config: Config, bus: Bus, logger: Logger, metrics: Metrics | undefined): EdgeAuth {
  const modes = appModes(config);
  const authorizer = AppAuthorizers.fromConfig(
    {
      default: modeConfig(modes.default, config),
      apps: Object.fromEntries(Object.entries(modes.apps).map(([app, mode]) => [app, modeConfig(mode, config)])),
    },
    { bus, logger: logger.child({ svc: 'auth' }) },
  );
  if (authorizer.modes.has('none')) {
    const open = modes.default === 'none' ? 'every app not listed in FIRSTMILE_AUTH_APPS' : Object.keys(modes.apps).filter((a) => modes.apps[a] === 'none').join(', ');
    logger.warn({ apps: open }, 'publishing is unauthenticated (auth mode none) for some apps: any stream name is accepted there');
  }
  const lockout = buildLockout(config, bus, config.edgeId, logger, metrics);
  return {
    authorizer,
    lockout,
    close: () => {
      authorizer.close();
      lockout?.close();
    },
  };
}

/**
 * The brute-force lockout of one process (edge, or control for encoder-config), counting every
 * process's failures over fm.auth.fail; undefined when lockout is off (lockoutMs 0).
 */
export function buildLockout(config: Config, bus: Bus, id: string, logger: Logger, metrics: Metrics | undefined): LockoutGuard | undefined {
  if (config.lockoutMs === 0) return undefined;
  const counter = new FailureCounter({
    windowMs: config.lockoutWindowMs,
    maxFailures: config.lockoutFailures,
    lockoutMs: config.lockoutMs,
    maxEntries: 100_000,
  });
  const lockout = new LockoutGuard({
    bus,
    counter,
    edgeId: id,
    logger,
    // LockoutGuard logs the lockout itself.
    onLockout: () => metrics?.authLockouts.inc(),
  });
  if (metrics) metrics.onCollect(metrics.authLockedOutIps, () => metrics.authLockedOutIps.set(counter.lockedCount()));
  return lockout;
}

/**
 * Play auth: streams of `keys` apps follow their record (public, or signed playback tokens);
 * streams of other apps have no record and are public.
 */
export function buildPlayAuth(config: Config, bus: Bus): { authorizer: PlaybackAuthorizer; close(): void } {
  const modes = appModes(config);
  const keysApp = (app: string) => (modes.apps[app] ?? modes.default) === 'keys';
  const secret = config.playbackSecretFile ? readSecretFile(config.playbackSecretFile, 'the playback secret') : undefined;
  const client = new StreamPolicyClient({ bus, timeoutMs: config.authTimeoutMs, cacheTtlMs: config.authCacheMs });
  const lookup: PlaybackLookup = (app, stream, context) => (keysApp(app) ? client.lookup(stream, context) : 'public');
  return { authorizer: new PlaybackAuthorizer({ lookup, secret }), close: () => client.close() };
}
