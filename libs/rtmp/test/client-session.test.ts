import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EcmaArray, decodeAmf0, type AmfValue } from '@firstmile/amf';
import { ChunkDecoder, encodeChunks } from '../src/chunk/index.ts';
import { RtmpError } from '../src/errors.ts';
import * as control from '../src/message/control.ts';
import { MessageType, type RtmpMessage } from '../src/message/types.ts';
import { ClientSession, type ClientEvent, type ClientSessionOptions } from '../src/session/client-session.ts';
import { MediaChunkStream, ServerSession, type ServerSessionOptions, type SessionEvent } from '../src/session/server-session.ts';

const HANDSHAKE_BYTES = 1537 + 1536;

/** Deterministic "random" bytes. */
function fixedRandom(seed: number): (n: number) => Buffer {
  let state = seed >>> 0;
  return (n) => {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      out[i] = state >>> 24;
    }
    return out;
  };
}

/** A recognisable payload: FLV-like header bytes then a pattern. */
function payload(head: number[], n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 17 + 3) & 0xff;
  Buffer.from(head).copy(b);
  return b;
}

type Policy = (event: SessionEvent, server: ServerSession) => Buffer[];

/** Accepts every connect, publish and play, like `firstmile up` with no auth. */
const acceptAll: Policy = (event, server) => {
  switch (event.type) {
    case 'connect':
      return server.acceptConnect();
    case 'publish':
      return server.acceptPublish(event.streamId);
    case 'play':
      return server.acceptPlay(event.streamId, event.reset);
    default:
      return [];
  }
};

interface PairOptions {
  client?: Partial<ClientSessionOptions>;
  server?: Partial<ServerSessionOptions>;
  policy?: Policy;
  /** Feed the server's output to the client one byte per push(). */
  byteAtATime?: boolean;
}

/**
 * A ClientSession and a ServerSession with their bytes piped to each other in memory. A spy
 * decoder reads everything the client sends after the handshake, so tests can assert on it.
 */
class Pair {
  readonly client: ClientSession;
  readonly server: ServerSession;
  readonly clientEvents: ClientEvent[] = [];
  readonly serverEvents: SessionEvent[] = [];
  /** Every message the client sent after the handshake, decoded independently. */
  readonly sent: RtmpMessage[] = [];
  readonly #policy: Policy;
  readonly #byteAtATime: boolean;
  readonly #spy = new ChunkDecoder();
  #clientBytes = 0;
  #toServer: Buffer[] = [];
  #toClient: Buffer[] = [];
  #pumping = false;
  /** Called with each server media event (e.g. to fan it out to a player pair). */
  onServerEvent: ((event: SessionEvent) => void) | undefined;

  constructor(options: PairOptions = {}) {
    this.client = new ClientSession({ app: 'live', tcUrl: 'rtmp://127.0.0.1/live', randomBytes: fixedRandom(1), ...options.client });
    this.server = new ServerSession({ randomBytes: fixedRandom(2), ...options.server });
    this.#policy = options.policy ?? acceptAll;
    this.#byteAtATime = options.byteAtATime ?? false;
  }

  start(): this {
    this.clientSend(this.client.start());
    return this;
  }

