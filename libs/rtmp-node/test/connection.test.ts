import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { ClientSession, type ClientEvent } from '@firstmile/rtmp';
import type { Logger } from '@firstmile/observability';
import { RtmpServer } from '../src/index.ts';

function recordingLogger(lines: Array<{ level: string; msg: string | undefined }>): Logger {
  const make = (): Logger => ({
    trace: () => {},
    debug: () => {},
    info: () => {},
    warn: (_o, msg) => lines.push({ level: 'warn', msg }),
    error: (_o, msg) => lines.push({ level: 'error', msg }),
    fatal: (_o, msg) => lines.push({ level: 'fatal', msg }),
    child: () => make(),
  });
  return make();
}

async function client(port: number, name: string): Promise<{ socket: Socket; events: ClientEvent[]; closed: Promise<void> }> {
  const session = new ClientSession({ app: 'live', tcUrl: `rtmp://127.0.0.1:${port}/live` });
  const socket = connect(port, '127.0.0.1');
  const events: ClientEvent[] = [];
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  socket.on('data', (d: Buffer) => {
    const r = session.push(d);
    events.push(...r.events);
    for (const b of r.output) socket.write(b);
    if (r.events.some((e) => e.type === 'connected')) for (const b of session.publish(name)) socket.write(b);
  });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  for (const b of session.start()) socket.write(b);
  return { socket, events, closed };
}

test('RtmpServer: an internal error raised for one connection closes that connection only, logged as an error', async (t) => {
  const lines: Array<{ level: string; msg: string | undefined }> = [];
  const server = new RtmpServer({
    host: '127.0.0.1',
    port: 0,
    maxConnections: 10,
    handshakeTimeoutMs: 5000,
    idleTimeoutMs: 0,
    session: {},
    logger: recordingLogger(lines),
    handler: {
      onEvent(c, e) {
        if (e.type === 'connect') c.acceptConnect();
        if (e.type === 'publish') {
          if (e.name === 'boom') throw new TypeError('a bug in application code');
          c.acceptPublish(e.streamId);
        }
      },
      onClose() {},
    },
  });
  await server.listen();
  t.after(() => server.close(100));
  const bad = await client(server.ports.rtmp!, 'boom');
  await bad.closed;
  assert.ok(lines.some((l) => l.level === 'error' && l.msg === 'closing connection: internal error'));
  const good = await client(server.ports.rtmp!, 'fine');
  t.after(() => good.socket.destroy());
  const deadline = Date.now() + 3000;
  while (!good.events.some((e) => e.type === 'publishStart') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(good.events.some((e) => e.type === 'publishStart'), 'the server went on serving other connections');
});
