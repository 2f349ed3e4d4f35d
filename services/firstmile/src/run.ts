import { readFileSync, watchFile, unwatchFile } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KvStreamIndex, MemoryBus, MemoryStreamIndex, NatsBus, type Bus, type StreamIndex } from '@firstmile/bus';
import { connect, credsAuthenticator, type ConnectionOptions } from '@nats-io/transport-node';
import { Edge } from '@firstmile/edge';
import type { Logger } from '@firstmile/observability';
import { Origin } from '@firstmile/origin';
import { RtmpServer, type ConnectionHandler } from '@firstmile/rtmp-node';
import type { Config } from './config.ts';

export type Mode = 'up' | 'edge' | 'origin';

export interface Running {
  readonly ports: { rtmp: number | undefined; rtmps: number | undefined; http: number };
  /** Graceful stop: readiness fails, listeners close, connections get shutdownTimeoutMs. */
  stop(): Promise<void>;
}

const MAX_APP_LENGTH = 256;

interface Plane {
  bus: Bus;
  index: StreamIndex;
}

/**
 * NATS when configured (the cluster), else the in-memory bus and index: the same services run on
 * either, which is what makes `firstmile up` an honest single-box cluster.
 */
async function openPlane(mode: Mode, config: Config, logger: Logger): Promise<Plane> {
  const onHandlerError = (error: unknown, subject: string) => logger.error({ err: String(error), subject }, 'bus handler failed');
  if (!config.natsUrl) {
    if (mode !== 'up') throw new Error(`firstmile ${mode} needs FIRSTMILE_NATS_URL (only 'up' runs on the in-memory bus)`);
    return { bus: new MemoryBus({ onHandlerError }), index: new MemoryStreamIndex({ ttlMs: config.indexTtlMs }) };
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
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') log.warn({ event: s.type, server: 'server' in s ? s.server : undefined }, 'NATS connection event');
    }
  })();
  const index = await KvStreamIndex.open(nc, {
    bucket: config.indexBucket,
    replicas: config.indexReplicas,
    ttlMs: config.indexTtlMs,
    retryForMs: config.jetstreamRetryMs,
  });
  return { bus: new NatsBus(nc, { onHandlerError }), index };
}

/** Builds and starts one firstmile process: edge, origin or both over one bus. */
export async function run(mode: Mode, config: Config, logger: Logger): Promise<Running> {
  const { bus, index } = await openPlane(mode, config, logger);
  const edge = mode !== 'origin'
    ? new Edge({
        bus,
        index,
        heartbeatMs: config.heartbeatMs,
        publisherStaleMs: config.publisherStaleMs,
        logger: logger.child({ svc: 'edge' }),
        edgeId: config.edgeId,
        gopCacheBytes: config.gopCacheBytes,
        gopCacheMs: config.gopCacheMs,
      })
    : undefined;
  const origin = mode !== 'edge'
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
      })
    : undefined;
  if (edge) {
    logger.warn({}, 'publishing is unauthenticated (auth mode none): any app and stream key is accepted');
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
          c.logger.info({ app, flashVer: e.connect.flashVer }, 'connect');
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
  const rtmp = new RtmpServer({
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
  await rtmp.listen();

  // Certificates are renewed in place (cert-manager rewrites the Secret's files): new TLS
  // handshakes pick the new pair up; live connections keep theirs.
  const reloadTls = () => {
    if (!tlsFiles) return;
    try {
      rtmp.setTlsContext(readFileSync(tlsFiles.cert), readFileSync(tlsFiles.key));
      logger.info({}, 'RTMPS certificate reloaded');
    } catch (error) {
      logger.error({ err: (error as Error).message }, 'RTMPS certificate reload failed; keeping the previous one');
    }
  };
  if (tlsFiles) watchFile(tlsFiles.cert, { interval: 5000, persistent: false }, reloadTls);

  let ready = true;
  const http: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (path === '/readyz') {
      res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ready }));
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"not_found","message":"no such endpoint"}');
    }
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.httpPort, config.host, () => resolve());
  });
  const ports = { ...rtmp.ports, http: (http.address() as AddressInfo).port };
  logger.info({ mode, ports }, 'firstmile started');

  let stopping: Promise<void> | undefined;
  return {
    ports,
    stop() {
      stopping ??= (async () => {
        // Readiness fails first so the load balancer stops sending new connections; encoders and
        // players already here get the drain deadline to finish or reconnect elsewhere.
        ready = false;
        logger.info({ deadlineMs: config.shutdownTimeoutMs, connections: rtmp.connections.size }, 'draining: no new connections');
        if (tlsFiles) unwatchFile(tlsFiles.cert, reloadTls);
        rtmp.stopAccepting();
        await rtmp.waitForConnections(config.shutdownTimeoutMs);
        origin?.close();
        edge?.closeAll();
        await rtmp.close(2000);
        await index.close();
        await bus.close();
        await new Promise<void>((resolve) => http.close(() => resolve()));
        http.closeAllConnections();
        logger.info({}, 'stopped');
      })();
      return stopping;
    },
  };
}
