import { encodeAmf0, type AmfValue } from '@firstmile/amf';
import { ChunkDecoder, ChunkEncoder, type ChunkDecoderOptions } from '../chunk/index.ts';
import { RtmpError } from '../errors.ts';
import { ServerHandshake } from '../handshake/index.ts';
import { decodeCommand, encodeCommand, onStatus, type Command, type StatusInfo } from '../message/command.ts';
import { AcknowledgementWindow, splitAggregate } from '../message/aggregate.ts';
import * as control from '../message/control.ts';
import { ChunkStreamId, MessageType, type RtmpMessage } from '../message/types.ts';

/**
 * Chunk streams the fan-out path writes on. Shared media bytes always start with a fmt 0 header,
 * and the session's own compressing encoder never touches these ids, so one player's header
 * decompression state never depends on which messages it was sent.
 */
export const MediaChunkStream = {
  Data: ChunkStreamId.Data,
  Audio: ChunkStreamId.Audio,
  Video: ChunkStreamId.Video,
} as const;

export interface ServerSessionOptions {
  /** Our outbound chunk size, announced with SetChunkSize when connect is accepted. */
  chunkSize: number;
  /** Window Acknowledgement Size we ask the peer to use. */
  windowAcknowledgementSize: number;
  /** Set Peer Bandwidth we announce (dynamic limit). */
  peerBandwidth: number;
  /** NetStreams one connection may create. */
  maxStreams: number;
  /**
   * Chunk decoder limits and payload memory. Unless given here, media payloads get
   * MEDIA_PAYLOAD_HEADROOM bytes of headroom and come from per-connection 64 KiB slabs.
   */
  decoder: Partial<ChunkDecoderOptions>;
  randomBytes?: (n: number) => Buffer;
  now?: () => number;
}

/**
 * Free bytes in front of every media payload a ServerSession hands up: room for firstmile's 20-byte
 * bus frame header, so the edge turns a message into a bus frame without copying it again.
 */
export const MEDIA_PAYLOAD_HEADROOM = 20;

const DEFAULT_DECODER_OPTIONS: Readonly<Partial<ChunkDecoderOptions>> = Object.freeze({
  payloadHeadroom: MEDIA_PAYLOAD_HEADROOM,
  // A publisher's GOP spans a few slabs; a player never sends media, so it never gets one.
  payloadSlabSize: 64 * 1024,
});

export const DEFAULT_SERVER_SESSION_OPTIONS: Readonly<ServerSessionOptions> = Object.freeze({
  chunkSize: 4096, // nginx-rtmp's default; every client handles it
  windowAcknowledgementSize: 2_500_000,
  peerBandwidth: 2_500_000,
  maxStreams: 8,
  decoder: DEFAULT_DECODER_OPTIONS,
});

export interface ConnectInfo {
  transactionId: number;
  /** The application name, without any query string. */
  app: string;
  /** The query string that followed the app name (tokens live here), without '?'. */
  appQuery: string;
  tcUrl: string | undefined;
  flashVer: string | undefined;
  objectEncoding: number;
}

/** What a ServerSession raises; the application answers with the accept/reject methods. */
export type SessionEvent =
  | { type: 'connect'; connect: ConnectInfo }
  | { type: 'publish'; streamId: number; name: string; query: string; publishType: string }
  | { type: 'unpublish'; streamId: number }
  | { type: 'play'; streamId: number; name: string; query: string; start: number; reset: boolean }
  | { type: 'stop'; streamId: number }
  /**
   * Audio (8), video (9) or data (18) from a publishing stream; metadata arrives as AMF0 onMetaData.
   * `headroom` bytes in front of `message.payload` (in its ArrayBuffer) belong to this message
   * alone: the application may overwrite them, e.g. with a header, and forward both in one buffer.
   */
  | { type: 'media'; streamId: number; message: RtmpMessage; headroom: number }
  | { type: 'receive'; streamId: number; audio?: boolean; video?: boolean }
  | { type: 'pause'; streamId: number; paused: boolean };

