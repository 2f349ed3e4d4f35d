/**
 * Hostile input against the real server: each bad input goes on a fresh connection; the server
 * must close that connection, log why, keep serving new publishers and players, and never disturb
 * a publish/play pair already running on another key.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { encodeAmf0 } from '@firstmile/amf';
import { ChunkEncoder, MessageType, encodeChunks, setChunkSize, type RtmpMessage } from '@firstmile/rtmp';
import { startServer, type LogLine, type ServerProcess } from '../harness/server.ts';
import { Bystander, checkPublishPlay, closedWithin, connectClient, rawConnect, rawHandshake, type RtmpTestClient } from '../harness/client.ts';

const CLOSE_WITHIN_MS = 3000;
const HANDSHAKE_TIMEOUT_MS = 1000;

let server: ServerProcess;
let bystander: Bystander;
let keySeq = 0;

before(async () => {
  server = await startServer({ args: ['--handshake-timeout-ms', String(HANDSHAKE_TIMEOUT_MS)] });
  bystander = await Bystander.start(server.url('live/bystander'));
});

after(async () => {
  bystander?.stop();
  const code = await server?.stop();
  assert.equal(code, 0, 'server exited cleanly');
});

/** Log lines of the connection whose client side is `localPort`. */
function linesOf(localPort: number): LogLine[] {
  return server.logs.filter((l) => l['remote'] === `127.0.0.1:${localPort}`);
}

/** Waits for the server's warning about the connection from `localPort`, with the given code or msg. */
async function expectWarning(localPort: number, expect: { code?: string; msg?: RegExp; err?: RegExp }): Promise<LogLine> {
  const line = await server.waitForLog(
    (l) =>
      l['remote'] === `127.0.0.1:${localPort}` &&
      l.level === 40 &&
      (expect.code === undefined || l['code'] === expect.code) &&
      (expect.msg === undefined || expect.msg.test(l.msg)) &&
      (expect.err === undefined || expect.err.test(String(l['err']))),
    CLOSE_WITHIN_MS,
  ).catch((error: Error) => {
    throw new Error(`no warning ${JSON.stringify(expect)} for port ${localPort}; its lines: ${JSON.stringify(linesOf(localPort))}\n${error.message.slice(0, 300)}`);
  });
  return line;
}

async function expectServerClosed(socket: Socket, what: string): Promise<void> {
  assert.ok(await closedWithin(socket, CLOSE_WITHIN_MS), `server did not close the connection after ${what}`);
}

/** After every attack: the server serves a new pair, and the running pair was not disturbed. */
async function stillServing(): Promise<void> {
  await checkPublishPlay(server.url(`live/after-${++keySeq}`));
  await bystander.check();
  assert.equal(server.proc.exitCode, null);
}

/** A fresh connection through handshake + connect, ready for raw bytes. */
async function connected(): Promise<RtmpTestClient> {
  return connectClient(server.url('live/hostile'));
}

/** A hostile message chunked on its own (fmt 0), so it never depends on the session's header state. */
function raw(message: Partial<RtmpMessage> & { type: number; payload: Buffer }, chunkSize = 4096): Buffer {
  return encodeChunks({ chunkStreamId: 3, messageStreamId: 0, timestamp: 0, ...message }, chunkSize);
}

function command(payload: Buffer): Buffer {
  return raw({ type: MessageType.CommandAmf0, payload });
}

async function attack(bytes: Buffer, expect: { code: string; err?: RegExp }, what: string): Promise<void> {
  const c = await connected();
  c.writeRaw(bytes);
  await expectServerClosed(c.socket, what);
  await expectWarning(c.localPort, expect);
  await stillServing();
}

