import { readFileSync, watchFile, unwatchFile } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import { KvStreamIndex, MemoryBus, MemoryStreamIndex, NatsBus, type Bus, type StreamIndex } from '@firstmile/bus';
import { connect, credsAuthenticator, type ConnectionOptions } from '@nats-io/transport-node';
import { Edge } from '@firstmile/edge';
import { Registry } from 'prom-client';
import { SpanAttr, SpanName, StreamMetrics, bindRtmpServerMetrics, createMetrics, getTracer, httpMethodLabel, type Logger, type Metrics, type ServiceLabel } from '@firstmile/observability';
import type { NatsConnection } from '@nats-io/nats-core';
import { Origin } from '@firstmile/origin';
import { RtmpServer, type ConnectionHandler } from '@firstmile/rtmp-node';
import { appModes, buildEdgeAuth, buildPlayAuth } from './auth.ts';
import { startControl, type ControlRuntime } from './control.ts';
import type { Config } from './config.ts';

export const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export type Mode = 'up' | 'edge' | 'origin' | 'control';

export interface Running {
  readonly ports: { rtmp: number | undefined; rtmps: number | undefined; http: number };
  /** Graceful stop: readiness fails, listeners close, connections get shutdownTimeoutMs. */
  stop(): Promise<void>;
}

const MAX_APP_LENGTH = 256;

interface Plane {
  bus: Bus;
  index: StreamIndex;
  /** The NATS connection in a cluster (KV buckets, RTT); undefined on the in-memory bus. */
  nc: NatsConnection | undefined;
}

/**
 * NATS when configured (the cluster), else the in-memory bus and index: the same services run on
 * either, which is what makes `firstmile up` an honest single-box cluster.
 */
