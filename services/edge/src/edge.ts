import { randomInt } from 'node:crypto';
import {
  BusError,
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
  isAudioSequenceHeader,
  isVideoKeyframe,
  isVideoSequenceHeader,
  parseAudioTagHeader,
  parseVideoTagHeader,
  videoCodecName,
} from '@firstmile/flv';
import type { Logger } from '@firstmile/observability';
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
}

/** Why a publisher session ended; origins keep players attached through a 'dropped' end for a while. */
export type EndReason = 'unpublished' | 'dropped';

interface Published {
  readonly app: string;
  readonly streamId: string;
  readonly subject: string;
  readonly epoch: number;
  readonly connection: RtmpConnection;
  readonly messageStreamId: number;
  seq: number;
  /** Bus payloads of the latest metadata and sequence headers, by role. */
  readonly config: Map<'meta' | 'video' | 'audio', Uint8Array[]>;
  /** Bus payloads from the last keyframe on; undefined while no complete GOP fits the caps. */
  gop: Uint8Array[][] | undefined;
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
  lastMediaAt: number;
  /** A renewal retries through leader elections for longer than the heartbeat: one at a time. */
  renewing: boolean;
  /** This stream's frame memory (see SlabAllocator). */
  readonly allocFrame: (size: number) => Buffer;
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

  constructor(options: EdgeOptions) {
    this.#options = options;
  }

  get liveStreams(): number {
    return this.#live.size;
  }

  onEvent(connection: RtmpConnection, event: SessionEvent): void {
    switch (event.type) {
      case 'publish':
        this.#onPublish(connection, event.streamId, event.name);
        return;
      case 'media':
        this.#onMedia(connection, event.streamId, event.message);
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
    for (const p of [...this.#live.values()]) p.connection.end('edge shutting down');
  }

  #key(app: string, streamId: string): string {
    return `${app}/${streamId}`;
  }

  #onPublish(connection: RtmpConnection, messageStreamId: number, name: string): void {
    const app = (connection.context.get('app') as string | undefined) ?? '';
    const streamId = streamIdForName(app, name);
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
        // Never an unhandled rejection: that would take the process and every stream down.
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
      controlResponder: bus.subscribe(controlSubject(app, streamId), (m) => {
        if (!m.reply) return;
        const reply: ControlReply = { edge: this.#options.edgeId, epoch, idleMs: Date.now() - published.lastMediaAt };
        bus.publish(m.reply, Buffer.from(JSON.stringify(reply)));
      }),
      record,
      revision,
      heartbeat: setInterval(() => void this.#renew(published, log), this.#options.heartbeatMs),
      framesIn: 0,
      bytesIn: 0,
      lastMediaAt: Date.now(),
      renewing: false,
      allocFrame: slabAllocFn(),
    };
    published.heartbeat.unref();
    this.#live.set(this.#key(app, streamId), published);
    this.#published(connection).set(messageStreamId, published);
    connection.acceptPublish(messageStreamId);
    const info: StreamStartInfo = { app, streamId, startedAt: record.since, edge: this.#options.edgeId };
    this.#publish(published, FrameKind.Start, 0, 0, 0, Buffer.from(JSON.stringify(info)));
    log.info({ epoch }, 'publish started');
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

  #onMedia(connection: RtmpConnection, messageStreamId: number, message: RtmpMessage): void {
    const p = this.#find(connection, messageStreamId);
    if (!p) return;
    const payload = message.payload;
    let flags = 0;
    let role: 'meta' | 'video' | 'audio' | undefined;
    if (message.type === MessageType.Video) {
      p.hasVideo = true;
      if (isVideoSequenceHeader(payload)) {
        flags = FrameFlag.Config;
        role = 'video';
        p.record.video = videoCodecName(parseVideoTagHeader(payload));
      } else if (isVideoKeyframe(payload)) {
        flags = FrameFlag.Keyframe;
      }
    } else if (message.type === MessageType.Audio) {
      if (isAudioSequenceHeader(payload)) {
        flags = FrameFlag.Config;
        role = 'audio';
        p.record.audio = audioCodecName(parseAudioTagHeader(payload));
      }
    } else if (payload.subarray(0, META_NAME.length).equals(META_NAME)) {
      flags = FrameFlag.Config;
      role = 'meta';
    }
    p.framesIn++;
    p.bytesIn += payload.length;
    p.lastMediaAt = Date.now();
    const parts = this.#publish(p, FrameKind.Media, message.type, flags, message.timestamp, payload);
    if (role) {
      p.config.set(role, parts);
      return;
    }
    this.#cacheGop(p, message, flags, parts);
  }

  #cacheGop(p: Published, message: RtmpMessage, flags: number, parts: Uint8Array[]): void {
    const size = message.payload.length;
    if (flags & FrameFlag.Keyframe) {
      p.gop = [parts];
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
    p.gop.push(parts);
  }

  #publish(p: Published, kind: FrameKindId, type: number, flags: number, timestamp: number, payload: Uint8Array): Uint8Array[] {
    const frame: Frame = { kind, messageType: type, flags, epoch: p.epoch, seq: p.seq++, timestamp, payload };
    const parts = encodeFrame(frame, this.#options.bus.maxPayload, p.allocFrame);
    for (const part of parts) this.#options.bus.publish(p.subject, part);
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
    for (const parts of p.gop ?? []) send(parts);
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
    this.#publish(p, FrameKind.End, 0, 0, 0, Buffer.from(JSON.stringify({ reason })));
    const log = connection.logger.child({ app: p.app, stream: p.streamId });
    log.info({ reason, frames: p.framesIn, bytes: p.bytesIn }, 'publish ended');
    void this.#release(p.record, p.revision, log);
  }
}
