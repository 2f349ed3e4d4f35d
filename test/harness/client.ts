/**
 * A test RTMP client over node:net: a thin socket wrapper around the sans-I/O ClientSession, with
 * the counters the robustness tests, the figures and the load generator need. Also raw sockets
 * for hostile bytes and a synthetic AVC/AAC-like stream whose every payload carries its sequence
 * number, so a player can check order and byte identity without storing what was published.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { AmfValue } from '@firstmile/amf';
import { ClientHandshake, ClientSession, pingRequest, type ClientEvent, type ClientSessionOptions } from '@firstmile/rtmp';

export type MediaEvent = Extract<ClientEvent, { type: 'media' }>;
/** Everything the session raises, plus `socketClosed` when the TCP connection is gone. */
export type TestClientEvent = ClientEvent | { type: 'socketClosed'; hadError: boolean; protocolError: string | undefined };

export interface ParsedRtmpUrl {
  host: string;
  port: number;
  /** First path segment (the RTMP application), query string kept. */
  app: string;
  /** The rest of the path: the stream key. */
  name: string;
  /** rtmp://host:port/app */
  tcUrl: string;
}

export function parseRtmpUrl(url: string): ParsedRtmpUrl {
  const u = new URL(url);
  if (u.protocol !== 'rtmp:') throw new Error(`not an rtmp:// URL: ${url}`);
  const path = u.pathname.replace(/^\/+/, '');
  const slash = path.indexOf('/');
  const app = slash < 0 ? path : path.slice(0, slash);
  const name = slash < 0 ? '' : path.slice(slash + 1);
  const port = u.port === '' ? 1935 : Number(u.port);
  return { host: u.hostname, port, app, name: decodeURIComponent(name) + u.search, tcUrl: `rtmp://${u.hostname}:${port}/${app}` };
}

export interface ConnectClientOptions extends Partial<Omit<ClientSessionOptions, 'app' | 'tcUrl'>> {
  /** Connect (TCP + handshake + NetConnection.connect) must succeed within this. Default 5000. */
  timeoutMs?: number;
  /** Called for every media message (before counters are read by anyone else). */
  onMedia?: (event: MediaEvent, client: RtmpTestClient) => void;
  /** Keep every media event in `client.media` (views of the socket's reads; fine for tests). Default false. */
  recordMedia?: boolean;
}

type Waiter = { match: (e: TestClientEvent) => boolean; resolve: (e: TestClientEvent) => void; reject: (e: Error) => void };

export class RtmpTestClient {
  readonly socket: Socket;
  readonly session: ClientSession;
  readonly url: ParsedRtmpUrl;
  /** Non-media events, in order. */
  readonly events: TestClientEvent[] = [];
  /** Media events when recordMedia was set. */
  readonly media: MediaEvent[] = [];
  bytesIn = 0;
  bytesOut = 0;
  /** Media messages received, by message type (8, 9, 18). */
  readonly messagesByType = new Map<number, number>();
  /**
   * performance.now() of play(), of the first video frame (a coded frame: sequence headers do not
   * count) and of the first keyframe; whether that first frame was a keyframe.
   */
  playSentAt: number | undefined;
  firstVideoAt: number | undefined;
  firstVideoWasKeyframe: boolean | undefined;
  firstKeyframeAt: number | undefined;
  /** Largest socket.writableLength seen after a write (how backed up our sends got). */
  maxWritableLength = 0;
  closed = false;
  closedAt: number | undefined;
  /** Set when the server's bytes broke the protocol (the client then destroyed the socket). */
  protocolError: Error | undefined;
  readonly #onMedia: ((event: MediaEvent, client: RtmpTestClient) => void) | undefined;
  readonly #recordMedia: boolean;
  readonly #waiters = new Set<Waiter>();
  readonly #closedPromise: Promise<void>;
  #pingSeq = 0;