export interface PushResult {
  events: SessionEvent[];
  /** Bytes to send to the peer, in order. */
  output: Buffer[];
}

type StreamState = 'idle' | 'publish-pending' | 'publishing' | 'play-pending' | 'playing';

interface NetStream {
  state: StreamState;
}

const SET_DATA_FRAME = Buffer.from('@setDataFrame');

// Most pushes raise no output (and many no event): hand back these instead of fresh empty arrays.
const NO_EVENTS: SessionEvent[] = Object.freeze([]) as unknown as SessionEvent[];
const NO_OUTPUT: Buffer[] = Object.freeze([]) as unknown as Buffer[];

/**
 * The server side of one RTMP connection, sans-I/O: bytes in, events and bytes out. It runs the
 * handshake, the chunk stream (protocol control is applied inside the chunk layer), the
 * NetConnection/NetStream commands, acknowledgements and pings; the application decides only what
 * the protocol leaves to it (whether to accept a connect, publish or play).
 */
export class ServerSession {
  readonly #options: ServerSessionOptions;
  #handshake: ServerHandshake | undefined;
  readonly #decoder: ChunkDecoder;
  readonly #encoder = new ChunkEncoder(128);
  #out: Buffer[] = NO_OUTPUT;
  #events: SessionEvent[] = NO_EVENTS;
  /** Headroom the decoder leaves in front of media payloads (see ChunkDecoderOptions). */
  readonly #headroom: number;
  #connected = false;
  #connectPending: ConnectInfo | undefined;
  #objectEncoding = 0;
  #nextStreamId = 1;
  readonly #streams = new Map<number, NetStream>();
  readonly #ack = new AcknowledgementWindow();

  constructor(options: Partial<ServerSessionOptions> = {}) {
    this.#options = { ...DEFAULT_SERVER_SESSION_OPTIONS, ...options };
    this.#handshake = new ServerHandshake({
      ...(this.#options.randomBytes ? { randomBytes: this.#options.randomBytes } : {}),
      ...(this.#options.now ? { now: this.#options.now } : {}),
    });
    const decoder = { ...DEFAULT_DECODER_OPTIONS, ...options.decoder };
    this.#decoder = new ChunkDecoder(decoder);
    this.#headroom = decoder.payloadHeadroom ?? 0;
  }

  get handshakeDone(): boolean {
    return this.#handshake === undefined;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Our outbound chunk size once connect was accepted (the fan-out encodes with it). */
  get chunkSize(): number {
    return this.#encoder.chunkSize;
  }

  get bytesReceived(): number {
    return this.#decoder.bytesReceived;
  }

  /** Feed bytes read from the socket. Throws RtmpError on a protocol violation (close the connection). */
  push(data: Buffer): PushResult {
    let rest: Buffer = data;
    if (this.#handshake) {
      const hs = this.#handshake.push(data);
      for (const b of hs.output) this.#send(b);
      if (!hs.done) return this.#take();
      this.#handshake = undefined;
      rest = hs.remainder;
      if (rest.length === 0) return this.#take();
    }
    for (const message of this.#decoder.push(rest)) this.#onMessage(message);
    this.#maybeAcknowledge();
    return this.#take();
  }

  acceptConnect(): Buffer[] {
    const info = this.#requirePendingConnect();
    this.#connected = true;
    this.#objectEncoding = info.objectEncoding;
    this.#send(control.windowAcknowledgementSize(this.#options.windowAcknowledgementSize));
    this.#send(control.setPeerBandwidth(this.#options.peerBandwidth, 2));
    // SetChunkSize travels at the old size; only the messages after it use the new one.
    this.#send(control.setChunkSize(this.#options.chunkSize));
    this.#encoder.setChunkSize(this.#options.chunkSize);
    this.#send(
      encodeCommand(
        0,
        '_result',
        info.transactionId,
        { fmsVer: 'FMS/3,5,7,7009', capabilities: 31, mode: 1 },
        {
          level: 'status',
          code: 'NetConnection.Connect.Success',
          description: 'Connection succeeded.',
          objectEncoding: this.#objectEncoding,
        },
      ),
    );
    return this.#take().output;
  }

  rejectConnect(description: string): Buffer[] {
    const info = this.#requirePendingConnect();
    this.#send(
      encodeCommand(0, '_error', info.transactionId, null, {
        level: 'error',
        code: 'NetConnection.Connect.Rejected',
        description,
      }),
    );
    return this.#take().output;
  }

