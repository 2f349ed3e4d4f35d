import { createInbox, errors, headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/nats-core';
import {
  BusError,
  type Bus,
  type BusMessage,
  type MessageHandler,
  type PublishOptions,
  type RequestOptions,
  type SubscribeOptions,
  type Subscription,
} from './bus.ts';
import { assertPublishSubject, assertSubscribeSubject } from './subjects.ts';

export interface NatsBusOptions {
  /** Called when a subscriber's handler throws or a subscription fails (e.g. a permission violation). */
  onHandlerError?: (error: unknown, subject: string) => void;
}

/**
 * The bus over core NATS. It is handed an open connection (as nats.js's `jetstream(nc)` is), so
 * the service that owns configuration also owns connecting, credentials, TLS and reconnects.
 */
export class NatsBus implements Bus {
  readonly #nc: NatsConnection;
  readonly #onHandlerError: (error: unknown, subject: string) => void;
  /** Subjects already validated: a stream's media subject is checked once, not per frame. */
  readonly #validSubjects = new Set<string>();

  constructor(nc: NatsConnection, options: NatsBusOptions = {}) {
    this.#nc = nc;
    this.#onHandlerError = options.onHandlerError ?? (() => {});
  }

  /** The server's max_payload (1 MiB by default); frames above it are fragmented by the caller. */
  get maxPayload(): number {
    return this.#nc.info?.max_payload ?? 1024 * 1024;
  }

  get connection(): NatsConnection {
    return this.#nc;
  }

  publish(subject: string, data: Uint8Array, options?: PublishOptions): void {
    if (!this.#validSubjects.has(subject)) {
      assertPublishSubject(subject);
      if (this.#validSubjects.size >= 10_000) this.#validSubjects.clear();
      if (!subject.startsWith('_INBOX.')) this.#validSubjects.add(subject);
    }
    if (data.byteLength > this.maxPayload) {
      throw new BusError('BUS_ERR_MAX_PAYLOAD', `payload of ${data.byteLength} bytes exceeds max payload ${this.maxPayload}`);
    }
    try {
      const h = options?.headers ? toNatsHeaders(options.headers) : undefined;
      this.#nc.publish(subject, data, options?.reply || h ? { ...(options?.reply ? { reply: options.reply } : {}), ...(h ? { headers: h } : {}) } : undefined);
    } catch (error) {
      throw mapError(error, subject);
    }
  }

  subscribe(subject: string, handler: MessageHandler, options?: SubscribeOptions): Subscription {
    assertSubscribeSubject(subject);
    const sub = this.#nc.subscribe(subject, {
      ...(options?.queue ? { queue: options.queue } : {}),
      callback: (error, msg) => {
        if (error) {
          this.#onHandlerError(error, subject);
          return;
        }
        const message: BusMessage = { subject: msg.subject, data: msg.data, reply: msg.reply || undefined, headers: fromNatsHeaders(msg.headers) };
        try {
          handler(message);
        } catch (e) {
          this.#onHandlerError(e, subject);
        }
      },
    });
    return { subject, unsubscribe: () => sub.unsubscribe() };
  }

  async request(subject: string, data: Uint8Array, options: RequestOptions): Promise<BusMessage> {
    assertPublishSubject(subject);
    try {
      const msg = await this.#nc.request(subject, data, {
        timeout: options.timeoutMs,
        ...(options.headers ? { headers: toNatsHeaders(options.headers) } : {}),
      });
      return { subject: msg.subject, data: msg.data, reply: msg.reply || undefined, headers: fromNatsHeaders(msg.headers) };
    } catch (error) {
      throw mapError(error, subject, options.timeoutMs);
    }
  }

  createInbox(): string {
    return createInbox();
  }

  async flush(): Promise<void> {
    await this.#nc.flush();
  }

  /** Drains subscriptions and pending publishes, then closes the connection. */
  async close(): Promise<void> {
    if (!this.#nc.isClosed()) await this.#nc.drain();
  }
}

function toNatsHeaders(values: Readonly<Record<string, string>>): MsgHdrs {
  const h = natsHeaders();
  for (const [k, v] of Object.entries(values)) h.set(k, v);
  return h;
}

function fromNatsHeaders(h: MsgHdrs | undefined): Record<string, string> | undefined {
  if (!h) return undefined;
  const out: Record<string, string> = {};
  for (const k of h.keys()) out[k] = h.get(k);
  return out;
}

function mapError(error: unknown, subject: string, timeoutMs?: number): Error {
  if (error instanceof errors.RequestError) {
    if (error.isNoResponders()) return new BusError('BUS_ERR_NO_RESPONDERS', `no responders on ${subject}`, { cause: error });
    if (error.cause instanceof errors.TimeoutError) {
      return new BusError('BUS_ERR_TIMEOUT', `request on ${subject} timed out after ${timeoutMs} ms`, { cause: error });
    }
  }
  if (error instanceof errors.NoRespondersError) return new BusError('BUS_ERR_NO_RESPONDERS', `no responders on ${subject}`, { cause: error });
  if (error instanceof errors.TimeoutError) {
    return new BusError('BUS_ERR_TIMEOUT', `request on ${subject} timed out after ${timeoutMs} ms`, { cause: error });
  }
  if (error instanceof errors.ClosedConnectionError || error instanceof errors.DrainingConnectionError) {
    return new BusError('BUS_ERR_CLOSED', `bus connection closed (${subject})`, { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}
