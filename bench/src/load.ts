/**
 * The load: paced publishers that play the prepared FLV in real time by its timestamps (looping
 * with rebased timestamps, each video frame stamped with its send time), and lightweight players
 * that count what they receive and measure publish→play delay from the stamps. Publishers run in
 * the bench's main process and players in player-host processes (players.ts) on the same core;
 * send and arrival times are both read from CLOCK_MONOTONIC.
 */
import { performance } from 'node:perf_hooks';
import { BenchClient, type MediaEvent } from './client.ts';
import { readStamp, stampFrame, type Media } from './media.ts';
import { Histogram } from './stats.ts';

/**
 * Microseconds on CLOCK_MONOTONIC (process.hrtime), which every process on the machine shares: the
 * publisher and the player processes stamp and compare times on the same clock.
 */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * The measurement window, shared by publishers and players. Video frames whose send stamp falls in
 * [startUs, endUs) are "window frames": the publisher sums what it sent of them, each player what
 * it received of them, and their delays go into the histogram.
 */
export class Window {
  startUs = Number.POSITIVE_INFINITY;
  endUs = Number.POSITIVE_INFINITY;
  readonly delays = new Histogram();
  /** Stall threshold: a gap between two video arrivals longer than this counts as a stall. */
  stallUs: number;

  constructor(stallMs: number) {
    this.stallUs = stallMs * 1000;
  }

  open(startUs: number, endUs: number): void {
    this.startUs = startUs;
    this.endUs = endUs;
    this.delays.reset();
  }

  contains(us: number): boolean {
    return us >= this.startUs && us < this.endUs;
  }
}

export interface Target {
  host: string;
  port: number;
  app: string;
}

// ---------------------------------------------------------------------------------------------

export class Publisher {
  readonly client: BenchClient;
  readonly media: Media;
  readonly window: Window;
  /** performance.now() (ms) the stream's timestamp 0 maps to. */
  #t0 = 0;
  #index = 0;
  #loop = 0;
  #started = false;
  messagesSent = 0;
  payloadBytesSent = 0;
  /** Payload bytes of window frames sent. */
  windowVideoBytes = 0;
  windowVideoFrames = 0;
  /** Frames not sent because the socket had over `maxBacklogBytes` unsent. */
  skipped = 0;
  maxBacklogBytes = 0;
  maxLateMs = 0;
  static readonly BACKLOG_LIMIT = 16 * 1024 * 1024;

  private constructor(client: BenchClient, media: Media, window: Window) {
    this.client = client;
    this.media = media;
    this.window = window;
  }

  static async open(target: Target, name: string, media: Media, window: Window, timeoutMs: number): Promise<Publisher> {
    const client = await BenchClient.open({ ...target, timeoutMs });
    try {
      await client.publish(name, timeoutMs);
    } catch (error) {
      client.destroy();
      throw error;
    }
    return new Publisher(client, media, window);
  }

  get closed(): boolean {
    return this.client.closed;
  }

  /** Sends metadata and sequence headers; the stream clock starts now. */
  start(): void {
    const m = this.media;
    if (m.metadata) this.#send(18, 0, m.metadata);
    this.#send(9, 0, m.videoHeader);
    if (m.audioHeader) this.#send(8, 0, m.audioHeader);
    this.#t0 = performance.now();
    this.#started = true;
  }

