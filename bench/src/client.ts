/**
 * A light RTMP client connection for the load generator: a node:net socket around the sans-I/O
 * ClientSession of @firstmile/rtmp. Hundreds to thousands live in one process, so it keeps no
 * event history: media goes to one callback, everything else is only looked at while waiting for
 * publishStart/playStart.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { ClientSession, type ClientEvent } from '@firstmile/rtmp';

export type MediaEvent = Extract<ClientEvent, { type: 'media' }>;

export interface BenchClientOptions {
  host: string;
  port: number;
  app: string;
  /** Timeout for TCP connect + handshake + connect + createStream + publish/play. */
  timeoutMs: number;
  onMedia?: (e: MediaEvent) => void;
}

export class BenchClient {
  readonly socket: Socket;
  readonly session: ClientSession;
  bytesIn = 0;
  bytesOut = 0;
  closed = false;
  /** Why the connection ended, when it did not end by our own destroy(). */
  failure: string | undefined;
  #onMedia: ((e: MediaEvent) => void) | undefined;
  #waiter: ((e: ClientEvent | undefined) => void) | undefined;
  #destroyed = false;

  private constructor(socket: Socket, session: ClientSession, onMedia: ((e: MediaEvent) => void) | undefined) {
    this.socket = socket;
    this.session = session;
    this.#onMedia = onMedia;
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => this.#onData(data));
    socket.on('error', (error) => {
      this.failure ??= error.message;
    });
    socket.once('close', () => {
      this.closed = true;
      if (!this.#destroyed) this.failure ??= 'closed by the server';
      this.#waiter?.(undefined);
    });
  }

  /** TCP connect, handshake, NetConnection.connect and createStream. */
  static async open(options: BenchClientOptions): Promise<BenchClient> {
    const session = new ClientSession({ app: options.app, tcUrl: `rtmp://${options.host}:${options.port}/${options.app}` });
    const socket = netConnect({ host: options.host, port: options.port });
    const client = new BenchClient(socket, session, options.onMedia);
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('TCP connect timed out')), options.timeoutMs);
        socket.once('connect', () => {
          clearTimeout(t);
          resolve();
        });
        socket.once('error', (e) => {
          clearTimeout(t);
          reject(e);
        });
      });
      client.write(session.start());
      await client.#await((e) => e.type === 'ready', options.timeoutMs, 'connect');
    } catch (error) {
      client.destroy();
      throw error;
    }
    return client;
  }

  write(buffers: readonly Buffer[]): void {
    if (buffers.length === 0 || this.socket.destroyed) return;
    if (buffers.length > 1) this.socket.cork();
    for (const b of buffers) {
      this.bytesOut += b.length;
      this.socket.write(b);
    }
    if (buffers.length > 1) this.socket.uncork();
  }

  /** Publishes `name` and resolves on NetStream.Publish.Start. */
  async publish(name: string, timeoutMs: number): Promise<void> {
    const done = this.#await((e) => e.type === 'publishStart', timeoutMs, 'publish');
    this.write(this.session.publish(name, 'live'));
    await done;
  }

  /** Plays `name` (live) and resolves on NetStream.Play.Start. */
  async play(name: string, timeoutMs: number): Promise<void> {
    const done = this.#await((e) => e.type === 'playStart', timeoutMs, 'play');
    this.write(this.session.play(name, -2));
    await done;
  }

  /** Chunk-encodes and writes one media message; returns the encoded size. */
  sendMedia(type: 8 | 9 | 18, timestamp: number, payload: Buffer): number {
    if (this.socket.destroyed) return 0;
    const b = this.session.sendMedia(type, timestamp, payload);
    this.bytesOut += b.length;
    this.socket.write(b);
    return b.length;
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  destroy(): void {
    this.#destroyed = true;
    this.socket.destroy();
  }

  #await(match: (e: ClientEvent) => boolean, timeoutMs: number, what: string): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${what}: connection closed (${this.failure ?? 'unknown'})`));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.#waiter = undefined;
        reject(new Error(`${what}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiter = (e) => {
        if (e === undefined) {
          clearTimeout(t);
          this.#waiter = undefined;
          reject(new Error(`${what}: connection closed (${this.failure ?? 'unknown'})`));
        } else if (match(e)) {
          clearTimeout(t);
          this.#waiter = undefined;
          resolve();
        } else if ((e.type === 'status' && e.level === 'error') || e.type === 'closed' || e.type === 'error') {
          clearTimeout(t);
          this.#waiter = undefined;
          reject(new Error(`${what} refused: ${JSON.stringify(e)}`));
        }
      };
    });
  }

  #onData(data: Buffer): void {
    this.bytesIn += data.length;
    let result;
    try {
      result = this.session.push(data);
    } catch (error) {
      this.failure = `protocol error: ${(error as Error).message}`;
      this.socket.destroy();
      return;
    }
    if (result.output.length > 0) this.write(result.output);
    const events = result.events;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (e.type === 'media') this.#onMedia?.(e);
      else if (this.#waiter !== undefined) this.#waiter(e);
    }
  }
}
