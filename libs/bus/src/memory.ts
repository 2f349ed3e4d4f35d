import { randomBytes } from 'node:crypto';
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
import { assertPublishSubject, assertSubscribeSubject, subjectMatches } from './subjects.ts';

export interface MemoryBusOptions {
  /** Same default as nats-server's max_payload, so code tested here fragments as it will on NATS. */
  maxPayload?: number;
  /** Called when a subscriber's handler throws; the bus itself goes on. */
  onHandlerError?: (error: unknown, subject: string) => void;
}

interface Sub {
  readonly subject: string;
  readonly tokens: readonly string[];
  readonly handler: MessageHandler;
  readonly queue: string | undefined;
  active: boolean;
}

/**
 * The bus of `firstmile up`: one process, no network. Payloads are handed over by reference (the
 * publisher must not reuse a published buffer, exactly as with NATS where the client copies), and
 * handlers run in a later microtask so ordering and reentrancy match a networked bus.
 */
export class MemoryBus implements Bus {
  readonly maxPayload: number;
  readonly #onHandlerError: (error: unknown, subject: string) => void;
  // Copy-on-write: publish iterates a snapshot while handlers subscribe and unsubscribe.
  #subs: readonly Sub[] = [];
  #closed = false;
  #inboxPrefix = `_INBOX.${randomBytes(8).toString('hex')}`;
  #inboxSeq = 0;
  #queueRoundRobin = new Map<string, number>();
  // Matching subscriptions by subject, rebuilt lazily after any (un)subscribe: a publish is then
  // one Map lookup, not a scan of every subscription (two per live stream on an edge).
  #routes = new Map<string, { plain: Sub[]; queued: Sub[] }>();

  constructor(options: MemoryBusOptions = {}) {
    this.maxPayload = options.maxPayload ?? 1024 * 1024;
    this.#onHandlerError = options.onHandlerError ?? (() => {});
  }

  publish(subject: string, data: Uint8Array, options?: PublishOptions): void {
    if (this.#closed) throw new BusError('BUS_ERR_CLOSED', 'bus is closed');
    if (data.byteLength > this.maxPayload) {
      throw new BusError('BUS_ERR_MAX_PAYLOAD', `payload of ${data.byteLength} bytes exceeds max payload ${this.maxPayload}`);
    }
    const targets = this.#route(subject);
    if (targets.length === 0) return;
    const message: BusMessage = { subject, data, reply: options?.reply, headers: options?.headers };
    queueMicrotask(() => {
      for (const sub of targets) {
        if (!sub.active) continue;
        try {
          sub.handler(message);
        } catch (error) {
          this.#onHandlerError(error, subject);
        }
      }
    });
  }

  subscribe(subject: string, handler: MessageHandler, options?: SubscribeOptions): Subscription {
    if (this.#closed) throw new BusError('BUS_ERR_CLOSED', 'bus is closed');
    assertSubscribeSubject(subject);
    const sub: Sub = { subject, tokens: subject.split('.'), handler, queue: options?.queue, active: true };
    this.#subs = [...this.#subs, sub];
    this.#routes.clear();
    return {
      subject,
      unsubscribe: () => {
        if (!sub.active) return;
        sub.active = false;
        this.#subs = this.#subs.filter((s) => s !== sub);
        this.#routes.clear();
      },
    };
  }

  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<BusMessage> {
    if (this.#route(subject).length === 0) {
      return Promise.reject(new BusError('BUS_ERR_NO_RESPONDERS', `no responders on ${subject}`));
    }
    const inbox = this.createInbox();
    return new Promise<BusMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        sub.unsubscribe();
        reject(new BusError('BUS_ERR_TIMEOUT', `request on ${subject} timed out after ${options.timeoutMs} ms`));
      }, options.timeoutMs);
      const sub = this.subscribe(inbox, (reply) => {
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(reply);
      });
      this.publish(subject, data, options.headers ? { reply: inbox, headers: options.headers } : { reply: inbox });
    });
  }

  createInbox(): string {
    return `${this.#inboxPrefix}.${++this.#inboxSeq}`;
  }

  async flush(): Promise<void> {
    // Deliveries are microtasks; one macrotask turn lets every queued one run.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    for (const s of this.#subs) s.active = false;
    this.#subs = [];
  }

  #route(subject: string): Sub[] {
    let route = this.#routes.get(subject);
    if (!route) {
      // Cached routes were validated when built: a stream's subject is checked once, not per frame.
      assertPublishSubject(subject);
      const tokens = subject.split('.');
      route = { plain: [], queued: [] };
      for (const sub of this.#subs) {
        if (subjectMatches(sub.tokens, tokens)) (sub.queue === undefined ? route.plain : route.queued).push(sub);
      }
      // Inboxes are used once; caching them would only grow the map.
      if (!subject.startsWith('_INBOX.')) {
        if (this.#routes.size >= 10_000) this.#routes.clear();
        this.#routes.set(subject, route);
      }
    }
    if (route.queued.length === 0) return route.plain;
    const out = [...route.plain];
    const groups = new Map<string, Sub[]>();
    for (const sub of route.queued) {
      const key = `${sub.subject}\u0000${sub.queue}`;
      const members = groups.get(key);
      if (members) members.push(sub);
      else groups.set(key, [sub]);
    }
    for (const [key, members] of groups) {
      const n = this.#queueRoundRobin.get(key) ?? 0;
      this.#queueRoundRobin.set(key, n + 1);
      out.push(members[n % members.length]!);
    }
    return out;
  }
}
