import { AmfError, EcmaArray, decodeAmf0, encodeAmf0, type AmfValue } from '@firstmile/amf';
import { ChunkDecoder, ChunkEncoder, type ChunkDecoderOptions } from '../chunk/index.ts';
import { RtmpError } from '../errors.ts';
import { ClientHandshake } from '../handshake/index.ts';
import { COMMAND_AMF_LIMITS, decodeCommand, type Command } from '../message/command.ts';
import { AcknowledgementWindow, splitAggregate } from '../message/aggregate.ts';
import * as control from '../message/control.ts';
import { ChunkStreamId, MessageType, type RtmpMessage } from '../message/types.ts';

export interface ClientSessionOptions {
  /** Application name sent in connect (the first path segment of the URL, query string included). */
  app: string;
  /** tcUrl sent in connect, e.g. rtmp://host/app. */
  tcUrl: string;
  /** flashVer sent in connect. Default 'FMLE/3.0 (compatible; firstmile)'. */
  flashVer?: string;
  /** Our outbound chunk size, announced right after connect succeeds. Default 4096. */
  chunkSize?: number;
  /** Send a digest-form C1 and verify the server's S1/S2 (like Flash Player). Default false. */
  digestHandshake?: boolean;
  /**
   * 0 (default): commands are AMF0 messages (type 20). 3: connect carries objectEncoding 3 and every
   * command goes as type 17 (a 0 format byte followed by AMF0), as Flash Player does with AMF3.
   */
  objectEncoding?: 0 | 3;
  /** Extra properties for the connect command object (e.g. swfUrl, pageUrl, capabilities). */
  connectProperties?: Record<string, AmfValue>;
  /** When set, play() also sends User Control SetBufferLength with this many ms (as ffmpeg does). */
  bufferLengthMs?: number;
  /** Limits for what the server may make our chunk decoder hold. */
  decoder?: Partial<ChunkDecoderOptions>;
  randomBytes?: (n: number) => Buffer;
  now?: () => number;
}

/** What a ClientSession raises from the server's bytes. */
export type ClientEvent =
  /** connect was answered with _result; `info` is its information object (code NetConnection.Connect.Success). */
  | { type: 'connected'; info: AmfValue; properties: AmfValue }
  /** createStream was answered: `streamId` is usable for publish/play. */
  | { type: 'ready'; streamId: number }
  /** onStatus on any stream (NetStream.* or NetConnection.*). */
  | { type: 'status'; streamId: number; code: string; level: string; description: string; info: AmfValue }
  | { type: 'publishStart'; streamId: number }
  | { type: 'playStart'; streamId: number }
  /**
   * Audio (8), video (9) or data (18, e.g. onMetaData) on a stream. `payload` is a view of the
   * pushed Buffer when the message arrived in one chunk of one push (copy it to keep it long).
   */
  | { type: 'media'; streamId: number; messageType: 8 | 9 | 18; timestamp: number; payload: Buffer }
  /** Data messages the server sends as protocol chatter: |RtmpSampleAccess, onStatus (NetStream.Data.Start). */
  | { type: 'data'; streamId: number; name: string; values: AmfValue[] }
  /** User Control from the server (StreamBegin, StreamEOF, PingRequest...; pings are answered automatically). */
  | { type: 'userControl'; event: number; streamId?: number; timestamp?: number; bufferLength?: number }
  /** _error answering one of our commands; `command` is the name of the command it answers. */
  | { type: 'error'; command: string; transactionId: number; info: AmfValue }
  /** _result answering a command sent with call() (connect and createStream raise connected/ready instead). */
  | { type: 'result'; command: string; transactionId: number; values: AmfValue[] }
  /** Any other command from the server (onFCPublish, onBWDone, ...). */
  | { type: 'command'; streamId: number; command: Command }
  /**
   * The NetConnection is over at the protocol level: connect was rejected (_error on connect), or
   * the server sent NetConnection.Connect.Closed / Rejected. The socket layer should close.
   */
  | { type: 'closed'; reason: string };

export interface ClientPushResult {
  events: ClientEvent[];
  /** Bytes to send to the server, in order. */
  output: Buffer[];
}

type Phase = 'idle' | 'handshake' | 'connecting' | 'connected' | 'closed';

type Intent =
  | { kind: 'publish'; name: string; publishType: string }
  | { kind: 'play'; name: string; start: number };

const DEFAULT_FLASH_VER = 'FMLE/3.0 (compatible; firstmile)';
/** Chunk stream ids: commands 3, stream commands 8 (like FFmpeg), media 4/6/5. */
const CSID_STREAM_COMMAND = 8;

