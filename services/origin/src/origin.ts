import {
  BusError,
  FrameAssembler,
  FrameFlag,
  FrameKind,
  ORIGIN_HEARTBEAT_SUBJECT,
  decodeFrame,
  encodeJson,
  initSubject,
  mediaSubject,
  streamIdForName,
  type Bus,
  type Frame,
  type OriginHeartbeat,
  type Subscription,
} from '@firstmile/bus';
import type { PlayAuthorizer } from '@firstmile/auth';
import { SpanAttr, SpanName, getTracer, injectHeaders, withSpan, type Logger, type StreamMetrics, type StreamMetricsHandle } from '@firstmile/observability';
import { MessageType, type SessionEvent } from '@firstmile/rtmp';
import type { RtmpConnection } from '@firstmile/rtmp-node';
import { OutMessage } from './out-message.ts';

export interface OriginOptions {
  bus: Bus;
  logger: Logger;
  /** Outbound chunk size; must equal the sessions' (every player shares one encoding). */
  chunkSize: number;
  /** A play of a stream that is not live waits this long before NetStream.Play.StreamNotFound. */
  playWaitMs: number;
  /** After a publisher's connection drops, players stay attached this long for it to come back. */
  reconnectWindowMs: number;
  /** The subscription outlives the last player by this much (avoids churn on quick rejoin). */
  lingerMs: number;
  /** Timeout of the init snapshot request to the owning edge. */
  initTimeoutMs: number;
  /** GOP cache caps (bytes and duration) for late joiners. */
  gopCacheBytes: number;
  gopCacheMs: number;
  /** A player is behind once its socket holds max(minLagBytes, 2 GOPs) unsent; it then skips to a keyframe. */
  minLagBytes: number;
  /** Hard cap on one player's unsent bytes, whatever the GOP size. */
  maxPlayerQueueBytes: number;
  /** A player that stays behind this long is disconnected. */
  slowPlayerTimeoutMs: number;
  /** Largest frame reassembled from bus fragments. */
  maxFrameBytes: number;
  /**
   * Audio and data messages wait up to this long to share one write with others; a video message
   * is written at once and takes whatever waits with it. One write per message per player is what
   * fan-out CPU is spent on (a syscall and a TCP segment each), and audio is most of the messages.
   */
  flushIntervalMs: number;
  /**
   * Play auth (public streams, or signed playback tokens). Unset: every play is allowed and the
   * play name is the requested name without its query.
   */
  playAuthorizer?: PlayAuthorizer | undefined;
  /** Viewers and dropped frames per stream (bounded-cardinality series). */
  streamMetrics?: StreamMetrics | undefined;
  /**
   * The stream label of a play name in metrics: the name itself, unless the name could be a
   * secret (auth mode none), then the stream id. Default: the stream id.
   */
  streamLabel?: ((app: string, playName: string, streamId: string) => string) | undefined;
  /** Told of each player disconnected for staying too slow (a metric). */
  onSlowPlayerDisconnect?: (() => void) | undefined;
  /** Origin heartbeats on the bus (viewers per stream for /v1/live); unset: none are sent. */
  heartbeat?: { intervalMs: number; originId: string; region?: string | undefined } | undefined;
}

interface Player {
  readonly connection: RtmpConnection;
  readonly stream: OriginStream;
  readonly messageStreamId: number;
  readonly reset: boolean;
  /** waiting: play not answered yet; active: receiving; ended: told UnpublishNotify, waiting for a new publisher. */
  state: 'waiting' | 'active' | 'ended';
  audio: boolean;
  video: boolean;
  /** Joined without a cached GOP, or after a gap: skip to the next keyframe. */
  awaitKeyframe: boolean;
  /** When the player fell behind (0 = keeping up). */
  lagSince: number;
  dropped: number;
  droppedLogged: number;
  lastDropLog: number;
  waitTimer: NodeJS.Timeout | undefined;
  log: Logger;
}

type Phase = 'idle' | 'syncing' | 'live' | 'grace';

interface SnapshotAck {
  epoch: number;
  lastSeq: number;
  messages: number;
}

/**
 * One stream as this origin sees it: subscribed while it has players, rebuilding the publisher's
 * state (metadata, sequence headers, GOP) so that later joiners start locally.
 */
