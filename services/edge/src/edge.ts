import { randomInt } from 'node:crypto';
import type { PublishAuthorizer, PublishDecision, PublishRequest } from '@firstmile/auth';
import {
  BusError,
  EDGE_HEARTBEAT_SUBJECT,
  STREAM_EVENT_SUBJECT,
  encodeJson,
  type EdgeHeartbeat,
  type StreamEvent,
  type StreamHealthState,
  FrameFlag,
  FrameKind,
  controlSubject,
  SlabAllocator,
  encodeFrame,
  initSubject,
  mediaSubject,
  streamIdForName,
  type Bus,
  type Frame,
  type FrameKindId,
  type LiveStreamRecord,
  type StreamIndex,
  type StreamStartInfo,
  type Subscription,
} from '@firstmile/bus';
import {
  audioCodecName,
  audioSampleRate,
  isAudioSequenceHeader,
  isVideoKeyframe,
  isVideoSequenceHeader,
  parseAudioTagHeader,
  parseVideoTagHeader,
  videoCodecName,
} from '@firstmile/flv';
import {
  SpanAttr,
  SpanName,
  StreamHealthTracker,
  getTracer,
  injectHeaders,
  withSpan,
  type Logger,
  type StreamMetrics,
  type StreamMetricsHandle,
} from '@firstmile/observability';
import { MessageType, type RtmpMessage, type SessionEvent } from '@firstmile/rtmp';
import type { RtmpConnection } from '@firstmile/rtmp-node';

export interface EdgeOptions {
  bus: Bus;
  /** Cluster-wide ownership of stream keys and the live-stream index. */
  index: StreamIndex;
  logger: Logger;
  /** How often an owning edge renews its index record. */
  heartbeatMs: number;
  /**
   * A publisher that has sent nothing for this long has lost its key to a new publisher. Encoders
   * whose network died leave half-open connections that would otherwise hold the key until the
   * idle timeout, refusing the encoder's own reconnect.
   */
  publisherStaleMs: number;
  /** This edge's identity on the bus (pod name in a cluster). */
  edgeId: string;
  /** Bytes of the current GOP kept for late joiners; a longer GOP is not cached (joiners wait for the next keyframe). */
  gopCacheBytes: number;
  /** Duration of the current GOP kept for late joiners. */
  gopCacheMs: number;
  /** Publish auth (per app). Unset: mode `none`, the published name without its query is the play name. */
  authorizer?: PublishAuthorizer | undefined;
  /** Cluster-wide brute-force lockout: consulted before any auth work, told of every refusal. */
  lockout?: Lockout | undefined;
  /** Told of every auth decision (metrics). */
  onAuthDecision?: ((decision: PublishDecision) => void) | undefined;
  /** Edge heartbeats on the bus (routing and /v1/live); unset: none are sent. */
  heartbeat?: EdgeHeartbeatOptions | undefined;
  /** Per-stream figures and health (bounded-cardinality series); unset: health is still computed. */
  streamMetrics?: StreamMetrics | undefined;
}

export interface Lockout {
  isLockedOut(ip: string): boolean;
  recordFailure(ip: string, app: string, mode: string): void;
}

export interface EdgeHeartbeatOptions {
  intervalMs: number;
  region?: string | undefined;
  zone?: string | undefined;
  rtmpUrl?: string | undefined;
  rtmpsUrl?: string | undefined;
  /** The RTMP server's figures: connections now, the cap, whether it is draining. */
  stats(): { connections: number; maxConnections: number; draining: boolean };
}

/** The ops control answers on a live stream's control subject. */
type ControlRequest = { op: 'ping' } | { op: 'kick'; reason?: 'kicked' | 'revoked' };

/** Auth refusals go out as this status: encoders show it, and it never echoes the key. */
const PUBLISH_UNAUTHORIZED = 'NetStream.Publish.Unauthorized';

/**
 * Why a publisher session ended; origins keep players attached through a 'dropped' end for a
 * while. A kick (revoked key, operator) ends the stream for players at once.
 */
export type EndReason = 'unpublished' | 'dropped' | 'kicked' | 'revoked';