describe('bad handshakes', () => {
  it('garbage instead of a handshake (an HTTP request, random bytes)', async () => {
    const http = await rawConnect(server.rtmpPort);
    const httpPort = http.localPort!;
    http.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await expectServerClosed(http, 'an HTTP request');
    const line = await expectWarning(httpPort, { code: 'RTMP_ERR_HANDSHAKE_VERSION' });
    assert.match(String(line['err']), /text protocol/);

    const junk = randomBytes(4000);
    junk[0] = 0x99;
    const s = await rawConnect(server.rtmpPort);
    const port = s.localPort!;
    s.write(junk);
    await expectServerClosed(s, 'random bytes');
    await expectWarning(port, { code: 'RTMP_ERR_HANDSHAKE_VERSION' });
    await stillServing();
  });

  for (const version of [0x06, 0x00, 0xff, 0x16]) {
    it(`wrong version byte 0x${version.toString(16).padStart(2, '0')}`, async () => {
      const s = await rawConnect(server.rtmpPort);
      const port = s.localPort!;
      const c0c1 = randomBytes(1537);
      c0c1[0] = version;
      s.write(c0c1);
      await expectServerClosed(s, `version ${version}`);
      const line = await expectWarning(port, { code: 'RTMP_ERR_HANDSHAKE_VERSION' });
      assert.match(String(line['err']), new RegExp(`version ${version}\\b`));
      if (version === 6) assert.match(String(line['err']), /RTMPE/);
      await stillServing();
    });
  }

  it('truncated handshake, then the client closes', async () => {
    const s = await rawConnect(server.rtmpPort);
    const c0c1 = randomBytes(1 + 768);
    c0c1[0] = 3;
    s.write(c0c1);
    await new Promise((r) => setTimeout(r, 100));
    const port = s.localPort!;
    s.end();
    const line = await server.waitForLog((l) => l['remote'] === `127.0.0.1:${port}` && l.msg === 'connection closed', CLOSE_WITHIN_MS);
    assert.equal(line['reason'], 'peer closed');
    await stillServing();
  });

  it('truncated handshake, then a stall: the handshake timeout closes it', async () => {
    const s = await rawConnect(server.rtmpPort);
    const port = s.localPort!;
    const t0 = Date.now();
    const c0c1 = randomBytes(1 + 768);
    c0c1[0] = 3;
    s.write(c0c1);
    assert.ok(await closedWithin(s, HANDSHAKE_TIMEOUT_MS + 2000), 'closed by the handshake timeout');
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= HANDSHAKE_TIMEOUT_MS - 100, `closed after ${elapsed} ms, before the timeout`);
    // The server logs the reason with the close (at info: a stalled handshake is routine noise from scanners).
    const line = await server.waitForLog((l) => l['remote'] === `127.0.0.1:${port}` && l.msg === 'connection closed', CLOSE_WITHIN_MS);
    assert.match(String(line['reason']), /no RTMP connect within 1000 ms/);
    await stillServing();
  });

  it('a full handshake and then silence: closed by the handshake timeout (no connect)', async () => {
    const s = await rawHandshake(server.rtmpPort);
    const t0 = Date.now();
    assert.ok(await closedWithin(s, HANDSHAKE_TIMEOUT_MS + 2000));
    assert.ok(Date.now() - t0 <= HANDSHAKE_TIMEOUT_MS + 2000);
    await stillServing();
  });
});

describe('bad chunk streams after handshake and connect', () => {
  it('Set Chunk Size 0', async () => {
    await attack(raw({ chunkStreamId: 2, type: MessageType.SetChunkSize, payload: Buffer.from([0, 0, 0, 0]) }), { code: 'RTMP_ERR_CHUNK_SIZE' }, 'SetChunkSize 0');
  });

  it('Set Chunk Size 0x7fffffff (above --max-chunk-size)', async () => {
    await attack(raw({ chunkStreamId: 2, type: MessageType.SetChunkSize, payload: Buffer.from([0x7f, 0xff, 0xff, 0xff]) }), { code: 'RTMP_ERR_CHUNK_SIZE' }, 'SetChunkSize 0x7fffffff');
  });

  it('Set Chunk Size with the top bit set', async () => {
    await attack(raw({ chunkStreamId: 2, type: MessageType.SetChunkSize, payload: Buffer.from([0x80, 0, 0x10, 0]) }), { code: 'RTMP_ERR_CHUNK_SIZE' }, 'SetChunkSize 0x80001000');
  });

  it('a message header claiming 16 MiB: closed before any payload arrives', async () => {
    const c = await connected();
    // fmt 0, csid 6: timestamp 0, length 0xFFFFFF, type 9, stream 1, and not one payload byte.
    c.writeRaw(Buffer.from([0x06, 0, 0, 0, 0xff, 0xff, 0xff, 0x09, 1, 0, 0, 0]));
    await expectServerClosed(c.socket, 'a 16 MiB header');
    const line = await expectWarning(c.localPort, { code: 'RTMP_ERR_MESSAGE_TOO_LARGE' });
    assert.match(String(line['err']), /16777215/);
    await stillServing();
  });

  it('a message header just over --max-message-bytes (8 MiB + 1)', async () => {
    const len = 8 * 1024 * 1024 + 1;
    const c = await connected();
    c.writeRaw(Buffer.from([0x06, 0, 0, 0, len >>> 16, (len >>> 8) & 0xff, len & 0xff, 0x09, 1, 0, 0, 0]));
    await expectServerClosed(c.socket, 'an 8 MiB + 1 header');
    await expectWarning(c.localPort, { code: 'RTMP_ERR_MESSAGE_TOO_LARGE' });
    await stillServing();
  });

  it('chunk stream id 65599 is legal: a command on it is answered', async () => {
    const c = await connected();
    c.writeRaw(raw({ chunkStreamId: 65599, type: MessageType.CommandAmf0, payload: encodeAmf0(['createStream', 77, null]) }));
    // Transaction 77 is not one the session sent, so the answer comes up as a plain command.
    const answer = await c.waitFor((e) => e.type === 'command' && e.command.name === '_result' && e.command.transactionId === 77);
    assert.ok(answer.type === 'command' && answer.command.args[0] === 2);
    assert.equal(c.closed, false);
    c.destroy();
    await stillServing();
  });

  it('70 distinct chunk stream ids (over the limit of 64)', async () => {
    const parts: Buffer[] = [];
    for (let i = 0; i < 70; i++) {
      // Harmless messages (Acknowledgement) on chunk stream ids 300..369 (2- and 3-byte basic headers).
      parts.push(raw({ chunkStreamId: 300 + i, type: MessageType.Acknowledgement, payload: Buffer.from([0, 0, 0, i]) }));
    }
    await attack(Buffer.concat(parts), { code: 'RTMP_ERR_TOO_MANY_CHUNK_STREAMS' }, '70 chunk streams');
  });

  it('fmt 3 chunk on a fresh chunk stream id', async () => {
    await attack(Buffer.from([0xc0 | 40, 1, 2, 3, 4]), { code: 'RTMP_ERR_NO_PREVIOUS_CHUNK' }, 'fmt 3 on csid 40');
  });

  it('fmt 1 chunk on a fresh chunk stream id', async () => {
    await attack(Buffer.from([0x40 | 41, 0, 0, 0, 0, 0, 4, 9, 1, 2, 3, 4]), { code: 'RTMP_ERR_NO_PREVIOUS_CHUNK' }, 'fmt 1 on csid 41');
  });
});