class OriginStream {
  readonly key: string;
  readonly app: string;
  readonly streamId: string;
  readonly players = new Set<Player>();
  readonly assembler: FrameAssembler;
  readonly log: Logger;
  metrics: StreamMetricsHandle | undefined;
  sub: Subscription | undefined;
  phase: Phase = 'idle';
  epoch = -1;
  /** Superseded publisher sessions: a partitioned edge's late frames must not flip the stream back. */
  readonly retiredEpochs: number[] = [];
  expectedSeq = 0;
  /** After loss: forward nothing but config until a keyframe (never a broken GOP). */
  needKeyframe = false;
  hasVideo = false;
  gaps = 0;
  // Timestamps players see: publisher time + offset, the offset chosen per publisher session so
  // time never goes backwards across a reconnect.
  tsOffset = 0;
  epochStarted = false;
  /** Audio/video frames delivered in this publisher session: a joiner with no GOP missed some. */
  mediaInEpoch = 0;
  lastOutTs: number | undefined;
  meta: OutMessage | undefined;
  videoSh: OutMessage | undefined;
  audioSh: OutMessage | undefined;
  gop: OutMessage[] = [];
  gopActive = false;
  gopBytes = 0;
  lastGopBytes = 0;
  pending: Frame[] = [];
  pendingBytes = 0;
  tick: OutMessage[] = [];
  tickBytes = 0;
  flushScheduled = false;
  flushTimer: NodeJS.Timeout | undefined;
  graceTimer: NodeJS.Timeout | undefined;
  lingerTimer: NodeJS.Timeout | undefined;

  constructor(app: string, streamId: string, maxFrameBytes: number, log: Logger) {
    this.key = `${app}/${streamId}`;
    this.app = app;
    this.streamId = streamId;
    this.assembler = new FrameAssembler(maxFrameBytes);
    this.log = log;
  }

  configMessages(): OutMessage[] {
    const out: OutMessage[] = [];
    if (this.meta) out.push(this.meta);
    if (this.videoSh) out.push(this.videoSh);
    if (this.audioSh) out.push(this.audioSh);
    return out;
  }

  resetMedia(): void {
    this.meta = undefined;
    this.videoSh = undefined;
    this.audioSh = undefined;
    this.gop = [];
    this.gopActive = false;
    this.gopBytes = 0;
  }
}

/**
 * The origin: serves players any live stream on the bus. One bus subscription per stream,
 * whatever the number of players; each message is chunk-encoded once and the messages of one
 * event-loop turn are merged into one write per player. A player that falls behind skips to the
 * next keyframe and is disconnected if it stays behind; it never slows the stream or other players.
 */
export class Origin {
  readonly #o: OriginOptions;
  readonly #streams = new Map<string, OriginStream>();
  #closing = false;
  readonly #beat: NodeJS.Timeout | undefined;

  constructor(options: OriginOptions) {
    this.#o = options;
    if (options.heartbeat) {
      this.#beat = setInterval(() => this.#sendHeartbeat(), options.heartbeat.intervalMs);
      this.#beat.unref();
    }
  }

  #sendHeartbeat(): void {
    const h = this.#o.heartbeat;
    if (!h) return;
    const streams: OriginHeartbeat['streams'] = [];
    let players = 0;
    for (const s of this.#streams.values()) {
      players += s.players.size;
      if (s.players.size > 0) streams.push({ app: s.app, streamId: s.streamId, viewers: s.players.size });
    }
    const beat: OriginHeartbeat = { origin: h.originId, region: h.region, players, draining: this.#closing, streams, at: new Date().toISOString() };
    try {
      this.#o.bus.publish(ORIGIN_HEARTBEAT_SUBJECT, encodeJson(beat));
    } catch (error) {
      this.#o.logger.warn({ err: (error as Error).message }, 'origin heartbeat not sent');
    }
  }

  get streams(): number {
    return this.#streams.size;
  }