  acceptPublish(streamId: number): Buffer[] {
    const stream = this.#requireState(streamId, 'publish-pending');
    stream.state = 'publishing';
    this.#send(control.streamBegin(streamId));
    this.#status(streamId, { level: 'status', code: 'NetStream.Publish.Start', description: 'Stream is now published.' });
    return this.#take().output;
  }

  /** Refuse a publish (default NetStream.Publish.BadName, what encoders expect for a busy or bad key). */
  rejectPublish(streamId: number, description: string, code = 'NetStream.Publish.BadName'): Buffer[] {
    const stream = this.#requireState(streamId, 'publish-pending');
    stream.state = 'idle';
    this.#status(streamId, { level: 'error', code, description });
    return this.#take().output;
  }

  acceptPlay(streamId: number, reset: boolean): Buffer[] {
    const stream = this.#requireState(streamId, 'play-pending');
    stream.state = 'playing';
    this.#send(control.streamBegin(streamId));
    if (reset) {
      this.#status(streamId, { level: 'status', code: 'NetStream.Play.Reset', description: 'Playing and resetting stream.' });
    }
    this.#status(streamId, { level: 'status', code: 'NetStream.Play.Start', description: 'Started playing stream.' });
    // Flash players refuse to expose sample data to scripts without |RtmpSampleAccess.
    this.#send(dataMessage(streamId, ['|RtmpSampleAccess', true, true]));
    this.#send(dataMessage(streamId, ['onStatus', { code: 'NetStream.Data.Start' }]));
    return this.#take().output;
  }

  rejectPlay(streamId: number, description: string, code = 'NetStream.Play.StreamNotFound'): Buffer[] {
    const stream = this.#requireState(streamId, 'play-pending');
    stream.state = 'idle';
    this.#status(streamId, { level: 'error', code, description });
    return this.#take().output;
  }

  /** onStatus on a stream, e.g. NetStream.Play.UnpublishNotify / PublishNotify. */
  status(streamId: number, info: StatusInfo): Buffer[] {
    this.#status(streamId, info);
    return this.#take().output;
  }

  streamBegin(streamId: number): Buffer[] {
    this.#send(control.streamBegin(streamId));
    return this.#take().output;
  }

  streamEof(streamId: number): Buffer[] {
    this.#send(control.streamEof(streamId));
    return this.#take().output;
  }

  /** A publish on this stream waits for acceptPublish/rejectPublish (it may have been deleted meanwhile). */
  isPublishPending(streamId: number): boolean {
    return this.#streams.get(streamId)?.state === 'publish-pending';
  }

  /** A play on this stream waits for acceptPlay/rejectPlay (auth is a round trip; it may be gone). */
  isPlayPending(streamId: number): boolean {
    return this.#streams.get(streamId)?.state === 'play-pending';
  }

  isPlaying(streamId: number): boolean {
    return this.#streams.get(streamId)?.state === 'playing';
  }

  #take(): PushResult {
    const result = { events: this.#events, output: this.#out };
    this.#events = NO_EVENTS;
    this.#out = NO_OUTPUT;
    return result;
  }

  #send(message: RtmpMessage | Buffer): void {
    if (this.#out === NO_OUTPUT) this.#out = [];
    this.#out.push(Buffer.isBuffer(message) ? message : this.#encoder.encode(message));
  }