  constructor(socket: Socket, session: ClientSession, url: ParsedRtmpUrl, options: ConnectClientOptions) {
    this.socket = socket;
    this.session = session;
    this.url = url;
    this.localPort = socket.localPort ?? 0;
    this.#onMedia = options.onMedia;
    this.#recordMedia = options.recordMedia ?? false;
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => this.#onData(data));
    socket.on('error', () => {
      // 'close' follows with hadError; ECONNRESET from a server that destroyed us is expected.
    });
    this.#closedPromise = new Promise((resolve) => {
      socket.once('close', (hadError) => {
        this.closed = true;
        this.closedAt = performance.now();
        this.#dispatch({ type: 'socketClosed', hadError, protocolError: this.protocolError?.message });
        for (const w of this.#waiters) w.reject(new Error(`connection closed while waiting${this.protocolError ? ` (${this.protocolError.message})` : ''}`));
        this.#waiters.clear();
        resolve();
      });
    });
  }

  /** Total media messages received. */
  get mediaMessages(): number {
    let n = 0;
    for (const v of this.messagesByType.values()) n += v;
    return n;
  }

  /** The socket's local port (kept after close): the server logs it as `remote: 127.0.0.1:<port>`. */
  readonly localPort: number;

  get writableLength(): number {
    return this.socket.writableLength;
  }

  /** Sends buffers (one cork for several). Returns socket.write's last result. */
  write(buffers: readonly Buffer[]): boolean {
    if (buffers.length === 0 || this.socket.destroyed) return true;
    let ok = true;
    if (buffers.length > 1) this.socket.cork();
    for (const b of buffers) {
      this.bytesOut += b.length;
      ok = this.socket.write(b);
    }
    if (buffers.length > 1) this.socket.uncork();
    if (this.socket.writableLength > this.maxWritableLength) this.maxWritableLength = this.socket.writableLength;
    return ok;
  }

  /** Arbitrary bytes on the established connection (hostile tests). */
  writeRaw(data: Buffer): boolean {
    return this.write([data]);
  }

  /** Publishes (default: the URL's key) and resolves on NetStream.Publish.Start; rejects on an error status. */
  publish(name = this.url.name, publishType = 'live', timeoutMs = 5000): Promise<void> {
    const done = this.#streamOutcome('publishStart', timeoutMs);
    this.write(this.session.publish(name, publishType));
    return done;
  }

  /**
   * Plays (default: the URL's key). Resolves on NetStream.Play.Start, which a server may delay
   * until the stream is live; rejects on an error status.
   */
  play(name = this.url.name, start = -2, timeoutMs = 10_000): Promise<void> {
    const done = this.#streamOutcome('playStart', timeoutMs);
    this.playSentAt = performance.now();
    this.write(this.session.play(name, start));
    return done;
  }

  sendMedia(type: 8 | 9 | 18, timestamp: number, payload: Buffer): boolean {
    return this.write([this.session.sendMedia(type, timestamp, payload)]);
  }

  setDataFrame(metadata: Record<string, AmfValue>): boolean {
    return this.write([this.session.setDataFrame(metadata)]);
  }

  /** Sends a User Control PingRequest and resolves with the round trip in ms once the PingResponse is back. */
  async ping(timeoutMs = 10_000): Promise<number> {
    const stamp = (this.#pingSeq = (this.#pingSeq + 1) >>> 0);
    const t0 = performance.now();
    const answer = this.waitFor((e) => e.type === 'userControl' && e.event === 7 && e.timestamp === stamp, timeoutMs);
    this.write([this.session.encode(pingRequest(stamp))]);
    await answer;
    return performance.now() - t0;
  }

  deleteStream(): void {
    this.write(this.session.deleteStream());
  }

  /** Stop reading: the server's writes back up into the kernel buffers and then its own. */
  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Resolves when the socket has closed (by either side). */
  whenClosed(): Promise<void> {
    return this.#closedPromise;
  }

  /** Resolves true if the socket closes within timeoutMs, false otherwise. */
  closedWithin(timeoutMs: number): Promise<boolean> {
    return closedWithin(this.socket, timeoutMs, this.#closedPromise);
  }

  /** The first event (already received, except media, or future) matching; rejects on timeout or close. */
  waitFor(match: TestClientEvent['type'] | ((e: TestClientEvent) => boolean), timeoutMs = 5000): Promise<TestClientEvent> {
    const pred = typeof match === 'string' ? (e: TestClientEvent) => e.type === match : match;
    const found = this.events.find(pred);
    if (found) return Promise.resolve(found);
    if (this.closed) return Promise.reject(new Error('connection already closed'));
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        match: pred,
        resolve: (e) => {
          clearTimeout(t);
          resolve(e);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      };
      const t = setTimeout(() => {
        this.#waiters.delete(w);
        reject(new Error(`no matching event within ${timeoutMs} ms; events: ${this.events.map((e) => ('code' in e ? `${e.type}:${e.code}` : e.type)).join(', ')}`));
      }, timeoutMs);
      this.#waiters.add(w);
    });
  }

  /** Resolves once `n` media messages arrived in total. */
  async waitForMedia(n: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.mediaMessages < n) {
      if (this.closed) throw new Error(`closed after ${this.mediaMessages}/${n} media messages`);
      if (Date.now() > deadline) throw new Error(`only ${this.mediaMessages}/${n} media messages within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  #streamOutcome(ok: 'publishStart' | 'playStart', timeoutMs: number): Promise<void> {
    const p = this.waitFor(
      (e) => e.type === ok || (e.type === 'status' && e.level === 'error') || e.type === 'closed',
      timeoutMs,
    ).then((e) => {
      if (e.type !== ok) throw new Error(`${ok === 'publishStart' ? 'publish' : 'play'} failed: ${JSON.stringify(e)}`);
    });
    p.catch(() => {});
    return p;
  }

  #onData(data: Buffer): void {
    this.bytesIn += data.length;
    let result;
    try {
      result = this.session.push(data);
    } catch (error) {
      this.protocolError = error as Error;
      this.socket.destroy();
      return;
    }
    this.write(result.output);
    for (const e of result.events) {
      if (e.type === 'media') this.#media(e);
      else this.#dispatch(e);
    }
  }

  #media(e: MediaEvent): void {
    this.messagesByType.set(e.messageType, (this.messagesByType.get(e.messageType) ?? 0) + 1);
    // Video frames, not sequence headers (legacy AVC/HEVC packet type 0): a player can show a frame.
    if (e.messageType === 9 && e.payload.length >= 2 && !(e.payload[0]! < 0x80 && e.payload[1] === 0 && ((e.payload[0]! & 0x0f) === 7 || (e.payload[0]! & 0x0f) >= 12))) {
      const key = e.payload[0]! >> 4 === 1 || (e.payload[0]! & 0xf0) === 0x90;
      if (this.firstVideoAt === undefined) {
        this.firstVideoAt = performance.now();
        this.firstVideoWasKeyframe = key;
      }
      if (key && this.firstKeyframeAt === undefined) this.firstKeyframeAt = performance.now();
    }
    if (this.#recordMedia) this.media.push(e);
    this.#onMedia?.(e, this);
    if (this.#waiters.size > 0) this.#notify(e);
  }

  #dispatch(e: TestClientEvent): void {
    this.events.push(e);
    this.#notify(e);
  }

  #notify(e: TestClientEvent): void {
    for (const w of this.#waiters) {
      if (w.match(e)) {
        this.#waiters.delete(w);
        w.resolve(e);
      }
    }
  }
}

/**
 * Opens a TCP connection to `url`, runs the handshake and NetConnection.connect (app and tcUrl
 * from the URL), and resolves once the connection is accepted and its stream is created ('ready').
 */
export async function connectClient(url: string, options: ConnectClientOptions = {}): Promise<RtmpTestClient> {
  const parsed = parseRtmpUrl(url);
  const { timeoutMs = 5000, onMedia: _m, recordMedia: _r, ...sessionOptions } = options;
  const session = new ClientSession({ ...sessionOptions, app: parsed.app, tcUrl: parsed.tcUrl });
  const socket = await openSocket(parsed.port, parsed.host, timeoutMs);
  const client = new RtmpTestClient(socket, session, parsed, options);
  client.write(session.start());
  try {
    const e = await client.waitFor((x) => x.type === 'ready' || x.type === 'closed' || x.type === 'error', timeoutMs);
    if (e.type !== 'ready') throw new Error(`connect failed: ${JSON.stringify(e)}`);
  } catch (error) {
    client.destroy();
    throw error;
  }
  return client;
}

function openSocket(port: number, host: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host });
    const t = setTimeout(() => {
      socket.destroy();
      reject(new Error(`TCP connect to ${host}:${port} timed out`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(t);
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (error: Error) => {
      clearTimeout(t);
      reject(error);
    };
    socket.once('error', onError);
  });
}

/** A raw TCP socket to the server, for arbitrary bytes. Errors (ECONNRESET) are swallowed; watch 'close'. */
export async function rawConnect(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<Socket> {
  const socket = await openSocket(port, host, timeoutMs);
  socket.on('error', () => {});
  return socket;
}

/** Resolves true if `socket` closes within timeoutMs (immediately if it already has). */
export function closedWithin(socket: Socket, timeoutMs: number, closed?: Promise<void>): Promise<boolean> {
  if (socket.closed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      socket.off('close', onClose);
      resolve(false);
    }, timeoutMs);
    const onClose = () => {
      clearTimeout(t);
      resolve(true);
    };
    if (closed) void closed.then(onClose);
    else socket.once('close', onClose);
  });
}

// ---------------------------------------------------------------------------------------------
// Synthetic AVC/AAC-like media. Every payload after the FLV tag header carries a 4-byte sequence
// number then bytes derived from it, so payloadFor(seq) rebuilds it exactly.

/** Kinds of synthetic message. */
export type SyntheticKind = 'videoHeader' | 'audioHeader' | 'keyframe' | 'interframe' | 'audio';

const HEADS: Record<SyntheticKind, readonly number[]> = {
  // AVC sequence header: FrameType 1 | CodecID 7, AVCPacketType 0, CompositionTime 0, then an
  // AVCDecoderConfigurationRecord-like start (version 1, profile 100, level 3.1).
  videoHeader: [0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x1f],
  // AAC sequence header: SoundFormat 10, 44.1 kHz, 16-bit, stereo; AACPacketType 0; AudioSpecificConfig.
  audioHeader: [0xaf, 0x00, 0x12, 0x10],
  keyframe: [0x17, 0x01, 0x00, 0x00, 0x00],
  interframe: [0x27, 0x01, 0x00, 0x00, 0x00],
  audio: [0xaf, 0x01],
};

/** The payload of synthetic message `seq` of `kind` and `size` bytes (at least header + 4). */
export function syntheticPayload(kind: SyntheticKind, seq: number, size: number): Buffer {
  const head = HEADS[kind];
  const n = Math.max(size, head.length + 8);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < head.length; i++) b[i] = head[i]!;
  const at = head.length;
  b.writeUInt32BE(seq >>> 0, at);
  b.writeUInt32BE(size >>> 0, at + 4);
  // Cheap deterministic filler (xorshift over seq), 4 bytes at a time.
  let x = (seq * 2654435761 + 1) >>> 0 || 1;
  let i = at + 8;
  for (; i + 4 <= n; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b.writeUInt32BE(x, i);
  }
  for (; i < n; i++) b[i] = i & 0xff;
  return b;
}

/** Reads (kind, seq, size) back from a synthetic payload, or undefined if it is not one. */
export function parseSynthetic(payload: Buffer): { kind: SyntheticKind; seq: number; size: number } | undefined {
  for (const kind of Object.keys(HEADS) as SyntheticKind[]) {
    const head = HEADS[kind];
    if (payload.length < head.length + 8) continue;
    let ok = true;
    for (let i = 0; i < head.length && ok; i++) ok = payload[i] === head[i];
    if (!ok) continue;
    return { kind, seq: payload.readUInt32BE(head.length), size: payload.readUInt32BE(head.length + 4) };
  }
  return undefined;
}

/** True if `payload` is byte-identical to what syntheticPayload produced for its embedded seq/size. */
export function isIntactSynthetic(payload: Buffer): boolean {
  const p = parseSynthetic(payload);
  return p !== undefined && payload.length === Math.max(p.size, HEADS[p.kind].length + 8) && payload.equals(syntheticPayload(p.kind, p.seq, p.size));
}

export interface SyntheticMessage {
  type: 8 | 9;
  timestamp: number;
  kind: SyntheticKind;
  seq: number;
  payload: Buffer;
}

export interface SyntheticStreamOptions {
  fps?: number;
  /** Frames per GOP (keyframe interval). */
  gop?: number;
  keyframeBytes?: number;
  frameBytes?: number;
  /** Audio messages per second (0: none); AAC at 44.1 kHz is ~43. */
  audioRate?: number;
  audioBytes?: number;
}

/**
 * An endless synthetic stream in decode order: the two sequence headers first, then video at
 * `fps` with a keyframe every `gop` frames, and audio interleaved by timestamp.
 */
export function* syntheticStream(options: SyntheticStreamOptions = {}): Generator<SyntheticMessage> {
  const { fps = 30, gop = 30, keyframeBytes = 100_000, frameBytes = 16_000, audioRate = 43, audioBytes = 370 } = options;
  let seq = 0;
  yield { type: 9, timestamp: 0, kind: 'videoHeader', seq, payload: syntheticPayload('videoHeader', seq++, 40) };
  if (audioRate > 0) yield { type: 8, timestamp: 0, kind: 'audioHeader', seq, payload: syntheticPayload('audioHeader', seq++, 16) };
  let frame = 0;
  let audio = 0;
  for (;;) {
    const vts = Math.round((frame * 1000) / fps);
    const ats = audioRate > 0 ? Math.round((audio * 1000) / audioRate) : Infinity;
    if (ats < vts) {
      yield { type: 8, timestamp: ats, kind: 'audio', seq, payload: syntheticPayload('audio', seq++, audioBytes) };
      audio++;
      continue;
    }
    const kind: SyntheticKind = frame % gop === 0 ? 'keyframe' : 'interframe';
    yield { type: 9, timestamp: vts, kind, seq, payload: syntheticPayload(kind, seq++, kind === 'keyframe' ? keyframeBytes : frameBytes) };
    frame++;
  }
}

/** Sends `count` messages of a synthetic stream as fast as possible; returns them. */
export function sendSynthetic(client: RtmpTestClient, count: number, options: SyntheticStreamOptions = {}): SyntheticMessage[] {
  const out: SyntheticMessage[] = [];
  for (const m of syntheticStream(options)) {
    if (out.length >= count) break;
    client.sendMedia(m.type, m.timestamp, m.payload);
    out.push(m);
  }
  return out;
}

export interface RealtimePublishResult {
  sent: SyntheticMessage[];
  /** Largest lateness of a send against the stream's clock, ms. */
  maxLateMs: number;
  /** Largest socket.writableLength seen after a send. */
  maxWritableLength: number;
}

/**
 * Publishes a synthetic stream in real time for `durationMs` (messages whose timestamp is due are
 * sent every `tickMs`). Keeps only the messages' metadata unless `keepPayloads`.
 */
export async function publishRealtime(
  client: RtmpTestClient,
  durationMs: number,
  options: SyntheticStreamOptions & {
    tickMs?: number;
    keepPayloads?: boolean;
    onSent?: (m: SyntheticMessage) => void;
    /** Checked every tick: stop before durationMs once this returns true. */
    stopWhen?: (elapsedMs: number) => boolean;
  } = {},
): Promise<RealtimePublishResult> {
  const tickMs = options.tickMs ?? 10;
  const gen = syntheticStream(options);
  const sent: SyntheticMessage[] = [];
  const start = performance.now();
  let maxLateMs = 0;
  let maxWritableLength = 0;
  let next = gen.next().value as SyntheticMessage;
  while (next.timestamp <= durationMs && !client.closed) {
    const now = performance.now() - start;
    if (options.stopWhen?.(now)) break;
    while (next.timestamp <= now && next.timestamp <= durationMs) {
      maxLateMs = Math.max(maxLateMs, now - next.timestamp);
      client.sendMedia(next.type, next.timestamp, next.payload);
      maxWritableLength = Math.max(maxWritableLength, client.writableLength);
      options.onSent?.(next);
      sent.push(options.keepPayloads ? next : { ...next, payload: Buffer.alloc(0) });
      next = gen.next().value as SyntheticMessage;
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  return { sent, maxLateMs, maxWritableLength };
}

/**
 * A raw socket that has completed a valid (simple) handshake and nothing else: what follows is up
 * to the caller (no connect is sent). Resolves with the socket once S2 is in.
 */
export async function rawHandshake(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<Socket> {
  const socket = await rawConnect(port, host, timeoutMs);
  const hs = new ClientHandshake();
  socket.write(hs.start());
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      cleanup();
      reject(new Error('handshake timed out'));
    }, timeoutMs);
    const onData = (data: Buffer) => {
      try {
        const r = hs.push(data);
        for (const b of r.output) socket.write(b);
        if (r.done) {
          cleanup();
          resolve();
        }
      } catch (error) {
        cleanup();
        reject(error as Error);
      }
    };
    const onClose = () => {
      cleanup();
      reject(new Error('closed during the handshake'));
    };
    const cleanup = () => {
      clearTimeout(t);
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.once('close', onClose);
  });
  // Keep reading (and discarding) so the server's later writes never back up.
  socket.on('data', () => {});
  return socket;
}

/**
 * Publishes a short synthetic stream on `url` and plays it back on a second connection: resolves
 * once the player got every message byte-identical and in order; throws otherwise. The proof that
 * a server still serves normally.
 */
export async function checkPublishPlay(url: string, count = 12, timeoutMs = 5000): Promise<void> {
  const pub = await connectClient(url, { timeoutMs });
  const player = await connectClient(url, { timeoutMs, recordMedia: true });
  try {
    await pub.publish(undefined, 'live', timeoutMs);
    await player.play(undefined, -2, timeoutMs);
    const sent = sendSynthetic(pub, count, { audioRate: 10, gop: 5, keyframeBytes: 20_000, frameBytes: 3000, audioBytes: 200 });
    await player.waitForMedia(count, timeoutMs);
    const got = player.media;
    if (got.length !== sent.length) throw new Error(`player got ${got.length} messages, ${sent.length} were sent`);
    for (let i = 0; i < sent.length; i++) {
      const s = sent[i]!;
      const g = got[i]!;
      if (g.messageType !== s.type || g.timestamp !== s.timestamp || !g.payload.equals(s.payload)) {
        throw new Error(`message ${i} differs: sent ${s.kind} #${s.seq} @${s.timestamp}, got type ${g.messageType} @${g.timestamp}`);
      }
    }
    pub.deleteStream();
  } finally {
    pub.destroy();
    player.destroy();
  }
}