  /** Bytes written to players' sockets and not yet sent, over all players (a saturation signal). */
  get queuedBytes(): number {
    let n = 0;
    for (const s of this.#streams.values()) for (const p of s.players) n += p.connection.writableLength;
    return n;
  }

  get players(): number {
    let n = 0;
    for (const s of this.#streams.values()) n += s.players.size;
    return n;
  }

  onEvent(connection: RtmpConnection, event: SessionEvent): void {
    switch (event.type) {
      case 'play':
        // The session splits `name?query`; play auth reads the playback token from the query.
        this.#onPlay(connection, event.streamId, event.query ? `${event.name}?${event.query}` : event.name, event.reset);
        return;
      case 'stop':
        this.#removePlayer(connection, event.streamId);
        return;
      case 'receive': {
        const p = this.#player(connection, event.streamId);
        if (p && event.audio !== undefined) p.audio = event.audio;
        if (p && event.video !== undefined) {
          p.video = event.video;
          // Video switched back on mid-GOP: resume on a keyframe.
          if (event.video) p.awaitKeyframe = true;
        }
        return;
      }
      default:
        return;
    }
  }

  onClose(connection: RtmpConnection): void {
    const players = connection.context.get('players') as Map<number, Player> | undefined;
    if (!players) return;
    for (const id of [...players.keys()]) this.#removePlayer(connection, id);
  }

  /**
   * Stop serving (drain deadline): timers and subscriptions end here; the server then closes the
   * players' connections, and players reconnect to another origin (the stream itself goes on).
   */
  close(): void {
    this.#closing = true;
    if (this.#beat) clearInterval(this.#beat);
    for (const s of this.#streams.values()) {
      clearTimeout(s.graceTimer);
      clearTimeout(s.lingerTimer);
      clearTimeout(s.flushTimer);
      s.sub?.unsubscribe();
      for (const p of s.players) clearTimeout(p.waitTimer);
    }
  }

  #player(connection: RtmpConnection, messageStreamId: number): Player | undefined {
    return (connection.context.get('players') as Map<number, Player> | undefined)?.get(messageStreamId);
  }

  #onPlay(connection: RtmpConnection, messageStreamId: number, name: string, reset: boolean): void {
    if (this.#closing) {
      connection.rejectPlay(messageStreamId, 'Server is shutting down.');
      return;
    }
    const app = (connection.context.get('app') as string | undefined) ?? '';
    const auth = this.#o.playAuthorizer;
    if (!auth) {
      const q = name.indexOf('?');
      this.#startPlay(connection, messageStreamId, app, q === -1 ? name : name.slice(0, q), reset);
      return;
    }
    const attributes = { [SpanAttr.app]: app, [SpanAttr.clientIp]: connection.remoteAddress, [SpanAttr.connectionId]: connection.id };
    withSpan(getTracer(), SpanName.play, { attributes }, undefined, async (span) => {
      const d = await auth.authorize({ app, name, clientIp: connection.remoteAddress, tcUrl: connection.context.get('tcUrl') as string | undefined }, { headers: injectHeaders() });
      span.setAttributes({ [SpanAttr.result]: d.ok ? 'accepted' : 'refused', ...(d.ok ? {} : { [SpanAttr.code]: d.code }) });
      return d;
    })
      .then((decision) => {
        if (connection.closed || !connection.session.isPlayPending(messageStreamId)) return;
        if (!decision.ok) {
          connection.logger.warn({ app, code: decision.code, reason: decision.reason }, 'refusing play: not authorized');
          connection.rejectPlay(messageStreamId, decision.code === 'PLAY_UNAVAILABLE' ? 'Auth unavailable; try again.' : 'Not authorized.', 'NetStream.Play.Failed');
          return;
        }
        this.#startPlay(connection, messageStreamId, app, decision.playName, reset);
      })
      .catch((error: unknown) => {
        connection.logger.error({ err: (error as Error).message }, 'closing connection: internal error in play');
        connection.close('internal error');
      });
  }

  #startPlay(connection: RtmpConnection, messageStreamId: number, app: string, name: string, reset: boolean): void {
    if (this.#closing) {
      connection.rejectPlay(messageStreamId, 'Server is shutting down.');
      return;
    }
    const streamId = streamIdForName(app, name);
    const key = `${app}/${streamId}`;
    let stream = this.#streams.get(key);
    if (!stream) {
      stream = new OriginStream(app, streamId, this.#o.maxFrameBytes, this.#o.logger.child({ app, stream: streamId }));
      stream.metrics = this.#o.streamMetrics?.register(app, this.#o.streamLabel ? this.#o.streamLabel(app, name, streamId) : streamId);
      this.#streams.set(key, stream);
    }
    clearTimeout(stream.lingerTimer);
    stream.lingerTimer = undefined;
    const player: Player = {
      connection,
      stream,
      messageStreamId,
      reset,
      state: 'waiting',
      audio: true,
      video: true,
      awaitKeyframe: false,
      lagSince: 0,
      dropped: 0,
      droppedLogged: 0,
      lastDropLog: 0,
      waitTimer: undefined,
      log: connection.logger.child({ app, stream: streamId, msid: messageStreamId }),
    };
    let players = connection.context.get('players') as Map<number, Player> | undefined;
    if (!players) {
      players = new Map();
      connection.context.set('players', players);
    }
    players.set(messageStreamId, player);
    stream.players.add(player);
    stream.metrics?.setViewers(stream.players.size);
    player.log.info({ phase: stream.phase }, 'play requested');
    if (stream.phase === 'live' || stream.phase === 'grace') {
      this.#activate(stream, player);
    } else {
      this.#armWait(player);
    }
    if (!stream.sub) this.#subscribe(stream);
  }

  #armWait(player: Player): void {
    clearTimeout(player.waitTimer);
    player.waitTimer = setTimeout(() => {
      if (player.state === 'active') return;
      player.log.info({ waitedMs: this.#o.playWaitMs }, 'stream not live: giving up on play');
      try {
        if (player.state === 'waiting') player.connection.rejectPlay(player.messageStreamId, 'Stream is not live.');
      } catch (error) {
        player.log.error({ err: (error as Error).message }, 'could not refuse the play');
      }
      this.#removePlayer(player.connection, player.messageStreamId);
      player.connection.end('play wait timed out');
    }, this.#o.playWaitMs);
  }

  #removePlayer(connection: RtmpConnection, messageStreamId: number): void {
    const players = connection.context.get('players') as Map<number, Player> | undefined;
    const player = players?.get(messageStreamId);
    if (!player) return;
    players!.delete(messageStreamId);
    clearTimeout(player.waitTimer);
    const stream = player.stream;
    if (!stream.players.delete(player)) return;
    stream.metrics?.setViewers(stream.players.size);
    player.log.info({ dropped: player.dropped }, 'player left');
    if (stream.players.size === 0 && !this.#closing) {
      stream.lingerTimer = setTimeout(() => this.#forget(stream), this.#o.lingerMs);
      stream.lingerTimer.unref();
    }
  }

  #forget(stream: OriginStream): void {
    if (stream.players.size > 0) return;
    stream.sub?.unsubscribe();
    stream.sub = undefined;
    clearTimeout(stream.graceTimer);
    clearTimeout(stream.flushTimer);
    this.#streams.delete(stream.key);
    stream.metrics?.remove();
    stream.log.debug({}, 'unsubscribed');
  }

  #subscribe(stream: OriginStream): void {
    stream.phase = 'syncing';
    stream.sub = this.#o.bus.subscribe(mediaSubject(stream.app, stream.streamId), (m) => {
      let frame: Frame | undefined;
      try {
        frame = stream.assembler.push(decodeFrame(m.data));
      } catch (error) {
        stream.log.warn({ err: (error as Error).message }, 'dropping malformed bus frame');
        return;
      }
      if (!frame) return;
      if (stream.phase === 'syncing') {
        stream.pending.push(frame);
        stream.pendingBytes += frame.payload.byteLength;
        if (stream.pendingBytes > this.#o.maxPlayerQueueBytes) {
          // The snapshot is late; what piled up meanwhile is dropped and we restart on a keyframe.
          stream.pending = [];
          stream.pendingBytes = 0;
        }
        return;
      }
      this.#onFrame(stream, frame);
    });
    this.#sync(stream).catch((error: unknown) => {
      // Never an unhandled rejection: that would take the process and every stream down.
      stream.log.error({ err: (error as Error).message, stack: (error as Error).stack }, 'stream sync failed');
    });
  }

  /** Fetches the init snapshot from the owning edge and stitches it to the live subscription. */
  async #sync(stream: OriginStream): Promise<void> {
    const bus = this.#o.bus;
    const inbox = bus.createInbox();
    const parts: Uint8Array[] = [];
    let wake: (() => void) | undefined;
    const inboxSub = bus.subscribe(inbox, (m) => {
      parts.push(m.data);
      wake?.();
    });
    let ack: SnapshotAck | undefined;
    try {
      const reply = await bus.request(initSubject(stream.app, stream.streamId), Buffer.from(JSON.stringify({ inbox })), {
        timeoutMs: this.#o.initTimeoutMs,
      });
      ack = JSON.parse(Buffer.from(reply.data).toString()) as SnapshotAck;
      const deadline = Date.now() + this.#o.initTimeoutMs;
      while (parts.length < ack.messages && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 20);
        });
      }
      if (parts.length < ack.messages) throw new BusError('BUS_ERR_TIMEOUT', `snapshot incomplete: ${parts.length}/${ack.messages}`);
    } catch (error) {
      const code = error instanceof BusError ? error.code : 'unknown';
      if (code !== 'BUS_ERR_NO_RESPONDERS') stream.log.warn({ code, err: (error as Error).message }, 'init snapshot failed');
      ack = undefined;
    } finally {
      inboxSub.unsubscribe();
    }
    if (!stream.sub) return; // everyone left meanwhile
    const pending = stream.pending;
    stream.pending = [];
    stream.pendingBytes = 0;
    if (ack) {
      this.#beginEpoch(stream, ack.epoch, ack.lastSeq, false);
      const assembler = new FrameAssembler(this.#o.maxFrameBytes);
      for (const part of parts) {
        const frame = assembler.push(decodeFrame(part));
        if (frame) this.#deliver(stream, frame, false);
      }
      stream.log.info({ frames: parts.length, gop: stream.gop.length }, 'joined live stream from snapshot');
      for (const player of stream.players) if (player.state === 'waiting') this.#activate(stream, player);
    } else {
      stream.phase = 'idle';
    }
    for (const frame of pending) {
      if (ack && frame.epoch === ack.epoch && frame.seq <= ack.lastSeq) continue;
      this.#onFrame(stream, frame);
    }
    this.#flush(stream);
  }

  #onFrame(stream: OriginStream, frame: Frame): void {
    if (frame.kind === FrameKind.Start) {
      if (!stream.retiredEpochs.includes(frame.epoch)) this.#beginEpoch(stream, frame.epoch, frame.seq);
      return;
    }
    if (frame.kind === FrameKind.SnapshotEnd) return;
    if (frame.epoch !== stream.epoch && stream.retiredEpochs.includes(frame.epoch)) return;
    if (frame.epoch !== stream.epoch) {
      if (frame.kind === FrameKind.End) return; // the end of a session we never saw
      // Joined a session whose Start we lost: adopt it and wait for a keyframe.
      this.#beginEpoch(stream, frame.epoch, frame.seq - 1);
      stream.needKeyframe = true;
    }
    if (frame.seq !== stream.expectedSeq) {
      stream.gaps++;
      stream.needKeyframe = true;
      stream.log.warn({ expected: stream.expectedSeq, got: frame.seq }, 'sequence gap: skipping to the next keyframe');
    }
    stream.expectedSeq = (frame.seq + 1) >>> 0;
    if (frame.kind === FrameKind.End) {
      let reason = 'dropped';
      try {
        reason = (JSON.parse(Buffer.from(frame.payload).toString()) as { reason?: string }).reason ?? reason;
      } catch {
        // a malformed End still ends the session
      }
      this.#endEpoch(stream, reason);
      return;
    }
    if (this.#deliver(stream, frame, true)) this.#scheduleFlush(stream, frame.messageType === MessageType.Video);
  }

  #scheduleFlush(stream: OriginStream, now: boolean): void {
    if (stream.flushScheduled) return;
    if (now || stream.tickBytes >= 64 * 1024 || this.#o.flushIntervalMs === 0) {
      clearTimeout(stream.flushTimer);
      stream.flushTimer = undefined;
      stream.flushScheduled = true;
      setImmediate(() => this.#flush(stream));
    } else if (!stream.flushTimer) {
      stream.flushTimer = setTimeout(() => {
        stream.flushTimer = undefined;
        this.#flush(stream);
      }, this.#o.flushIntervalMs);
    }
  }

  #beginEpoch(stream: OriginStream, epoch: number, seq: number, activate = true): void {
    const wasGrace = stream.phase === 'grace';
    clearTimeout(stream.graceTimer);
    stream.graceTimer = undefined;
    if (stream.epoch !== -1 && stream.epoch !== epoch) {
      stream.retiredEpochs.push(stream.epoch);
      if (stream.retiredEpochs.length > 16) stream.retiredEpochs.shift();
    }
    stream.epoch = epoch;
    stream.expectedSeq = (seq + 1) >>> 0;
    stream.needKeyframe = false;
    stream.epochStarted = false;
    stream.mediaInEpoch = 0;
    // Keep the sequence headers until the new session sends its own (players already have them);
    // the GOP belongs to the old session.
    stream.gop = [];
    stream.gopActive = false;
    stream.gopBytes = 0;
    stream.phase = 'live';
    stream.log.info({ epoch, resumed: wasGrace }, wasGrace ? 'publisher came back: resuming players' : 'stream is live');
    // A new session starts with its headers and a keyframe, so players already attached lose
    // nothing by taking it from its first message.
    for (const player of stream.players) {
      if (player.state === 'active') {
        player.awaitKeyframe = false;
      } else if (player.state === 'ended') {
        player.connection.send(player.connection.session.streamBegin(player.messageStreamId));
        player.connection.status(player.messageStreamId, { level: 'status', code: 'NetStream.Play.PublishNotify', description: 'Stream is now published.' });
        clearTimeout(player.waitTimer);
        player.state = 'active';
        player.awaitKeyframe = false;
      } else if (activate) {
        this.#activate(stream, player);
      }
    }
  }

  #endEpoch(stream: OriginStream, reason: string): void {
    this.#flush(stream);
    if (reason === 'dropped' && this.#o.reconnectWindowMs > 0) {
      stream.phase = 'grace';
      stream.log.info({ windowMs: this.#o.reconnectWindowMs }, 'publisher dropped: holding players for a reconnect');
      stream.graceTimer = setTimeout(() => this.#unpublished(stream), this.#o.reconnectWindowMs);
      return;
    }
    this.#unpublished(stream);
  }

  #unpublished(stream: OriginStream): void {
    stream.phase = 'idle';
    stream.resetMedia();
    stream.log.info({ players: stream.players.size }, 'stream ended');
    for (const player of stream.players) {
      if (player.state !== 'active') continue;
      const c = player.connection;
      c.status(player.messageStreamId, { level: 'status', code: 'NetStream.Play.UnpublishNotify', description: 'Stream is now unpublished.' });
      c.send(c.session.streamEof(player.messageStreamId));
      player.state = 'ended';
      this.#armWait(player);
    }
  }

  #activate(stream: OriginStream, player: Player): void {
    clearTimeout(player.waitTimer);
    player.waitTimer = undefined;
    player.state = 'active';
    const c = player.connection;
    c.acceptPlay(player.messageStreamId, player.reset);
    const init = [...stream.configMessages(), ...stream.gop];
    c.send(init.map((m) => m.encodedFor(player.messageStreamId)));
    // Without a cached GOP the player restarts at the next keyframe, unless nothing was missed.
    player.awaitKeyframe = stream.gop.length === 0 && stream.mediaInEpoch > 0;
    player.log.info({ initMessages: init.length, gop: stream.gop.length }, 'play started');
  }

  /** Applies one media frame to the stream state; true when it joined the tick batch. */
  #deliver(stream: OriginStream, frame: Frame, live: boolean): boolean {
    const type = frame.messageType;
    if (type !== MessageType.Audio && type !== MessageType.Video && type !== MessageType.DataAmf0) return false;
    const keyframe = (frame.flags & FrameFlag.Keyframe) !== 0;
    const config = (frame.flags & FrameFlag.Config) !== 0;
    if (type === MessageType.Video) stream.hasVideo = true;
    if (stream.needKeyframe && !config) {
      if (keyframe) stream.needKeyframe = false;
      else if (type === MessageType.Video || (type === MessageType.Audio && stream.hasVideo)) return false;
    }
    const media = (type === MessageType.Audio || type === MessageType.Video) && !config;
    if (!stream.epochStarted && media) {
      stream.epochStarted = true;
      // First audio/video frame of a publisher session: continue right after the last time players
      // saw. (Not the session's first message: metadata and headers at 0 would make players jump
      // when the media starts later.)
      stream.tsOffset = stream.lastOutTs === undefined ? 0 : (stream.lastOutTs + 1 - frame.timestamp) >>> 0;
    }
    if (media) stream.mediaInEpoch++;
    // Headers before the session's first frame are pinned to where players are.
    const ts = stream.epochStarted ? (frame.timestamp + stream.tsOffset) >>> 0 : (stream.lastOutTs ?? frame.timestamp);
    if (stream.epochStarted && (stream.lastOutTs === undefined || ((ts - stream.lastOutTs) >>> 0) < 0x80000000)) stream.lastOutTs = ts;
    const m = new OutMessage(type, ts, frame.payload, keyframe, config, this.#o.chunkSize);
    if (config) {
      if (type === MessageType.Video) stream.videoSh = m;
      else if (type === MessageType.Audio) stream.audioSh = m;
      else stream.meta = m;
    } else if (keyframe) {
      if (stream.gopActive) stream.lastGopBytes = stream.gopBytes;
      stream.gop = [m];
      stream.gopActive = true;
      stream.gopBytes = m.chunks.length;
    } else if (stream.gopActive && stream.hasVideo) {
      stream.gopBytes += m.chunks.length;
      const first = stream.gop[0];
      if (stream.gopBytes > this.#o.gopCacheBytes || (first && ((ts - first.timestamp) >>> 0) > this.#o.gopCacheMs)) {
        stream.gop = [];
        stream.gopActive = false;
        stream.gopBytes = 0;
      } else {
        stream.gop.push(m);
      }
    }
    if (!live) return false;
    stream.tick.push(m);
    stream.tickBytes += m.chunks.length;
    return true;
  }

  #lagLimit(stream: OriginStream): number {
    const gop = Math.max(stream.gopBytes, stream.lastGopBytes);
    return Math.min(this.#o.maxPlayerQueueBytes, Math.max(this.#o.minLagBytes, 2 * gop));
  }

  /** Writes this turn's messages: one merged buffer for every player that keeps up. */
  #flush(stream: OriginStream): void {
    stream.flushScheduled = false;
    clearTimeout(stream.flushTimer);
    stream.flushTimer = undefined;
    const items = stream.tick;
    if (items.length === 0) return;
    stream.tick = [];
    stream.tickBytes = 0;
    let shared: Buffer | undefined;
    const limit = this.#lagLimit(stream);
    const now = Date.now();
    for (const player of stream.players) {
      if (player.state !== 'active') continue;
      const c = player.connection;
      if (c.closed) continue;
      const simple = player.messageStreamId === 1 && player.audio && player.video && !player.awaitKeyframe && player.lagSince === 0;
      if (simple && c.writableLength <= limit) {
        shared ??= items.length === 1 ? items[0]!.chunks : Buffer.concat(items.map((m) => m.chunks));
        c.send([shared]);
        continue;
      }
      this.#sendFiltered(stream, player, items, limit, now);
    }
  }

  #fallBehind(player: Player, now: number, limit: number): void {
    player.lagSince = now;
    player.log.warn({ unsentBytes: player.connection.writableLength, limit }, 'player is too slow: skipping to the next keyframe');
  }

  #sendFiltered(stream: OriginStream, player: Player, items: OutMessage[], limit: number, now: number): void {
    const c = player.connection;
    const out: Buffer[] = [];
    let dropped = 0;
    for (const m of items) {
      if (player.lagSince > 0 || player.awaitKeyframe) {
        // A restart point: a keyframe, or any audio frame of a stream without video.
        const restart = m.keyframe || (m.isAudio && !stream.hasVideo);
        if (restart && (player.lagSince === 0 || c.writableLength <= limit / 2)) {
          if (player.lagSince > 0) player.log.info({ behindMs: now - player.lagSince, dropped: player.dropped }, 'player caught up');
          player.lagSince = 0;
          player.awaitKeyframe = false;
        } else if (!m.config) {
          dropped++;
          continue;
        }
      } else if (c.writableLength > limit) {
        this.#fallBehind(player, now, limit);
        if (!m.config) {
          dropped++;
          continue;
        }
      }
      if ((m.isAudio && !player.audio) || (m.isVideo && !player.video && !m.config)) continue;
      out.push(m.encodedFor(player.messageStreamId));
    }
    if (out.length > 0) c.send(out);
    if (dropped > 0 && player.lagSince > 0) {
      player.dropped += dropped;
      stream.metrics?.addDroppedFrames(dropped);
      if (now - player.lastDropLog >= 1000) {
        player.log.warn({ dropped: player.dropped - player.droppedLogged }, 'player is too slow: discarding frames');
        player.droppedLogged = player.dropped;
        player.lastDropLog = now;
      }
    }
    if (player.lagSince > 0 && now - player.lagSince > this.#o.slowPlayerTimeoutMs) {
      player.log.warn({ behindMs: now - player.lagSince, dropped: player.dropped }, 'disconnecting player: too slow for too long');
      this.#o.onSlowPlayerDisconnect?.();
      c.close('player too slow', 'slow_consumer');
    }
  }
}