  #raise(event: SessionEvent): void {
    if (this.#events === NO_EVENTS) this.#events = [];
    this.#events.push(event);
  }

  #status(streamId: number, info: StatusInfo): void {
    this.#send({ ...onStatus(streamId, info), chunkStreamId: ChunkStreamId.Command });
  }

  #requirePendingConnect(): ConnectInfo {
    const info = this.#connectPending;
    if (!info) throw new RtmpError('RTMP_ERR_PROTOCOL', 'no connect is pending');
    this.#connectPending = undefined;
    return info;
  }

  #requireState(streamId: number, state: StreamState): NetStream {
    const stream = this.#streams.get(streamId);
    if (!stream || stream.state !== state) {
      throw new RtmpError('RTMP_ERR_PROTOCOL', `stream ${streamId} is not ${state}`);
    }
    return stream;
  }

  #maybeAcknowledge(): void {
    const sequence = this.#ack.due(this.#decoder.bytesReceived);
    if (sequence !== undefined) this.#send(control.acknowledgement(sequence));
  }

  #onMessage(message: RtmpMessage): void {
    switch (message.type) {
      case MessageType.Audio:
      case MessageType.Video: {
        this.#onMedia(message, message.payload.length > 0 ? this.#headroom : 0);
        return;
      }
      case MessageType.DataAmf0:
      case MessageType.DataAmf3: {
        this.#onData(message, true);
        return;
      }
      case MessageType.CommandAmf0:
      case MessageType.CommandAmf3: {
        this.#onCommand(message, decodeCommand(message));
        return;
      }
      case MessageType.WindowAcknowledgementSize: {
        const c = control.parseControlMessage(message);
        if (c.kind === 'WindowAcknowledgementSize') this.#ack.window = c.size;
        return;
      }
      case MessageType.UserControl: {
        const c = control.parseControlMessage(message);
        if (c.kind === 'UserControl' && c.event === control.UserControlEvent.PingRequest) {
          this.#send(control.pingResponse(c.timestamp ?? 0));
        }
        return;
      }
      case MessageType.Aggregate: {
        this.#onAggregate(message);
        return;
      }
      default: {
        // SetChunkSize and Abort are applied by the chunk layer; Acknowledgement, SetPeerBandwidth
        // and shared objects need nothing from a live ingest server.
        return;
      }
    }
  }

  #onMedia(message: RtmpMessage, headroom: number): void {
    const stream = this.#streams.get(message.messageStreamId);
    if (stream?.state !== 'publishing') return;
    this.#raise({ type: 'media', streamId: message.messageStreamId, message, headroom });
  }

  #onAggregate(message: RtmpMessage): void {
    const stream = this.#streams.get(message.messageStreamId);
    if (stream?.state !== 'publishing') return;
    for (const sub of splitAggregate(message)) {
      // Sub-messages are views of the aggregate: the bytes before each are the previous one's.
      if (sub.type === MessageType.Audio || sub.type === MessageType.Video) this.#onMedia(sub, 0);
      else if (sub.type === MessageType.DataAmf0) this.#onData(sub, false);
    }
  }

  #onData(message: RtmpMessage, ownsHeadroom: boolean): void {
    const stream = this.#streams.get(message.messageStreamId);
    if (stream?.state !== 'publishing') return;
    let body = message.type === MessageType.DataAmf3 ? message.payload.subarray(1) : message.payload;
    // "@setDataFrame" asks the server to keep the following data as the stream's metadata; players
    // must receive it without that first value, byte for byte as the publisher wrote the rest.
    const first = readAmf0String(body, 0);
    if (first && first.value.equals(SET_DATA_FRAME)) body = body.subarray(first.end);
    else if (first && first.value.toString() === '@clearDataFrame') return;
    if (!readAmf0String(body, 0)) return;
    const payload = message.payload;
    this.#raise({
      type: 'media',
      streamId: message.messageStreamId,
      message: {
        chunkStreamId: MediaChunkStream.Data,
        messageStreamId: message.messageStreamId,
        type: MessageType.DataAmf0,
        timestamp: message.timestamp,
        payload: body,
      },
      // What was sliced off the front (@setDataFrame, the AMF3 marker) is headroom too.
      headroom: ownsHeadroom && payload.length > 0 ? this.#headroom + body.byteOffset - payload.byteOffset : 0,
    });
  }

  #onCommand(message: RtmpMessage, cmd: Command): void {
    if (cmd.name === 'connect') {
      this.#onConnect(cmd);
      return;
    }
    if (!this.#connected) {
      throw new RtmpError('RTMP_ERR_PROTOCOL', `command ${JSON.stringify(cmd.name.slice(0, 32))} before connect`);
    }
    const streamId = message.messageStreamId;
    switch (cmd.name) {
      case 'createStream': {
        if (this.#streams.size >= this.#options.maxStreams) {
          this.#send(encodeCommand(0, '_error', cmd.transactionId, null, {
            level: 'error',
            code: 'NetConnection.Call.Failed',
            description: `at most ${this.#options.maxStreams} streams per connection`,
          }));
          return;
        }
        const id = this.#nextStreamId++;
        this.#streams.set(id, { state: 'idle' });
        this.#send(encodeCommand(0, '_result', cmd.transactionId, null, id));
        return;
      }
      case 'releaseStream':
      case 'FCPublish':
      case 'FCUnpublish':
      case 'getStreamLength':
      case '_checkbw': {
        // Flash Media Server answers these; encoders (FMLE, OBS, ffmpeg) send them and some wait.
        if (cmd.name === 'FCUnpublish') this.#endPublishing();
        if (cmd.transactionId > 0) {
          this.#send(encodeCommand(0, '_result', cmd.transactionId, null, cmd.name === 'getStreamLength' ? 0 : null));
        }
        if (cmd.name === 'FCPublish') {
          this.#send(encodeCommand(0, 'onFCPublish', 0, null, { code: 'NetStream.Publish.Start', description: 'FCPublish' }));
        }
        return;
      }
      case 'publish': {
        const stream = this.#streamFor(streamId, cmd);
        if (!stream || stream.state !== 'idle') return;
        const raw = cmd.args[0];
        if (typeof raw !== 'string' || raw.length === 0) {
          this.#status(streamId, { level: 'error', code: 'NetStream.Publish.BadName', description: 'publish needs a stream name' });
          return;
        }
        const publishType = typeof cmd.args[1] === 'string' ? cmd.args[1] : 'live';
        stream.state = 'publish-pending';
        const [name, query] = splitQuery(raw);
        this.#raise({ type: 'publish', streamId, name, query, publishType });
        return;
      }
      case 'play': {
        const stream = this.#streamFor(streamId, cmd);
        if (!stream || stream.state !== 'idle') return;
        const raw = cmd.args[0];
        if (typeof raw !== 'string' || raw.length === 0) {
          this.#status(streamId, { level: 'error', code: 'NetStream.Play.StreamNotFound', description: 'play needs a stream name' });
          return;
        }
        const start = typeof cmd.args[1] === 'number' ? cmd.args[1] : -2;
        const reset = cmd.args[3] === undefined ? true : cmd.args[3] !== false && cmd.args[3] !== 0;
        stream.state = 'play-pending';
        const [name, query] = splitQuery(raw);
        this.#raise({ type: 'play', streamId, name, query, start, reset });
        return;
      }
      case 'deleteStream': {
        const id = typeof cmd.args[0] === 'number' ? cmd.args[0] : streamId;
        this.#closeStream(id);
        this.#streams.delete(id);
        return;
      }
      case 'closeStream': {
        this.#closeStream(streamId);
        return;
      }
      case 'receiveAudio':
      case 'receiveVideo': {
        if (!this.#streams.has(streamId)) return;
        const on = cmd.args[0] !== false;
        this.#raise(cmd.name === 'receiveAudio' ? { type: 'receive', streamId, audio: on } : { type: 'receive', streamId, video: on });
        return;
      }
      case 'pause': {
        if (!this.#streams.has(streamId)) return;
        this.#raise({ type: 'pause', streamId, paused: cmd.args[0] !== false });
        return;
      }
      default:
        return;
    }
  }

  #onConnect(cmd: Command): void {
    if (this.#connected || this.#connectPending) {
      throw new RtmpError('RTMP_ERR_PROTOCOL', 'second connect on one connection');
    }
    const obj = isObject(cmd.commandObject) ? cmd.commandObject : {};
    const rawApp = typeof obj['app'] === 'string' ? obj['app'] : '';
    const [app, appQuery] = splitQuery(trimTrailingSlashes(rawApp));
    const objectEncoding = obj['objectEncoding'] === 3 ? 3 : 0;
    const info: ConnectInfo = {
      transactionId: cmd.transactionId,
      app,
      appQuery,
      tcUrl: typeof obj['tcUrl'] === 'string' ? obj['tcUrl'] : undefined,
      flashVer: typeof obj['flashVer'] === 'string' ? obj['flashVer'] : undefined,
      objectEncoding,
    };
    this.#connectPending = info;
    this.#raise({ type: 'connect', connect: info });
  }

  #streamFor(streamId: number, cmd: Command): NetStream | undefined {
    const stream = this.#streams.get(streamId);
    if (!stream) {
      this.#send(encodeCommand(0, '_error', cmd.transactionId, null, {
        level: 'error',
        code: 'NetConnection.Call.Failed',
        description: `${cmd.name} on a stream that was not created`,
      }));
    }
    return stream;
  }

  #endPublishing(): void {
    for (const [id, s] of this.#streams) if (s.state === 'publishing' || s.state === 'publish-pending') this.#closeStream(id);
  }

  #closeStream(streamId: number): void {
    const stream = this.#streams.get(streamId);
    if (!stream) return;
    if (stream.state === 'publishing' || stream.state === 'publish-pending') {
      this.#raise({ type: 'unpublish', streamId });
      if (stream.state === 'publishing') {
        this.#status(streamId, { level: 'status', code: 'NetStream.Unpublish.Success', description: 'Stream is now unpublished.' });
      }
    } else if (stream.state === 'playing' || stream.state === 'play-pending') {
      this.#raise({ type: 'stop', streamId });
    }
    stream.state = 'idle';
  }
}