  /** performance.now() at which the next frame is due. */
  get nextDueMs(): number {
    const f = this.media.frames[this.#index]!;
    return this.#t0 + f.timestamp + this.#loop * this.media.durationMs;
  }

  /** Sends every frame that is due at `nowMs`. */
  pump(nowMs: number): void {
    if (!this.#started || this.client.closed) return;
    const frames = this.media.frames;
    const period = this.media.durationMs;
    for (;;) {
      const f = frames[this.#index]!;
      const ts = f.timestamp + this.#loop * period;
      const due = this.#t0 + ts;
      if (due > nowMs) return;
      const late = nowMs - due;
      if (late > this.maxLateMs) this.maxLateMs = late;
      const backlog = this.client.writableLength;
      if (backlog > this.maxBacklogBytes) this.maxBacklogBytes = backlog;
      if (backlog > Publisher.BACKLOG_LIMIT) {
        this.skipped++;
      } else {
        if (f.stampable) {
          const us = nowUs();
          stampFrame(f.payload, us);
          if (this.window.contains(us)) {
            this.windowVideoBytes += f.payload.length;
            this.windowVideoFrames++;
          }
        }
        this.#send(f.type, ts, f.payload);
      }
      if (++this.#index === frames.length) {
        this.#index = 0;
        this.#loop++;
      }
    }
  }

  #send(type: 8 | 9 | 18, ts: number, payload: Buffer): void {
    this.client.sendMedia(type, ts, payload);
    this.messagesSent++;
    this.payloadBytesSent += payload.length;
  }

  close(): void {
    this.client.destroy();
  }
}

/** Drives many publishers from one timer: wakes at the earliest due frame and sends what is due. */
export class Pacer {
  readonly #publishers: Publisher[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  add(p: Publisher): void {
    p.start();
    this.#publishers.push(p);
    if (!this.#running) {
      this.#running = true;
      this.#schedule(0);
    } else {
      // A new publisher may be due before the current timer fires.
      this.#reschedule();
    }
  }

  stop(): void {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #reschedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#schedule(0);
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => this.#tick(), delayMs);
  }

  #tick(): void {
    if (!this.#running) return;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const p of this.#publishers) {
      p.pump(now);
      if (!p.closed) next = Math.min(next, p.nextDueMs);
    }
    if (next === Number.POSITIVE_INFINITY) next = now + 10;
    this.#schedule(Math.max(0, next - performance.now()));
  }
}

// ---------------------------------------------------------------------------------------------

export interface PlayerCounters {
  bytesIn: number;
  messages: number;
  payloadBytes: number;
}

export class Player {
  readonly window: Window;
  client: BenchClient | undefined;
  /** Play started. */
  playing = false;
  messages = 0;
  payloadBytes = 0;
  videoFrames = 0;
  /** Payload bytes of window frames received (by their send stamp). */
  windowVideoBytes = 0;
  windowVideoFrames = 0;
  /** Stalls (gaps between video arrivals over the window's threshold) that ended inside the window. */
  stalls = 0;
  lastVideoUs = 0;
  firstMediaUs = 0;

  constructor(window: Window) {
    this.window = window;
  }

  async open(target: Target, name: string, timeoutMs: number): Promise<void> {
    this.client = await BenchClient.open({ ...target, timeoutMs, onMedia: (e) => this.#onMedia(e) });
    await this.client.play(name, timeoutMs);
    this.playing = true;
  }

  counters(): PlayerCounters {
    return { bytesIn: this.client?.bytesIn ?? 0, messages: this.messages, payloadBytes: this.payloadBytes };
  }

  /** Counts a stall still in progress at `endUs` (no video for longer than the threshold). */
  finishWindow(endUs: number): void {
    const since = this.lastVideoUs === 0 ? Number.POSITIVE_INFINITY : endUs - this.lastVideoUs;
    if (since > this.window.stallUs) this.stalls++;
  }

  #onMedia(e: MediaEvent): void {
    this.messages++;
    this.payloadBytes += e.payload.length;
    if (e.messageType !== 9) return;
    const now = nowUs();
    if (this.firstMediaUs === 0) this.firstMediaUs = now;
    this.videoFrames++;
    const w = this.window;
    if (this.lastVideoUs !== 0 && now >= w.startUs && now < w.endUs && now - this.lastVideoUs > w.stallUs) this.stalls++;
    this.lastVideoUs = now;
    const sent = readStamp(e.payload);
    if (sent >= 0 && w.contains(sent)) {
      this.windowVideoBytes += e.payload.length;
      this.windowVideoFrames++;
      w.delays.record(now - sent);
    }
  }

  close(): void {
    this.client?.destroy();
  }
}

/** Runs `fn` over `items` with at most `limit` at once; resolves with each outcome. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { status: 'fulfilled', value: await fn(items[i]!, i) };
      } catch (error) {
        out[i] = { status: 'rejected', reason: error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