/**
 * A publish/play pair left running on its own key while a test attacks the server: the publisher
 * sends a small synthetic stream every `intervalMs`; the player checks each message is intact
 * and in order. `check()` says whether it progressed since the last call.
 */
export class Bystander {
  readonly pub: RtmpTestClient;
  readonly player: RtmpTestClient;
  sent = 0;
  received = 0;
  corrupt = 0;
  outOfOrder = 0;
  #lastSeq = -1;
  #lastChecked = 0;
  readonly #timer: NodeJS.Timeout;

  private constructor(pub: RtmpTestClient, player: RtmpTestClient, intervalMs: number) {
    this.pub = pub;
    this.player = player;
    const gen = syntheticStream({ fps: 1000 / intervalMs, gop: 25, keyframeBytes: 8000, frameBytes: 1500, audioRate: 0 });
    this.#timer = setInterval(() => {
      if (pub.closed) return;
      const m = gen.next().value as SyntheticMessage;
      pub.sendMedia(m.type, m.timestamp, m.payload);
      this.sent++;
    }, intervalMs);
  }

  static async start(url: string, intervalMs = 20): Promise<Bystander> {
    const pub = await connectClient(url);
    await pub.publish();
    let self: Bystander | undefined;
    const player = await connectClient(url, {
      onMedia: (e) => {
        if (!self) return;
        self.received++;
        if (!isIntactSynthetic(e.payload)) self.corrupt++;
        const seq = parseSynthetic(e.payload)?.seq ?? -1;
        if (seq <= self.#lastSeq) self.outOfOrder++;
        self.#lastSeq = seq;
      },
    });
    self = new Bystander(pub, player, intervalMs);
    await player.play();
    await player.waitForMedia(3, 5000);
    return self;
  }

  /** Throws unless the pair is still connected, intact, and received something since the last check. */
  async check(waitMs = 1000): Promise<void> {
    const deadline = Date.now() + waitMs;
    while (this.received === this.#lastChecked && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (this.pub.closed || this.player.closed) throw new Error('bystander connection closed');
    if (this.corrupt > 0 || this.outOfOrder > 0) throw new Error(`bystander saw ${this.corrupt} corrupt and ${this.outOfOrder} out-of-order messages`);
    if (this.received === this.#lastChecked) throw new Error(`bystander received nothing new in ${waitMs} ms (total ${this.received})`);
    this.#lastChecked = this.received;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.pub.destroy();
    this.player.destroy();
  }
}
