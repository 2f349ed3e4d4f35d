/**
 * Connections that never get anywhere: 300 that send nothing and 100 that complete the handshake
 * but never connect. The handshake timeout closes them all; meanwhile a normal publish + play
 * works, and afterwards the server's memory is back near where it was.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { startServer, type ServerProcess } from '../harness/server.ts';
import { checkPublishPlay, closedWithin, rawConnect, rawHandshake } from '../harness/client.ts';

const HANDSHAKE_TIMEOUT_MS = 1500;
const SILENT = 300;
const HANDSHAKE_ONLY = 100;
const MiB = 1024 * 1024;

let server: ServerProcess;

before(async () => {
  server = await startServer({ args: ['--handshake-timeout-ms', String(HANDSHAKE_TIMEOUT_MS)], env: { FIRSTMILE_LOG_LEVEL: 'info' } });
});

after(async () => {
  assert.equal(await server?.stop(), 0);
});

async function inBatches<T>(n: number, batch: number, open: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += batch) out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, open))));
  return out;
}

describe('idle connections', () => {
  it(`${SILENT} silent and ${HANDSHAKE_ONLY} handshake-only connections are all closed by the handshake timeout`, async () => {
    // Warm up the paths a publish/play uses, so the baseline is not a cold process.
    await checkPublishPlay(server.url('live/warmup'));
    await new Promise((r) => setTimeout(r, 500));
    const baseline = server.rss();

    const t0 = Date.now();
    const silent: Socket[] = await inBatches(SILENT, 50, () => rawConnect(server.rtmpPort));
    const shaken: Socket[] = await inBatches(HANDSHAKE_ONLY, 25, () => rawHandshake(server.rtmpPort));
    const opened = Date.now() - t0;
    const peak = server.rss();

    // While they are open, the server serves normally.
    await checkPublishPlay(server.url('live/during'));
    const stillOpen = [...silent, ...shaken].filter((s) => !s.closed).length;
    assert.ok(stillOpen > 0, 'the test ran before the timeout closed everything');

    // Everything was opened within `opened` ms; all must be closed within the timeout plus a margin.
    const bound = opened + HANDSHAKE_TIMEOUT_MS + 3000;
    const results = await Promise.all([...silent, ...shaken].map((s) => closedWithin(s, Math.max(0, bound - (Date.now() - t0)))));
    const closedAfter = Date.now() - t0;
    const notClosed = results.filter((x) => !x).length;
    assert.equal(notClosed, 0, `${notClosed} connections still open after ${closedAfter} ms`);

    const timedOut = () => server.logs.filter((l) => l.msg === 'connection closed' && /no RTMP connect within 1500 ms/.test(String(l['reason']))).length;
    for (let i = 0; i < 40 && timedOut() < SILENT + HANDSHAKE_ONLY; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(timedOut() >= SILENT + HANDSHAKE_ONLY, `only ${timedOut()} closes logged with the handshake-timeout reason`);

    await checkPublishPlay(server.url('live/after'));
    // Give the GC a moment, then compare.
    await new Promise((r) => setTimeout(r, 1500));
    const after = server.rss();
    console.log(
      `idle connections: opened ${SILENT + HANDSHAKE_ONLY} in ${opened} ms, all closed ${closedAfter} ms after the first; ` +
        `server RSS baseline ${(baseline / MiB).toFixed(1)} MiB, with them open ${(peak / MiB).toFixed(1)} MiB, after ${(after / MiB).toFixed(1)} MiB`,
    );
    assert.ok(after - baseline < 24 * MiB, `RSS after the idle connections closed is ${((after - baseline) / MiB).toFixed(1)} MiB above the baseline`);
    assert.equal(server.proc.exitCode, null);
  });
});
