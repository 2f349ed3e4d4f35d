import type { Socket } from 'node:net';
import { RtmpError, ServerSession, type ServerSessionOptions, type SessionEvent, type StatusInfo } from '@firstmile/rtmp';
import type { Logger } from '@firstmile/observability';

/** What the application supplies: it sees every session event of every connection. */
export interface ConnectionHandler {
  onEvent(connection: RtmpConnection, event: SessionEvent): void;
  onClose(connection: RtmpConnection): void;
}

export interface RtmpConnectionOptions {
  id: string;
  socket: Socket;
  secure: boolean;
  session: Partial<ServerSessionOptions>;
  logger: Logger;
  handler: ConnectionHandler;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  /** Stop reading from a peer while this many bytes of ours wait unread by it. */
  readPauseBytes: number;
}

/**
 * One accepted socket driving one ServerSession. Reads go straight into the session; what the
 * session answers is written back corked so a burst of protocol messages is one syscall. A
 * protocol error closes this connection only, with the error's code in the log.
 */
export class RtmpConnection {
  readonly id: string;
  readonly socket: Socket;
  readonly secure: boolean;
  readonly remoteAddress: string;
  readonly logger: Logger;
  readonly session: ServerSession;
  readonly #handler: ConnectionHandler;
  readonly #idleTimeoutMs: number;
  readonly #readPauseBytes: number;
  #readPaused = false;
  #handshakeTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #lastActivity = Date.now();
  #closed = false;
  #closeReason = 'peer closed';
  bytesIn = 0;
  bytesOut = 0;
  /** Application state attached by edge/origin (their per-connection records). */
  readonly context = new Map<string, unknown>();

  constructor(options: RtmpConnectionOptions) {
    this.id = options.id;
    this.socket = options.socket;
    this.secure = options.secure;
    this.remoteAddress = options.socket.remoteAddress ?? 'unknown';
    this.logger = options.logger;
    this.session = new ServerSession(options.session);
    this.#handler = options.handler;
    this.#idleTimeoutMs = options.idleTimeoutMs;
    this.#readPauseBytes = options.readPauseBytes;
    const socket = this.socket;
    socket.on('drain', () => {
      if (this.#readPaused) {
        this.#readPaused = false;
        socket.resume();
      }
    });
    socket.setNoDelay(true); // we batch writes ourselves; Nagle would only add delay
    socket.on('data', (data: Buffer) => this.#onData(data));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.#closeReason = `socket error ${error.code ?? error.message}`;
    });
    socket.on('close', () => this.#onClosed());
    this.#handshakeTimer = setTimeout(() => {
      if (!this.session.connected) this.close(`no RTMP connect within ${options.handshakeTimeoutMs} ms`);
    }, options.handshakeTimeoutMs);
    if (this.#idleTimeoutMs > 0) this.#armIdle();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes queued in the socket not yet handed to the kernel. */
  get writableLength(): number {
    return this.socket.writableLength;
  }

  /** Writes buffers as one batch (one writev when the socket is free). */
  send(buffers: readonly Buffer[]): void {
    if (this.#closed || buffers.length === 0) return;
    const socket = this.socket;
    if (buffers.length === 1) {
      this.bytesOut += buffers[0]!.length;
      socket.write(buffers[0]!);
    } else {
      socket.cork();
      for (const b of buffers) {
        this.bytesOut += b.length;
        socket.write(b);
      }
      socket.uncork();
    }
    this.#lastActivity = Date.now();
  }

  acceptConnect(): void {
    this.send(this.session.acceptConnect());
  }

  rejectConnect(description: string): void {
    this.send(this.session.rejectConnect(description));
    this.end(`connect rejected: ${description}`);
  }

  acceptPublish(streamId: number): void {
    this.send(this.session.acceptPublish(streamId));
  }

  rejectPublish(streamId: number, description: string, code?: string): void {
    this.send(this.session.rejectPublish(streamId, description, code));
  }

  acceptPlay(streamId: number, reset: boolean): void {
    this.send(this.session.acceptPlay(streamId, reset));
  }

  rejectPlay(streamId: number, description: string, code?: string): void {
    this.send(this.session.rejectPlay(streamId, description, code));
  }

  status(streamId: number, info: StatusInfo): void {
    this.send(this.session.status(streamId, info));
  }

  /** Flush what is queued, then close (FIN). */
  end(reason: string): void {
    if (this.#closed) return;
    this.#closeReason = reason;
    this.socket.end();
    // A peer that never reads would keep a half-closed socket forever.
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  /** Close now, dropping anything queued. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closeReason = reason;
    this.socket.destroy();
  }

  #onData(data: Buffer): void {
    if (this.#closed) return;
    this.bytesIn += data.length;
    this.#lastActivity = Date.now();
    let result;
    try {
      result = this.session.push(data);
    } catch (error) {
      this.#fail(error);
      return;
    }
    this.send(result.output);
    // A peer that keeps sending commands but never reads the answers would grow our write queue
    // without bound; stop reading it (its own TCP window then stops it) until it catches up.
    if (!this.#readPaused && this.socket.writableLength > this.#readPauseBytes) {
      this.#readPaused = true;
      this.socket.pause();
    }
    if (this.session.connected && this.#handshakeTimer) {
      clearTimeout(this.#handshakeTimer);
      this.#handshakeTimer = undefined;
    }
    for (const event of result.events) {
      if (this.#closed) return;
      try {
        this.#handler.onEvent(this, event);
      } catch (error) {
        this.#fail(error);
        return;
      }
    }
  }

  /**
   * A peer's bad bytes are a warning; anything else is our bug, logged with its stack. Either way
   * only this connection closes: one peer must never take the process and every stream down.
   */
  #fail(error: unknown): void {
    if (error instanceof RtmpError) {
      this.logger.warn({ code: error.code, err: error.message }, 'closing connection: protocol error');
      this.close(`protocol error ${error.code}`);
      return;
    }
    const e = error instanceof Error ? error : new Error(String(error));
    this.logger.error({ err: e.message, stack: e.stack }, 'closing connection: internal error');
    this.close('internal error');
  }

  #armIdle(): void {
    this.#idleTimer = setTimeout(() => {
      const idle = Date.now() - this.#lastActivity;
      if (idle >= this.#idleTimeoutMs) this.close(`idle for ${idle} ms`);
      else this.#armIdle();
    }, Math.max(1000, this.#idleTimeoutMs / 4));
    this.#idleTimer.unref();
  }

  #onClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#handshakeTimer);
    clearTimeout(this.#idleTimer);
    this.logger.info({ reason: this.#closeReason, bytesIn: this.bytesIn, bytesOut: this.bytesOut }, 'connection closed');
    this.#handler.onClose(this);
  }

  /** Marks outbound progress for the idle timer (players only receive). */
  touch(): void {
    this.#lastActivity = Date.now();
  }
}
