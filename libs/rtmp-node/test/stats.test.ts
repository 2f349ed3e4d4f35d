import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { Registry } from 'prom-client';
import { ClientSession, type ClientEvent } from '@firstmile/rtmp';
import { bindRtmpServerMetrics, createMetrics, nullLogger } from '@firstmile/observability';
import { RtmpServer, type RtmpServerOptions } from '../src/index.ts';

/** A real client over a real socket, counting every byte it writes and reads. */
interface Client {
  socket: Socket;
  session: ClientSession;
  events: ClientEvent[];
  written: number;
  read: number;
  closed: Promise<void>;
  write(buffers: Buffer[]): void;
}

async function client(port: number, onConnected?: (c: Client) => void): Promise<Client> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  const c: Client = {
    socket,
    session: new ClientSession({ app: 'live', tcUrl: `rtmp://127.0.0.1:${port}/live` }),
    events: [],
    written: 0,
    read: 0,
    closed: new Promise<void>((resolve) => socket.once('close', () => resolve())),
    write(buffers) {
      for (const b of buffers) {
        c.written += b.length;
        socket.write(b);
      }
    },
  };
  socket.on('data', (d: Buffer) => {
    c.read += d.length;
    const r = c.session.push(d);
    c.events.push(...r.events);
    c.write(r.output);
    if (r.events.some((e) => e.type === 'connected')) onConnected?.(c);
  });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  c.write(c.session.start());
  return c;
}

