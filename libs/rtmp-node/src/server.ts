import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { ServerSessionOptions } from '@firstmile/rtmp';
import type { Logger } from '@firstmile/observability';
import { RtmpConnection, type ConnectionHandler } from './connection.ts';

export interface RtmpServerOptions {
  /** Plain RTMP listener; 0 picks a free port. */
  port: number;
  host: string;
  /** RTMPS listener: same code path behind TLS. */
  tls?: { port: number; cert: Buffer; key: Buffer } | undefined;
  /** Connections open at once across both listeners; more are closed on accept. */
  maxConnections: number;
  /** From TCP accept to an RTMP connect command. */
  handshakeTimeoutMs: number;
  /** No bytes in or out for this long closes the connection (0 disables). */
  idleTimeoutMs: number;
  /** Stop reading from a peer while this many of our bytes wait unread by it (default 1 MiB). */
  readPauseBytes?: number;
  session: Partial<ServerSessionOptions>;
  logger: Logger;
  handler: ConnectionHandler;
  /** Counts refused connections by reason. */
  onRefused?: (reason: 'max_connections' | 'draining') => void;
}

export class RtmpServer {
  readonly #options: RtmpServerOptions;
  readonly #connections = new Set<RtmpConnection>();
  #tcp: Server | undefined;
  #tls: TlsServer | undefined;
  #draining = false;
  #seq = 0;
  readonly #idPrefix = randomBytes(3).toString('hex');

  constructor(options: RtmpServerOptions) {
    this.#options = options;
  }

  get connections(): ReadonlySet<RtmpConnection> {
    return this.#connections;
  }

  /** Bound ports (useful with port 0). */
  get ports(): { rtmp: number | undefined; rtmps: number | undefined } {
    const port = (s: Server | TlsServer | undefined) => {
      const a = s?.address();
      return a && typeof a === 'object' ? a.port : undefined;
    };
    return { rtmp: port(this.#tcp), rtmps: port(this.#tls) };
  }

  async listen(): Promise<void> {
    const { host, port, tls } = this.#options;
    this.#tcp = createServer((socket) => this.#accept(socket, false));
    await listenOn(this.#tcp, port, host);
    if (tls) {
      this.#tls = createTlsServer({ cert: tls.cert, key: tls.key }, (socket) => this.#accept(socket, true));
      this.#tls.on('tlsClientError', (error) => {
        this.#options.logger.debug({ err: error.message }, 'TLS handshake failed');
      });
      await listenOn(this.#tls, tls.port, host);
    }
    this.#options.logger.info({ host, ...this.ports }, 'RTMP listening');
  }

  /** Replace the RTMPS certificate without dropping connections (new handshakes use it). */
  setTlsContext(cert: Buffer, key: Buffer): void {
    this.#tls?.setSecureContext({ cert, key });
  }

  #listenersClosed: Promise<unknown> | undefined;

  /**
   * Stop accepting: listeners stop at once (net.Server#close's callback only fires once every
   * connection is gone, so it is awaited in close(), not here).
   */
  stopAccepting(): void {
    this.#draining = true;
    this.#listenersClosed ??= Promise.all([closeServer(this.#tcp), closeServer(this.#tls)]);
  }

  /** Resolves when every connection has closed by itself, or at the deadline. */
  async waitForConnections(deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    while (this.#connections.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Stop accepting, end every connection (FIN after what is queued), destroy what is left after graceMs. */
  async close(graceMs: number): Promise<void> {
    this.stopAccepting();
    for (const c of this.#connections) c.end('server shutting down');
    await this.waitForConnections(graceMs);
    for (const c of this.#connections) c.close('shutdown deadline');
    await this.#listenersClosed;
  }

  #accept(socket: Socket, secure: boolean): void {
    const log = this.#options.logger;
    if (this.#draining) {
      this.#options.onRefused?.('draining');
      socket.destroy();
      return;
    }
    if (this.#connections.size >= this.#options.maxConnections) {
      this.#options.onRefused?.('max_connections');
      log.warn({ remote: socket.remoteAddress, limit: this.#options.maxConnections }, 'refusing connection: connection limit reached');
      socket.destroy();
      return;
    }
    const id = `${this.#idPrefix}-${(++this.#seq).toString(36)}`;
    const handler = this.#options.handler;
    const connection = new RtmpConnection({
      id,
      socket,
      secure,
      session: this.#options.session,
      logger: log.child({ conn: id, remote: `${socket.remoteAddress}:${socket.remotePort}`, tls: secure }),
      handshakeTimeoutMs: this.#options.handshakeTimeoutMs,
      idleTimeoutMs: this.#options.idleTimeoutMs,
      readPauseBytes: this.#options.readPauseBytes ?? 1024 * 1024,
      handler: {
        onEvent: (c, e) => handler.onEvent(c, e),
        onClose: (c) => {
          this.#connections.delete(c);
          handler.onClose(c);
        },
      },
    });
    this.#connections.add(connection);
  }
}

function listenOn(server: Server | TlsServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server | TlsServer | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}
