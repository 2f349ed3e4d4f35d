/**
 * --max-connections 20: connections over the limit are closed on accept with a warning; once the
 * held ones close, new connections are served again.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { startServer, type ServerProcess } from '../harness/server.ts';
import { checkPublishPlay, closedWithin, rawConnect } from '../harness/client.ts';

const LIMIT = 20;

let server: ServerProcess;

before(async () => {
  server = await startServer({ args: ['--max-connections', String(LIMIT)] });
});

after(async () => {
  assert.equal(await server?.stop(), 0);
});

const refusals = () => server.logs.filter((l) => l.level === 40 && l.msg === 'refusing connection: connection limit reached').length;
const closes = () => server.logs.filter((l) => l.msg === 'connection closed').length;

describe('connection limit', () => {
  it(`with --max-connections ${LIMIT}, 25 connections: the extra 5 are closed at once, and new ones work after the others leave`, async () => {
    const sockets: Socket[] = [];
    // One at a time, so which ones are over the limit is deterministic.
    for (let i = 0; i < 25; i++) {
      sockets.push(await rawConnect(server.rtmpPort));
      await new Promise((r) => setTimeout(r, 10));
    }
    const held = sockets.slice(0, LIMIT);
    const extra = sockets.slice(LIMIT);
    const extraClosed = await Promise.all(extra.map((s) => closedWithin(s, 1000)));
    assert.deepEqual(extraClosed, [true, true, true, true, true], 'the 5 over the limit are closed immediately');
    for (let i = 0; i < 20 && refusals() < 5; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(refusals(), 5);
    const line = server.logs.find((l) => l.msg === 'refusing connection: connection limit reached')!;
    assert.equal(line['limit'], LIMIT);
    assert.ok(held.every((s) => !s.closed), 'the first 20 are still open');

    // At the limit, a publish cannot even connect.
    const over = await rawConnect(server.rtmpPort);
    assert.ok(await closedWithin(over, 1000));

    const closesBefore = closes();
    for (const s of held) s.destroy();
    // The server frees their slots when it sees them close.
    for (let i = 0; i < 100 && closes() < closesBefore + LIMIT; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(closes() - closesBefore, LIMIT);
    await checkPublishPlay(server.url('live/after-limit'));

    // And the limit still holds: 20 open again, the 21st refused.
    const again: Socket[] = [];
    for (let i = 0; i < LIMIT; i++) again.push(await rawConnect(server.rtmpPort));
    await new Promise((r) => setTimeout(r, 100));
    const next = await rawConnect(server.rtmpPort);
    assert.ok(await closedWithin(next, 1000));
    assert.ok(again.every((s) => !s.closed));
    for (const s of again) s.destroy();
  });
});
