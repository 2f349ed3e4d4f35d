import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { KvKeyStore, MemoryKeyStore, createKeyAuthResponder, type KeyStore, type LockoutGuard } from '@firstmile/auth';
import type { Bus, StreamIndex } from '@firstmile/bus';
import {
  ClusterView,
  GeoLocator,
  HeartbeatEdgeSource,
  IngestRankerImpl,
  KvPendingDeliveryStore,
  LoadView,
  NatsKvLockElector,
  SoloElector,
  WebhookDispatcher,
  controlApi,
  inKubernetes,
  lockBucketName,
  parseRegions,
  podNamespace,
  type EdgeSource,
  type LeaderElector,
  type PublicUrls,
} from '@firstmile/control';
import type { Logger, Metrics } from '@firstmile/observability';
import type { NatsConnection } from '@nats-io/nats-core';
import type { FastifyInstance } from 'fastify';
import { buildLockout, readSecretFile } from './auth.ts';
import type { Config } from './config.ts';

export interface ControlDeps {
  bus: Bus;
  index: StreamIndex;
  nc: NatsConnection | undefined;
  logger: Logger;
  metrics: Metrics;
  /** The edge's lockout in `firstmile up`: one count per process, shared with encoder-config. */
  lockout: LockoutGuard | undefined;
  /** Where the process's own RTMP listeners are, for default public URLs. */
  ports: { rtmp: number | undefined; rtmps: number | undefined };
  /** `control` (a cluster replica) requires persistent secrets; `up` may make ephemeral ones. */
  standalone: boolean;
}

export interface ControlRuntime {
  register(app: FastifyInstance): Promise<void>;
  close(): Promise<void>;
}

function localBase(scheme: 'rtmp' | 'rtmps', host: string, port: number | undefined): string | undefined {
  if (port === undefined) return undefined;
  const h = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `${scheme}://${h}:${port}`;
}

/**
 * Control: the key store and its auth responder, the HTTP API, webhooks, ingest routing and the
 * leader election for singleton duties. Kubernetes is used when running in a pod (or forced by
 * FIRSTMILE_KUBERNETES=on): EndpointSlices and Nodes for the edges, a Lease for the leader.
 * Outside it, edges come from their heartbeats and the leader from a NATS KV lock (or the one
 * process of `firstmile up` on the in-memory bus).
 */