async function until(what: string, ok: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function start(t: TestContext, overrides: Partial<RtmpServerOptions> = {}): Promise<RtmpServer> {
  const server = new RtmpServer({
    host: '127.0.0.1',
    port: 0,
    maxConnections: 10,
    handshakeTimeoutMs: 5000,
    idleTimeoutMs: 0,
    session: {},
    logger: nullLogger,
    handler: {
      onEvent(c, e) {
        if (e.type === 'connect') c.acceptConnect();
        if (e.type === 'publish') c.acceptPublish(e.streamId);
        if (e.type === 'play') c.acceptPlay(e.streamId, e.reset);
      },
      onClose() {},
    },
    ...overrides,
  });
  await server.listen();
  t.after(() => server.close(100));
  return server;
}

test('RtmpServer.stats(): an accepted publisher is counted through its states, with its exact bytes in and out', async (t) => {
  const server = await start(t);
  assert.deepEqual(server.stats().connections, { handshake: 0, connected: 0, publishing: 0, playing: 0 });
  const c = await client(server.ports.rtmp!, (cl) => cl.write(cl.session.publish('cam')));
  await until('publishing', () => c.events.some((e) => e.type === 'publishStart'));
  await until('the server has read every byte the client wrote', () => server.stats().bytesReceived === c.written);
  const s = server.stats();
  assert.equal(s.accepted, 1);
  assert.equal(s.open, 1);
  assert.deepEqual(s.connections, { handshake: 0, connected: 0, publishing: 1, playing: 0 });
  assert.equal(s.bytesSent, c.read, 'bytes sent are what the client read');

  // Media adds to bytes in; FCUnpublish/deleteStream ends the publish and the connection is back to connected.
  c.write([c.session.sendMedia(9, 0, Buffer.alloc(10_000, 1))]);
  await until('media counted', () => server.stats().bytesReceived === c.written);
  c.write(c.session.deleteStream());
  await until('unpublished', () => server.stats().connections.connected === 1);
  assert.equal(server.stats().connections.publishing, 0);

  c.socket.end();
  await until('closed', () => server.stats().open === 0);
  const after = server.stats();
  assert.equal(after.closed.ok, 1);
  assert.deepEqual(after.connections, { handshake: 0, connected: 0, publishing: 0, playing: 0 });
  assert.equal(after.bytesReceived, c.written, 'a closed connection keeps its bytes in the totals');
  assert.equal(after.bytesSent, c.read);
});

test('RtmpServer.stats(): a player is counted as playing', async (t) => {
  const server = await start(t);
  const c = await client(server.ports.rtmp!, (cl) => cl.write(cl.session.play('cam')));
  t.after(() => c.socket.destroy());
  await until('playing', () => server.stats().connections.playing === 1);
  assert.equal(server.stats().connections.connected, 0);
});

test('RtmpServer.stats(): connections over maxConnections are refused and counted as max_connections', async (t) => {
  const server = await start(t, { maxConnections: 1 });
  const first = await client(server.ports.rtmp!);
  t.after(() => first.socket.destroy());
  await until('first accepted', () => server.stats().accepted === 1);
  const second = connect(server.ports.rtmp!, '127.0.0.1');
  second.on('error', () => {});
  await new Promise<void>((resolve) => second.once('close', () => resolve()));
  const s = server.stats();
  assert.equal(s.accepted, 1);
  assert.equal(s.refused.max_connections, 1);
  assert.equal(s.open, 1);
});

test('RtmpServer.stats(): a socket that never completes RTMP connect is closed as handshake_timeout', async (t) => {
  const server = await start(t, { handshakeTimeoutMs: 150 });
  const silent = connect(server.ports.rtmp!, '127.0.0.1');
  silent.on('error', () => {});
  await new Promise<void>((resolve) => silent.once('close', () => resolve()));
  await until('counted', () => server.stats().open === 0);
  const s = server.stats();
  assert.equal(s.closed.handshake_timeout, 1);
  assert.equal(s.connections.handshake, 0);
});

test('RtmpServer.stats(): a bad handshake version is closed as protocol_error, an idle peer as idle_timeout', async (t) => {
  const server = await start(t, { idleTimeoutMs: 200 });
  const bad = connect(server.ports.rtmp!, '127.0.0.1');
  bad.on('error', () => {});
  bad.write(Buffer.concat([Buffer.from([0x7f]), Buffer.alloc(1536)]));
  await new Promise<void>((resolve) => bad.once('close', () => resolve()));

  const idle = await client(server.ports.rtmp!);
  await idle.closed;
  await until('counted', () => server.stats().open === 0);
  const s = server.stats();
  assert.equal(s.closed.protocol_error, 1);
  assert.equal(s.closed.idle_timeout, 1);
  assert.equal(s.accepted, 2);
});

test('RtmpServer.stats(): connections ended by close() are counted as shutdown', async (t) => {
  const server = await start(t);
  const c = await client(server.ports.rtmp!);
  await until('connected', () => server.stats().connections.connected === 1);
  await server.close(500);
  await c.closed;
  assert.equal(server.stats().closed.shutdown, 1);
});

test('bindRtmpServerMetrics() exposes the server counters at scrape time', async (t) => {
  const server = await start(t, { maxConnections: 1 });
  const registry = new Registry();
  const metrics = createMetrics({ registry, service: 'edge', version: 'test', maxStreams: 10 });
  let now = 0;
  const unbind = bindRtmpServerMetrics(metrics, server, 'edge', { ingressBitrate: true, now: () => now });

  const c = await client(server.ports.rtmp!, (cl) => cl.write(cl.session.publish('cam')));
  await until('publishing', () => c.events.some((e) => e.type === 'publishStart'));
  const refused = connect(server.ports.rtmp!, '127.0.0.1');
  refused.on('error', () => {});
  await new Promise<void>((resolve) => refused.once('close', () => resolve()));
  await until('every byte read', () => server.stats().bytesReceived === c.written);
  now = 2000;

  const text = await registry.metrics();
  assert.match(text, /^firstmile_connections_total\{service="edge",result="accepted",reason="ok"\} 1$/m);
  assert.match(text, /^firstmile_connections_total\{service="edge",result="refused",reason="max_connections"\} 1$/m);
  assert.match(text, /^firstmile_connections\{service="edge",state="publishing"\} 1$/m);
  assert.match(text, /^firstmile_max_connections\{service="edge"\} 1$/m);
  assert.match(text, new RegExp(`^firstmile_bytes_received_total\\{service="edge"\\} ${c.written}$`, 'm'));
  assert.match(text, new RegExp(`^firstmile_bytes_sent_total\\{service="edge"\\} ${c.read}$`, 'm'));
  assert.match(text, new RegExp(`^firstmile_ingress_bitrate_bps ${Math.round((c.written * 8) / 2)}$`, 'm'));

  // A second scrape adds only what is new.
  c.socket.end();
  await until('closed', () => server.stats().open === 0);
  const again = await registry.metrics();
  assert.match(again, /^firstmile_connections_total\{service="edge",result="accepted",reason="ok"\} 1$/m);
  assert.match(again, /^firstmile_connections_total\{service="edge",result="closed",reason="ok"\} 1$/m);
  assert.match(again, /^firstmile_connections\{service="edge",state="publishing"\} 0$/m);
  unbind();
});

for (const shared of [true, false]) {
  test(`RtmpServer: concurrent publishers' media arrives byte for byte ${shared ? 'through the shared read buffer' : 'with per-read buffers'}`, async (t) => {
    // Every payload the handler sees, per connection: with one read buffer shared by all sockets,
    // a payload kept as a view of it would be overwritten by the other publisher's next read.
    const seen = new Map<string, Buffer[]>();
    const server = await start(t, {
      sharedReadBufferBytes: shared ? 64 * 1024 : 0,
      handler: {
        onEvent(c, e) {
          if (e.type === 'connect') c.acceptConnect();
          if (e.type === 'publish') c.acceptPublish(e.streamId);
          if (e.type === 'media') {
            const list = seen.get(c.id) ?? [];
            list.push(e.message.payload);
            seen.set(c.id, list);
          }
        },
        onClose() {},
      },
    });
    assert.equal(server.sharedReadBuffer, shared);
    const sizes = [100, 3000, 20_000, 70_000, 150_000];
    const payload = (who: number, i: number): Buffer => {
      const b = Buffer.alloc(sizes[i % sizes.length]!);
      for (let j = 0; j < b.length; j++) b[j] = (j * 31 + i * 7 + who * 101) & 0xff;
      return b;
    };
    const clients = await Promise.all([0, 1].map((who) => client(server.ports.rtmp!, (cl) => cl.write(cl.session.publish(`cam${who}`)))));
    await until('both publishing', () => clients.every((c) => c.events.some((e) => e.type === 'publishStart')));
    const count = 40;
    for (let i = 0; i < count; i++) {
      for (const [who, c] of clients.entries()) c.write([c.session.sendMedia(9, i * 33, payload(who, i))]);
      if (i % 8 === 7) await new Promise((r) => setImmediate(r));
    }
    await until('every message arrived', () => [...seen.values()].reduce((n, l) => n + l.length, 0) === 2 * count, 10_000);
    const byConnection = [...server.connections].sort((a, b) => a.bytesIn - b.bytesIn);
    assert.equal(byConnection.length, 2);
    for (const connection of byConnection) {
      const got = seen.get(connection.id)!;
      const who = got[0]![0] === payload(0, 0)[0] ? 0 : 1;
      for (let i = 0; i < count; i++) assert.ok(got[i]!.equals(payload(who, i)), `publisher ${who}, message ${i}`);
    }
    for (const c of clients) c.socket.destroy();
  });
}
