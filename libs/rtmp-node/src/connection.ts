import type { Socket } from 'node:net';
import { RtmpError, ServerSession, type ServerSessionOptions, type SessionEvent, type StatusInfo } from '@firstmile/rtmp';
import type { Logger } from '@firstmile/observability';
import type { SharedReadBuffer } from './read-buffer.ts';

/**
 * Where a connection is in its life, for the connections-by-state gauge: `handshake` until the
 * application accepts the RTMP connect, then `connected`; `publishing` while it has an accepted
 * publish, else `playing` while it has an accepted play.
 */
export type RtmpConnectionState = 'handshake' | 'connected' | 'publishing' | 'playing';

/**
 * Why a connection closed, a bounded set for the metric label (the free-text reason is logged).
 * The application passes its own code to end()/close(); `ok` is a normal end.
 */
export type CloseCode =
  | 'ok'
  | 'handshake_timeout'
  | 'idle_timeout'
  | 'protocol_error'
  | 'socket_error'
  | 'internal_error'
  | 'rejected'
  | 'auth'
  | 'kicked'
  | 'slow_consumer'
  | 'shutdown';

export const CLOSE_CODES: readonly CloseCode[] = Object.freeze([
  'ok',
  'handshake_timeout',
  'idle_timeout',
  'protocol_error',
  'socket_error',
  'internal_error',
  'rejected',
  'auth',
  'kicked',
  'slow_consumer',
  'shutdown',
]);

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
  /**
   * Read into this shared buffer instead of a fresh one per read (plain TCP; see read-buffer.ts).
   * The session then copies what it keeps out of it.
   */
  readBuffer?: SharedReadBuffer | undefined;
  /** Told of every state change (the server keeps its per-state counts with it). */
  onStateChange?: ((connection: RtmpConnection, from: RtmpConnectionState, to: RtmpConnectionState) => void) | undefined;
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
  #closing = false;
  #closeReason = 'peer closed';
  #closeCode: CloseCode = 'ok';
  #state: RtmpConnectionState = 'handshake';
  /** Message stream ids with an accepted publish / play (usually none or one). */
  readonly #publishing = new Set<number>();
  readonly #playing = new Set<number>();
  readonly #onStateChange: RtmpConnectionOptions['onStateChange'];
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
    const socket = this.socket;
    const shared = options.readBuffer;
    const attached = shared !== undefined && shared.reader.attach(socket, shared.buffer, (data) => this.#onData(data));
    this.session = new ServerSession(
      attached ? { ...options.session, decoder: { ...options.session.decoder, transientInput: true } } : options.session,
    );
    this.#handler = options.handler;
    this.#idleTimeoutMs = options.idleTimeoutMs;
    this.#readPauseBytes = options.readPauseBytes;
    this.#onStateChange = options.onStateChange;
    socket.on('drain', () => {
      if (this.#readPaused) {
        this.#readPaused = false;
        socket.resume();
      }
    });
    socket.setNoDelay(true); // we batch writes ourselves; Nagle would only add delay
    if (attached) socket.resume();
    else socket.on('data', (data: Buffer) => this.#onData(data));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.#closeReason = `socket error ${error.code ?? error.message}`;
      // A reset after we chose to close is the peer reacting to it, not the cause.
      if (!this.#closing) this.#closeCode = 'socket_error';
    });
    socket.on('close', () => this.#onClosed());
    this.#handshakeTimer = setTimeout(() => {
      if (!this.session.connected) this.close(`no RTMP connect within ${options.handshakeTimeoutMs} ms`, 'handshake_timeout');
    }, options.handshakeTimeoutMs);
    if (this.#idleTimeoutMs > 0) this.#armIdle();
  }

  get closed(): boolean {
    return this.#closed;
  }

  get state(): RtmpConnectionState {
    return this.#state;
  }

  /** Why the connection closed (or is closing); `ok` until something else happened. */
  get closeCode(): CloseCode {
    return this.#closeCode;
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
    this.#updateState();
  }

  rejectConnect(description: string): void {
    this.send(this.session.rejectConnect(description));
    this.end(`connect rejected: ${description}`, 'rejected');
  }

  acceptPublish(streamId: number): void {
    this.send(this.session.acceptPublish(streamId));
    this.#publishing.add(streamId);
    this.#updateState();
  }

  rejectPublish(streamId: number, description: string, code?: string): void {
    this.send(this.session.rejectPublish(streamId, description, code));
  }

  acceptPlay(streamId: number, reset: boolean): void {
    this.send(this.session.acceptPlay(streamId, reset));
    this.#playing.add(streamId);
    this.#updateState();
  }

  rejectPlay(streamId: number, description: string, code?: string): void {
    this.send(this.session.rejectPlay(streamId, description, code));
  }

  status(streamId: number, info: StatusInfo): void {
    this.send(this.session.status(streamId, info));
  }

  /** Flush what is queued, then close (FIN). `code` is the bounded reason counted in metrics. */
  end(reason: string, code: CloseCode = 'ok'): void {
    if (this.#closed || this.#closing) return;
    this.#closing = true;
    this.#closeReason = reason;
    this.#closeCode = code;
    this.socket.end();
    // A peer that never reads would keep a half-closed socket forever.
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  /** Close now, dropping anything queued. A close after end() keeps end()'s reason. */
  close(reason: string, code: CloseCode = 'ok'): void {
    if (this.#closed) return;
    if (!this.#closing) {
      this.#closing = true;
      this.#closeReason = reason;
      this.#closeCode = code;
    }
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
      if (event.type === 'unpublish' || event.type === 'stop') this.#streamEnded(event.streamId);
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
      this.close(`protocol error ${error.code}`, 'protocol_error');
      return;
    }
    const e = error instanceof Error ? error : new Error(String(error));
    this.logger.error({ err: e.message, stack: e.stack }, 'closing connection: internal error');
    this.close('internal error', 'internal_error');
  }

  #streamEnded(streamId: number): void {
    if (this.#publishing.delete(streamId) || this.#playing.delete(streamId)) this.#updateState();
  }

  #updateState(): void {
    const to: RtmpConnectionState =
      this.#publishing.size > 0 ? 'publishing' : this.#playing.size > 0 ? 'playing' : this.session.connected ? 'connected' : 'handshake';
    const from = this.#state;
    if (to === from || this.#closed) return;
    this.#state = to;
    this.#onStateChange?.(this, from, to);
  }

  #armIdle(): void {
    this.#idleTimer = setTimeout(() => {
      const idle = Date.now() - this.#lastActivity;
      if (idle >= this.#idleTimeoutMs) this.close(`idle for ${idle} ms`, 'idle_timeout');
      else this.#armIdle();
    }, Math.max(1000, this.#idleTimeoutMs / 4));
    this.#idleTimer.unref();
  }

  #onClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#handshakeTimer);
    clearTimeout(this.#idleTimer);
    this.logger.info({ reason: this.#closeReason, code: this.#closeCode, bytesIn: this.bytesIn, bytesOut: this.bytesOut }, 'connection closed');
    this.#handler.onClose(this);
  }

  /** Marks outbound progress for the idle timer (players only receive). */
  touch(): void {
    this.#lastActivity = Date.now();
  }
}