export async function startControl(config: Config, deps: ControlDeps): Promise<ControlRuntime> {
  const { bus, nc, logger, metrics } = deps;
  const log = logger.child({ svc: 'control' });
  const closers: (() => Promise<void> | void)[] = [];

  let keyHashSecret: string;
  if (config.keyHashSecretFile) {
    keyHashSecret = readSecretFile(config.keyHashSecretFile, 'the key-hash secret');
  } else if (deps.standalone || nc) {
    throw new Error('control needs FIRSTMILE_KEY_HASH_SECRET_FILE: stream keys are stored as HMACs under it, and every replica must share it');
  } else {
    keyHashSecret = randomBytes(32).toString('base64url');
    log.warn({}, 'no FIRSTMILE_KEY_HASH_SECRET_FILE: using an ephemeral secret; keys created now stop working when this process restarts');
  }
  const adminToken = config.adminToken ?? (config.adminTokenFile ? readSecretFile(config.adminTokenFile, 'the admin token') : undefined);
  if (!adminToken) log.warn({}, 'no admin token (FIRSTMILE_ADMIN_TOKEN_FILE): the /v1 admin API answers 401 until one is set');
  const playbackSecret = config.playbackSecretFile ? readSecretFile(config.playbackSecretFile, 'the playback secret') : undefined;
  const webhookUrls = config.webhookUrls?.split(',').filter(Boolean) ?? [];
  let webhookSecret = '';
  if (webhookUrls.length > 0) {
    if (!config.webhookSecretFile) throw new Error('FIRSTMILE_WEBHOOK_URLS needs FIRSTMILE_WEBHOOK_SECRET_FILE (webhooks are signed)');
    webhookSecret = readSecretFile(config.webhookSecretFile, 'the webhook secret');
  }

  const store: KeyStore = nc
    ? await KvKeyStore.open(nc, { bucket: config.keysBucket, replicas: config.keysReplicas, retryForMs: config.jetstreamRetryMs })
    : new MemoryKeyStore();
  closers.push(() => store.close());
  const responder = createKeyAuthResponder({
    bus,
    store,
    keyHashSecret,
    logger: log,
    onDecision: (d) => metrics.authDecisions.inc({ service: 'control', mode: 'keys', result: d.ok ? 'allow' : 'deny', code: d.ok ? 'ok' : d.code }),
  });
  closers.push(() => responder.close());

  // Encoder-config checks keys too: its failures count toward the same cluster-wide lockout.
  let lockout = deps.lockout;
  if (!lockout) {
    const own = buildLockout(config, bus, `control-${config.edgeId}`, log, metrics);
    if (own) closers.push(() => own.close());
    lockout = own;
  }

  const clusterView = new ClusterView({ bus, heartbeatMs: config.heartbeatMs, logger: log }).start();
  closers.push(() => clusterView.close());
  const load = new LoadView({ heartbeatMs: config.heartbeatMs, logger: log });
  // One subscription: routing reads the same heartbeats, through its own stricter validation.
  const unhook = clusterView.onHeartbeat((e) => {
    if (e.kind === 'edge') load.observe(e.heartbeat);
  });
  closers.push(unhook);

  const kubernetes = config.kubernetes === 'on' || (config.kubernetes === 'auto' && inKubernetes(process.env));
  const identity = kubernetes ? hostname() : `${hostname()}:${process.pid}`;
  let edges: EdgeSource;
  let elector: LeaderElector;
  if (kubernetes) {
    const { KubernetesEdgeSource, KubernetesLeaseElector, makeKubeConfig } = await import('@firstmile/control/kubernetes');
    const kubeConfig = makeKubeConfig({ kind: 'in-cluster' });
    const namespace = config.k8sNamespace ?? podNamespace();
    if (!namespace) throw new Error('cannot tell the pod namespace: set FIRSTMILE_K8S_NAMESPACE');
    edges = new KubernetesEdgeSource({ kubeConfig, namespace, service: config.k8sEdgeService, logger: log });
    elector = new KubernetesLeaseElector({ kubeConfig, namespace, name: config.leaseName, identity, leaseDurationMs: config.leaseDurationMs });
  } else {
    edges = new HeartbeatEdgeSource(load);
    elector = nc
      ? await NatsKvLockElector.open({ nc, bucket: lockBucketName(config.leaseName), identity, leaseDurationMs: config.leaseDurationMs, replicas: config.indexReplicas })
      : new SoloElector();
  }
  const sweep = setInterval(() => load.sweep(), Math.max(100, Math.floor(config.heartbeatMs)));
  sweep.unref();
  closers.push(() => clearInterval(sweep));
  // Kubernetes sources resolve once listed; a slow API server must not hold up the HTTP port.
  void edges.start().catch((error: unknown) => log.error({ err: (error as Error).message }, 'edge source failed to start'));
  closers.push(() => edges.stop());
  void elector.start().catch((error: unknown) => log.error({ err: (error as Error).message }, 'leader election failed to start'));
  closers.push(() => elector.stop());
  elector.onChange((leader) => log.info({ leader, identity }, leader ? 'became the leader' : 'no longer the leader'));
  metrics.onCollect(metrics.leader, () => metrics.leader.set(elector.isLeader() ? 1 : 0));
  metrics.onCollect(metrics.edges, () => {
    const counts = { ready: 0, draining: 0, full: 0, unready: 0 };
    for (const e of load.list()) {
      if (e.draining) counts.draining++;
      else if (e.connections >= e.maxConnections) counts.full++;
      else counts.ready++;
    }
    for (const [state, n] of Object.entries(counts)) metrics.edges.set({ state }, n);
  });
  metrics.onCollect(metrics.keysStreams, async () => {
    try {
      metrics.keysStreams.set((await store.list()).length);
    } catch {
      // The gauge keeps its last value while the store is unreachable.
    }
  });

  const geo = config.geoipDatabase ? await GeoLocator.open(config.geoipDatabase, { watchForUpdates: true, logger: log }) : undefined;
  const rtmpBase = config.publicRtmpUrl ?? localBase('rtmp', config.host, deps.ports.rtmp ?? config.rtmpPort);
  const rtmpsBase = config.publicRtmpsUrl ?? localBase('rtmps', config.host, deps.ports.rtmps ?? config.rtmpsPort);
  const router = new IngestRankerImpl({
    edges,
    load,
    regions: config.regions ? parseRegions(config.regions) : [],
    mode: kubernetes ? 'region' : 'edge',
    geo,
    fallbackRtmpUrl: rtmpBase,
    fallbackRtmpsUrl: rtmpsBase,
  });

  // Pending retries live in JetStream on a cluster, so the leader (whichever replica it is) runs them.
  const pendingWebhooks = nc && webhookUrls.length > 0
    ? await KvPendingDeliveryStore.open(nc, { replicas: config.indexReplicas, retryForMs: config.jetstreamRetryMs, logger: log })
    : undefined;
  if (pendingWebhooks) closers.push(() => pendingWebhooks.close());
  const webhooks = new WebhookDispatcher({
    urls: webhookUrls,
    secret: webhookSecret,
    logger: log,
    bus,
    store: pendingWebhooks,
    isLeader: () => elector.isLeader(),
    onResult: (event, result) => metrics.webhookDeliveries.inc({ event, result }),
  }).start();
  closers.push(() => webhooks.close());

  const publicUrls: PublicUrls = {
    rtmp: rtmpBase ?? 'rtmp://localhost:1935',
    rtmps: rtmpsBase,
    play: config.publicPlayUrl,
  };
  const guard = lockout;
  const plugin = controlApi({
    store,
    index: deps.index,
    bus,
    clusterView,
    webhooks,
    ingestRouter: router,
    keyHashSecret,
    playbackSecret,
    adminToken,
    publicUrls,
    defaultApp: config.defaultApp,
    rotationOverlapMs: config.rotationOverlapMs,
    logger: log,
    onAuthFailure: guard ? (ip) => guard.recordFailure(ip, config.defaultApp, 'keys') : undefined,
    isLockedOut: guard ? (ip) => guard.isLockedOut(ip) : undefined,
    isLeader: () => elector.isLeader(),
  });
  return {
    register: async (app) => {
      await app.register(plugin);
    },
    close: async () => {
      for (const close of closers.reverse()) {
        try {
          await close();
        } catch (error) {
          log.warn({ err: (error as Error).message }, 'control shutdown step failed');
        }
      }
    },
  };
}
