import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import {
  FrameFlag,
  FrameKind,
  MemoryBus,
  encodeFrame,
  initSubject,
  mediaSubject,
  streamIdForName,
  type Frame,
} from '@firstmile/bus';
import { nullLogger } from '@firstmile/observability';
import { ClientSession, type ClientEvent } from '@firstmile/rtmp';
import { RtmpServer, type ConnectionHandler } from '@firstmile/rtmp-node';
import { Origin, type OriginOptions } from '../src/index.ts';

// A scripted edge on the bus in front of the real Origin and real sockets: the bus side can inject
// what a cluster does to frames (loss, duplicates, late snapshots) that a real encoder cannot.

const APP = 'live';
const NAME = 'gap-test';
const STREAM = streamIdForName(APP, NAME);
const EPOCH = 77;

const VIDEO_SH = Buffer.from([0x17, 0x00, 0, 0, 0, 1, 0x64, 0, 0x1f]);
const AUDIO_SH = Buffer.from([0xaf, 0x00, 0x12, 0x10]);
/** Video payload that names its seq, so the player can say exactly what it got. */
const video = (seq: number, key: boolean) => Buffer.from([key ? 0x17 : 0x27, 0x01, 0, 0, 0, seq >> 8, seq & 0xff]);
const seqOf = (payload: Buffer) => payload.readUInt16BE(5);

function frame(seq: number, kind: Frame['kind'], type: number, flags: number, ts: number, payload: Buffer, epoch = EPOCH): Frame {
  return { kind, messageType: type, flags, epoch, seq, timestamp: ts, payload };
}

const startFrame = (seq = 0, epoch = EPOCH) => frame(seq, FrameKind.Start, 0, 0, 0, Buffer.from('{}'), epoch);
const vsh = (seq: number, epoch = EPOCH) => frame(seq, FrameKind.Media, 9, FrameFlag.Config, 0, VIDEO_SH, epoch);
const ash = (seq: number, epoch = EPOCH) => frame(seq, FrameKind.Media, 8, FrameFlag.Config, 0, AUDIO_SH, epoch);
const vf = (seq: number, key: boolean, ts: number, epoch = EPOCH) =>
  frame(seq, FrameKind.Media, 9, key ? FrameFlag.Keyframe : 0, ts, video(seq, key), epoch);

async function setup(t: import('node:test').TestContext, overrides: Partial<OriginOptions> = {}) {
  const bus = new MemoryBus();
  const origin = new Origin({
    bus,
    logger: nullLogger,
    chunkSize: 4096,
    playWaitMs: 5000,
    reconnectWindowMs: 1000,
    lingerMs: 100,
    initTimeoutMs: 500,
    gopCacheBytes: 1 << 20,
    gopCacheMs: 10_000,
    minLagBytes: 1 << 20,
    maxPlayerQueueBytes: 16 << 20,
    slowPlayerTimeoutMs: 5000,
    maxFrameBytes: 1 << 20,
    flushIntervalMs: 20,
    ...overrides,
  });
  const handler: ConnectionHandler = {
    onEvent(c, e) {
      if (e.type === 'connect') {
        c.context.set('app', e.connect.app);
        c.acceptConnect();
      } else origin.onEvent(c, e);
    },
    onClose: (c) => origin.onClose(c),
  };
  const server = new RtmpServer({
    host: '127.0.0.1',
    port: 0,
    maxConnections: 100,
    handshakeTimeoutMs: 5000,
    idleTimeoutMs: 0,
    session: { chunkSize: 4096 },
    logger: nullLogger,
    handler,
  });
  await server.listen();
  t.after(async () => {
    origin.close();
    await server.close(100);
    await bus.close();
  });
  const publish = (f: Frame) => {
    for (const part of encodeFrame(f, bus.maxPayload)) bus.publish(mediaSubject(APP, STREAM), part);
  };
  return { bus, origin, port: server.ports.rtmp!, publish };
}

