/**
 * One real-time ~4 Mbit/s publisher, five players that keep up, two that stop reading after 1 s,
 * and two that stall for a while and then read again. The server must keep the good players
 * whole, bound its memory, cut off the stalled players after --slow-player-timeout-ms, skip the
 * temporarily slow ones to a keyframe, and never slow the publisher down.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { startServer, type LogLine, type ServerProcess } from '../harness/server.ts';
import {
  connectClient,
  parseSynthetic,
  publishRealtime,
  type MediaEvent,
  type RtmpTestClient,
  type SyntheticKind,
  type SyntheticMessage,
} from '../harness/client.ts';

const MIN_LAG_BYTES = 262_144;
const SLOW_TIMEOUT_MS = 4000;
/** Publish at least this long, and on until the stalled players are cut off and the lagging one caught up. */
const MIN_PUBLISH_MS = 14_000;
const MAX_PUBLISH_MS = 30_000;
const MiB = 1024 * 1024;
const STREAM = { fps: 30, gop: 30, keyframeBytes: 100_000, frameBytes: 16_000, audioRate: 43, audioBytes: 370 };

let server: ServerProcess;

before(async () => {
  server = await startServer({
    args: ['--player-min-lag-bytes', String(MIN_LAG_BYTES), '--slow-player-timeout-ms', String(SLOW_TIMEOUT_MS)],
    env: { FIRSTMILE_LOG_LEVEL: 'info' },
  });
});

after(async () => {
  assert.equal(await server?.stop(), 0);
});

/** What one player saw: the synthetic (seq, kind) of every media message, and whether each was intact. */
class Watch {
  readonly seqs: number[] = [];
  readonly kinds: SyntheticKind[] = [];
  /** performance.now() of each message's arrival. */
  readonly times: number[] = [];
  bad = 0;
  outOfOrder = 0;
  /** Largest time from the publisher's send to this player's receipt, ms. */
  maxLatency = 0;
  readonly #published: Map<number, Buffer>;
  readonly #sentAt: Map<number, number>;

  constructor(published: Map<number, Buffer>, sentAt: Map<number, number>) {
    this.#published = published;
    this.#sentAt = sentAt;
  }

  onMedia = (e: MediaEvent): void => {
    const p = parseSynthetic(e.payload);
    if (!p) {
      this.bad++;
      return;
    }
    const original = this.#published.get(p.seq);
    if (!original || !original.equals(e.payload)) this.bad++;
    if (this.seqs.length > 0 && p.seq <= this.seqs.at(-1)!) this.outOfOrder++;
    this.seqs.push(p.seq);
    this.kinds.push(p.kind);
    const now = performance.now();
    this.times.push(now);
    const sent = this.#sentAt.get(p.seq);
    if (sent !== undefined) this.maxLatency = Math.max(this.maxLatency, now - sent);
  };
}

function linesFor(port: number, msg: string): LogLine[] {
  return server.logs.filter((l) => l['remote'] === `127.0.0.1:${port}` && l.msg === msg);
}

const logTime = (l: LogLine): number => Date.parse(String(l['time']));

/**
 * Video messages a player got after skipping some: each must be a keyframe (a skip never lands
 * mid-GOP). Returns how many skips there were.
 */
function checkSkipsLandOnKeyframes(w: Watch, publishedVideo: number[], name: string): number {
  const nextVideo = new Map<number, number>();
  for (let i = 0; i + 1 < publishedVideo.length; i++) nextVideo.set(publishedVideo[i]!, publishedVideo[i + 1]!);
  let prev: number | undefined;
  let skips = 0;
  for (let i = 0; i < w.seqs.length; i++) {
    const k = w.kinds[i]!;
    if (k !== 'keyframe' && k !== 'interframe') continue;
    const seq = w.seqs[i]!;
    if (prev !== undefined && nextVideo.get(prev) !== seq) {
      skips++;
      assert.equal(k, 'keyframe', `${name}: after skipping from video #${prev}, the next video #${seq} is not a keyframe`);
    }
    prev = seq;
  }
  return skips;
}

