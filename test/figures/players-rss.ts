/**
 * Figure: server memory and delivery with 100 players on one stream. Starts `firstmile up`,
 * publishes a synthetic ~3 Mbit/s stream in real time, then connects 100 players and keeps them
 * for 10 s. Prints the server's RSS idle, with the publisher, and with the players, and what
 * fraction of the messages published while each player was attached it received.
 * Run: node test/figures/players-rss.ts [players] [seconds]
 */
import { performance } from 'node:perf_hooks';
import { startServer } from '../harness/server.ts';
import { connectClient, parseSynthetic, publishRealtime, type RtmpTestClient, type SyntheticMessage } from '../harness/client.ts';

const PLAYERS = Number(process.argv[2] ?? 100);
const SECONDS = Number(process.argv[3] ?? 10);
// 30 fps, 2 s GOP: 64 KB keyframes, 11.5 KB frames, 43 AAC frames/s: ~3 Mbit/s.
const STREAM = { fps: 30, gop: 60, keyframeBytes: 64_000, frameBytes: 11_500, audioRate: 43, audioBytes: 370 };
const MiB = 1024 * 1024;
const mib = (b: number) => `${(b / MiB).toFixed(1)} MiB`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const server = await startServer({ env: { FIRSTMILE_LOG_LEVEL: 'info' } });
await sleep(1000);
const idle = server.rss();
const url = server.url('live/players-rss');
const publisher = await connectClient(url);
await publisher.publish();
/** performance.now() at which each published message was sent, by seq. */
const sentAt: number[] = [];
let bytes = 0;
let stop = false;
const t0 = performance.now();
const publishing = publishRealtime(publisher, 600_000, {
  ...STREAM,
  stopWhen: () => stop,
  onSent: (m: SyntheticMessage) => {
    sentAt[m.seq] = performance.now();
    bytes += m.payload.length;
  },
});
await sleep(3000);
const withPublisher = server.rss();

const players: RtmpTestClient[] = [];
const joinedAt: number[] = [];
/** Synthetic seqs each player received. */
const got: number[][] = [];
for (let i = 0; i < PLAYERS; i += 10) {
  const batch = await Promise.all(
    Array.from({ length: Math.min(10, PLAYERS - i) }, (_, j) => {
      const seqs: number[] = (got[i + j] = []);
      return connectClient(url, { onMedia: (e) => seqs.push(parseSynthetic(e.payload)?.seq ?? -1) });
    }),
  );
  await Promise.all(batch.map((p) => p.play()));
  for (const p of batch) {
    players.push(p);
    joinedAt.push(performance.now());
  }
}
const samples: number[] = [];
for (let s = 0; s < SECONDS * 2; s++) {
  await sleep(500);
  samples.push(server.rss());
}
const leftAt = performance.now();
const received = got.map((seqs) => new Set(seqs));
stop = true;
const result = await publishing;
const elapsed = (performance.now() - t0) / 1000;
for (const p of players) p.destroy();
publisher.destroy();
await sleep(500);
const afterPlayers = server.rss();
await server.stop();

// Of the messages published while a player was attached (from its play start to the end of the
// measurement), the fraction it received. Joiners also get the cached GOP, which is not counted.
const fractions = players.map((_, i) => {
  let expected = 0;
  let have = 0;
  sentAt.forEach((t, seq) => {
    if (t < joinedAt[i]! || t > leftAt - 200) return;
    expected++;
    if (received[i]!.has(seq)) have++;
  });
  return have / Math.max(1, expected);
});
const sorted = [...fractions].sort((a, b) => a - b);
const okPlayers = fractions.filter((f) => f >= 0.95).length;
console.log(`${PLAYERS} players on one ${((bytes * 8) / elapsed / 1e6).toFixed(2)} Mbit/s stream (${result.sent.length} messages in ${elapsed.toFixed(1)} s; publisher max lateness ${result.maxLateMs.toFixed(1)} ms):`);
console.log(`  server RSS: idle ${mib(idle)}, with the publisher ${mib(withPublisher)}, with ${PLAYERS} players ${mib(Math.max(...samples))} max / ${mib(samples.at(-1)!)} last, after they left ${mib(afterPlayers)}`);
console.log(`  RSS samples every 500 ms with players (MiB): ${samples.map((s) => (s / MiB).toFixed(0)).join(' ')}`);
console.log(`  per-player received / published while attached: min ${sorted[0]!.toFixed(3)}, p50 ${sorted[Math.floor(sorted.length / 2)]!.toFixed(3)}, max ${sorted.at(-1)!.toFixed(3)}; ${okPlayers}/${PLAYERS} players >= 95%`);
console.log(`  aggregate delivered: ${((players.reduce((n, p) => n + p.bytesIn, 0) * 8) / ((leftAt - joinedAt[0]!) / 1000) / 1e6).toFixed(0)} Mbit/s to players`);
