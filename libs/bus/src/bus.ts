/**
 * The bus every service talks through. Its shape is core NATS (subjects with `*`/`>` wildcards,
 * fire-and-forget publish, request/reply through reply subjects) so the NATS implementation is a
 * thin adapter and the in-memory one cannot promise more than NATS does: delivery is asynchronous
 * and at-most-once, and a payload larger than `maxPayload` is refused.
 */
export interface Bus {
  /** Largest payload one publish may carry; callers fragment above it (see frame.ts). */
  readonly maxPayload: number;
  publish(subject: string, data: Uint8Array, options?: PublishOptions): void;
  subscribe(subject: string, handler: MessageHandler, options?: SubscribeOptions): Subscription;
  /** One reply or a BusError with code BUS_ERR_TIMEOUT / BUS_ERR_NO_RESPONDERS. */
  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<BusMessage>;
  /** A subject unique to this connection, for replies that arrive as several messages. */
  createInbox(): string;
  /** Resolves when everything published so far has left this process. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface BusMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly reply: string | undefined;
  /** Message headers (NATS headers): trace context (W3C traceparent) and the like; small, string values. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

export type MessageHandler = (message: BusMessage) => void;

export interface Subscription {
  readonly subject: string;
  unsubscribe(): void;
}

export interface PublishOptions {
  reply?: string;
  headers?: Readonly<Record<string, string>>;
}

export interface SubscribeOptions {
  /** Queue group: each message goes to one member of the group. */
  queue?: string;
}

export interface RequestOptions {
  timeoutMs: number;
  headers?: Readonly<Record<string, string>>;
}

export type BusErrorCode =
  | 'BUS_ERR_TIMEOUT'
  | 'BUS_ERR_NO_RESPONDERS'
  | 'BUS_ERR_MAX_PAYLOAD'
  | 'BUS_ERR_CLOSED'
  | 'BUS_ERR_BAD_SUBJECT'
  | 'BUS_ERR_FRAME';

const kBusError = Symbol.for('firstmile.bus.error');

export class BusError extends Error {
  readonly code: BusErrorCode;

  constructor(code: BusErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BusError';
    this.code = code;
    Object.defineProperty(this, kBusError, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kBusError in value;
  }
}