describe('slow players', () => {
  it('stalled players are cut off, slow ones skip to a keyframe, the rest and the publisher are untouched', async () => {
    const url = server.url('live/slow-player-test');
    const published = new Map<number, Buffer>();
    const sentAt = new Map<number, number>();
    const publishedVideo: number[] = [];
    const publisher = await connectClient(url);
    await publisher.publish();

    const watch = (): { w: Watch; connect: () => Promise<RtmpTestClient> } => {
      const w = new Watch(published, sentAt);
      return { w, connect: () => connectClient(url, { onMedia: w.onMedia }) };
    };
    const good = Array.from({ length: 5 }, watch);
    const stalled = Array.from({ length: 2 }, watch);
    const shortPause = watch();
    const lagging = watch();
    const all = [...good, ...stalled, shortPause, lagging];
    const clients = await Promise.all(all.map((x) => x.connect()));
    await Promise.all(clients.map((c) => c.play()));
    const [goodClients, stalledClients, shortClient, lagClient] = [clients.slice(0, 5), clients.slice(5, 7), clients[7]!, clients[8]!];

    await new Promise((r) => setTimeout(r, 300));
    const baseline = server.rss();
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(server.rss()), 500);

    const t0 = performance.now();
    let pausedAt = 0;
    const timers = [
      setTimeout(() => {
        pausedAt = performance.now();
        for (const c of stalledClients) c.pauseReading();
      }, 1000),
      setTimeout(() => {
        shortClient.pauseReading();
        setTimeout(() => shortClient.resumeReading(), 2000);
      }, 3000),
    ];
    // The lagging player stops reading at 2 s and resumes 1 s after the server says it is too slow.
    let lagResumedAt = 0;
    const lagDone = (async () => {
      await new Promise((r) => setTimeout(r, 2000));
      lagClient.pauseReading();
      await server.waitForLog((l) => l['remote'] === `127.0.0.1:${lagClient.localPort}` && l.msg === 'player is too slow: skipping to the next keyframe', MAX_PUBLISH_MS);
      await new Promise((r) => setTimeout(r, 1000));
      lagResumedAt = performance.now();
      lagClient.resumeReading();
    })();
    lagDone.catch(() => {});

    // Kernel socket buffers absorb several MB of a paused player's stream before the server's own
    // queue grows, so how soon a player falls behind depends on the machine: publish until the
    // outcome is known rather than for a fixed time.
    const settled = () =>
      stalledClients.every((c) => linesFor(c.localPort, 'disconnecting player: too slow for too long').length > 0) &&
      linesFor(lagClient.localPort, 'player caught up').length > 0;
    const result = await publishRealtime(publisher, MAX_PUBLISH_MS, {
      ...STREAM,
      stopWhen: (elapsed) => elapsed >= MIN_PUBLISH_MS && settled(),
      keepPayloads: true,
      onSent: (m: SyntheticMessage) => {
        published.set(m.seq, m.payload);
        sentAt.set(m.seq, performance.now());
        if (m.type === 9 && (m.kind === 'keyframe' || m.kind === 'interframe')) publishedVideo.push(m.seq);
      },
    });
    const publishEnd = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    clearInterval(sampler);
    for (const t of timers) clearTimeout(t);

    const total = result.sent.length;
    const bytes = result.sent.reduce((n, m) => n + m.payload.length, 0);
    const rates = (x: number) => `${((x * 8) / ((publishEnd - t0) / 1000) / 1e6).toFixed(2)} Mbit/s`;
    console.log(`published ${total} messages, ${(bytes / MiB).toFixed(1)} MiB (${rates(bytes)}) in ${(publishEnd - t0).toFixed(0)} ms; publisher max lateness ${result.maxLateMs.toFixed(1)} ms, max writableLength ${result.maxWritableLength} B`);
    const growth = samples.map((s) => s - baseline);
    console.log(`server RSS baseline ${(baseline / MiB).toFixed(1)} MiB; growth every 500 ms (MiB): ${growth.map((g) => (g / MiB).toFixed(1)).join(' ')}`);

    // (a) The good players got (nearly) everything, in order, byte for byte.
    good.forEach(({ w }, i) => {
      console.log(`good player ${i}: ${w.seqs.length}/${total} messages (${((100 * w.seqs.length) / total).toFixed(1)}%), max latency ${w.maxLatency.toFixed(1)} ms`);
      assert.equal(w.bad, 0, `good player ${i} got ${w.bad} corrupt messages`);
      assert.equal(w.outOfOrder, 0, `good player ${i} got messages out of order`);
      assert.ok(w.seqs.length >= 0.95 * total, `good player ${i} got ${w.seqs.length} of ${total}`);
      assert.equal(goodClients[i]!.closed, false);
    });

    // (b) Memory stayed bounded.
    const maxGrowth = Math.max(...growth);
    assert.ok(maxGrowth < 64 * MiB, `server RSS grew by ${(maxGrowth / MiB).toFixed(1)} MiB`);

    // (c) The stalled players were disconnected, slowPlayerTimeout after the server found them behind.
    // A paused socket cannot see the close, so the server's log says when it closed; reading
    // again afterwards must then hit the end of the connection.
    const pausedAtWall = Math.round(Date.now() - (performance.now() - pausedAt));
    for (const [i, c] of stalledClients.entries()) {
      const behind = linesFor(c.localPort, 'player is too slow: skipping to the next keyframe')[0];
      const cut = linesFor(c.localPort, 'disconnecting player: too slow for too long')[0];
      const closed = linesFor(c.localPort, 'connection closed')[0];
      assert.ok(behind && cut && closed, `stalled player ${i}: missing log lines (behind: ${!!behind}, disconnect: ${!!cut}, closed: ${!!closed})`);
      assert.equal(closed['reason'], 'player too slow');
      const behindFor = logTime(cut) - logTime(behind);
      const sincePause = logTime(closed) - pausedAtWall;
      console.log(
        `stalled player ${i}: fell behind ${logTime(behind) - pausedAtWall} ms after it stopped reading ` +
          `(unsent ${String(behind['unsentBytes'])} B > limit ${String(behind['limit'])} B), disconnected ${behindFor} ms later, ` +
          `${sincePause} ms after the pause; it had received ${c.bytesIn} B`,
      );
      assert.ok(behindFor >= SLOW_TIMEOUT_MS - 50 && behindFor <= SLOW_TIMEOUT_MS + 1500, `disconnected ${behindFor} ms after falling behind`);
      assert.ok(sincePause <= 25_000, `disconnected ${sincePause} ms after it stopped reading`);
      assert.equal(stalled[i]!.w.bad, 0);
      c.resumeReading();
      assert.ok(await c.closedWithin(5000), `stalled player ${i}: the connection did not end when it read again`);
    }

    // (d) The publisher was never slowed down: its sends kept to the stream clock, its socket never
    // backed up, and what it sent reached the good players promptly all along (a server that
    // stopped reading the publisher would show here first, while kernel buffers hide it from
    // writableLength).
    assert.ok(result.maxLateMs < 1000, `a publisher send was ${result.maxLateMs.toFixed(0)} ms late`);
    for (const [i, { w }] of good.entries()) assert.ok(w.maxLatency < 1000, `good player ${i}: a message took ${w.maxLatency.toFixed(0)} ms to arrive`);
    assert.ok(result.maxWritableLength < 512 * 1024, `the publisher's socket backed up to ${result.maxWritableLength} bytes`);
    assert.equal(publisher.closed, false);

    // The player paused for 2 s caught up, on a keyframe if it lost anything.
    {
      const w = shortPause.w;
      const skips = checkSkipsLandOnKeyframes(w, publishedVideo, 'short-pause player');
      const fellBehind = linesFor(shortClient.localPort, 'player is too slow: skipping to the next keyframe').length > 0;
      console.log(`short-pause player: ${w.seqs.length}/${total} messages, ${skips} skips, ${fellBehind ? 'fell behind' : 'never fell behind (kernel buffers absorbed the pause)'}`);
      assert.equal(shortClient.closed, false);
      assert.equal(w.bad + w.outOfOrder, 0);
      if (skips > 0 || fellBehind) assert.ok(linesFor(shortClient.localPort, 'player caught up').length > 0, 'short-pause player: no "player caught up" log');
      else assert.equal(w.seqs.length, total, 'short-pause player lost messages without a skip');
    }

    // The player that stayed behind for 1 s and then read again skipped to a keyframe and caught up.
    {
      await lagDone;
      const w = lagging.w;
      const skips = checkSkipsLandOnKeyframes(w, publishedVideo, 'lagging player');
      const caughtUp = linesFor(lagClient.localPort, 'player caught up')[0];
      const behind = linesFor(lagClient.localPort, 'player is too slow: skipping to the next keyframe')[0];
      console.log(`lagging player: ${w.seqs.length}/${total} messages, ${skips} skip(s); caught up ${caughtUp ? `${logTime(caughtUp) - logTime(behind!)} ms after falling behind (behindMs ${String(caughtUp['behindMs'])}, dropped ${String(caughtUp['dropped'])})` : 'never'}`);
      assert.ok(lagResumedAt > 0);
      assert.equal(lagClient.closed, false, 'lagging player was disconnected');
      assert.ok(behind, 'lagging player never fell behind');
      assert.ok(caughtUp, 'no "player caught up" log for the lagging player');
      assert.ok(skips >= 1, 'lagging player lost nothing: it never skipped');
      assert.equal(w.bad + w.outOfOrder, 0);
      // After catching up it receives the stream to the end.
      assert.equal(w.seqs.at(-1), result.sent.at(-1)!.seq);
    }

    for (const c of [publisher, ...clients]) c.destroy();
  });
});
