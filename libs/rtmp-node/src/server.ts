import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { ServerSessionOptions } from '@firstmile/rtmp';
import type { Logger } from '@firstmile/observability';
import { createReadIntoBuffer, type SharedReadBuffer } from './read-buffer.ts';
import { CLOSE_CODES, RtmpConnection, type CloseCode, type ConnectionHandler, type RtmpConnectionState } from './connection.ts';

/** Why a socket was refused before it became a connection. */
export type RefuseReason = 'max_connections' | 'draining' | 'tls_error';

/**
 * The listener's counters, read when metrics are scraped (bindRtmpServerMetrics in
 * @firstmile/observability takes this shape). Totals only grow over the server's life.
 */
export interface RtmpServerStats {
  /** Bytes read from RTMP sockets (after TLS), closed connections included. */
  bytesReceived: number;
  /** Bytes handed to RTMP sockets (before TLS), closed connections included. */
  bytesSent: number;
  accepted: number;
  refused: Record<RefuseReason, number>;
  closed: Record<CloseCode, number>;
  /** Connections open now, by state. */
  connections: Record<RtmpConnectionState, number>;
  open: number;
  maxConnections: number;
  draining: boolean;
}

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
  /** Told of each refused connection (the counts are also in stats()). */
  onRefused?: (reason: RefuseReason) => void;
  /**
   * Plain RTMP sockets read into one buffer of this many bytes shared by all of them, instead of a
   * fresh allocation per read (default 65536, as Node reads; 0: Node's own per-read buffers).
   */
  sharedReadBufferBytes?: number;
}

export class RtmpServer {
  readonly #options: RtmpServerOptions;
  readonly #connections = new Set<RtmpConnection>();
  #tcp: Server | undefined;
  #tls: TlsServer | undefined;
  #draining = false;
  #seq = 0;
  // Counters kept in place and read by stats() at scrape time: the per-read and per-write byte
  // counts stay on the connections, so the socket paths do no extra work for metrics.
  #accepted = 0;
  readonly #refused: Record<RefuseReason, number> = { max_connections: 0, draining: 0, tls_error: 0 };
  readonly #closedByCode = Object.fromEntries(CLOSE_CODES.map((c) => [c, 0])) as Record<CloseCode, number>;
  readonly #byState: Record<RtmpConnectionState, number> = { handshake: 0, connected: 0, publishing: 0, playing: 0 };
  #closedBytesIn = 0;
  #closedBytesOut = 0;
  readonly #idPrefix = randomBytes(3).toString('hex');
  readonly #readBuffer: SharedReadBuffer | undefined;

  constructor(options: RtmpServerOptions) {
    this.#options = options;
    const bytes = options.sharedReadBufferBytes ?? 64 * 1024;
    const reader = bytes > 0 ? createReadIntoBuffer() : undefined;
    if (reader?.supported) this.#readBuffer = { reader, buffer: Buffer.allocUnsafeSlow(bytes) };
    else if (reader) options.logger.warn({ node: process.version }, 'this Node cannot read sockets into a shared buffer: one allocation per read');
  }

  /** Whether plain RTMP sockets read into the shared buffer. */
  get sharedReadBuffer(): boolean {
    return this.#readBuffer !== undefined;
  }

  get connections(): ReadonlySet<RtmpConnection> {
    return this.#connections;
  }

  /** A snapshot of the counters; O(open connections) for the byte totals. */
  stats(): RtmpServerStats {
    let bytesIn = this.#closedBytesIn;
    let bytesOut = this.#closedBytesOut;
    for (const c of this.#connections) {
      bytesIn += c.bytesIn;
      bytesOut += c.bytesOut;
    }
    return {
      bytesReceived: bytesIn,
      bytesSent: bytesOut,
      accepted: this.#accepted,
      refused: { ...this.#refused },
      closed: { ...this.#closedByCode },
      connections: { ...this.#byState },
      open: this.#connections.size,
      maxConnections: this.#options.maxConnections,
      draining: this.#draining,
    };
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
        this.#refuse('tls_error');
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
    for (const c of this.#connections) c.end('server shutting down', 'shutdown');
    await this.waitForConnections(graceMs);
    for (const c of this.#connections) c.close('shutdown deadline', 'shutdown');
    await this.#listenersClosed;
  }

  #accept(socket: Socket, secure: boolean): void {
    const log = this.#options.logger;
    if (this.#draining) {
      this.#refuse('draining');
      socket.destroy();
      return;
    }
    if (this.#connections.size >= this.#options.maxConnections) {
      this.#refuse('max_connections');
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
      // TLS sockets decrypt into buffers of their own; only plain TCP handles take a user buffer.
      readBuffer: secure ? undefined : this.#readBuffer,
      onStateChange: (_c, from, to) => {
        this.#byState[from]--;
        this.#byState[to]++;
      },
      handler: {
        onEvent: (c, e) => handler.onEvent(c, e),
        onClose: (c) => {
          this.#connections.delete(c);
          this.#byState[c.state]--;
          this.#closedByCode[c.closeCode]++;
          this.#closedBytesIn += c.bytesIn;
          this.#closedBytesOut += c.bytesOut;
          handler.onClose(c);
        },
      },
    });
    this.#accepted++;
    this.#byState.handshake++;
    this.#connections.add(connection);
  }

  #refuse(reason: RefuseReason): void {
    this.#refused[reason]++;
    this.#options.onRefused?.(reason);
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
