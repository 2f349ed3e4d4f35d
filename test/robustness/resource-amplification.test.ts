/**
 * Inputs that stay within every per-connection cap but make the server spend far more memory or
 * CPU than the bytes sent: the caps must bound the cost, not only the counts. One server for the
 * file, because these tests move its RSS and event-loop latency on purpose.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeAmf0 } from '@firstmile/amf';
import { MessageType, encodeChunks } from '@firstmile/rtmp';
import { startServer, type ServerProcess } from '../harness/server.ts';
import { Bystander, checkPublishPlay, closedWithin, connectClient, rawHandshake, type RtmpTestClient } from '../harness/client.ts';

const MiB = 1024 * 1024;

let server: ServerProcess;
let probe: RtmpTestClient;
let bystander: Bystander;

before(async () => {
  server = await startServer();
  probe = await connectClient(server.url('live/probe'));
  bystander = await Bystander.start(server.url('live/bystander'));
});

after(async () => {
  bystander?.stop();
  probe?.destroy();
  assert.equal(await server?.stop(), 0);
});

/** Partial message on `csid` of `length` bytes at chunk size 1: header, then `length - 1` one-byte fmt 3 chunks. */
function oneByteChunks(csid: number, length: number): Buffer {
  const header = Buffer.from([csid, 0, 0, 0, length >>> 16, (length >>> 8) & 0xff, length & 0xff, 0x09, 1, 0, 0, 0, 0x55]);
  const n = length - 2; // leave the message one byte short of complete
  const body = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) {
    body[2 * i] = 0xc0 | csid;
    body[2 * i + 1] = i & 0xff;
  }
  return Buffer.concat([header, body]);
}

async function waitDrained(c: RtmpTestClient, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (c.writableLength > 0 && !c.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

describe('bounded cost of capped inputs', () => {
  it('partial messages over the buffered-bytes cap (32 MiB) close the connection', async () => {
    const c = await connectClient(server.url('live/buffer-cap'));
    const len = 7 * MiB;
    // Five 7 MiB messages on five chunk streams at chunk size 4096, each cut before its last chunk
    // (at a chunk boundary, so the next header parses as a header).
    for (const csid of [10, 11, 12, 13, 14]) {
      const chunks = encodeChunks({ chunkStreamId: csid, messageStreamId: 1, type: 9, timestamp: 0, payload: Buffer.alloc(len, csid) }, 4096);
      c.writeRaw(chunks.subarray(0, chunks.length - 4097));
    }
    assert.ok(await closedWithin(c.socket, 10_000), 'closed at the buffer cap');
    await server.waitForLog((l) => l['remote'] === `127.0.0.1:${c.localPort}` && l['code'] === 'RTMP_ERR_BUFFER_LIMIT', 2000);
    await checkPublishPlay(server.url('live/after-buffer-cap'));
    await bystander.check();
  });

  it('chunk size 1: a 4 MiB partial message costs about 4 MiB, not one object per byte', async () => {
    const c = await connectClient(server.url('live/chunk-size-1'));
    const baseline = server.rss();
    c.writeRaw(encodeChunks({ chunkStreamId: 2, messageStreamId: 0, type: MessageType.SetChunkSize, timestamp: 0, payload: Buffer.from([0, 0, 0, 1]) }, 4096));
    const t0 = Date.now();
    c.writeRaw(oneByteChunks(6, 4 * MiB));
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, server.rss() - baseline);
    }, 100);
    await waitDrained(c, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    clearInterval(sampler);
    peak = Math.max(peak, server.rss() - baseline);
    const ping = await probe.ping();
    console.log(`chunk size 1, 4 MiB partial message: server RSS +${(peak / MiB).toFixed(0)} MiB, ${Date.now() - t0} ms to take 8 MiB of wire bytes, probe ping ${ping.toFixed(1)} ms`);
    c.destroy();
    assert.ok(peak < 48 * MiB, `server RSS grew by ${(peak / MiB).toFixed(0)} MiB holding a 4 MiB partial message`);
  });

  it('a connect whose app is 65000 slashes does not block the event loop', async () => {
    assert.ok((await probe.ping()) < 100);
    const s = await rawHandshake(server.rtmpPort);
    const app = `${'/'.repeat(65_000)}x`;
    s.write(encodeChunks({ chunkStreamId: 3, messageStreamId: 0, type: MessageType.CommandAmf0, timestamp: 0, payload: encodeAmf0(['connect', 1, { app }]) }, 128));
    await new Promise((r) => setTimeout(r, 20));
    const ping = await probe.ping();
    console.log(`ping right after a 65000-slash app: ${ping.toFixed(1)} ms`);
    assert.ok(await closedWithin(s, 5000), 'the bad app is rejected and the connection closed');
    s.destroy();
    assert.ok(ping < 200, `the event loop was blocked: ping took ${ping.toFixed(0)} ms`);
  });

  it('a client that sends commands but never reads cannot grow the server\'s memory without bound', async () => {
    const c = await connectClient(server.url('live/never-reads'));
    for (let i = 0; i < 7; i++) c.write(c.session.createStream());
    await c.waitFor((e) => e.type === 'ready' && (e as { streamId: number }).streamId === 8);
    c.pauseReading();
    const baseline = server.rss();
    // createStream over the 8-stream limit: 26 bytes each with header compression, answered by _error.
    const one = c.session.encode({ chunkStreamId: 3, messageStreamId: 0, type: MessageType.CommandAmf0, timestamp: 0, payload: encodeAmf0(['createStream', 9, null]) });
    const again = c.session.encode({ chunkStreamId: 3, messageStreamId: 0, type: MessageType.CommandAmf0, timestamp: 0, payload: encodeAmf0(['createStream', 9, null]) });
    c.writeRaw(one);
    const block = Buffer.concat(Array.from({ length: 10_000 }, () => again));
    let sent = 0;
    let peak = 0;
    const t0 = Date.now();
    while (sent < 16 * MiB && Date.now() - t0 < 6000 && !c.closed) {
      if (c.writableLength < MiB) {
        c.writeRaw(block);
        sent += block.length;
      }
      await new Promise((r) => setTimeout(r, 5));
      peak = Math.max(peak, server.rss() - baseline);
    }
    await new Promise((r) => setTimeout(r, 500));
    peak = Math.max(peak, server.rss() - baseline);
    console.log(`never-reading client sent ${(sent / MiB).toFixed(1)} MiB of commands in ${Date.now() - t0} ms: server RSS +${(peak / MiB).toFixed(0)} MiB, closed by the server: ${c.closed}`);
    c.destroy();
    assert.ok(peak < 64 * MiB, `server RSS grew by ${(peak / MiB).toFixed(0)} MiB`);
  });

  it('the server is still serving and the bystander was never cut off', async () => {
    await checkPublishPlay(server.url('live/after-all'));
    await bystander.check();
    assert.equal(bystander.corrupt, 0);
    assert.equal(server.proc.exitCode, null);
  });
});