function dataMessage(messageStreamId: number, values: AmfValue[]): RtmpMessage {
  return {
    chunkStreamId: ChunkStreamId.Command,
    messageStreamId,
    type: MessageType.DataAmf0,
    timestamp: 0,
    payload: encodeAmf0(values),
  };
}

function isObject(v: AmfValue): v is Record<string, AmfValue> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && Object.getPrototypeOf(v) === Object.prototype;
}

/** Linear on purpose: /\/+$/ backtracks quadratically on a long run of slashes from a peer. */
function trimTrailingSlashes(value: string): string {
  let end = value.length;
  while (end > 0 && value.charCodeAt(end - 1) === 0x2f) end--;
  return value.slice(0, end);
}

function splitQuery(raw: string): [string, string] {
  const q = raw.indexOf('?');
  return q < 0 ? [raw, ''] : [raw.slice(0, q), raw.slice(q + 1)];
}

/** An AMF0 string (marker 0x02, u16 length) at `offset`, as a view; undefined if there is none. */
function readAmf0String(buf: Buffer, offset: number): { value: Buffer; end: number } | undefined {
  if (buf.length < offset + 3 || buf[offset] !== 0x02) return undefined;
  const len = buf.readUInt16BE(offset + 1);
  const end = offset + 3 + len;
  if (end > buf.length) return undefined;
  return { value: buf.subarray(offset + 3, end), end };
}