interface Player {
  events: ClientEvent[];
  videoSeqs: () => number[];
  socket: Socket;
  waitFor: (check: () => boolean, ms?: number) => Promise<void>;
}

async function play(port: number): Promise<Player> {
  const session = new ClientSession({ app: APP, tcUrl: `rtmp://127.0.0.1:${port}/${APP}` });
  const socket = connect(port, '127.0.0.1');
  const events: ClientEvent[] = [];
  socket.on('data', (d: Buffer) => {
    const r = session.push(d);
    events.push(...r.events);
    for (const b of r.output) socket.write(b);
    if (r.events.some((e) => e.type === 'connected')) for (const b of session.play(NAME)) socket.write(b);
  });
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  for (const b of session.start()) socket.write(b);
  const waitFor = async (check: () => boolean, ms = 3000) => {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out; events: ${JSON.stringify(events.map((e) => e.type))}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const videoSeqs = () =>
    events.flatMap((e) => (e.type === 'media' && e.messageType === 9 && e.payload[1] === 0x01 ? [seqOf(e.payload)] : []));
  return { events, videoSeqs, socket, waitFor };
}

test('Origin forwards nothing after a sequence gap until the next keyframe: never a broken GOP', async (t) => {
  const { origin, port, publish } = await setup(t);
  const p = await play(port);
  await p.waitFor(() => origin.players === 1);
  publish(startFrame(0));
  publish(vsh(1));
  publish(ash(2));
  publish(vf(3, true, 0));
  publish(vf(4, false, 33));
  publish(vf(5, false, 66));
  // seq 6 and 7 lost on the bus
  publish(vf(8, false, 166));
  publish(vf(9, false, 200));
  publish(vf(10, true, 233));
  publish(vf(11, false, 266));
  await p.waitFor(() => p.videoSeqs().includes(11));
  assert.deepEqual(p.videoSeqs(), [3, 4, 5, 10, 11]);
  const playStarts = p.events.filter((e) => e.type === 'playStart');
  assert.equal(playStarts.length, 1);
});

test('Origin stitches the init snapshot to the live subscription without a gap or a duplicate', async (t) => {
  const { bus, port, publish } = await setup(t);
  // The owning edge: the snapshot covers seq 0..6 (config + GOP from keyframe 3); while it is in
  // flight, live frames 5..9 arrive (5 and 6 duplicate the snapshot).
  bus.subscribe(initSubject(APP, STREAM), (m) => {
    const { inbox } = JSON.parse(Buffer.from(m.data).toString()) as { inbox: string };
    publish(vf(5, false, 66));
    publish(vf(6, false, 100));
    publish(vf(7, false, 133));
    const snapshot = [vsh(1), ash(2), vf(3, true, 0), vf(4, false, 33), vf(5, false, 66), vf(6, false, 100)];
    setTimeout(() => {
      let messages = 0;
      for (const f of snapshot) for (const part of encodeFrame(f, bus.maxPayload)) (bus.publish(inbox, part), messages++);
      bus.publish(m.reply!, Buffer.from(JSON.stringify({ epoch: EPOCH, lastSeq: 6, messages })));
      publish(vf(8, false, 166));
      publish(vf(9, false, 200));
    }, 50);
  });
  const p = await play(port);
  await p.waitFor(() => p.videoSeqs().includes(9));
  assert.deepEqual(p.videoSeqs(), [3, 4, 5, 6, 7, 8, 9]);
  const configs = p.events.filter((e) => e.type === 'media' && e.payload[1] === 0x00);
  assert.equal(configs.length, 2, 'video and audio sequence headers, once each');
  const firstVideo = p.events.find((e) => e.type === 'media' && e.messageType === 9 && e.payload[1] === 0x01);
  assert.ok(firstVideo && firstVideo.type === 'media' && firstVideo.payload[0] === 0x17, 'first frame is a keyframe');
});

test('Origin: a new publisher session continues timestamps monotonically and ignores the old session afterwards', async (t) => {
  const { origin, port, publish } = await setup(t);
  const p = await play(port);
  await p.waitFor(() => origin.players === 1);
  publish(startFrame(0));
  publish(vsh(1));
  publish(vf(2, true, 5000));
  publish(vf(3, false, 5033));
  await p.waitFor(() => p.videoSeqs().includes(3));
  // The publisher reconnects (to this or another edge): new epoch, timestamps restart at 0.
  publish(startFrame(0, 99));
  publish(vsh(1, 99));
  publish(vf(2, true, 0, 99));
  publish(vf(3, false, 33, 99));
  // A late frame of the superseded session must not flip the stream back.
  publish(vf(4, false, 5066));
  publish(vf(4, false, 66, 99));
  await p.waitFor(() => p.videoSeqs().filter((s) => s === 4).length >= 1);
  await new Promise((r) => setTimeout(r, 50));
  const ts = p.events.flatMap((e) => (e.type === 'media' && e.messageType === 9 && e.payload[1] === 0x01 ? [e.timestamp] : []));
  for (let i = 1; i < ts.length; i++) assert.ok(ts[i]! >= ts[i - 1]!, `timestamps go back: ${ts.join(',')}`);
  assert.equal(ts.length, 5, `got ${ts.join(',')}`);
  assert.equal(ts[2], 5034, 'the new session starts right after the last timestamp players saw');
});

test('Origin: a play of a stream that never goes live gets NetStream.Play.StreamNotFound after the wait', async (t) => {
  const { port } = await setup(t, { playWaitMs: 200 });
  const p = await play(port);
  await p.waitFor(() => p.events.some((e) => e.type === 'status' && e.code === 'NetStream.Play.StreamNotFound'), 3000);
});

const af = (seq: number, ts: number, epoch = EPOCH) => frame(seq, FrameKind.Media, 8, 0, ts, Buffer.from([0xaf, 0x01, seq & 0xff]), epoch);
const meta = (seq: number, epoch = EPOCH) =>
  frame(seq, FrameKind.Media, 18, FrameFlag.Config, 0, Buffer.from([0x02, 0x00, 0x0a, ...Buffer.from('onMetaData'), 0x05]), epoch);

test('Origin: a player waiting before the publish misses nothing, not even audio ahead of the first keyframe', async (t) => {
  const { origin, port, publish } = await setup(t);
  const p = await play(port);
  await p.waitFor(() => origin.players === 1);
  publish(startFrame(0));
  publish(vsh(1));
  publish(ash(2));
  publish(af(3, 0));
  publish(vf(4, true, 23));
  await p.waitFor(() => p.videoSeqs().includes(4));
  const audio = p.events.filter((e) => e.type === 'media' && e.messageType === 8 && e.payload[1] === 0x01);
  assert.equal(audio.length, 1, 'the audio frame before the keyframe was forwarded');
});

test('Origin: a returning publisher whose media starts late (metadata at 0, media at 4000) does not make players jump', async (t) => {
  const { origin, port, publish } = await setup(t);
  const p = await play(port);
  await p.waitFor(() => origin.players === 1);
  publish(startFrame(0));
  publish(vsh(1));
  publish(vf(2, true, 1000));
  await p.waitFor(() => p.videoSeqs().includes(2));
  publish(startFrame(0, 99));
  publish(meta(1, 99));
  publish(vsh(2, 99));
  publish(vf(3, true, 4000, 99));
  publish(vf(4, false, 4033, 99));
  await p.waitFor(() => p.videoSeqs().includes(4));
  const ts = p.events.flatMap((e) => (e.type === 'media' && e.messageType === 9 && e.payload[1] === 0x01 ? [e.timestamp] : []));
  assert.deepEqual(ts, [1000, 1001, 1034]);
  const metaTs = p.events.flatMap((e) => (e.type === 'media' && e.messageType === 18 ? [e.timestamp] : []));
  assert.deepEqual(metaTs, [1000], 'headers of the new session are pinned to where players are');
});