  /** Queue client output for the server (and the spy), then run until both directions are quiet. */
  clientSend(buffers: Buffer[] | Buffer): void {
    for (const b of Array.isArray(buffers) ? buffers : [buffers]) {
      const skip = Math.max(0, Math.min(b.length, HANDSHAKE_BYTES - this.#clientBytes));
      this.#clientBytes += b.length;
      if (skip < b.length) this.sent.push(...this.#spy.push(b.subarray(skip)));
      this.#toServer.push(b);
    }
    this.pump();
  }

  serverSend(buffers: Buffer[]): void {
    this.#toClient.push(...buffers);
    this.pump();
  }

  pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#toServer.length > 0 || this.#toClient.length > 0) {
        const s = this.#toServer.shift();
        if (s) {
          const r = this.server.push(s);
          this.#toClient.push(...r.output);
          for (const e of r.events) {
            this.serverEvents.push(e);
            this.#toClient.push(...this.#policy(e, this.server));
            this.onServerEvent?.(e);
          }
        }
        const c = this.#toClient.shift();
        if (c) {
          const pieces = this.#byteAtATime ? [...c].map((x) => Buffer.from([x])) : [c];
          for (const piece of pieces) {
            const r = this.client.push(piece);
            // Copy media payloads: with one byte per push, views would alias nothing useful anyway.
            for (const e of r.events) this.clientEvents.push(e.type === 'media' ? { ...e, payload: Buffer.from(e.payload) } : e);
            for (const b of r.output) {
              const skip = Math.max(0, Math.min(b.length, HANDSHAKE_BYTES - this.#clientBytes));
              this.#clientBytes += b.length;
              if (skip < b.length) this.sent.push(...this.#spy.push(b.subarray(skip)));
              this.#toServer.push(b);
            }
          }
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  events<T extends ClientEvent['type']>(type: T): Extract<ClientEvent, { type: T }>[] {
    return this.clientEvents.filter((e): e is Extract<ClientEvent, { type: T }> => e.type === type);
  }

  serverOf<T extends SessionEvent['type']>(type: T): Extract<SessionEvent, { type: T }>[] {
    return this.serverEvents.filter((e): e is Extract<SessionEvent, { type: T }> => e.type === type);
  }

  commandsSent(): string[] {
    return this.sent
      .filter((m) => m.type === MessageType.CommandAmf0 || m.type === MessageType.CommandAmf3)
      .map((m) => decodeAmf0(m.type === MessageType.CommandAmf3 ? m.payload.subarray(1) : m.payload)[0] as string);
  }
}

/** Connects a publisher and a player and forwards the publisher's media to the player like the origin does. */
function publisherAndPlayer(options: PairOptions = {}): { pub: Pair; player: Pair } {
  const pub = new Pair(options);
  const player = new Pair(options);
  pub.onServerEvent = (e) => {
    if (e.type !== 'media') return;
    const m = e.message;
    const csid = m.type === MessageType.Video ? MediaChunkStream.Video : m.type === MessageType.Audio ? MediaChunkStream.Audio : MediaChunkStream.Data;
    player.serverSend([
      encodeChunks({ chunkStreamId: csid, messageStreamId: player.client.streamId, type: m.type, timestamp: m.timestamp, payload: m.payload }, player.server.chunkSize),
    ]);
  };
  pub.client.publish('key');
  player.client.play('key');
  pub.start();
  player.start();
  return { pub, player };
}

describe('ClientSession against ServerSession', () => {
  it('handshakes, connects with app/tcUrl/flashVer, sets its chunk size and creates a stream', () => {
    const p = new Pair({ client: { flashVer: 'FMLE/3.0 (test)', connectProperties: { swfUrl: 'x' } } }).start();
    assert.equal(p.server.handshakeDone, true);
    const [connect] = p.serverOf('connect');
    assert.ok(connect);
    assert.equal(connect.connect.app, 'live');
    assert.equal(connect.connect.tcUrl, 'rtmp://127.0.0.1/live');
    assert.equal(connect.connect.flashVer, 'FMLE/3.0 (test)');
    assert.equal(connect.connect.objectEncoding, 0);
    assert.equal(connect.connect.transactionId, 1);
    const connected = p.events('connected');
    assert.equal(connected.length, 1);
    assert.equal((connected[0]!.info as Record<string, AmfValue>)['code'], 'NetConnection.Connect.Success');
    assert.deepEqual(p.events('ready'), [{ type: 'ready', streamId: 1 }]);
    assert.equal(p.client.connected, true);
    assert.equal(p.client.streamId, 1);
    assert.equal(p.client.chunkSize, 4096);
    // What went on the wire: connect, then (after _result) WindowAckSize answering SetPeerBandwidth,
    // SetChunkSize 4096 and createStream.
    const connectMsg = p.sent[0]!;
    assert.equal(connectMsg.type, MessageType.CommandAmf0);
    const [name, tx, obj] = decodeAmf0(connectMsg.payload);
    assert.deepEqual([name, tx], ['connect', 1]);
    assert.deepEqual(obj, { app: 'live', type: 'nonprivate', flashVer: 'FMLE/3.0 (test)', tcUrl: 'rtmp://127.0.0.1/live', swfUrl: 'x' });
    const kinds = p.sent.slice(1).map((m) => (control.isControlMessage(m) ? control.parseControlMessage(m).kind : decodeAmf0(m.payload)[0]));
    assert.deepEqual(kinds, ['WindowAcknowledgementSize', 'SetChunkSize', 'createStream']);
    const scs = control.parseControlMessage(p.sent[2]!);
    assert.deepEqual(scs, { kind: 'SetChunkSize', size: 4096 });
  });

  it('publish: the server sees the name and type, the client gets NetStream.Publish.Start', () => {
    const p = new Pair().start();
    const out = p.client.publish('my-key', 'live');
    assert.ok(out.length > 0);
    p.clientSend(out);
    assert.deepEqual(p.serverOf('publish'), [{ type: 'publish', streamId: 1, name: 'my-key', query: '', publishType: 'live' }]);
    const status = p.events('status');
    assert.deepEqual(status.map((s) => [s.streamId, s.level, s.code]), [[1, 'status', 'NetStream.Publish.Start']]);
    assert.equal(p.events('publishStart').length, 1);
    assert.deepEqual(p.events('userControl'), [{ type: 'userControl', event: control.UserControlEvent.StreamBegin, streamId: 1 }]);
  });

  it('queues publish and play called before the stream exists', () => {
    const p = new Pair();
    assert.deepEqual(p.client.publish('early?token=1'), []);
    p.start();
    assert.deepEqual(p.serverOf('publish').map((e) => [e.name, e.query]), [['early', 'token=1']]);
    assert.equal(p.events('publishStart').length, 1);
    const q = new Pair();
    q.client.play('later', 0);
    q.start();
    assert.deepEqual(q.serverOf('play').map((e) => [e.name, e.start, e.reset]), [['later', 0, true]]);
  });

  it('play: the server accepts, the client gets StreamBegin, Play.Reset, Play.Start and the data chatter', () => {
    const p = new Pair({ client: { bufferLengthMs: 3000 } }).start();
    p.clientSend(p.client.play('k'));
    assert.deepEqual(p.serverOf('play'), [{ type: 'play', streamId: 1, name: 'k', query: '', start: -2, reset: true }]);
    const seq = p.clientEvents.filter((e) => e.type !== 'connected' && e.type !== 'ready').map((e) => {
      if (e.type === 'status') return `status:${e.code}`;
      if (e.type === 'data') return `data:${e.name}`;
      if (e.type === 'userControl') return `uc:${e.event}:${e.streamId}`;
      return e.type;
    });
    assert.deepEqual(seq, [
      'uc:0:1',
      'status:NetStream.Play.Reset',
      'status:NetStream.Play.Start',
      'playStart',
      'data:|RtmpSampleAccess',
      'data:onStatus',
    ]);
    const dataStart = p.events('data')[1]!;
    assert.deepEqual(dataStart.values, [{ code: 'NetStream.Data.Start' }]);
    // SetBufferLength went out right after play.
    const last = p.sent.at(-1)!;
    assert.deepEqual(control.parseControlMessage(last), { kind: 'UserControl', event: 3, streamId: 1, bufferLength: 3000 });
  });

  it('reports onStatus errors: a refused publish and a play with no stream', () => {
    const p = new Pair({
      policy: (e, s) => (e.type === 'publish' ? s.rejectPublish(e.streamId, 'busy') : e.type === 'play' ? s.rejectPlay(e.streamId, 'gone') : acceptAll(e, s)),
    }).start();
    p.clientSend(p.client.publish('taken'));
    const [bad] = p.events('status');
    assert.deepEqual([bad!.level, bad!.code, bad!.description], ['error', 'NetStream.Publish.BadName', 'busy']);
    assert.equal(p.events('publishStart').length, 0);
    p.clientSend(p.client.createStream());
    const second = p.events('ready').at(-1)!.streamId;
    p.clientSend(p.client.call('play', ['nothing-here'], { streamId: second, expectAnswer: false }));
    const notFound = p.events('status').at(-1)!;
    assert.deepEqual([notFound.streamId, notFound.level, notFound.code, notFound.description], [second, 'error', 'NetStream.Play.StreamNotFound', 'gone']);
    assert.equal(p.events('playStart').length, 0);
  });

  it('round-trips metadata, sequence headers, keyframes and audio byte for byte', () => {
    const { pub, player } = publisherAndPlayer();
    assert.equal(pub.events('publishStart').length, 1);
    assert.equal(player.events('playStart').length, 1);
    const sent: Array<{ type: 8 | 9; ts: number; payload: Buffer }> = [
      { type: 9, ts: 0, payload: payload([0x17, 0x00, 0, 0, 0, 1, 0x64, 0, 0x1f], 40, 1) },
      { type: 8, ts: 0, payload: payload([0xaf, 0x00, 0x12, 0x10], 4, 2) },
      { type: 9, ts: 0, payload: payload([0x17, 0x01, 0, 0, 0], 100_000, 3) },
      { type: 8, ts: 21, payload: payload([0xaf, 0x01], 300, 4) },
      { type: 9, ts: 33, payload: payload([0x27, 0x01, 0, 0, 0], 16_000, 5) },
      { type: 8, ts: 42, payload: payload([0xaf, 0x01], 300, 6) },
      { type: 9, ts: 66, payload: payload([0x27, 0x01, 0, 0, 0], 16_000, 7) },
      { type: 8, ts: 63, payload: payload([0xaf, 0x01], 300, 8) },
      { type: 9, ts: 99, payload: payload([0x27, 0x01, 0, 0, 0], 16_000, 9) },
      { type: 9, ts: 0x1000000 + 5, payload: payload([0x17, 0x01, 0, 0, 0], 9000, 10) },
      { type: 9, ts: 0x1000000 + 38, payload: payload([0x27, 0x01, 0, 0, 0], 9000, 11) },
    ];
    pub.clientSend(pub.client.setDataFrame({ width: 1280, height: 720, framerate: 30 }));
    const sizes: number[] = [];
    for (const s of sent) {
      const b = pub.client.sendMedia(s.type, s.ts, s.payload);
      sizes.push(b.length);
      pub.clientSend(b);
    }
    // Header compression: the first 16 KB frame changes the length (fmt 1); the third repeats length, type and delta (fmt 3).
    assert.equal(sizes[4]! - sizes[8]!, 7, `fmt 1 (8-byte header) vs fmt 3 (1 byte): ${sizes[4]} vs ${sizes[8]}`);
    const serverMedia = pub.serverOf('media').map((e) => e.message);
    assert.equal(serverMedia.length, sent.length + 1);
    // The server hands up onMetaData without @setDataFrame.
    assert.deepEqual(decodeAmf0(serverMedia[0]!.payload), ['onMetaData', new EcmaArray({ width: 1280, height: 720, framerate: 30 })]);
    for (let i = 0; i < sent.length; i++) {
      assert.equal(serverMedia[i + 1]!.type, sent[i]!.type);
      assert.equal(serverMedia[i + 1]!.timestamp, sent[i]!.ts);
      assert.ok(serverMedia[i + 1]!.payload.equals(sent[i]!.payload), `server payload ${i}`);
    }
    const got = player.events('media');
    assert.equal(got.length, sent.length + 1);
    assert.equal(got[0]!.messageType, 18);
    assert.ok(got[0]!.payload.equals(serverMedia[0]!.payload));
    for (let i = 0; i < sent.length; i++) {
      const g = got[i + 1]!;
      assert.deepEqual([g.streamId, g.messageType, g.timestamp], [1, sent[i]!.type, sent[i]!.ts]);
      assert.ok(g.payload.equals(sent[i]!.payload), `player payload ${i}`);
    }
  });

  it('media events carry 20 bytes of headroom of their own: overwriting them changes no payload', () => {
    const { pub } = publisherAndPlayer();
    const sent: Array<{ type: 8 | 9; ts: number; payload: Buffer }> = [
      { type: 9, ts: 0, payload: payload([0x17, 0x00, 0, 0, 0], 40, 1) },
      { type: 9, ts: 0, payload: payload([0x17, 0x01, 0, 0, 0], 100_000, 2) },
      { type: 8, ts: 21, payload: payload([0xaf, 0x01], 300, 3) },
      { type: 9, ts: 33, payload: payload([0x27, 0x01, 0, 0, 0], 9000, 4) },
      { type: 8, ts: 42, payload: payload([0xaf, 0x01], 300, 5) },
    ];
    const headrooms: number[] = [];
    const before = pub.onServerEvent;
    pub.onServerEvent = (e) => {
      if (e.type === 'media') {
        headrooms.push(e.headroom);
        const p = e.message.payload;
        new Uint8Array(p.buffer, p.byteOffset - e.headroom, e.headroom).fill(0xee);
      }
      before?.(e);
    };
    pub.clientSend(pub.client.setDataFrame({ width: 1280, height: 720 }));
    for (const s of sent) pub.clientSend(pub.client.sendMedia(s.type, s.ts, s.payload));
    const media = pub.serverOf('media').map((e) => e.message);
    assert.equal(media.length, sent.length + 1);
    // @setDataFrame (3 + 13 bytes) was sliced off the front: it is headroom too.
    assert.deepEqual(headrooms, [20 + 16, 20, 20, 20, 20, 20]);
    assert.deepEqual(decodeAmf0(media[0]!.payload), ['onMetaData', new EcmaArray({ width: 1280, height: 720 })]);
    sent.forEach((s, i) => assert.ok(media[i + 1]!.payload.equals(s.payload), `payload ${i}`));
  });

  it('feeds the server output to the client one byte at a time', () => {
    const { pub, player } = publisherAndPlayer({ byteAtATime: true });
    assert.equal(pub.events('publishStart').length, 1);
    assert.equal(player.events('playStart').length, 1);
    const frames = [payload([0x17, 0, 0, 0, 0], 30, 1), payload([0x17, 1, 0, 0, 0], 9000, 2), payload([0x27, 1, 0, 0, 0], 5000, 3)];
    frames.forEach((f, i) => pub.clientSend(pub.client.sendMedia(9, i * 40, f)));
    const got = player.events('media');
    assert.equal(got.length, 3);
    got.forEach((g, i) => {
      assert.equal(g.timestamp, i * 40);
      assert.ok(g.payload.equals(frames[i]!));
    });
    assert.deepEqual(player.events('data').map((d) => d.name), ['|RtmpSampleAccess', 'onStatus']);
  });

  it('gets a connect rejection as an error and a closed event', () => {
    const p = new Pair({ policy: (e, s) => (e.type === 'connect' ? s.rejectConnect('no such app') : []) }).start();
    const [err] = p.events('error');
    assert.equal(err!.command, 'connect');
    assert.equal((err!.info as Record<string, AmfValue>)['code'], 'NetConnection.Connect.Rejected');
    assert.deepEqual(p.events('closed'), [{ type: 'closed', reason: 'connect rejected: no such app' }]);
    assert.equal(p.client.connected, false);
    assert.equal(p.events('ready').length, 0);
    assert.throws(() => p.client.publish('x'), /after the connection closed/);
  });

  it('connects with objectEncoding 3 and sends its commands as type 17', () => {
    const p = new Pair({ client: { objectEncoding: 3 } }).start();
    const [connect] = p.serverOf('connect');
    assert.equal(connect!.connect.objectEncoding, 3);
    assert.equal((p.events('connected')[0]!.info as Record<string, AmfValue>)['objectEncoding'], 3);
    const commands = p.sent.filter((m) => m.type === MessageType.CommandAmf0 || m.type === MessageType.CommandAmf3);
    assert.ok(commands.length >= 2);
    for (const c of commands) {
      assert.equal(c.type, MessageType.CommandAmf3);
      assert.equal(c.payload[0], 0);
    }
    p.clientSend(p.client.publish('amf3-key'));
    assert.equal(p.serverOf('publish')[0]!.name, 'amf3-key');
    assert.equal(p.events('publishStart').length, 1);
  });

  it('does the digest handshake with ServerSession', () => {
    const { pub, player } = publisherAndPlayer({ client: { digestHandshake: true } });
    assert.equal(pub.events('publishStart').length, 1);
    assert.equal(player.events('playStart').length, 1);
  });

  it('answers pings and acknowledges the server window', () => {
    const p = new Pair({ server: { windowAcknowledgementSize: 5000 } }).start();
    p.clientSend(p.client.play('k'));
    p.serverSend([encodeChunks(control.pingRequest(123456), 128)]);
    assert.deepEqual(p.events('userControl').at(-1), { type: 'userControl', event: control.UserControlEvent.PingRequest, timestamp: 123456 });
    const pong = p.sent.at(-1)!;
    assert.deepEqual(control.parseControlMessage(pong), { kind: 'UserControl', event: control.UserControlEvent.PingResponse, timestamp: 123456 });
    const before = p.sent.length;
    // 3 messages of 3000 bytes: the window of 5000 is reached once.
    for (let i = 0; i < 3; i++) {
      p.serverSend([encodeChunks({ chunkStreamId: 6, messageStreamId: 1, type: 9, timestamp: i, payload: payload([0x27, 1], 3000, i) }, 4096)]);
    }
    const acks = p.sent.slice(before).filter((m) => m.type === MessageType.Acknowledgement).map((m) => control.parseControlMessage(m));
    assert.equal(acks.length, 1);
    assert.deepEqual(acks[0], { kind: 'Acknowledgement', sequenceNumber: p.client.bytesReceived - 3012 });
    assert.ok((acks[0] as { sequenceNumber: number }).sequenceNumber >= 5000);
  });

  it('deleteStream ends a publish, closeStream stops a play, StreamEOF comes up', () => {
    const { pub, player } = publisherAndPlayer();
    pub.clientSend(pub.client.deleteStream());
    assert.deepEqual(pub.serverOf('unpublish'), [{ type: 'unpublish', streamId: 1 }]);
    assert.equal(pub.events('status').at(-1)!.code, 'NetStream.Unpublish.Success');
    assert.throws(() => pub.client.sendMedia(9, 0, Buffer.alloc(1)), /before publish/);
    player.serverSend(player.server.streamEof(1));
    assert.deepEqual(player.events('userControl').at(-1), { type: 'userControl', event: control.UserControlEvent.StreamEOF, streamId: 1 });
    player.clientSend(player.client.closeStream());
    assert.deepEqual(player.serverOf('stop'), [{ type: 'stop', streamId: 1 }]);
  });

  it('publishes again on a new stream after deleteStream', () => {
    const p = new Pair().start();
    p.clientSend(p.client.publish('first'));
    p.clientSend(p.client.deleteStream());
    assert.equal(p.client.streamId, 0);
    assert.deepEqual(p.client.publish('second'), [], 'queued until a stream exists');
    p.clientSend(p.client.createStream());
    assert.equal(p.client.streamId, 2);
    assert.deepEqual(p.serverOf('publish').map((e) => [e.streamId, e.name]), [[1, 'first'], [2, 'second']]);
    assert.deepEqual(p.events('publishStart').map((e) => e.streamId), [1, 2]);
    p.clientSend(p.client.sendMedia(9, 0, payload([0x17, 1, 0, 0, 0], 100, 1)));
    assert.equal(p.serverOf('media').at(-1)!.streamId, 2);
  });

  it('raises result for call() and error for a createStream over the server limit', () => {
    const p = new Pair({ server: { maxStreams: 2 } }).start();
    p.clientSend(p.client.call('releaseStream', ['k']));
    p.clientSend(p.client.call('FCPublish', ['k']));
    assert.deepEqual(p.events('result').map((r) => r.command), ['releaseStream', 'FCPublish']);
    assert.equal(p.events('command')[0]!.command.name, 'onFCPublish');
    p.clientSend(p.client.createStream());
    p.clientSend(p.client.createStream());
    assert.deepEqual(p.events('ready').map((r) => r.streamId), [1, 2]);
    const [err] = p.events('error');
    assert.equal(err!.command, 'createStream');
    assert.equal((err!.info as Record<string, AmfValue>)['code'], 'NetConnection.Call.Failed');
    assert.equal(p.client.streamId, 1);
  });

  it('throws RtmpError on a bad S0 and refuses misuse', () => {
    const c = new ClientSession({ app: 'a', tcUrl: 'rtmp://h/a' });
    assert.throws(() => c.push(Buffer.from([3])), /before start/);
    c.start();
    assert.throws(() => c.start(), /twice/);
    assert.throws(() => c.push(Buffer.from([6, 0, 0])), (e: unknown) => e instanceof RtmpError && e.code === 'RTMP_ERR_HANDSHAKE_VERSION');
    assert.throws(() => new ClientSession({ app: 'a', tcUrl: 'x', chunkSize: 0 }), RangeError);
    const d = new ClientSession({ app: 'a', tcUrl: 'x' });
    d.start();
    assert.throws(() => d.createStream(), /before connect/);
    assert.throws(() => d.sendMedia(9, 0, Buffer.alloc(1)), /before publish/);
  });

  it('splits aggregate messages from the server into media events', () => {
    const p = new Pair().start();
    p.clientSend(p.client.play('k'));
    const tag = (type: number, ts: number, body: Buffer): Buffer => {
      const h = Buffer.alloc(11);
      h[0] = type;
      h.writeUIntBE(body.length, 1, 3);
      h.writeUIntBE(ts & 0xffffff, 4, 3);
      h[7] = ts >>> 24;
      const back = Buffer.alloc(4);
      back.writeUInt32BE(11 + body.length);
      return Buffer.concat([h, body, back]);
    };
    const a = payload([0xaf, 1], 10, 1);
    const v = payload([0x27, 1], 20, 2);
    const agg = Buffer.concat([tag(8, 1000, a), tag(9, 1040, v)]);
    p.serverSend([encodeChunks({ chunkStreamId: 6, messageStreamId: 1, type: MessageType.Aggregate, timestamp: 500, payload: agg }, 4096)]);
    const media = p.events('media');
    assert.deepEqual(media.map((m) => [m.messageType, m.timestamp]), [[8, 500], [9, 540]]);
    assert.ok(media[1]!.payload.equals(v));
  });
});