describe('malformed AMF in commands', () => {
  const name = encodeAmf0(['createStream', 9]);

  it('a truncated object', async () => {
    // Object marker, a key "app" (length 3), a string marker and a string length of 100 with 2 bytes.
    const body = Buffer.concat([name, Buffer.from([0x03, 0x00, 0x03, 0x61, 0x70, 0x70, 0x02, 0x00, 0x64, 0x61, 0x62])]);
    await attack(command(body), { code: 'RTMP_ERR_MALFORMED_MESSAGE', err: /AMF/ }, 'a truncated object');
  });

  it('an unknown type marker', async () => {
    await attack(command(Buffer.concat([name, Buffer.from([0x42, 1, 2, 3])])), { code: 'RTMP_ERR_MALFORMED_MESSAGE' }, 'marker 0x42');
  });

  it('a depth bomb (strict arrays nested 10000 deep)', async () => {
    const depth = 10_000;
    const nest = Buffer.alloc(depth * 5);
    for (let i = 0; i < depth; i++) nest.set([0x0a, 0, 0, 0, 1], i * 5);
    await attack(command(Buffer.concat([name, nest])), { code: 'RTMP_ERR_MALFORMED_MESSAGE', err: /depth|nest/i }, 'a depth bomb');
  });

  it('a long string claiming 4 GiB', async () => {
    await attack(command(Buffer.concat([name, Buffer.from([0x0c, 0xff, 0xff, 0xff, 0xff, 0x41])])), { code: 'RTMP_ERR_MALFORMED_MESSAGE' }, 'a 4 GiB long string');
  });

  it('an AMF3 (type 17) command with an AVM+ value nested 10000 deep', async () => {
    // Type 17: format byte 0, then AMF0 with an AVM+ switch (0x11) into AMF3 dense arrays (0x09, count 1, no assoc keys).
    const nest = Buffer.alloc(10_000 * 3);
    for (let i = 0; i < 10_000; i++) nest.set([0x09, 0x03, 0x01], i * 3);
    const payload = Buffer.concat([Buffer.alloc(1), name, Buffer.from([0x11]), nest]);
    await attack(raw({ type: MessageType.CommandAmf3, payload }), { code: 'RTMP_ERR_MALFORMED_MESSAGE' }, 'an AMF3 depth bomb');
  });

  it('an AMF3 string reference to nothing', async () => {
    const payload = Buffer.concat([Buffer.alloc(1), name, Buffer.from([0x11, 0x06, 0x20])]);
    await attack(raw({ type: MessageType.CommandAmf3, payload }), { code: 'RTMP_ERR_MALFORMED_MESSAGE' }, 'a dangling AMF3 reference');
  });

  it('a command whose name is not a string', async () => {
    await attack(command(encodeAmf0([42, 1, null])), { code: 'RTMP_ERR_MALFORMED_MESSAGE' }, 'a numeric command name');
  });

  it('malformed AMF inside connect itself', async () => {
    const s = await rawHandshake(server.rtmpPort);
    const port = s.localPort!;
    s.write(command(Buffer.concat([encodeAmf0(['connect', 1]), Buffer.from([0x03, 0x00, 0x03, 0x61, 0x70])])));
    await expectServerClosed(s, 'a truncated connect');
    await expectWarning(port, { code: 'RTMP_ERR_MALFORMED_MESSAGE' });
    await stillServing();
  });
});