const AMF_RTMP_SAMPLE_ACCESS = Buffer.from('\x02\x00\x11|RtmpSampleAccess', 'latin1');
const AMF_ON_STATUS = Buffer.from('\x02\x00\x08onStatus', 'latin1');

/**
 * The client side of one RTMP connection, sans-I/O like ServerSession: bytes in, events and bytes
 * out, no sockets and no timers. Used by tests and by the load generator (hundreds per process),
 * so it keeps little state: one handshake, one chunk decoder and encoder, a few counters.
 *
 * Flow: start() returns C0+C1. push() the server's bytes; once the handshake is done the session
 * sends connect (app, tcUrl, flashVer, type 'nonprivate', objectEncoding) on its own. When connect
 * succeeds ('connected') it sends SetChunkSize and createStream; the answer raises 'ready' with
 * the stream id. publish() and play() may be called at any time after construction: called before
 * 'ready' they are queued (they return no bytes) and their commands go out in the output of the
 * push() that completes createStream. Then 'publishStart' / 'playStart' (with 'status' events)
 * follow. A publisher sends media with sendMedia() and setDataFrame(), which throw until the
 * publish command has actually gone out (not while it is queued); servers drop media that arrives
 * before NetStream.Publish.Start, so wait for 'publishStart'. deleteStream() ends the session's
 * stream; createStream() then makes a new one for the next publish()/play().
 *
 * Protocol chores are automatic: Acknowledgement once the server's window is reached,
 * WindowAcknowledgementSize in answer to SetPeerBandwidth, PingResponse to PingRequest. Every
 * protocol violation by the server throws RtmpError (close the connection).
 */
export class ClientSession {
  readonly #app: string;
  readonly #tcUrl: string;
  readonly #flashVer: string;
  readonly #chunkSize: number;
  readonly #objectEncoding: 0 | 3;
  readonly #connectProperties: Record<string, AmfValue> | undefined;
  readonly #bufferLengthMs: number | undefined;
  #handshake: ClientHandshake | undefined;
  readonly #decoder: ChunkDecoder;
  readonly #encoder = new ChunkEncoder(128);
  #phase: Phase = 'idle';
  #out: Buffer[] = [];
  #events: ClientEvent[] = [];
  #nextTransaction = 1;
  /** Our commands awaiting _result/_error, by transaction id. */
  readonly #pending = new Map<number, string>();
  #streamId = 0;
  #createStreamTx = 0;
  #queued: Intent[] = [];
  #publishing = false;
  readonly #ack = new AcknowledgementWindow();
  #announcedWindow = 0;

