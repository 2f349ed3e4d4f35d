import { hostname } from 'node:os';
import { z } from 'zod';

/**
 * Every setting, once: its environment variable, its flag, its default, its meaning. The parser,
 * `firstmile --help` and the table in docs/configuration.md are all made from this list, so they
 * cannot drift apart (a test checks the doc against it).
 */
interface Setting<K extends string, T extends z.ZodType> {
  key: K;
  env: string;
  flag: string;
  schema: T;
  default: string | undefined;
  doc: string;
}

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const MiB = 1024 * 1024;

function s<K extends string, T extends z.ZodType>(key: K, schema: T, def: string | undefined, doc: string): Setting<K, T> {
  const snake = key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
  const flag = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return { key, env: `FIRSTMILE_${snake}`, flag, schema, default: def, doc };
}

export const SETTINGS = [
  s('host', z.string().min(1), '0.0.0.0', 'Address the RTMP, RTMPS and HTTP listeners bind to.'),
  s('rtmpPort', int(0, 65535), '1935', 'Plain RTMP listener port (0 picks a free port).'),
  s('rtmpsPort', int(0, 65535).optional(), undefined, 'RTMPS (RTMP over TLS) listener port; unset disables RTMPS. Needs tlsCert and tlsKey.'),
  s('tlsCert', z.string().min(1).optional(), undefined, 'PEM certificate chain file for RTMPS; reloaded when the file changes.'),
  s('tlsKey', z.string().min(1).optional(), undefined, 'PEM private key file for RTMPS.'),
  s('httpPort', int(0, 65535), '8080', 'HTTP port for /healthz (alive) and /readyz (accepting new connections).'),
  s('trustProxy', z.enum(['true', 'false']).transform((v) => v === 'true'), 'false', 'HTTP: take the client address from X-Forwarded-For (set when a proxy or ingress sits in front of the HTTP port; the address feeds lockout and ingest routing).'),
  s('logLevel', z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']), 'info', 'Log level (pino JSON lines on stdout).'),
  s('edgeId', z.string().min(1).max(128), undefined, 'This process\'s identity in logs and on the bus (default: the host name).'),
  s('maxConnections', int(1, 1_000_000), '10000', 'RTMP/RTMPS connections open at once; more are refused on accept.'),
  s('handshakeTimeoutMs', int(100, 600_000), '10000', 'Time from TCP accept to a completed handshake and connect command.'),
  s('idleTimeoutMs', int(0, 3_600_000), '60000', 'A connection with no bytes in or out for this long is closed (0 disables).'),
  s('maxMessageBytes', int(1024, 0xffffff), String(8 * MiB), 'Largest RTMP message accepted from a peer (the wire field allows 16 MiB).'),
  s('maxChunkSize', int(128, 0xffffff), String(0xffffff), 'Largest Set Chunk Size accepted from a peer.'),
  s('maxChunkStreams', int(4, 65599), '64', 'Chunk streams one connection may keep open.'),
  s('chunkSize', int(128, 65536), '4096', 'Chunk size the server sends with (one encoding shared by every player).'),
  s('gopCacheBytes', int(0, 1024 * MiB), String(16 * MiB), 'Bytes of the current GOP kept per stream for instant start of late joiners.'),
  s('gopCacheMs', int(0, 600_000), '10000', 'Duration of the current GOP kept per stream.'),
  s('playWaitMs', int(0, 3_600_000), '30000', 'A play of a stream that is not live waits this long, then gets NetStream.Play.StreamNotFound.'),
  s('reconnectWindowMs', int(0, 3_600_000), '30000', 'When a publisher\'s connection drops, its players stay attached this long for it to come back.'),
  s('lingerMs', int(0, 600_000), '5000', 'An origin keeps a stream\'s subscription this long after its last player leaves.'),
  s('initTimeoutMs', int(10, 60_000), '2000', 'Timeout of an origin\'s request for a stream\'s init snapshot.'),
  s('playerMinLagBytes', int(1024, 1024 * MiB), String(MiB), 'A player is behind when its unsent bytes exceed max(this, 2 GOPs); it then skips to the next keyframe.'),
  s('playerMaxQueueBytes', int(1024, 4096 * MiB), String(16 * MiB), 'Hard cap on one player\'s unsent bytes.'),
  s('slowPlayerTimeoutMs', int(100, 3_600_000), '10000', 'A player that stays behind this long is disconnected.'),
  s('flushIntervalMs', int(0, 1000), '50', 'Audio and data wait up to this long to share a write with other messages; video is written at once and takes what waits (0: every message at once).'),
  s('shutdownTimeoutMs', int(0, 3_600_000), '10000', 'Drain deadline: on SIGTERM readiness fails and no new connections are accepted; open ones get this long to finish, then are closed.'),
  s('natsUrl', z.string().regex(/^[^\s]+$/).optional(), undefined, 'Comma-separated NATS server URLs. Unset: the in-memory bus (only for `firstmile up`); `edge` and `origin` require it.'),
  s('natsCreds', z.string().min(1).optional(), undefined, 'NATS credentials file (JWT + NKey seed).'),
  s('natsUser', z.string().min(1).optional(), undefined, 'NATS user name (with natsPassword).'),
  s('natsPassword', z.string().min(1).optional(), undefined, 'NATS password.'),
  s('natsTlsCa', z.string().min(1).optional(), undefined, 'CA file to verify the NATS servers (turns TLS on).'),
  s('natsTlsCert', z.string().min(1).optional(), undefined, 'Client certificate file for NATS mutual TLS.'),
  s('natsTlsKey', z.string().min(1).optional(), undefined, 'Client key file for NATS mutual TLS.'),
  s('indexBucket', z.string().regex(/^[A-Za-z0-9_-]+$/), 'fm_live', 'JetStream KV bucket of the live-stream index and stream ownership.'),
  s('indexReplicas', int(1, 5), '1', 'Replicas of the index bucket (3 on a NATS cluster, so it survives losing a node).'),
  s('indexTtlMs', int(1000, 3_600_000), '15000', 'An index record not renewed for this long disappears (a dead edge\'s streams).'),
  s('publisherStaleMs', int(500, 3_600_000), '5000', 'A publisher that has sent no media for this long loses its key to a new publisher (an encoder reconnecting from a dead network).'),
  s('heartbeatMs', int(100, 600_000), '2000', 'How often an edge renews the index records of the streams it owns.'),
  s('jetstreamRetryMs', int(0, 600_000), '8000', 'How long one JetStream operation retries through a leader election before failing.'),
  s('authMode', z.enum(['none', 'keys', 'signed', 'webhook', 'jwt']), 'none', 'Publish auth mode of apps not listed in authApps: none (anything goes, local development), keys (stream keys managed by control), signed (URL with expiry and HMAC signature), webhook (ask authWebhookUrl), jwt (token verified against jwtJwksUrl or jwtKeyFile).'),
  s('authApps', z.string().regex(/^([^=,\s]+=(none|keys|signed|webhook|jwt))(,[^=,\s]+=(none|keys|signed|webhook|jwt))*$/, 'expected app=mode[,app=mode...]').optional(), undefined, 'Per-app publish auth modes, e.g. `live=keys,partner=webhook,dev=none`.'),
  s('authCacheMs', int(0, 1000), '1000', 'How long an edge caches a `keys` decision from control (at most 1 s: a revoked or rotated-out key stops working cluster-wide within it; revocation also clears caches at once).'),
  s('authTimeoutMs', int(100, 60_000), '2000', 'Timeout of an auth round trip (control in `keys` mode, the operator\'s URL in `webhook` mode); a timeout refuses the publish.'),
  s('authWebhookUrl', z.string().url().optional(), undefined, '`webhook` mode: URL the edge POSTs {action, app, stream, query, clientIp} to; a 2xx answer allows the publish.'),
  s('authWebhookFailOpen', z.enum(['true', 'false']).transform((v) => v === 'true'), 'false', '`webhook` mode: allow publishing when the URL cannot be reached (default: refuse).'),
  s('authWebhookCacheMs', int(0, 3_600_000), '5000', '`webhook` mode: how long a decision is cached per app, stream, query and client IP.'),
  s('jwtJwksUrl', z.string().url().optional(), undefined, '`jwt` mode: JWKS URL the token\'s signature is verified against.'),
  s('jwtKeyFile', z.string().min(1).optional(), undefined, '`jwt` mode: a static verification key file (PEM public key, or a shared HS256 secret) instead of a JWKS URL.'),
  s('jwtAudience', z.string().min(1).optional(), undefined, '`jwt` mode: required audience (aud) of tokens.'),
  s('jwtIssuer', z.string().min(1).optional(), undefined, '`jwt` mode: required issuer (iss) of tokens.'),
  s('jwtStreamClaim', z.string().min(1).max(64), 'stream', '`jwt` mode: the claim that names the stream the token allows publishing to (`*` for any).'),
  s('signedSecretFile', z.string().min(1).optional(), undefined, '`signed` mode: file holding the HMAC secret publish URLs are signed with.'),
  s('keyHashSecretFile', z.string().min(1).optional(), undefined, 'Control: file holding the secret stream keys are hashed with (HMAC-SHA256) before they are stored. Required by `firstmile control`; `up` makes an ephemeral one when unset.'),
  s('playbackSecretFile', z.string().min(1).optional(), undefined, 'File holding the secret playback tokens of `signed` streams are made and checked with (control and origins).'),
  s('adminToken', z.string().min(16).optional(), undefined, 'Control: bearer token of the admin API (prefer adminTokenFile). Unset: the admin API answers 401.'),
  s('adminTokenFile', z.string().min(1).optional(), undefined, 'Control: file holding the admin API bearer token (a mounted Kubernetes Secret).'),
  s('webhookUrls', z.string().regex(/^\S+$/).optional(), undefined, 'Control: comma-separated URLs that receive stream.started, stream.ended, stream.health_changed and stream.key_rotated events.'),
  s('webhookSecretFile', z.string().min(1).optional(), undefined, 'Control: file holding the secret webhook bodies are signed with (header firstmile-signature).'),
  s('defaultApp', z.string().min(1).max(256), 'live', 'Control: the RTMP app in the ingest and playback URLs it hands out.'),
  s('keysBucket', z.string().regex(/^[A-Za-z0-9_-]+$/), 'fm_keys', 'JetStream KV bucket of stream records and key hashes.'),
  s('keysReplicas', int(1, 5), '1', 'Replicas of the keys bucket (3 on a NATS cluster).'),
  s('rotationOverlapMs', int(0, 86_400_000), '600000', 'After a key rotation the old key keeps working this long unless the request says otherwise.'),
  s('lockoutFailures', int(1, 1_000_000), '10', 'Failed publish attempts from one client IP, counted across the cluster, that lock it out.'),
  s('lockoutWindowMs', int(1000, 86_400_000), '60000', 'Window the failed attempts are counted in.'),
  s('lockoutMs', int(0, 86_400_000), '300000', 'How long a locked-out IP is refused (0 disables lockout).'),
  s('region', z.string().min(1).max(64).optional(), undefined, 'This process\'s region (outside Kubernetes; in Kubernetes the node\'s topology label wins).'),
  s('zone', z.string().min(1).max(64).optional(), undefined, 'This process\'s zone (outside Kubernetes).'),
  s('publicRtmpUrl', z.string().regex(/^rtmp:\/\/\S+$/).optional(), undefined, 'Public rtmp:// base URL of this edge or of the ingest load balancer (default: rtmp://<host>:<rtmpPort>), used in ingest and playback URLs.'),
  s('publicRtmpsUrl', z.string().regex(/^rtmps:\/\/\S+$/).optional(), undefined, 'Public rtmps:// base URL (default: derived from rtmpsPort when RTMPS is on).'),
  s('publicPlayUrl', z.string().regex(/^rtmp:\/\/\S+$/).optional(), undefined, 'Control: public rtmp:// base URL of the origins, used in playback URLs (default: publicRtmpUrl).'),
  s('geoipDatabase', z.string().min(1).optional(), undefined, 'Control: MaxMind-format (GeoIP2/GeoLite2 City) database file used to locate callers of /v1/ingests.'),
  s('regions', z.string().min(2).optional(), undefined, 'Control: JSON array of regions [{"name","lat","lon","ingestHost","ingestHostSecure"}]; each region maps to an ingest hostname.'),
  s('kubernetes', z.enum(['auto', 'on', 'off']), 'auto', 'Control: watch edges through the Kubernetes API and elect the leader with a Lease (auto: when running in a pod).'),
  s('k8sNamespace', z.string().min(1).max(253).optional(), undefined, 'Control: namespace of the edge Service and the Lease (default: the pod\'s namespace).'),
  s('k8sEdgeService', z.string().min(1).max(253), 'firstmile-edge', 'Control: name of the edge Service whose EndpointSlices list the edges.'),
  s('leaseName', z.string().min(1).max(253), 'firstmile-control', 'Control: Lease (or NATS KV lock) name of the leader election.'),
  s('leaseDurationMs', int(1000, 600_000), '15000', 'Control: leader lease duration; the leader renews it every third of it.'),
  s('metricsMaxStreams', int(0, 100_000), '500', 'Streams with their own labelled metric series; the rest are aggregated (bounded cardinality).'),
] as const;

type Settings = (typeof SETTINGS)[number];
export type Config = Readonly<{ [S in Settings as S['key']]: z.output<S['schema']> }>;

const schema = z
  .object(Object.fromEntries(SETTINGS.map((x) => [x.key, x.schema])) as { [S in Settings as S['key']]: S['schema'] })
  .strict()
  .superRefine((c, ctx) => {
    const tls = [c.rtmpsPort !== undefined, c.tlsCert !== undefined, c.tlsKey !== undefined];
    if (tls.some(Boolean) && !tls.every(Boolean)) {
      ctx.addIssue({ code: 'custom', message: 'RTMPS needs all of FIRSTMILE_RTMPS_PORT, FIRSTMILE_TLS_CERT and FIRSTMILE_TLS_KEY' });
    }
    if ((c.natsTlsCert === undefined) !== (c.natsTlsKey === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'NATS mutual TLS needs both FIRSTMILE_NATS_TLS_CERT and FIRSTMILE_NATS_TLS_KEY' });
    }
    if ((c.natsUser === undefined) !== (c.natsPassword === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'FIRSTMILE_NATS_USER and FIRSTMILE_NATS_PASSWORD go together' });
    }
    if (c.regions !== undefined) {
      try {
        const r: unknown = JSON.parse(c.regions);
        if (!Array.isArray(r)) throw new Error('not an array');
      } catch (error) {
        ctx.addIssue({ code: 'custom', path: ['regions'], message: `must be a JSON array of regions (${(error as Error).message})` });
      }
    }
    if (c.adminToken !== undefined && c.adminTokenFile !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'set one of FIRSTMILE_ADMIN_TOKEN and FIRSTMILE_ADMIN_TOKEN_FILE' });
    }
    if (c.heartbeatMs * 2 > c.indexTtlMs) {
      ctx.addIssue({ code: 'custom', message: 'FIRSTMILE_INDEX_TTL_MS must be at least twice FIRSTMILE_HEARTBEAT_MS' });
    }
  });

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Flags win over environment variables, which win over defaults. Unknown FIRSTMILE_* variables and
 * unknown flags are errors: a typo must not silently fall back to a default.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, flags: Readonly<Record<string, string>>): Config {
  const raw: Record<string, string> = {};
  const known = new Set<string>(SETTINGS.map((x) => x.env));
  for (const name of Object.keys(env)) {
    if (name.startsWith('FIRSTMILE_') && !known.has(name)) throw new ConfigError(`unknown setting ${name}`);
  }
  const byFlag = new Map<string, Settings>(SETTINGS.map((x) => [x.flag, x]));
  for (const name of Object.keys(flags)) if (!byFlag.has(name)) throw new ConfigError(`unknown flag --${name}`);
  for (const x of SETTINGS) {
    const v = flags[x.flag] ?? env[x.env] ?? x.default;
    if (v !== undefined && v !== '') raw[x.key] = v;
  }
  raw['edgeId'] ??= hostname();
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const x = SETTINGS.find((y) => y.key === i.path[0]);
      return x ? `${x.env} (--${x.flag}): ${i.message}` : i.message;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return Object.freeze(parsed.data) as Config;
}

/** The documentation table (docs/configuration.md embeds it verbatim). */
export function configTable(): string {
  const rows = SETTINGS.map((x) => `| \`${x.env}\` | \`--${x.flag}\` | ${x.default === undefined ? '(unset)' : `\`${x.default}\``} | ${x.doc} |`);
  return ['| Variable | Flag | Default | Meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