async function openPlane(mode: Mode, config: Config, logger: Logger, metrics: Metrics): Promise<Plane> {
  const onHandlerError = (error: unknown, subject: string) => logger.error({ err: String(error), subject }, 'bus handler failed');
  if (!config.natsUrl) {
    if (mode !== 'up') throw new Error(`firstmile ${mode} needs FIRSTMILE_NATS_URL (only 'up' runs on the in-memory bus)`);
    return { bus: new MemoryBus({ onHandlerError }), index: new MemoryStreamIndex({ ttlMs: config.indexTtlMs }), nc: undefined };
  }
  const options: ConnectionOptions = {
    servers: config.natsUrl.split(',').filter(Boolean),
    name: `firstmile-${mode}-${config.edgeId}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
  };
  if (config.natsCreds) options.authenticator = credsAuthenticator(readFileSync(config.natsCreds));
  if (config.natsUser && config.natsPassword) {
    options.user = config.natsUser;
    options.pass = config.natsPassword;
  }
  if (config.natsTlsCa || config.natsTlsCert) {
    options.tls = {
      ...(config.natsTlsCa ? { caFile: config.natsTlsCa } : {}),
      ...(config.natsTlsCert && config.natsTlsKey ? { certFile: config.natsTlsCert, keyFile: config.natsTlsKey } : {}),
    };
  }
  const nc = await connect(options);
  const log = logger.child({ svc: 'nats' });
  log.info({ server: nc.getServer() }, 'connected to NATS');
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'reconnect') metrics.natsReconnects.inc();
      if (s.type === 'error') metrics.busPublishErrors.inc({ service: metrics.service ?? 'edge' });
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') log.warn({ event: s.type, server: 'server' in s ? s.server : undefined }, 'NATS connection event');
    }
  })();
  // Round trip to the server, measured in the background: a scrape must not wait on NATS.
  const rtt = setInterval(() => {
    nc.rtt().then(
      (ms) => metrics.natsRtt.set(ms / 1000),
      () => {},
    );
  }, 5000);
  rtt.unref();
  void nc.closed().then(() => clearInterval(rtt));
  const index = await KvStreamIndex.open(nc, {
    bucket: config.indexBucket,
    replicas: config.indexReplicas,
    ttlMs: config.indexTtlMs,
    retryForMs: config.jetstreamRetryMs,
  });
  const onBusError = (error: unknown, subject: string) => {
    metrics.busPublishErrors.inc({ service: metrics.service ?? 'edge' });
    onHandlerError(error, subject);
  };
  return { bus: new NatsBus(nc, { onHandlerError: onBusError }), index, nc };
}

/** Builds and starts one firstmile process: edge, origin or both over one bus. */
export async function run(mode: Mode, config: Config, logger: Logger): Promise<Running> {
  const hasEdge = mode === 'up' || mode === 'edge';
  const hasOrigin = mode === 'up' || mode === 'origin';
  const hasControl = mode === 'up' || mode === 'control';
  // One registry per process; each service's metrics carry its service label.
  const registry = new Registry();
  const metricsFor = (service: ServiceLabel) => createMetrics({ registry, service, version: VERSION, maxStreams: config.metricsMaxStreams });
  const mainService: ServiceLabel = hasEdge ? 'edge' : hasOrigin ? 'origin' : 'control';
  const { bus, index, nc } = await openPlane(mode, config, logger, metricsFor(mainService));
  const edgeMetrics = hasEdge ? metricsFor('edge') : undefined;
  const originMetrics = hasOrigin ? metricsFor('origin') : undefined;
  const edgeAuth = hasEdge ? buildEdgeAuth(config, bus, logger, edgeMetrics) : undefined;
  const playAuth = hasOrigin ? buildPlayAuth(config, bus) : undefined;
  const modes = appModes(config);
  const modeOf = (app: string) => modes.apps[app] ?? modes.default;
  // The edge is built before the RTMP server (the server needs its handler): heartbeats read the
  // server's load through these once it exists.
  let rtmpServer: RtmpServer | undefined;
  let draining = false;
  const edge = hasEdge
    ? new Edge({
        bus,
        index,
        heartbeatMs: config.heartbeatMs,
        publisherStaleMs: config.publisherStaleMs,
        logger: logger.child({ svc: 'edge' }),
        edgeId: config.edgeId,
        gopCacheBytes: config.gopCacheBytes,
        gopCacheMs: config.gopCacheMs,
        authorizer: edgeAuth?.authorizer,
        lockout: edgeAuth?.lockout,
        onAuthDecision: (d) => edgeMetrics?.authDecisions.inc({ service: 'edge', mode: d.mode, result: d.ok ? 'allow' : 'deny', code: d.ok ? 'ok' : d.code }),
        streamMetrics: edgeMetrics ? new StreamMetrics({ metrics: edgeMetrics }) : undefined,
        heartbeat: {
          intervalMs: config.heartbeatMs,
          region: config.region,
          zone: config.zone,
          rtmpUrl: config.publicRtmpUrl,
          rtmpsUrl: config.publicRtmpsUrl,
          stats: () => ({ connections: rtmpServer?.connections.size ?? 0, maxConnections: config.maxConnections, draining }),
        },
      })
    : undefined;
  const origin = hasOrigin
    ? new Origin({
        bus,
        logger: logger.child({ svc: 'origin' }),
        chunkSize: config.chunkSize,
        playWaitMs: config.playWaitMs,
        reconnectWindowMs: config.reconnectWindowMs,
        lingerMs: config.lingerMs,
        initTimeoutMs: config.initTimeoutMs,
        gopCacheBytes: config.gopCacheBytes,
        gopCacheMs: config.gopCacheMs,
        minLagBytes: config.playerMinLagBytes,
        maxPlayerQueueBytes: config.playerMaxQueueBytes,
        slowPlayerTimeoutMs: config.slowPlayerTimeoutMs,
        maxFrameBytes: config.maxMessageBytes,
        flushIntervalMs: config.flushIntervalMs,
        heartbeat: { intervalMs: config.heartbeatMs, originId: config.edgeId, region: config.region },
        playAuthorizer: playAuth?.authorizer,
        streamMetrics: originMetrics ? new StreamMetrics({ metrics: originMetrics }) : undefined,
        // In mode none a play name is a publish name, possibly somebody's key: label by id.
        streamLabel: (app, name, streamId) => (modeOf(app) === 'none' ? streamId : name),
        onSlowPlayerDisconnect: () => originMetrics?.slowPlayerDisconnects.inc(),
      })
    : undefined;
  if (edge && edgeMetrics) {
    edgeMetrics.onCollect(edgeMetrics.activePublishers, () => edgeMetrics.activePublishers.set(edge.liveStreams));
  }
  if (origin && originMetrics) {
    originMetrics.onCollect(originMetrics.activePlayers, () => originMetrics.activePlayers.set(origin.players));
    originMetrics.onCollect(originMetrics.playerQueueBytes, () => originMetrics.playerQueueBytes.set(origin.queuedBytes));
  }

  const handler: ConnectionHandler = {
    onEvent(c, e) {
      switch (e.type) {
        case 'connect': {
          const app = e.connect.app;
          if (app.length === 0 || app.length > MAX_APP_LENGTH) {
            c.logger.warn({ appLength: app.length }, 'rejecting connect: bad app name');
            c.rejectConnect(`app name must be 1..${MAX_APP_LENGTH} characters`);
            return;
          }
          c.context.set('app', app);
          if (e.connect.tcUrl !== undefined) c.context.set('tcUrl', e.connect.tcUrl);
          c.logger.info({ app, flashVer: e.connect.flashVer }, 'connect');
          getTracer().startSpan(SpanName.connect, { attributes: { [SpanAttr.app]: app, [SpanAttr.clientIp]: c.remoteAddress, [SpanAttr.connectionId]: c.id } }).end();
          c.acceptConnect();
          return;
        }
        case 'publish':
        case 'media':
        case 'unpublish':
          if (edge) edge.onEvent(c, e);
          else if (e.type === 'publish') c.rejectPublish(e.streamId, 'This server only plays; publish to an edge.');
          return;
        case 'play':
        case 'stop':
        case 'receive':
        case 'pause':
          if (origin) origin.onEvent(c, e);
          else if (e.type === 'play') c.rejectPlay(e.streamId, 'This server only ingests; play from an origin.');
          return;
      }
    },
    onClose(c) {
      edge?.onClose(c);
      origin?.onClose(c);
    },
  };

  const tlsFiles = config.rtmpsPort !== undefined && config.tlsCert && config.tlsKey
    ? { cert: config.tlsCert, key: config.tlsKey }
    : undefined;
  const rtmp = mode === 'control' ? undefined : new RtmpServer({
    host: config.host,
    port: config.rtmpPort,
    tls: tlsFiles && config.rtmpsPort !== undefined
      ? { port: config.rtmpsPort, cert: readFileSync(tlsFiles.cert), key: readFileSync(tlsFiles.key) }
      : undefined,
    maxConnections: config.maxConnections,
    handshakeTimeoutMs: config.handshakeTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    session: {
      chunkSize: config.chunkSize,
      decoder: {
        maxChunkSize: config.maxChunkSize,
        maxMessageLength: config.maxMessageBytes,
        maxChunkStreams: config.maxChunkStreams,
      },
    },
    logger: logger.child({ svc: 'rtmp' }),
    handler,
  });
  await rtmp?.listen();
  if (rtmp) {
    const m = edgeMetrics ?? originMetrics!;
    bindRtmpServerMetrics(m, rtmp, mainService, { ingressBitrate: hasEdge, egressBitrate: hasOrigin });
    m.maxConnections.set({ service: mainService }, config.maxConnections);
  }
  rtmpServer = rtmp;

  // Certificates are renewed in place (cert-manager rewrites the Secret's files): new TLS
  // handshakes pick the new pair up; live connections keep theirs.
  const reloadTls = () => {
    if (!tlsFiles) return;
    try {
      rtmp?.setTlsContext(readFileSync(tlsFiles.cert), readFileSync(tlsFiles.key));
      logger.info({}, 'RTMPS certificate reloaded');
    } catch (error) {
      logger.error({ err: (error as Error).message }, 'RTMPS certificate reload failed; keeping the previous one');
    }
  };
  if (tlsFiles) watchFile(tlsFiles.cert, { interval: 5000, persistent: false }, reloadTls);

  let control: ControlRuntime | undefined;
  if (hasControl) {
    try {
      control = await startControl(config, {
        bus,
        index,
        nc,
        logger,
        metrics: metricsFor('control'),
        lockout: edgeAuth?.lockout,
        ports: rtmp?.ports ?? { rtmp: undefined, rtmps: undefined },
        standalone: mode === 'control',
      });
    } catch (error) {
      await rtmp?.close(0);
      await bus.close();
      throw error;
    }
  }

  let ready = true;
  const http = await startHttp(config, logger, () => ready, registry, control, metricsFor(mainService));
  const ports = { ...(rtmp?.ports ?? { rtmp: undefined, rtmps: undefined }), http: http.port };
  logger.info({ mode, ports }, 'firstmile started');

  let stopping: Promise<void> | undefined;
  return {
    ports,
    stop() {
      stopping ??= (async () => {
        // Readiness fails first so the load balancer stops sending new connections; encoders and
        // players already here get the drain deadline to finish or reconnect elsewhere.
        ready = false;
        draining = true;
        edge?.announceDraining();
        logger.info({ deadlineMs: config.shutdownTimeoutMs, connections: rtmp?.connections.size ?? 0 }, 'draining: no new connections');
        if (tlsFiles) unwatchFile(tlsFiles.cert, reloadTls);
        rtmp?.stopAccepting();
        await rtmp?.waitForConnections(config.shutdownTimeoutMs);
        origin?.close();
        edge?.closeAll();
        edgeAuth?.close();
        playAuth?.close();
        await control?.close();
        await rtmp?.close(2000);
        await index.close();
        await bus.close();
        await http.app.close();
        logger.info({}, 'stopped');
      })();
      return stopping;
    },
  };
}

/**
 * One HTTP server per process: health for the kubelet, and the control API where control runs.
 * Fastify rather than bare node:http: the control API's validation, JSON errors and body limits
 * come with it, and health shares the one port the chart exposes.
 */
async function startHttp(
  config: Config,
  logger: Logger,
  ready: () => boolean,
  registry: Registry,
  control: ControlRuntime | undefined,
  metrics: Metrics,
): Promise<{ app: FastifyInstance; port: number }> {
  const app = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: 64 * 1024, return503OnClosing: false, trustProxy: config.trustProxy });
  // Labelled by route pattern, never the raw URL: ids in paths would make unbounded series.
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.inc({ route, method: httpMethodLabel(req.method), status: String(reply.statusCode) });
    metrics.httpRequestDuration.observe({ route, method: httpMethodLabel(req.method) }, reply.elapsedTime / 1000);
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  app.get('/readyz', async (_req, reply) => reply.code(ready() ? 200 : 503).send({ ready: ready() }));
  app.setNotFoundHandler(async (_req, reply) => reply.code(404).send({ error: { code: 'NOT_FOUND', message: 'no such endpoint' } }));
  if (control) await control.register(app);
  app.setErrorHandler(async (error: unknown, _req, reply) => {
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    const message = error instanceof Error ? error.message : String(error);
    if (status >= 500) logger.error({ err: message }, 'http handler failed');
    return reply.code(status).send({ error: { code: status >= 500 ? 'INTERNAL' : 'BAD_REQUEST', message: status >= 500 ? 'internal error' : message } });
  });
  await app.listen({ port: config.httpPort, host: config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.httpPort;
  return { app, port };
}