  constructor(options: ClientSessionOptions) {
    this.#app = options.app;
    this.#tcUrl = options.tcUrl;
    this.#flashVer = options.flashVer ?? DEFAULT_FLASH_VER;
    this.#chunkSize = options.chunkSize ?? 4096;
    if (!Number.isInteger(this.#chunkSize) || this.#chunkSize < 1 || this.#chunkSize > 0x7fffffff) {
      throw new RangeError(`chunkSize must be an integer in 1..2147483647, got ${this.#chunkSize}`);
    }
    this.#objectEncoding = options.objectEncoding ?? 0;
    this.#connectProperties = options.connectProperties;
    this.#bufferLengthMs = options.bufferLengthMs;
    this.#handshake = new ClientHandshake({
      digest: options.digestHandshake ?? false,
      ...(options.randomBytes ? { randomBytes: options.randomBytes } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
    this.#decoder = new ChunkDecoder(options.decoder);
  }

  /** True once connect succeeded (until a 'closed' event). */
  get connected(): boolean {
    return this.#phase === 'connected';
  }

  /** The message stream id createStream returned (0 before 'ready'). */
  get streamId(): number {
    return this.#streamId;
  }

  /** Chunk-layer bytes received from the server (the handshake not included). */
  get bytesReceived(): number {
    return this.#decoder.bytesReceived;
  }

  /** Our current outbound chunk size (128 until connect succeeded). */
  get chunkSize(): number {
    return this.#encoder.chunkSize;
  }

  /** C0+C1; call once, first. */
  start(): Buffer[] {
    if (this.#phase !== 'idle') throw new Error('ClientSession.start() called twice');
    this.#phase = 'handshake';
    return [this.#handshake!.start()];
  }

  /** Feed bytes read from the socket. Throws RtmpError on a protocol violation (close the connection). */
  push(data: Buffer): ClientPushResult {
    if (this.#phase === 'idle') throw new Error('ClientSession.push() before start()');
    let rest = data;
    if (this.#handshake) {
      const hs = this.#handshake.push(data);
      this.#out.push(...hs.output);
      if (!hs.done) return this.#take();
      this.#handshake = undefined;
      this.#sendConnect();
      rest = hs.remainder;
      if (rest.length === 0) return this.#take();
    }
    for (const message of this.#decoder.push(rest)) this.#onMessage(message);
    this.#maybeAcknowledge();
    return this.#take();
  }

  /**
   * Publish `name` (live by default) on the session's stream. Returns the bytes to send, or none
   * when the stream is not created yet (the command is queued until 'ready').
   */
  publish(name: string, publishType = 'live'): Buffer[] {
    return this.#intend({ kind: 'publish', name, publishType });
  }

  /** Play `name` (start -2: live, or recorded if there is no live stream). Queued like publish(). */
  play(name: string, start = -2): Buffer[] {
    return this.#intend({ kind: 'play', name, start });
  }

  /**
   * One audio (8), video (9) or data (18) message on the publishing stream, chunk-encoded with
   * header compression on chunk stream 4 (audio), 6 (video) or 5 (data). The payload is sent as is.
   */
  sendMedia(type: 8 | 9 | 18, timestamp: number, payload: Buffer): Buffer {
    if (!this.#publishing) throw new Error('ClientSession.sendMedia() before publish()');
    const chunkStreamId = type === MessageType.Video ? ChunkStreamId.Video : type === MessageType.Audio ? ChunkStreamId.Audio : ChunkStreamId.Data;
    return this.#encoder.encode({ chunkStreamId, messageStreamId: this.#streamId, type, timestamp, payload });
  }

  /** `@setDataFrame onMetaData {metadata}` (an ECMA array), as encoders send stream metadata. */
  setDataFrame(metadata: Record<string, AmfValue>, timestamp = 0): Buffer {
    return this.sendMedia(MessageType.DataAmf0, timestamp, encodeAmf0(['@setDataFrame', 'onMetaData', new EcmaArray(metadata)]));
  }

  /**
   * createStream for one more stream; its answer raises 'ready' (or 'error'). After deleteStream()
   * the new stream becomes the session's stream, and publish()/play() queued meanwhile run on it.
   */
  createStream(): Buffer[] {
    this.#requireConnected('createStream');
    const tx = this.#transaction('createStream');
    if (this.#streamId === 0 && this.#createStreamTx === 0) this.#createStreamTx = tx;
    this.#sendCommand(0, 'createStream', tx, null);
    return this.#take().output;
  }

  /**
   * Any command, e.g. releaseStream/FCPublish/FCUnpublish or something the server does not expect.
   * A positive answer raises 'result', an _error raises 'error'. Allowed in any phase after the
   * handshake (a command before connect is a protocol error the server should refuse).
   */
  call(name: string, args: AmfValue[] = [], options: { streamId?: number; commandObject?: AmfValue; expectAnswer?: boolean } = {}): Buffer[] {
    const tx = options.expectAnswer === false ? 0 : this.#transaction(name);
    this.#sendCommand(options.streamId ?? 0, name, tx, options.commandObject ?? null, ...args);
    return this.#take().output;
  }

  /**
   * deleteStream for the session's stream (a clean unpublish / stop). The session then has no
   * stream: publish()/play() are queued until createStream() is answered.
   */
  deleteStream(): Buffer[] {
    this.#requireConnected('deleteStream');
    const id = this.#streamId;
    this.#publishing = false;
    this.#streamId = 0;
    this.#sendCommand(0, 'deleteStream', 0, null, id);
    return this.#take().output;
  }

  /** closeStream on the session's stream (stops publish/play but keeps the stream). */
  closeStream(): Buffer[] {
    this.#requireConnected('closeStream');
    this.#publishing = false;
    this.#sendCommand(this.#streamId, 'closeStream', 0, null);
    return this.#take().output;
  }

  /** Encodes an arbitrary message with this session's encoder (tests: hostile or unusual messages). */
  encode(message: RtmpMessage): Buffer {
    return this.#encoder.encode(message);
  }

  #take(): ClientPushResult {
    const result = { events: this.#events, output: this.#out };
    this.#events = [];
    this.#out = [];
    return result;
  }

  #transaction(name: string): number {
    const tx = this.#nextTransaction++;
    this.#pending.set(tx, name);
    return tx;
  }

  #requireConnected(what: string): void {
    if (this.#phase !== 'connected') throw new Error(`ClientSession.${what}() before connect succeeded`);
  }

  #send(message: RtmpMessage): void {
    this.#out.push(this.#encoder.encode(message));
  }

  #sendCommand(streamId: number, name: string, tx: number, commandObject: AmfValue, ...args: AmfValue[]): void {
    const amf = encodeAmf0([name, tx, commandObject, ...args]);
    const amf3 = this.#objectEncoding === 3;
    this.#send({
      chunkStreamId: streamId === 0 ? ChunkStreamId.Command : CSID_STREAM_COMMAND,
      messageStreamId: streamId,
      type: amf3 ? MessageType.CommandAmf3 : MessageType.CommandAmf0,
      timestamp: 0,
      // Type 17: a 0 format byte, then AMF0 (what Flash Player sends with objectEncoding 3).
      payload: amf3 ? Buffer.concat([Buffer.alloc(1), amf]) : amf,
    });
  }

  #sendConnect(): void {
    this.#phase = 'connecting';
    const obj: Record<string, AmfValue> = {
      app: this.#app,
      type: 'nonprivate',
      flashVer: this.#flashVer,
      tcUrl: this.#tcUrl,
      ...(this.#objectEncoding === 3 ? { objectEncoding: 3 } : {}),
      ...this.#connectProperties,
    };
    this.#sendCommand(0, 'connect', this.#transaction('connect'), obj);
  }

  #intend(intent: Intent): Buffer[] {
    if (this.#phase === 'closed') throw new Error(`ClientSession.${intent.kind}() after the connection closed`);
    if (this.#streamId === 0) {
      this.#queued.push(intent);
      return [];
    }
    this.#run(intent);
    return this.#take().output;
  }

  #run(intent: Intent): void {
    const id = this.#streamId;
    if (intent.kind === 'publish') {
      this.#publishing = true;
      this.#sendCommand(id, 'publish', 0, null, intent.name, intent.publishType);
      return;
    }
    this.#sendCommand(id, 'play', 0, null, intent.name, intent.start);
    if (this.#bufferLengthMs !== undefined) this.#send(control.setBufferLength(id, this.#bufferLengthMs));
  }

  #maybeAcknowledge(): void {
    const sequence = this.#ack.due(this.#decoder.bytesReceived);
    if (sequence !== undefined) this.#send(control.acknowledgement(sequence));
  }

  #onMessage(message: RtmpMessage): void {
    switch (message.type) {
      case MessageType.Audio:
      case MessageType.Video:
        this.#events.push({
          type: 'media',
          streamId: message.messageStreamId,
          messageType: message.type as 8 | 9,
          timestamp: message.timestamp,
          payload: message.payload,
        });
        return;
      case MessageType.DataAmf0:
      case MessageType.DataAmf3:
        this.#onData(message);
        return;
      case MessageType.CommandAmf0:
      case MessageType.CommandAmf3:
        this.#onCommand(message.messageStreamId, decodeCommand(message));
        return;
      case MessageType.WindowAcknowledgementSize: {
        const c = control.parseControlMessage(message);
        if (c.kind === 'WindowAcknowledgementSize') this.#ack.window = c.size;
        return;
      }
      case MessageType.SetPeerBandwidth: {
        // Spec 5.4.5: answer with Window Acknowledgement Size if it differs from the last one sent.
        const c = control.parseControlMessage(message);
        if (c.kind === 'SetPeerBandwidth' && c.size > 0 && c.size !== this.#announcedWindow) {
          this.#announcedWindow = c.size;
          this.#send(control.windowAcknowledgementSize(c.size));
        }
        return;
      }
      case MessageType.UserControl: {
        const c = control.parseControlMessage(message);
        if (c.kind !== 'UserControl') return;
        if (c.event === control.UserControlEvent.PingRequest) this.#send(control.pingResponse(c.timestamp ?? 0));
        const { kind: _kind, ...rest } = c;
        this.#events.push({ type: 'userControl', ...rest });
        return;
      }
      case MessageType.Aggregate:
        this.#onAggregate(message);
        return;
      default:
        // SetChunkSize and Abort are applied by the chunk decoder; Acknowledgements need nothing.
        return;
    }
  }

  #onAggregate(message: RtmpMessage): void {
    for (const sub of splitAggregate(message)) {
      if (sub.type === MessageType.Audio || sub.type === MessageType.Video || sub.type === MessageType.DataAmf0) this.#onMessage(sub);
    }
  }

  #onData(message: RtmpMessage): void {
    const body = message.type === MessageType.DataAmf3 ? message.payload.subarray(1) : message.payload;
    if (startsWith(body, AMF_RTMP_SAMPLE_ACCESS) || startsWith(body, AMF_ON_STATUS)) {
      let values: AmfValue[];
      try {
        values = decodeAmf0(body, COMMAND_AMF_LIMITS);
      } catch (error) {
        if (error instanceof AmfError) {
          throw new RtmpError('RTMP_ERR_MALFORMED_MESSAGE', `malformed AMF in data message: ${error.message}`, { cause: error });
        }
        throw error;
      }
      const name = values.shift() as string;
      this.#events.push({ type: 'data', streamId: message.messageStreamId, name, values });
      return;
    }
    this.#events.push({
      type: 'media',
      streamId: message.messageStreamId,
      messageType: MessageType.DataAmf0,
      timestamp: message.timestamp,
      payload: body,
    });
  }

  #onCommand(streamId: number, cmd: Command): void {
    switch (cmd.name) {
      case '_result':
      case '_error': {
        const name = this.#pending.get(cmd.transactionId);
        if (name === undefined) {
          this.#events.push({ type: 'command', streamId, command: cmd });
          return;
        }
        this.#pending.delete(cmd.transactionId);
        if (cmd.name === '_error') {
          const info = cmd.args[0] ?? null;
          if (cmd.transactionId === this.#createStreamTx) this.#createStreamTx = 0;
          this.#events.push({ type: 'error', command: name, transactionId: cmd.transactionId, info });
          if (name === 'connect') this.#close(`connect rejected: ${describe(info)}`);
          return;
        }
        if (name === 'connect') this.#onConnected(cmd);
        else if (name === 'createStream') this.#onStreamCreated(cmd);
        else this.#events.push({ type: 'result', command: name, transactionId: cmd.transactionId, values: [cmd.commandObject, ...cmd.args] });
        return;
      }
      case 'onStatus': {
        const info = cmd.args[0] ?? cmd.commandObject;
        const o = isRecord(info) ? info : {};
        const code = typeof o['code'] === 'string' ? o['code'] : '';
        const level = typeof o['level'] === 'string' ? o['level'] : '';
        const description = typeof o['description'] === 'string' ? o['description'] : '';
        this.#events.push({ type: 'status', streamId, code, level, description, info });
        if (code === 'NetStream.Publish.Start') this.#events.push({ type: 'publishStart', streamId });
        else if (code === 'NetStream.Play.Start') this.#events.push({ type: 'playStart', streamId });
        else if (code === 'NetConnection.Connect.Closed' || code === 'NetConnection.Connect.Rejected') this.#close(code);
        return;
      }
      default:
        this.#events.push({ type: 'command', streamId, command: cmd });
        return;
    }
  }

  #onConnected(cmd: Command): void {
    this.#phase = 'connected';
    this.#events.push({ type: 'connected', properties: cmd.commandObject, info: cmd.args[0] ?? null });
    // SetChunkSize travels at the old size; the messages after it use the new one.
    if (this.#chunkSize !== this.#encoder.chunkSize) {
      this.#send(control.setChunkSize(this.#chunkSize));
      this.#encoder.setChunkSize(this.#chunkSize);
    }
    const tx = this.#transaction('createStream');
    this.#createStreamTx = tx;
    this.#sendCommand(0, 'createStream', tx, null);
  }

  #onStreamCreated(cmd: Command): void {
    const id = cmd.args[0];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xffffffff) {
      throw new RtmpError('RTMP_ERR_MALFORMED_MESSAGE', `createStream answered with stream id ${String(id)}`);
    }
    this.#events.push({ type: 'ready', streamId: id });
    if (cmd.transactionId !== this.#createStreamTx) return;
    this.#createStreamTx = 0;
    this.#streamId = id;
    const queued = this.#queued;
    this.#queued = [];
    for (const intent of queued) this.#run(intent);
  }

  #close(reason: string): void {
    if (this.#phase === 'closed') return;
    this.#phase = 'closed';
    this.#events.push({ type: 'closed', reason });
  }
}

function startsWith(buf: Buffer, prefix: Buffer): boolean {
  return buf.length >= prefix.length && buf.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

function isRecord(v: AmfValue): v is Record<string, AmfValue> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

function describe(info: AmfValue): string {
  if (isRecord(info)) {
    const d = info['description'] ?? info['code'];
    if (typeof d === 'string') return d;
  }
  return String(info);
}