describe('protocol misuse', () => {
  it('a command before connect', async () => {
    const s = await rawHandshake(server.rtmpPort);
    const port = s.localPort!;
    s.write(command(encodeAmf0(['createStream', 2, null])));
    await expectServerClosed(s, 'createStream before connect');
    const line = await expectWarning(port, { code: 'RTMP_ERR_PROTOCOL' });
    assert.match(String(line['err']), /before connect/);
    await stillServing();
  });

  it('media before connect is ignored until the handshake timeout', async () => {
    const s = await rawHandshake(server.rtmpPort);
    const enc = new ChunkEncoder(128);
    s.write(Buffer.concat([enc.encode(setChunkSize(4096))]));
    enc.setChunkSize(4096);
    for (let i = 0; i < 20; i++) s.write(enc.encode({ chunkStreamId: 6, messageStreamId: 1, type: 9, timestamp: i * 33, payload: randomBytes(3000) }));
    assert.ok(await closedWithin(s, HANDSHAKE_TIMEOUT_MS + 2000), 'closed by the handshake timeout');
    await stillServing();
  });

  it('a publisher sends an aggregate whose sub-message overruns it', async () => {
    const c = await connected();
    await c.publish(`aggregate-${++keySeq}`);
    // One FLV tag header claiming 5000 bytes of body in a 40-byte aggregate.
    const agg = Buffer.alloc(40);
    agg.set([9, 0x00, 0x13, 0x88, 0, 0, 0, 0, 0, 0, 0]);
    c.writeRaw(raw({ chunkStreamId: 6, messageStreamId: c.session.streamId, type: MessageType.Aggregate, payload: agg }));
    await expectServerClosed(c.socket, 'an overrunning aggregate');
    await expectWarning(c.localPort, { code: 'RTMP_ERR_MALFORMED_MESSAGE', err: /aggregate/ });
    await stillServing();
  });

  it('a User Control message too short for its event', async () => {
    await attack(raw({ chunkStreamId: 2, type: MessageType.UserControl, payload: Buffer.from([0, 6, 1]) }), { code: 'RTMP_ERR_MALFORMED_MESSAGE' }, 'a 3-byte PingRequest');
  });

  it('a second connect', async () => {
    const c = await connected();
    c.writeRaw(command(encodeAmf0(['connect', 5, { app: 'live' }])));
    await expectServerClosed(c.socket, 'a second connect');
    await expectWarning(c.localPort, { code: 'RTMP_ERR_PROTOCOL', err: /second connect/ });
    await stillServing();
  });

  it('a flood of createStream: the extra ones get _error, the connection survives and stays bounded', async () => {
    const c = await connected();
    const n = 1000;
    const parts: Buffer[] = [];
    for (let i = 0; i < n; i++) parts.push(...c.session.createStream());
    c.write(parts);
    const deadline = Date.now() + 5000;
    const count = (t: string) => c.events.filter((e) => e.type === t).length;
    while (count('ready') + count('error') < n + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // The session's own createStream plus 7 more make the default limit of 8 streams.
    assert.equal(count('ready'), 8);
    assert.equal(count('error'), n - 7);
    const err = c.events.find((e) => e.type === 'error');
    assert.ok(err && err.type === 'error' && err.command === 'createStream');
    assert.equal(c.closed, false, 'the connection survives');
    // Still usable: publish on its first stream.
    await c.publish('flood-publish');
    c.destroy();
    await stillServing();
  });

  it('publish and play on streams that were never created get _error, nothing more', async () => {
    const c = await connected();
    c.writeRaw(raw({ chunkStreamId: 8, messageStreamId: 99, type: MessageType.CommandAmf0, payload: encodeAmf0(['publish', 0, null, 'x', 'live']) }));
    c.writeRaw(raw({ chunkStreamId: 8, messageStreamId: 98, type: MessageType.CommandAmf0, payload: encodeAmf0(['play', 0, null, 'x']) }));
    await c.waitFor((e) => e.type === 'command' && e.command.name === '_error');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(c.closed, false);
    c.destroy();
    await stillServing();
  });
});