interface Published {
  readonly app: string;
  readonly streamId: string;
  /** The public name: play name, or the stream id when the name could be a secret (mode none). */
  readonly stream: string;
  readonly subject: string;
  readonly epoch: number;
  readonly connection: RtmpConnection;
  readonly messageStreamId: number;
  seq: number;
  /** Bus payloads of the latest metadata and sequence headers, by role (copies of their own). */
  readonly config: Map<'meta' | 'video' | 'audio', Uint8Array[]>;
  /** Bus payloads from the last keyframe on, in order; undefined while no complete GOP fits the caps. */
  gop: Uint8Array[] | undefined;
  gopBytes: number;
  gopStartTs: number;
  hasVideo: boolean;
  initResponder: Subscription;
  controlResponder: Subscription;
  record: LiveStreamRecord;
  revision: number;
  heartbeat: NodeJS.Timeout;
  framesIn: number;
  bytesIn: number;
  /** bytesIn at the previous edge heartbeat, for the ingest bitrate. */
  bytesAtBeat: number;
  lastMediaAt: number;
  /** A renewal retries through leader elections for longer than the heartbeat: one at a time. */
  renewing: boolean;
  /**
   * This stream's frame memory (see SlabAllocator) for frames the session could not hand up with
   * headroom; the others are built in the decoder's memory, in place.
   */
  readonly allocFrame: (size: number) => Buffer;
  /** Ingest figures and health state, sampled once a second. */
  readonly health: StreamHealthTracker;
  readonly metrics: StreamMetricsHandle | undefined;
  healthState: StreamHealthState;
  /** stream.started goes out with the first audio or video frame, so it carries the codecs. */
  startedSent: boolean;
}

interface ControlReply {
  edge: string;
  epoch: number;
  idleMs: number;
}

function slabAllocFn(): (size: number) => Buffer {
  const slabs = new SlabAllocator();
  return (size) => slabs.alloc(size);
}

const META_NAME = Buffer.from([0x02, 0x00, 0x0a, ...Buffer.from('onMetaData')]);

/**
 * The edge: terminates publishing encoders and turns each RTMP message into one bus frame on the
 * stream's media subject. It owns the stream while the encoder is connected and answers origins'
 * requests for the init snapshot, so a late joiner on any origin starts on a keyframe.
 */
export class Edge {
  readonly #options: EdgeOptions;
  /** Live streams on this edge by `${app}/${streamId}`. */
  readonly #live = new Map<string, Published>();
  /** Keys with a claim in flight: a second publish on this edge is refused without a round trip. */
  readonly #claiming = new Set<string>();
  readonly #beat: NodeJS.Timeout | undefined;
  /** Health sampling, once a second while streams are live (and to sweep offline series). */
  #healthTimer: NodeJS.Timeout | undefined;
  #lastBeat = { at: Date.now(), cpu: process.cpuUsage(), bytes: 0 };
  /** Bytes ingested by streams that have ended since the last heartbeat. */
  #endedBytes = 0;

  constructor(options: EdgeOptions) {
    this.#options = options;
    if (options.heartbeat) {
      this.#beat = setInterval(() => this.#sendHeartbeat(false), options.heartbeat.intervalMs);
      this.#beat.unref();
    }
  }

  get liveStreams(): number {
    return this.#live.size;
  }

  onEvent(connection: RtmpConnection, event: SessionEvent): void {
    switch (event.type) {
      case 'publish':
        // The session splits `name?query`; auth reads credentials (signatures, tokens) from the query.
        this.#onPublish(connection, event.streamId, event.query ? `${event.name}?${event.query}` : event.name);
        return;
      case 'media':
        this.#onMedia(connection, event.streamId, event.message, event.headroom);
        return;
      case 'unpublish':
        this.#end(connection, event.streamId, 'unpublished');
        return;
      default:
        return;
    }
  }

