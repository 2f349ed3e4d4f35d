/**
 * End-to-end tests of the cluster as it runs in Kubernetes, minus Kubernetes: a real 3-node NATS
 * cluster with JetStream, two `firstmile edge` and two `firstmile origin` processes, HAProxy (TCP)
 * in front of the edges, ffmpeg as the encoder, ffmpeg, rtmpdump and RTMP test clients as players.
 * Each fault is injected with a real signal to a real process, and every wait is bounded.
 *
 * The measured figures (reconnect gap per player, NATS-kill gap, drain timings) are printed with
 * console.log as `e2e figure: ...` lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { connectClient } from '../test/harness/client.ts';
import {
  assertSamePackets,
  avPackets,
  endPlayer,
  ffmpegPublishFile,
  ffmpegRecord,
  findNonMonotonic,
  makeFlv,
  probePackets,
  randomKey,
  requireTools,
  rtmpdumpRecord,
  sleep,
  tempDir,
  waitFor,
  within,
  type RunningProcess,
} from '../test/harness/media.ts';
import {
  MeasuredPlayer,
  ReconnectingPublisher,
  assertRunsOfSource,
  packetItems,
  readIndexRecord,
  readyz,
  logTime,
  sourceMessages,
  sourceRuns,
  startCluster,
  streamIdOf,
  tryConnect,
} from './harness.ts';

const FIXTURE = { width: 640, height: 360, fps: 30, gop: 30 } as const;
const GOP_MS = 1000;

/** Polls an async condition every 100 ms until it holds; rejects after timeoutMs. */
async function waitForAsync(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

function figure(text: string): void {
  console.log(`e2e figure: ${text}`);
}

async function waitForPlays(origin: { logs: { msg: string }[] }, n: number, timeoutMs = 10_000): Promise<void> {
  await waitFor(() => origin.logs.filter((l) => l.msg === 'play requested').length >= n, timeoutMs, `${n} play requests`);
}

/** Checks a recording made across publisher sessions: monotonic, every packet a source packet, runs of the source. */
async function checkRecording(source: string, recording: string, label: string, maxRuns: number) {
  const [src, got] = await Promise.all([probePackets(source), probePackets(recording)]);
  const av = avPackets(got);
  assert.equal(findNonMonotonic(av), undefined, `${label}: timestamps went backwards`);
  const out: Record<string, ReturnType<typeof sourceRuns>['runs']> = {};
  for (const type of ['video', 'audio']) {
    const { runs, foreign } = sourceRuns(packetItems(src, type), packetItems(av, type), (p) => p.flags.includes('K'));
    assert.equal(foreign.length, 0, `${label}: ${foreign.length} ${type} packets are not in the source`);
    assert.ok(runs.length >= 1 && runs.length <= maxRuns, `${label}: ${type} is ${runs.length} runs of the source: ${JSON.stringify(runs)}`);
    if (type === 'video') assert.ok(runs.every((r) => r.startsOnKeyframe), `${label}: a video run does not start on a keyframe: ${JSON.stringify(runs)}`);
    out[type] = runs;
  }
  return { packets: av, runs: out };
}

test('steady state: ffmpeg publishes through HAProxy; ffmpeg and rtmpdump players on both origins receive every packet, payloads identical', async (t) => {
  requireTools('ffmpeg', 'ffprobe', 'rtmpdump', 'haproxy', 'nats-server');
  const c = await startCluster(t);
  const file = await makeFlv({ ...FIXTURE, duration: 8 });
  const key = randomKey();
  const dir = tempDir();
  t.after(dir.cleanup);
  const players: { label: string; out: string; proc: RunningProcess }[] = [];
  c.origins.forEach((origin, i) => {
    const url = origin.url(`live/${key}`);
    const ff = join(dir.path, `ffmpeg-${i}.flv`);
    const dump = join(dir.path, `rtmpdump-${i}.flv`);
    players.push({ label: `ffmpeg on ${c.originIds[i]}`, out: ff, proc: c.own(ffmpegRecord(url, ff, { timeoutMs: 60_000 })) });
    players.push({ label: `rtmpdump on ${c.originIds[i]}`, out: dump, proc: c.own(rtmpdumpRecord(url, dump, { timeoutMs: 60_000 })) });
  });
  await Promise.all(c.origins.map((o) => waitForPlays(o, 2)));

  const publisher = c.own(ffmpegPublishFile(file, c.lb!.url(`live/${key}`), { timeoutMs: 60_000 }));
  const published = await publisher.result;
  assert.equal(published.code, 0, published.stderr);
  const carrier = c.carrier(streamIdOf('live', key));
  assert.notEqual(carrier, undefined, 'no edge logged publish started');
  figure(`steady state: HAProxy sent the encoder to ${c.edgeIds[carrier!]}; published ${published.elapsedMs} ms`);

  const results = await Promise.all(players.map((p) => endPlayer(p.proc, 10_000)));
  const source = await probePackets(file);
  for (let i = 0; i < players.length; i++) {
    const p = players[i]!;
    assert.ok(!results[i]!.timedOut, `${p.label} ran into its time limit`);
    const got = await probePackets(p.out);
    const matches = assertSamePackets(source, got, 1, p.label);
    figure(`steady state: ${p.label}: ${matches.map((m) => `${m.codec_type} ${m.received}/${m.source} packets from #${m.startIndex}`).join(', ')}, every payload identical`);
  }
  for (const p of [...c.edges, ...c.origins]) assert.ok(!p.output().includes(key), 'the stream key reached a log');
});

test('edge failure: SIGKILL the edge carrying the stream; the encoder reconnects through HAProxy to the other edge; players on both origins stay connected and resume', async (t) => {
  requireTools('ffmpeg', 'ffprobe', 'haproxy', 'nats-server');
  const c = await startCluster(t);
  const file = await makeFlv({ ...FIXTURE, duration: 30 });
  const key = randomKey();
  const sid = streamIdOf('live', key);
  const dir = tempDir();
  t.after(dir.cleanup);

  const pub = c.own(new ReconnectingPublisher(file, c.lb!.url(`live/${key}`), { maxRestarts: 3, delayMs: 1000 }));
  await waitFor(() => c.carrier(sid) !== undefined, 15_000, 'the publish to start on an edge');
  const victim = c.carrier(sid)!;
  const survivor = 1 - victim;
  const recorders = c.origins.map((o, i) => {
    const out = join(dir.path, `ffmpeg-${i}.flv`);
    return { label: `ffmpeg on ${c.originIds[i]}`, out, proc: c.own(ffmpegRecord(o.url(`live/${key}`), out, { timeoutMs: 60_000 })) };
  });
  const measured = await Promise.all(c.origins.map((o, i) => MeasuredPlayer.start(o.url(`live/${key}`), `client on ${c.originIds[i]}`)));
  for (const m of measured) c.own(m);
  await Promise.all(measured.map((m) => m.waitForVideo(60, 10_000)));
  await Promise.all(c.origins.map((o) => waitForPlays(o, 2)));

  const killedAt = Date.now();
  await c.edges[victim]!.stop('SIGKILL');
  const resumed = await c.edges[survivor]!.waitForLog((l) => l.msg === 'publish started' && l['stream'] === sid, 15_000);
  const resumedAt = logTime(resumed);
  const reconnectMs = resumedAt - killedAt;
  const firstSession = pub.sessions[0]!;
  figure(`edge kill: killed ${c.edgeIds[victim]}; ffmpeg exited ${firstSession.result ? firstSession.result.endedAt - killedAt : '?'} ms later (code ${firstSession.result?.code}); ` +
    `publish started on ${c.edgeIds[survivor]} (through HAProxy) ${reconnectMs} ms after the kill (restart delay 1000 ms)`);

  // Three more seconds of media after the resume on every player.
  await Promise.all(measured.map((m) => m.waitForVideo(90, 15_000, resumedAt)));
  for (const r of recorders) assert.equal(r.proc.exited, false, `${r.label} exited: ${r.proc.stderr().slice(-2000)}`);
  for (const m of measured) assert.equal(m.client.closed, false, `${m.label} was disconnected`);
  assert.equal(pub.sessions.length, 2, `expected one reconnect, the encoder ran ${pub.sessions.length} times`);

  await pub.stop();
  const results = await Promise.all(recorders.map((r) => endPlayer(r.proc, 10_000)));
  results.forEach((r, i) => assert.ok(!r.timedOut, `${recorders[i]!.label} ran into its time limit`));

  const source = sourceMessages(file);
  for (const m of measured) {
    assert.equal(m.nonMonotonic(), undefined);
    const runs = assertRunsOfSource(m, source, 2);
    const gap = m.maxVideoGap(killedAt - 2000);
    const after = m.video(resumedAt).length;
    figure(`edge kill: ${m.label}: largest video inter-arrival gap ${gap.gapMs} ms (starting ${gap.at - killedAt} ms after the kill); ` +
      `${after} video frames after the resume; video runs of the source ${JSON.stringify(runs.video.map((r) => [r.sourceStart, r.length]))}`);
    assert.equal(runs.video.length, 2, `${m.label}: expected the first session and the resumed one`);
    assert.ok(gap.gapMs <= reconnectMs + GOP_MS + 700, `${m.label}: gap ${gap.gapMs} ms > reconnect ${reconnectMs} ms + one GOP`);
  }
  for (const r of recorders) {
    const { packets, runs } = await checkRecording(file, r.out, r.label, 2);
    const video = packets.filter((p) => p.codec_type === 'video');
    assert.equal(runs['video']!.length, 2, `${r.label}: expected the first session and the resumed one`);
    const boundary = runs['video']![1]!.receivedStart;
    const before = video[boundary - 1]!;
    const afterFirst = video[boundary]!;
    figure(`edge kill: ${r.label}: ${video.length} video packets, monotonic; resumed at source #${runs['video']![1]!.sourceStart} with ${runs['video']![1]!.length} packets; ` +
      `media time across the reconnect ${before.dts} -> ${afterFirst.dts} ms`);
    assert.ok(runs['video']![1]!.length >= 60, `${r.label}: only ${runs['video']![1]!.length} video packets after the resume`);
  }
});

test('NATS node failure: SIGKILL the node the carrying edge is connected to (and the index\'s stream leader); players on both origins keep receiving', async (t) => {
  requireTools('ffmpeg', 'nats-server');
  const c = await startCluster(t, { loadBalancer: false });
  const file = await makeFlv({ ...FIXTURE, duration: 40 });
  const key = randomKey();
  const sid = streamIdOf('live', key);
  const publisher = c.own(ffmpegPublishFile(file, c.edges[0]!.url(`live/${key}`), { timeoutMs: 60_000 }));
  await c.edges[0]!.waitForLog((l) => l.msg === 'publish started' && l['stream'] === sid, 15_000);
  const players = await Promise.all(c.origins.map((o, i) => MeasuredPlayer.start(o.url(`live/${key}`), `client on ${c.originIds[i]}`)));
  for (const p of players) c.own(p);
  await Promise.all(players.map((p) => p.waitForVideo(30, 10_000)));

  // The worst node to lose: the one the carrying edge's NATS connection is on, made the leader of
  // the index's stream too, so the data path reconnects and the index elects a new leader at once.
  const placement: string[] = [];
  for (const [mode, ids] of [['edge', c.edgeIds], ['origin', c.originIds]] as const) {
    for (const id of ids) placement.push(`${id}@n${await c.nats.nodeOf(`firstmile-${mode}-${id}`)}`);
  }
  const victim = (await c.nats.nodeOf(`firstmile-edge-${c.edgeIds[0]}`)) ?? 0;
  const survivor = c.nats.alive().find((i) => i !== victim)!;
  await c.nats.moveStreamLeader('KV_fm_live', victim, 20_000);
  // One heartbeat through the moved leader, so the owner's revision is current.
  const moved = await readIndexRecord(c.nats.nodes[survivor]!.url, 'live', key);
  let before = moved;
  await waitForAsync(async () => {
    before = await readIndexRecord(c.nats.nodes[survivor]!.url, 'live', key);
    return before !== undefined && before.revision > moved!.revision;
  }, 10_000, 'a heartbeat after the leader moved');
  assert.equal(before?.record.edge, c.edgeIds[0], 'the index names the carrying edge');

  const killedAt = Date.now();
  c.nats.nodes[victim]!.proc.kill('SIGKILL');
  figure(`NATS kill: clients ${placement.join(', ')}; KV_fm_live led by n${victim}; SIGKILL n${victim}`);

  // 3.5 more seconds of video on both players: the data path has failed over by then (the clients
  // reconnect within milliseconds), and the index's new leader is not elected yet (>= 4 s here),
  // so the index bug the subtest below shows cannot interfere.
  // (Should the bug strike early anyway, the window ends where it struck.)
  const ownershipLostAt = () => {
    const l = c.edges[0]!.logs.find((x) => /ownership lost/.test(x.msg));
    return l ? logTime(l) : undefined;
  };
  await waitFor(
    () => players.every((p) => p.video(killedAt).length >= 105 || p.client.closed) || ownershipLostAt() !== undefined,
    20_000,
    '105 video frames after the kill on every player',
  );
  const measuredUntil = ownershipLostAt() ?? Date.now();
  assert.ok(measuredUntil - killedAt >= 3000, `the stream ran only ${measuredUntil - killedAt} ms after the kill`);
  if (ownershipLostAt() === undefined) assert.equal(publisher.exited, false, `the encoder stopped: ${publisher.stderr().slice(-2000)}`);
  for (const p of players) {
    assert.equal(p.client.closed, false, `${p.label} was disconnected`);
    assert.equal(p.nonMonotonic(), undefined);
    const gap = p.maxVideoGap(killedAt - 1000, measuredUntil);
    const frames = p.video(killedAt, measuredUntil).length;
    figure(`NATS kill: ${p.label}: largest video inter-arrival gap ${gap.gapMs} ms (starting ${gap.at - killedAt} ms after the kill), ${frames} video frames in the ${measuredUntil - killedAt} ms after`);
    assert.ok(frames >= 60, `${p.label}: only ${frames} video frames after the kill`);
    assert.ok(gap.gapMs <= 2 * GOP_MS + 1000, `${p.label}: gap ${gap.gapMs} ms`);
  }
  const names = [...c.edgeIds, ...c.originIds];
  const reconnects = [...c.edges, ...c.origins].map((s, i) => {
    const l = s.logs.find((x) => x.msg === 'NATS connection event' && x['event'] === 'reconnect');
    return `${names[i]}: ${l ? `${logTime(l) - killedAt} ms` : 'no reconnect'}`;
  });
  figure(`NATS kill: client reconnects after the kill: ${reconnects.join(', ')}`);
  // Payloads intact across the failover: every frame a source frame, in source order, and after a
  // sequence gap (frames lost while an origin's NATS connection moved) video resumes on a keyframe.
  const source = sourceMessages(file);
  const seqGaps = c.origins.map((o) => o.logs.filter((l) => l.msg === 'sequence gap: skipping to the next keyframe').length);
  players.forEach((p, i) => {
    const runs = assertRunsOfSource(p, source, 1 + seqGaps[i]!);
    figure(`NATS kill: ${p.label}: ${seqGaps[i]} sequence gap(s) at its origin; video runs of the source ${JSON.stringify(runs.video.map((r) => [r.sourceStart, r.length]))}`);
  });

  await t.test('the index survives: the owner keeps its record and its encoder through the election, a second encoder is refused', async () => {
    const url = c.nats.nodes[survivor]!.url;
    let leaderAt = 0;
    await waitForAsync(async () => {
      if ((await c.nats.streamLeader('KV_fm_live').catch(() => undefined)) === undefined) return false;
      leaderAt = Date.now();
      return true;
    }, 20_000, 'a new leader of KV_fm_live');
    figure(`NATS kill: KV_fm_live has a new leader ${leaderAt - killedAt} ms after the kill`);
    // Renewed after the election, and then through two more heartbeats (the services retry a
    // JetStream call for FIRSTMILE_JETSTREAM_RETRY_MS = 8 s, so every retry has played out).
    const ownershipLost = () => c.edges[0]!.logs.find((l) => /ownership lost/.test(l.msg));
    let after = await readIndexRecord(url, 'live', key);
    await waitForAsync(async () => {
      if (ownershipLost()) return true;
      after = await readIndexRecord(url, 'live', key);
      return Date.now() > Math.max(leaderAt + 4500, killedAt + 9000) && after !== undefined && Date.parse(after.record.heartbeatAt) > leaderAt + 2000;
    }, 25_000, 'the owner\'s heartbeats after the election');
    const lost = ownershipLost();
    assert.ok(!lost, `${c.edgeIds[0]} dropped its encoder ${lost ? logTime(lost) - killedAt : 0} ms after the kill: "${lost?.msg}"`);
    assert.equal(publisher.exited, false, 'the encoder was disconnected');
    assert.ok(after);
    assert.equal(after.record.edge, c.edgeIds[0]);
    assert.equal(after.record.epoch, before!.record.epoch);
    figure(`NATS kill: index record renewed (revision ${before!.revision} -> ${after.revision}), last heartbeat ${Date.parse(after.record.heartbeatAt) - killedAt} ms after the kill`);
    // The owner is still known: a second encoder on the key through the other edge is refused.
    const intruder = await connectClient(c.edges[1]!.url(`live/${key}`));
    c.own({ stop: () => intruder.destroy() });
    await assert.rejects(intruder.publish(undefined, 'live', 15_000), /BadName|already being published/);
    await c.edges[1]!.waitForLog((l) => l.msg === 'refusing publish: stream is live on another edge', 5000);
    intruder.destroy();
    for (const p of players) {
      assert.equal(p.client.closed, false);
      await p.waitForVideo(p.video(killedAt).length + 10, 5000, killedAt);
    }
  });
});

test('origin drain: SIGTERM an origin; /readyz 503 at once, its players are served until the deadline then closed cleanly, the other origin is unaffected', async (t) => {
  requireTools('ffmpeg', 'nats-server');
  const DEADLINE_MS = 3000;
  const c = await startCluster(t, { loadBalancer: false, originEnv: { FIRSTMILE_SHUTDOWN_TIMEOUT_MS: String(DEADLINE_MS) } });
  const file = await makeFlv({ ...FIXTURE, duration: 30 });
  const key = randomKey();
  const url = (i: number) => c.origins[i]!.url(`live/${key}`);
  c.own(ffmpegPublishFile(file, c.edges[0]!.url(`live/${key}`), { timeoutMs: 60_000 }));
  await c.edges[0]!.waitForLog((l) => l.msg === 'publish started', 15_000);
  const onA = await Promise.all([MeasuredPlayer.start(url(0), 'client 1 on origin-a'), MeasuredPlayer.start(url(0), 'client 2 on origin-a')]);
  const onB = await MeasuredPlayer.start(url(1), 'client on origin-b');
  for (const p of [...onA, onB]) c.own(p);
  await Promise.all([...onA, onB].map((p) => p.waitForVideo(60, 10_000)));

  const a = c.origins[0]!;
  const exited = new Promise<{ code: number | null; at: number }>((resolve) => a.proc.once('exit', (code) => resolve({ code, at: Date.now() })));
  const closed = onA.map((p) => p.client.whenClosed().then(() => Date.now()));
  const termAt = Date.now();
  a.proc.kill('SIGTERM');
  let notReadyAt = 0;
  while (Date.now() - termAt < 2000) {
    if ((await readyz(a.httpPort)) === 503) {
      notReadyAt = Date.now();
      break;
    }
    await sleep(20);
  }
  assert.ok(notReadyAt > 0, '/readyz did not turn 503 within 2 s of SIGTERM');
  const refused = await tryConnect(a.rtmpPort);
  assert.equal(refused, 'ECONNREFUSED', 'the draining origin still accepts connections');

  const ends = await Promise.all(closed);
  // The exit code is awaited past the deadline plus FIRSTMILE_LINGER_MS (5 s): see the subtest below.
  const exit = await within(exited, DEADLINE_MS + 2000 + 5000 + 3000);
  assert.ok(exit, 'the origin did not exit');
  for (let i = 0; i < onA.length; i++) {
    const p = onA[i]!;
    const served = p.video(termAt + 200, termAt + DEADLINE_MS - 300).length;
    const socketClosed = p.client.events.find((e) => e.type === 'socketClosed');
    const statuses = p.client.events.flatMap((e) => (e.type === 'status' ? [e.code] : [])).join(', ');
    figure(`origin drain: ${p.label}: served ${served} video frames during the drain, closed ${ends[i]! - termAt} ms after SIGTERM (hadError ${socketClosed && 'hadError' in socketClosed ? socketClosed.hadError : '?'}; statuses received: ${statuses})`);
    assert.ok(served >= 60, `${p.label}: only ${served} video frames during the drain`);
    assert.ok(ends[i]! - termAt >= DEADLINE_MS - 200, `${p.label} closed ${ends[i]! - termAt} ms after SIGTERM, before the deadline`);
    assert.ok(ends[i]! - termAt <= DEADLINE_MS + 2500, `${p.label} closed ${ends[i]! - termAt} ms after SIGTERM`);
    assert.ok(socketClosed && socketClosed.type === 'socketClosed' && !socketClosed.hadError, `${p.label}: the connection was reset, not closed`);
    assert.equal(p.client.protocolError, undefined);
  }
  figure(`origin drain: /readyz 503 ${notReadyAt - termAt} ms after SIGTERM; new connections ${refused}; process exited with ${exit.code} ${exit.at - termAt} ms after SIGTERM (deadline ${DEADLINE_MS} ms)`);
  assert.equal(exit.code, 0);

  await onB.waitForVideo(30, 5000, exit.at);
  const gap = onB.maxVideoGap(termAt - 1000);
  figure(`origin drain: ${onB.label}: largest video inter-arrival gap ${gap.gapMs} ms from 1 s before SIGTERM to ${Date.now() - exit.at} ms after the exit`);
  assert.equal(onB.client.closed, false);
  assert.ok(gap.gapMs < 1000, `${onB.label}: gap ${gap.gapMs} ms`);

  await t.test('the drained origin exits once its connections are closed (deadline + close grace), not later', () => {
    const lastClosed = Math.max(...ends);
    assert.ok(exit.at - lastClosed <= 1000, `the origin exited ${exit.at - lastClosed} ms after its last player was closed (${exit.at - termAt} ms after SIGTERM, deadline ${DEADLINE_MS} ms)`);
  });
});

test('edge drain: SIGTERM the carrying edge; /readyz 503 and new connections refused at once, the encoder kept until the deadline, then it reconnects through HAProxy and players continue', async (t) => {
  requireTools('ffmpeg', 'haproxy', 'nats-server');
  const DEADLINE_MS = 3000;
  const c = await startCluster(t, { edgeEnv: { FIRSTMILE_SHUTDOWN_TIMEOUT_MS: String(DEADLINE_MS) } });
  const file = await makeFlv({ ...FIXTURE, duration: 30 });
  const key = randomKey();
  const sid = streamIdOf('live', key);
  const pub = c.own(new ReconnectingPublisher(file, c.lb!.url(`live/${key}`), { maxRestarts: 3, delayMs: 1000 }));
  await waitFor(() => c.carrier(sid) !== undefined, 15_000, 'the publish to start on an edge');
  const x = c.carrier(sid)!;
  const y = 1 - x;
  const edge = c.edges[x]!;
  const players = await Promise.all(c.origins.map((o, i) => MeasuredPlayer.start(o.url(`live/${key}`), `client on ${c.originIds[i]}`)));
  for (const p of players) c.own(p);
  await Promise.all(players.map((p) => p.waitForVideo(60, 10_000)));

  const exited = new Promise<{ code: number | null; at: number }>((resolve) => edge.proc.once('exit', (code) => resolve({ code, at: Date.now() })));
  const termAt = Date.now();
  edge.proc.kill('SIGTERM');
  let notReadyAt = 0;
  while (Date.now() - termAt < 2000) {
    if ((await readyz(edge.httpPort)) === 503) {
      notReadyAt = Date.now();
      break;
    }
    await sleep(20);
  }
  assert.ok(notReadyAt > 0, '/readyz did not turn 503 within 2 s of SIGTERM');
  const refused = await tryConnect(edge.rtmpPort);
  assert.equal(refused, 'ECONNREFUSED', 'the draining edge still accepts connections');
  await c.lb!.waitForStatus(c.edgeIds[x]!, 'DOWN', 3000);
  const downAt = Date.now();

  const resumed = await c.edges[y]!.waitForLog((l) => l.msg === 'publish started' && l['stream'] === sid, DEADLINE_MS + 10_000);
  const resumedAt = logTime(resumed);
  const first = pub.sessions[0]!;
  assert.ok(first.result, 'the first encoder session has not ended');
  const keptMs = first.result.endedAt - termAt;
  await Promise.all(players.map((p) => p.waitForVideo(90, 15_000, resumedAt)));
  const exit = await within(exited, 10_000);
  assert.ok(exit, 'the edge did not exit');
  figure(`edge drain: /readyz 503 ${notReadyAt - termAt} ms after SIGTERM; new connections ${refused}; HAProxy marked ${c.edgeIds[x]} DOWN ${downAt - termAt} ms after; ` +
    `encoder kept ${keptMs} ms (deadline ${DEADLINE_MS} ms), publish started on ${c.edgeIds[y]} ${resumedAt - termAt} ms after SIGTERM; edge exited with ${exit.code} ${exit.at - termAt} ms after SIGTERM`);
  assert.ok(keptMs >= DEADLINE_MS - 200, `the encoder was closed ${keptMs} ms after SIGTERM, before the deadline`);
  assert.ok(keptMs <= DEADLINE_MS + 3000, `the encoder was kept ${keptMs} ms`);
  assert.equal(exit.code, 0);
  assert.equal(pub.sessions.length, 2, `expected one reconnect, the encoder ran ${pub.sessions.length} times`);

  const source = sourceMessages(file);
  const reconnectMs = resumedAt - first.result.endedAt;
  for (const p of players) {
    assert.equal(p.client.closed, false, `${p.label} was disconnected`);
    assert.equal(p.nonMonotonic(), undefined);
    const served = p.video(termAt + 200, termAt + DEADLINE_MS - 300).length;
    assert.ok(served >= 60, `${p.label}: only ${served} video frames while the edge drained`);
    const runs = assertRunsOfSource(p, source, 2);
    const gap = p.maxVideoGap(termAt);
    figure(`edge drain: ${p.label}: ${served} video frames during the drain; largest video gap ${gap.gapMs} ms (encoder reconnect ${reconnectMs} ms); video runs ${JSON.stringify(runs.video.map((r) => [r.sourceStart, r.length]))}`);
    assert.ok(gap.gapMs <= reconnectMs + GOP_MS + 700, `${p.label}: gap ${gap.gapMs} ms > reconnect ${reconnectMs} ms + one GOP`);
  }
});
