import { nullLogger, type Logger } from '@firstmile/observability';

/**
 * Chooses the one control replica that runs singleton duties (sweeping stale index entries,
 * webhook retries). Leadership is a lease: `isLeader()` turns false on its own once the lease
 * could not be renewed in time, before any other replica may take it over, so two replicas never
 * both believe they lead (given clocks that advance at the same rate).
 */
export interface LeaderElector {
  isLeader(): boolean;
  /** Resolves after the first attempt, so isLeader() is meaningful from then on. */
  start(): Promise<void>;
  /** Stops renewing and gives the lease up, so another replica takes over at once. */
  stop(): Promise<void>;
  /** Called with the new state on every change; returns an unsubscribe function. */
  onChange(listener: (leader: boolean) => void): () => void;
}

export interface StopOptions {
  /**
   * Give the lease up (default true). false stops renewing and leaves the lease to expire, as a
   * crashed or partitioned replica would.
   */
  release?: boolean;
}

export interface ElectorTiming {
  /** How long a lease lasts without renewal. */
  leaseDurationMs: number;
  /** How often the leader renews and followers retry. Default a third of the lease. */
  renewIntervalMs?: number | undefined;
  /**
   * How long after its last successful renewal the leader keeps leading. Default two thirds of the
   * lease: it steps down while the lease still has a third to run, before anyone can acquire it.
   */
  renewDeadlineMs?: number | undefined;
  logger?: Logger | undefined;
  now?: (() => number) | undefined;
}

/**
 * The loop both lease electors share: attempt every renewIntervalMs, lead while attempts succeed,
 * stop leading renewDeadlineMs after the last successful one.
 */
export abstract class LeaseElectorBase implements LeaderElector {
  protected readonly log: Logger;
  protected readonly now: () => number;
  protected readonly leaseDurationMs: number;
  readonly #intervalMs: number;
  readonly #deadlineMs: number;
  readonly #listeners = new Set<(leader: boolean) => void>();
  #leader = false;
  /** Local time the last successful attempt was sent: the lease runs from no later than that. */
  #renewedAt = -Infinity;
  #running = false;
  #timer: NodeJS.Timeout | undefined;
  #deadlineTimer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;

  constructor(timing: ElectorTiming) {
    if (!(timing.leaseDurationMs >= 100)) throw new RangeError('leaseDurationMs must be at least 100');
    this.leaseDurationMs = timing.leaseDurationMs;
    this.#intervalMs = timing.renewIntervalMs ?? Math.floor(timing.leaseDurationMs / 3);
    this.#deadlineMs = timing.renewDeadlineMs ?? Math.floor((timing.leaseDurationMs * 2) / 3);
    if (!(this.#deadlineMs < this.leaseDurationMs) || !(this.#intervalMs < this.#deadlineMs)) {
      throw new RangeError('need renewIntervalMs < renewDeadlineMs < leaseDurationMs');
    }
    this.log = timing.logger ?? nullLogger;
    this.now = timing.now ?? Date.now;
  }

  /**
   * One acquire-or-renew. true: this replica holds the lease now. false: another one does (or the
   * lease was lost). Throwing: unknown (API unreachable); leadership then lasts until the deadline.
   */
  protected abstract attempt(): Promise<boolean>;
  /** Give up a lease this replica holds. */
  protected abstract release(): Promise<void>;

  isLeader(): boolean {
    // Checked here too, not only in the loop: a stalled event loop must not extend leadership.
    return this.#leader && this.now() - this.#renewedAt < this.#deadlineMs;
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await this.#tick();
  }

  async stop(options: StopOptions = {}): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
    clearTimeout(this.#deadlineTimer);
    const held = this.isLeader();
    this.#set(false);
    if (held && options.release !== false) {
      try {
        await this.release();
      } catch (error) {
        this.log.warn({ err: error }, 'could not release the leader lease; it will expire');
      }
    }
  }

  onChange(listener: (leader: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async #tick(): Promise<void> {
    const run = (async () => {
      const sentAt = this.now();
      try {
        // Bounded: a request hanging on a partition must not hold the loop (or stop()) with it.
        const held = await withTimeout(this.attempt(), this.#deadlineMs);
        if (held && this.now() - sentAt < this.#deadlineMs) {
          this.#renewedAt = sentAt;
          this.#armDeadline();
        }
        this.#set(held && this.now() - this.#renewedAt < this.#deadlineMs);
      } catch (error) {
        this.log.warn({ err: error, leader: this.#leader }, 'leader election attempt failed');
        this.#set(this.isLeader());
      }
    })();
    this.#inFlight = run;
    await run;
    this.#inFlight = undefined;
    if (!this.#running) return;
    this.#timer = setTimeout(() => void this.#tick(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Leadership ends at the deadline even if no attempt returns by then. */
  #armDeadline(): void {
    clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = setTimeout(() => this.#set(this.isLeader()), Math.max(0, this.#renewedAt + this.#deadlineMs - this.now()) + 1);
    this.#deadlineTimer.unref();
  }

  #set(leader: boolean): void {
    if (leader === this.#leader) return;
    this.#leader = leader;
    this.log.info({ leader }, leader ? 'became leader' : 'no longer leader');
    for (const l of this.#listeners) {
      try {
        l(leader);
      } catch (error) {
        this.log.error({ err: error }, 'leader change listener failed');
      }
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`leader election attempt timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