  onClose(connection: RtmpConnection): void {
    for (const id of [...this.#published(connection).keys()]) this.#end(connection, id, 'dropped');
  }

  /** Ends every publisher session (shutdown): origins see a dropped end and keep players waiting. */
  closeAll(): void {
    for (const p of [...this.#live.values()]) p.connection.end('edge shutting down', 'shutdown');
    if (this.#beat) clearInterval(this.#beat);
    if (this.#healthTimer) clearInterval(this.#healthTimer);
    this.#healthTimer = undefined;
  }

  #sampleHealth(): void {
    const now = Date.now();
    for (const p of this.#live.values()) this.#takeSample(p, now);
    this.#options.streamMetrics?.sweep(now);
    if (this.#live.size === 0 && (this.#options.streamMetrics?.labelled ?? 0) + (this.#options.streamMetrics?.unlabelled ?? 0) === 0) {
      clearInterval(this.#healthTimer);
      this.#healthTimer = undefined;
    }
  }

  #takeSample(p: Published, now: number): void {
    const sample = p.health.sample(now);
    p.metrics?.update(sample);
    if (sample.state !== p.healthState) {
      const previous = p.healthState;
      p.healthState = sample.state;
      p.connection.logger.child({ app: p.app, stream: p.streamId }).info({ health: sample.state, previous, fps: sample.fps, videoBps: sample.videoBps, keyframeIntervalS: sample.keyframeIntervalS }, 'stream health changed');
      this.#event(p, 'stream.health_changed', { health: sample.state, previousHealth: previous });
    }
  }

  /** Announces at once that this edge is draining (routing stops sending encoders here). */
  announceDraining(): void {
    this.#sendHeartbeat(true);
  }

  #sendHeartbeat(forceDraining: boolean): void {
    const h = this.#options.heartbeat;
    if (!h) return;
    const now = Date.now();
    const seconds = Math.max(0.001, (now - this.#lastBeat.at) / 1000);
    const cpu = process.cpuUsage(this.#lastBeat.cpu);
    let bytes = this.#endedBytes;
    const streams: EdgeHeartbeat['streams'] = [];
    for (const p of this.#live.values()) {
      const delta = p.bytesIn - p.bytesAtBeat;
      p.bytesAtBeat = p.bytesIn;
      bytes += delta;
      streams.push({
        app: p.app,
        stream: p.stream,
        streamId: p.streamId,
        since: p.record.since,
        ingestBps: Math.round((delta * 8) / seconds),
        video: p.record.video,
        audio: p.record.audio,
        health: p.healthState,
      });
    }
    this.#endedBytes = 0;
    this.#lastBeat = { at: now, cpu: process.cpuUsage(), bytes: 0 };
    const stats = h.stats();
    const beat: EdgeHeartbeat = {
      edge: this.#options.edgeId,
      region: h.region,
      zone: h.zone,
      rtmpUrl: h.rtmpUrl,
      rtmpsUrl: h.rtmpsUrl,
      connections: stats.connections,
      maxConnections: stats.maxConnections,
      publishers: this.#live.size,
      ingestBps: Math.round((bytes * 8) / seconds),
      cpu: (cpu.user + cpu.system) / 1e6 / seconds,
      draining: forceDraining || stats.draining,
      streams,
      at: new Date(now).toISOString(),
    };
    try {
      this.#options.bus.publish(EDGE_HEARTBEAT_SUBJECT, encodeJson(beat));
    } catch (error) {
      this.#options.logger.warn({ err: (error as Error).message }, 'edge heartbeat not sent');
    }
  }

  #event(p: Published, type: StreamEvent['type'], extra: Partial<StreamEvent> = {}): void {
    const event: StreamEvent = {
      type,
      app: p.app,
      stream: p.stream,
      streamId: p.streamId,
      edge: this.#options.edgeId,
      epoch: p.epoch,
      at: new Date().toISOString(),
      video: p.record.video,
      audio: p.record.audio,
      ...extra,
    };
    try {
      this.#options.bus.publish(STREAM_EVENT_SUBJECT, encodeJson(event));
    } catch (error) {
      this.#options.logger.warn({ err: (error as Error).message, type }, 'stream event not sent');
    }
  }

  #key(app: string, streamId: string): string {
    return `${app}/${streamId}`;
  }

  #onPublish(connection: RtmpConnection, messageStreamId: number, name: string): void {
    const app = (connection.context.get('app') as string | undefined) ?? '';
    const ip = connection.remoteAddress;
    const stillWanted = () => !connection.closed && connection.session.isPublishPending(messageStreamId);
    const lockout = this.#options.lockout;
    if (lockout?.isLockedOut(ip)) {
      connection.logger.warn({ app, code: 'AUTH_LOCKED_OUT' }, 'refusing publish: client IP locked out after repeated failures');
      this.#options.onAuthDecision?.({ ok: false, code: 'AUTH_LOCKED_OUT', reason: 'locked out', mode: this.#options.authorizer?.mode ?? 'none' });
      connection.rejectPublish(messageStreamId, 'Too many failed attempts; try again later.', PUBLISH_UNAUTHORIZED);
      connection.end('locked out', 'auth');
      return;
    }
    const request: PublishRequest = { app, name, tcUrl: connection.context.get('tcUrl') as string | undefined, clientIp: ip };
    const authorizer = this.#options.authorizer;
    const tracer = getTracer();
    const attributes = { [SpanAttr.app]: app, [SpanAttr.clientIp]: ip, [SpanAttr.connectionId]: connection.id };
    // rtmp.publish covers the decision; rtmp.auth is its child, and its context goes to control in
    // the request headers so control's span joins the same trace.
    withSpan(tracer, SpanName.publish, { attributes }, undefined, async (span) => {
      const decision = await withSpan(tracer, SpanName.auth, { attributes }, undefined, async (authSpan) => {
        const d = authorizer ? await authorizer.authorize(request, { headers: injectHeaders() }) : noneDecision(name);
        authSpan.setAttributes({ [SpanAttr.authMode]: d.mode, [SpanAttr.result]: d.ok ? 'allow' : 'deny', ...(d.ok ? {} : { [SpanAttr.code]: d.code }) });
        return d;
      });
      if (decision.ok) span.setAttribute(SpanAttr.stream, decision.mode === 'none' ? streamIdForName(app, decision.playName) : decision.playName);
      span.setAttribute(SpanAttr.result, decision.ok ? 'allow' : 'deny');
      return decision;
    })
      .then((decision) => {
        this.#options.onAuthDecision?.(decision);
        if (!decision.ok) {
          // The reason names the rule that failed, never the key or token that was tried.
          connection.logger.warn({ app, mode: decision.mode, code: decision.code, reason: decision.reason }, 'refusing publish: not authorized');
          if (decision.code !== 'AUTH_UNAVAILABLE') lockout?.recordFailure(ip, app, decision.mode);
          if (stillWanted()) {
            connection.rejectPublish(messageStreamId, decision.code === 'AUTH_UNAVAILABLE' ? 'Auth unavailable; try again.' : 'Not authorized.', PUBLISH_UNAUTHORIZED);
          }
          // Each attempt costs a new connection and handshake: guessing keys on one socket is not free.
          connection.end('publish not authorized', 'auth');
          return;
        }
        if (!stillWanted()) return;
        const streamId = streamIdForName(app, decision.playName);
        // In mode none the name may be somebody's real key: outside this process it is only the id.
        const stream = decision.mode === 'none' ? streamId : decision.playName;
        this.#claim(connection, messageStreamId, app, streamId, stream);
      })
      .catch((error: unknown) => {
        // Never an unhandled rejection: that would take the process and every stream down.
        connection.logger.error({ err: (error as Error).message, stack: (error as Error).stack }, 'closing connection: internal error in publish');
        connection.close('internal error');
      });
  }

  #claim(connection: RtmpConnection, messageStreamId: number, app: string, streamId: string, stream: string): void {
    const key = this.#key(app, streamId);
    const log = connection.logger.child({ app, stream: streamId });
    const current = this.#live.get(key);
    if (current && Date.now() - current.lastMediaAt > this.#options.publisherStaleMs) {
      log.warn({ idleMs: Date.now() - current.lastMediaAt }, 'taking over from a stalled publisher on this edge');
      this.#end(current.connection, current.messageStreamId, 'dropped');
      current.connection.close('replaced by a new publisher (stalled)');
    }
    if (this.#live.has(key) || this.#claiming.has(key)) {
      log.warn({}, 'refusing publish: stream is already being published on this edge');
      connection.rejectPublish(messageStreamId, 'Stream is already being published.');
      return;
    }
    this.#claiming.add(key);
    const now = new Date().toISOString();
    const record: LiveStreamRecord = {
      app,
      streamId,
      stream,
      edge: this.#options.edgeId,
      epoch: randomInt(1, 0xffffffff),
      since: now,
      heartbeatAt: now,
    };
    // The claim is a round trip: by the time it resolves, the encoder may have closed the
    // connection or deleted the stream (publish and deleteStream can arrive in one read).
    const stillWanted = () => !connection.closed && connection.session.isPublishPending(messageStreamId);
    this.#options.index
      .claim(record, (owner) => this.#ownerAlive(owner))
      .then(
        (result) => {
          this.#claiming.delete(key);
          if (!stillWanted()) {
            if (result.ok) void this.#release(record, result.revision, log);
            return;
          }
          if (!result.ok) {
            log.warn({ owner: result.owner.edge }, 'refusing publish: stream is live on another edge');
            connection.rejectPublish(messageStreamId, 'Stream is already being published.');
            return;
          }
          this.#start(connection, messageStreamId, record, result.revision, log);
        },
        (error: unknown) => {
          this.#claiming.delete(key);
          log.error({ err: (error as Error).message }, 'refusing publish: stream index unavailable');
          if (stillWanted()) {
            connection.rejectPublish(messageStreamId, 'Stream index unavailable; try again.', 'NetStream.Publish.Failed');
          }
        },
      )
      .catch((error: unknown) => {
        log.error({ err: (error as Error).message, stack: (error as Error).stack }, 'closing connection: internal error in publish');
        connection.close('internal error');
      });
  }

  /**
   * An owner is alive while it answers on the stream's control subject and its publisher is not
   * stalled. No responders means its NATS connection (and so its subscription) is gone. A timeout
   * is taken as alive: refusing a reconnect for a moment is better than two interleaved publishers.
   * A stalled owner learns it lost the stream at its next heartbeat (the CAS fails).
   */
  async #ownerAlive(owner: LiveStreamRecord): Promise<boolean> {
    if (owner.edge === this.#options.edgeId) return false; // not live here (checked first): our leftover
    try {
      const reply = await this.#options.bus.request(controlSubject(owner.app, owner.streamId), Buffer.from('{"op":"ping"}'), { timeoutMs: 1000 });
      const { idleMs } = JSON.parse(Buffer.from(reply.data).toString()) as ControlReply;
      return !(typeof idleMs === 'number' && idleMs > this.#options.publisherStaleMs);
    } catch (error) {
      return !(error instanceof BusError && error.code === 'BUS_ERR_NO_RESPONDERS');
    }
  }

  #start(connection: RtmpConnection, messageStreamId: number, record: LiveStreamRecord, revision: number, log: Logger): void {
    const { app, streamId, epoch } = record;
    const bus = this.#options.bus;
    const published: Published = {
      app,
      streamId,
      stream: record.stream ?? streamId,
      subject: mediaSubject(app, streamId),
      epoch,
      connection,
      messageStreamId,
      seq: 0,
      config: new Map(),
      gop: undefined,
      gopBytes: 0,
      gopStartTs: 0,
      hasVideo: false,
      initResponder: bus.subscribe(initSubject(app, streamId), (m) => {
        if (m.reply) this.#answerInit(published, m.reply, m.data);
      }),
      controlResponder: bus.subscribe(controlSubject(app, streamId), (m) => this.#onControl(published, m.data, m.reply)),
      record,
      revision,
      heartbeat: setInterval(() => void this.#renew(published, log), this.#options.heartbeatMs),
      framesIn: 0,
      bytesIn: 0,
      bytesAtBeat: 0,
      lastMediaAt: Date.now(),
      renewing: false,
      allocFrame: slabAllocFn(),
      health: new StreamHealthTracker(Date.now()),
      metrics: this.#options.streamMetrics?.register(app, record.stream ?? streamId),
      healthState: 'healthy',
      startedSent: false,
    };
    if (!this.#healthTimer) {
      this.#healthTimer = setInterval(() => this.#sampleHealth(), 1000);
      this.#healthTimer.unref();
    }
    published.heartbeat.unref();
    this.#live.set(this.#key(app, streamId), published);
    this.#published(connection).set(messageStreamId, published);
    connection.acceptPublish(messageStreamId);
    const info: StreamStartInfo = { app, streamId, startedAt: record.since, edge: this.#options.edgeId };
    this.#publish(published, FrameKind.Start, 0, 0, 0, Buffer.from(JSON.stringify(info)));
    log.info({ epoch }, 'publish started');
  }

  /**
   * Requests to whichever edge publishes the stream now: `ping` (liveness, for takeovers) and
   * `kick` (control revoked the key or an operator ended the stream).
   */
  #onControl(p: Published, data: Uint8Array, reply: string | undefined): void {
    let request: ControlRequest = { op: 'ping' };
    try {
      const parsed = JSON.parse(Buffer.from(data).toString()) as { op?: unknown; reason?: unknown };
      if (parsed.op === 'kick') request = { op: 'kick', reason: parsed.reason === 'revoked' ? 'revoked' : 'kicked' };
    } catch {
      // Anything unreadable is a ping: it has no effect beyond the answer.
    }
    const bus = this.#options.bus;
    if (request.op === 'kick') {
      const reason = request.reason ?? 'kicked';
      p.connection.logger.child({ app: p.app, stream: p.streamId }).warn({ reason }, 'publisher kicked by control');
      if (reply) bus.publish(reply, encodeJson({ ok: true, edge: this.#options.edgeId, epoch: p.epoch }));
      this.#end(p.connection, p.messageStreamId, reason);
      p.connection.end(reason === 'revoked' ? 'stream key revoked' : 'stream ended by an operator', 'kicked');
      return;
    }
    if (!reply) return;
    const answer: ControlReply = { edge: this.#options.edgeId, epoch: p.epoch, idleMs: Date.now() - p.lastMediaAt };
    bus.publish(reply, encodeJson(answer));
  }

  async #renew(p: Published, log: Logger): Promise<void> {
    if (this.#live.get(this.#key(p.app, p.streamId)) !== p || p.renewing) return;
    p.renewing = true;
    p.record.heartbeatAt = new Date().toISOString();
    try {
      const revision = await this.#options.index.renew(p.record, p.revision);
      if (revision === undefined) {
        log.warn({}, 'ownership lost: another edge took the stream over; closing the publisher');
        p.connection.close('stream taken over by another edge');
        return;
      }
      p.revision = revision;
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'heartbeat failed; retrying at the next interval');
    } finally {
      p.renewing = false;
    }
  }

  async #release(record: LiveStreamRecord, revision: number, log: Logger): Promise<void> {
    try {
      await this.#options.index.release(record.app, record.streamId, revision);
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'could not release the stream in the index; it will expire');
    }
  }

  /** This connection's published streams by message stream id: one lookup per ingested message. */
  #published(connection: RtmpConnection): Map<number, Published> {
    let map = connection.context.get('published') as Map<number, Published> | undefined;
    if (!map) {
      map = new Map();
      connection.context.set('published', map);
    }
    return map;
  }

  #find(connection: RtmpConnection, messageStreamId: number): Published | undefined {
    return this.#published(connection).get(messageStreamId);
  }

  #onMedia(connection: RtmpConnection, messageStreamId: number, message: RtmpMessage, headroom: number): void {
    const p = this.#find(connection, messageStreamId);
    if (!p) return;
    const payload = message.payload;
    const now = Date.now();
    let flags = 0;
    let role: 'meta' | 'video' | 'audio' | undefined;
    if (message.type === MessageType.Video) {
      p.hasVideo = true;
      if (isVideoSequenceHeader(payload)) {
        flags = FrameFlag.Config;
        role = 'video';
        p.record.video = videoCodecName(parseVideoTagHeader(payload));
        p.health.setCodecs(p.record.video, p.record.audio);
      } else if (isVideoKeyframe(payload)) {
        flags = FrameFlag.Keyframe;
      }
      if (!role) p.health.onVideo(message.timestamp, payload.length, flags === FrameFlag.Keyframe, now);
    } else if (message.type === MessageType.Audio) {
      if (isAudioSequenceHeader(payload)) {
        flags = FrameFlag.Config;
        role = 'audio';
        p.record.audio = audioCodecName(parseAudioTagHeader(payload));
        p.health.setCodecs(p.record.video, p.record.audio);
        p.health.onAudio(message.timestamp, 0, audioSampleRate(payload), now);
      } else {
        p.health.onAudio(message.timestamp, payload.length, undefined, now);
      }
    } else if (payload.subarray(0, META_NAME.length).equals(META_NAME)) {
      flags = FrameFlag.Config;
      role = 'meta';
    }
    p.framesIn++;
    p.bytesIn += payload.length;
    p.lastMediaAt = now;
    const parts = this.#publish(p, FrameKind.Media, message.type, flags, message.timestamp, payload, headroom);
    if (!p.startedSent && !role && (message.type === MessageType.Video || message.type === MessageType.Audio)) {
      p.startedSent = true;
      this.#event(p, 'stream.started');
    }
    if (role) {
      // Kept for the stream's life: a copy of its own, so it never pins a slab of older media.
      p.config.set(role, parts.map(ownCopy));
      return;
    }
    this.#cacheGop(p, message, flags, parts);
  }

  #cacheGop(p: Published, message: RtmpMessage, flags: number, parts: Uint8Array[]): void {
    const size = message.payload.length;
    if (flags & FrameFlag.Keyframe) {
      p.gop = parts;
      p.gopBytes = size;
      p.gopStartTs = message.timestamp;
      return;
    }
    // Audio-only streams have no GOP: a joiner starts on the next audio frame after the headers.
    if (!p.gop || !p.hasVideo) return;
    p.gopBytes += size;
    if (p.gopBytes > this.#options.gopCacheBytes || ((message.timestamp - p.gopStartTs) >>> 0) > this.#options.gopCacheMs) {
      // A GOP without its keyframe is useless to a joiner, so drop it whole until the next keyframe.
      p.gop = undefined;
      p.gopBytes = 0;
      return;
    }
    if (parts.length === 1) p.gop.push(parts[0]!);
    else for (const part of parts) p.gop.push(part);
  }

  /** `headroom`: bytes in front of `payload` that are ours to overwrite (the session's media event). */
  #publish(p: Published, kind: FrameKindId, type: number, flags: number, timestamp: number, payload: Uint8Array, headroom = 0): Uint8Array[] {
    const frame: Frame = { kind, messageType: type, flags, epoch: p.epoch, seq: p.seq++, timestamp, payload };
    // Start and End frames are not kept: they need no slab.
    const parts = encodeFrame(frame, this.#options.bus.maxPayload, kind === FrameKind.Media ? p.allocFrame : undefined, headroom);
    const bus = this.#options.bus;
    if (parts.length === 1) bus.publish(p.subject, parts[0]!);
    else for (const part of parts) bus.publish(p.subject, part);
    return parts;
  }

  /**
   * The init snapshot: config frames, then the GOP, sent to the requester's inbox, then the reply
   * that says how many bus messages were sent and the last seq they cover, so the origin can stitch
   * the snapshot to its live subscription without a gap or a duplicate.
   */
  #answerInit(p: Published, reply: string, request: Uint8Array): void {
    let inbox: string | undefined;
    try {
      const parsed = JSON.parse(Buffer.from(request).toString()) as { inbox?: unknown };
      if (typeof parsed.inbox === 'string') inbox = parsed.inbox;
    } catch {
      inbox = undefined;
    }
    if (!inbox) return;
    let messages = 0;
    const send = (parts: Uint8Array[]) => {
      for (const part of parts) {
        this.#options.bus.publish(inbox, part);
        messages++;
      }
    };
    for (const role of ['meta', 'video', 'audio'] as const) {
      const parts = p.config.get(role);
      if (parts) send(parts);
    }
    if (p.gop) send(p.gop);
    const ack = { epoch: p.epoch, lastSeq: p.seq - 1, messages };
    this.#options.bus.publish(reply, Buffer.from(JSON.stringify(ack)));
  }

  #end(connection: RtmpConnection, messageStreamId: number, reason: EndReason): void {
    const p = this.#find(connection, messageStreamId);
    if (!p) return;
    this.#live.delete(this.#key(p.app, p.streamId));
    this.#published(connection).delete(messageStreamId);
    clearInterval(p.heartbeat);
    p.initResponder.unsubscribe();
    p.controlResponder.unsubscribe();
    // Origins keep players through a 'dropped' end; a kick ends the stream for them too.
    const wireReason = reason === 'dropped' ? 'dropped' : 'unpublished';
    this.#publish(p, FrameKind.End, 0, 0, 0, Buffer.from(JSON.stringify({ reason: wireReason })));
    this.#endedBytes += p.bytesIn - p.bytesAtBeat;
    p.health.markOffline();
    this.#takeSample(p, Date.now());
    // A session that ended before any media still announces both, in order.
    if (!p.startedSent) this.#event(p, 'stream.started');
    this.#event(p, 'stream.ended', { reason });
    const log = connection.logger.child({ app: p.app, stream: p.streamId });
    log.info({ reason, frames: p.framesIn, bytes: p.bytesIn }, 'publish ended');
    void this.#release(p.record, p.revision, log);
  }
}

function ownCopy(part: Uint8Array): Uint8Array {
  const copy = Buffer.allocUnsafeSlow(part.byteLength);
  copy.set(part);
  return copy;
}

function noneDecision(name: string): PublishDecision {
  const q = name.indexOf('?');
  return { ok: true, playName: q === -1 ? name : name.slice(0, q), mode: 'none' };
}
