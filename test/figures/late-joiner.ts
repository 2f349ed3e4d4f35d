/**
 * Figure: how long a late joiner waits for its first video frame. Starts `firstmile up`, publishes
 * a synthetic 30 fps stream with a 2 s GOP in real time, then 20 times connects a new player at a
 * random point of the GOP and measures the time from play() to its first video frame (sequence
 * headers do not count), whether that frame is a keyframe, and whether the sequence header came first. Run: node test/figures/late-joiner.ts
 */
import { performance } from 'node:perf_hooks';
import { startServer } from '../harness/server.ts';
import { connectClient, parseSynthetic, publishRealtime } from '../harness/client.ts';

const JOINS = 20;
const STREAM = { fps: 30, gop: 60, keyframeBytes: 60_000, frameBytes: 9000, audioRate: 43, audioBytes: 370 };

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

const server = await startServer({ env: { FIRSTMILE_LOG_LEVEL: 'info' } });
const url = server.url('live/late-joiner');
const publisher = await connectClient(url);
await publisher.publish();
let stop = false;
const publishing = publishRealtime(publisher, 120_000, { ...STREAM, stopWhen: () => stop });
await new Promise((r) => setTimeout(r, 2500));

const waits: number[] = [];
let keyframes = 0;
let headerFirst = 0;
let withConnect: number[] = [];
for (let i = 0; i < JOINS; i++) {
  await new Promise((r) => setTimeout(r, 300 + Math.random() * 900));
  const t0 = performance.now();
  const videoKinds: string[] = [];
  const player = await connectClient(url, {
    onMedia: (e) => {
      if (e.messageType === 9 && videoKinds.length < 2) videoKinds.push(parseSynthetic(e.payload)?.kind ?? 'unknown');
    },
  });
  await player.play();
  const deadline = Date.now() + 5000;
  while (player.firstVideoAt === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  if (player.firstVideoAt === undefined) throw new Error(`join ${i}: no video within 5 s`);
  waits.push(player.firstVideoAt - player.playSentAt!);
  withConnect.push(player.firstVideoAt - t0);
  if (player.firstVideoWasKeyframe) keyframes++;
  if (videoKinds[0] === 'videoHeader' && videoKinds[1] === 'keyframe') headerFirst++;
  player.destroy();
}
stop = true;
await publishing;
publisher.destroy();
await server.stop();

waits.sort((a, b) => a - b);
withConnect = withConnect.sort((a, b) => a - b);
const f = (x: number) => x.toFixed(1);
console.log(`late joiner, ${JOINS} joins into a 30 fps stream with a 2 s GOP (~${((STREAM.keyframeBytes + 59 * STREAM.frameBytes) / 1024).toFixed(0)} KiB per GOP):`);
console.log(`  play() -> first video frame: p50 ${f(quantile(waits, 0.5))} ms, p95 ${f(quantile(waits, 0.95))} ms, max ${f(waits.at(-1)!)} ms`);
console.log(`  TCP connect -> first video frame: p50 ${f(quantile(withConnect, 0.5))} ms, p95 ${f(quantile(withConnect, 0.95))} ms, max ${f(withConnect.at(-1)!)} ms`);
console.log(`  first video frame was a keyframe: ${keyframes}/${JOINS}; sequence header then keyframe: ${headerFirst}/${JOINS}`);
