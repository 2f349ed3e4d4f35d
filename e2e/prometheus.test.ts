/**
 * The chart's dashboards and alerts against a real Prometheus scraping a real cluster: nats-server,
 * `firstmile edge`, `origin` and `control`, each serving /metrics on its HTTP port, Prometheus
 * (Debian package) scraping them every second with the rules loaded, ffmpeg publishing a live
 * encode and ffmpeg playing it.
 *
 * - Every dashboard panel query returns data, after substituting the dashboard variables
 *   ($app, $stream: the live stream; $__rate_interval: 10s; $__interval: 1s; $__range: 1m).
 * - Every alert expression's data exists. An alert that does not fire returns nothing, so each
 *   alert is checked twice: every vector selector in it (metric and label matchers as written)
 *   returns series, and the expression with its threshold comparisons removed (what the alert
 *   measures) returns a value.
 * - Faults fire the matching alerts. The rules are loaded with every `for:` replaced by 2s (a text
 *   substitution; the file keeps its production durations): a publisher restarted with a 10 s
 *   keyframe interval (-g 300 at 30 fps) fires FirstmileKeyframeIntervalTooLong and
 *   FirstmileStreamDegraded; the encoder frozen (SIGSTOP: connected, no media) fires
 *   FirstmileStreamStarving; killed, the stream goes offline, which alerts nothing by design, and
 *   the stream alerts resolve; the control process killed fires FirstmilePodNotReady.
 *
 * Figures (time from a fault to its alert firing) are printed as `e2e figure:` lines.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectClient, rawConnect, closedWithin } from '../test/harness/client.ts';
import { randomKey, requireTools, sleep, tempDir } from '../test/harness/media.ts';
import { RULES_FILE, dashboardQueries, labelValuesQuery, loadDashboards, variableQuery } from '../test/observability/dashboards.ts';
import { stripThresholds, substituteVariables, vectorSelectors } from '../test/observability/promql.ts';
import { loadAlerts, withForDuration } from '../test/observability/rules.ts';
import { streamIdOf } from './harness.ts';
import { ffmpegViewer, liveEncoder, startObservedCluster, type PrometheusServer } from './prometheus-harness.ts';

const APP = 'live';
const SHORT_FOR = '2s';
const FPS = 30;

function figure(text: string): void {
  console.log(`e2e figure: ${text}`);
}

interface DataCheck {
  what: string;
  expr: string;
}

/**
 * Polls every check once a second until each has returned a non-empty result or `timeoutMs` has
 * passed. Returns the checks still empty, each explained by which of its selectors has no series,
 * and the checks Prometheus refused (bad PromQL).
 */
async function untilAllHaveData(p: PrometheusServer, checks: readonly DataCheck[], timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let pending = [...checks];
  const refused: string[] = [];
  for (;;) {
    const still: DataCheck[] = [];
    for (const c of pending) {
      try {
        if ((await p.query(c.expr)).length === 0) still.push(c);
      } catch (error) {
        refused.push(`${c.what}: ${c.expr}: ${(error as Error).message}`);
      }
    }
    pending = still;
    if (pending.length === 0 || Date.now() > deadline) break;
    await sleep(1000);
  }
  const empty = await Promise.all(
    pending.map(async (c) => {
      const missing: string[] = [];
      for (const s of vectorSelectors(c.expr)) if ((await p.query(s).catch(() => [])).length === 0) missing.push(s);
      return `${c.what}: ${c.expr} returned no data${missing.length > 0 ? ` (no series for ${missing.join(', ')})` : ''}`;
    }),
  );
  return [...refused, ...empty];
}

/** A connection that sends a handshake with an invalid RTMP version: closed by the edge as a protocol error. */
async function sendBadHandshake(port: number): Promise<boolean> {
  const socket = await rawConnect(port);
  socket.write(Buffer.alloc(1537, 0xff));
  return closedWithin(socket, 5000);
}

/** A publish whose signature is wrong (signed mode): 'refused', or 'accepted' when the edge let it through. */
async function publishWithBadSignature(url: string): Promise<'refused' | 'accepted'> {
  const client = await connectClient(url);
  try {
    await client.publish(undefined, 'live', 5000);
    return 'accepted';
  } catch {
    return 'refused';
  } finally {
    client.destroy();
  }
}

test('dashboards and alerts against a real Prometheus scraping a live cluster: every query has data, faults fire their alerts', { timeout: 300_000 }, async (t: TestContext) => {
  requireTools('prometheus', 'ffmpeg', 'nats-server');
  const work = tempDir('fm-prom-e2e-');
  t.after(() => work.cleanup());
  const rulesFile = join(work.path, 'firstmile.rules.yaml');
  writeFileSync(rulesFile, withForDuration(readFileSync(RULES_FILE, 'utf8'), SHORT_FOR));
  const signedSecret = join(work.path, 'signed-secret');
  writeFileSync(signedSecret, 'e2e-signed-publish-secret-0123456789', { mode: 0o600 });

  const c = await startObservedCluster(t, {
    ruleFiles: [rulesFile],
    edgeEnv: { FIRSTMILE_AUTH_APPS: 'secure=signed', FIRSTMILE_SIGNED_SECRET_FILE: signedSecret },
  });
  const p = c.prometheus;

  let scraped = false;
  await t.test('every firstmile process serves /metrics that Prometheus scrapes, and Prometheus loaded every alert', async () => {
    const targets = await p.waitForTargetsUp(15_000);
    assert.deepEqual(targets.map((x) => x.labels['job']).sort(), Object.values(c.jobs).sort());
    const rules = (await p.rules()).filter((r) => r.type === 'alerting');
    assert.deepEqual(rules.map((r) => r.name).sort(), loadAlerts().map((a) => a.alert).sort());
    for (const r of rules) assert.equal(r.health === 'err' ? r.lastError : 'ok', 'ok', r.name);
    scraped = true;
  });
  // Without /metrics nothing below can hold; stop here rather than report every query empty.
  if (!scraped) return;

  // Traffic: a live encoder (keyframe every 2 s) on the edge, a viewer on the origin, a connection
  // closed for a protocol error, and two publishes refused for a bad signature.
  const key = randomKey('e2e');
  const stream = streamIdOf(APP, key);
  let encoder = c.own(liveEncoder(c.edge.url(`${APP}/${key}`), 2 * FPS));
  await c.edge.waitForLog((l) => l.msg === 'publish started', 20_000);
  c.own(ffmpegViewer(c.origin.url(`${APP}/${key}`)));
  assert.ok(await sendBadHandshake(c.edge.rtmpPort), 'the edge kept a connection with a bad handshake open');
  const expires = Math.floor(Date.now() / 1000) + 600;
  const denied: string[] = [];
  for (let i = 0; i < 2; i++) denied.push(await publishWithBadSignature(c.edge.url(`secure/cam${i}?expires=${expires}&sig=${'0'.repeat(64)}`)));

  await t.test('publishes with a bad signature are refused (they feed the auth panels and FirstmileAuthFailureSpike)', () => {
    assert.deepEqual(denied, ['refused', 'refused']);
  });

  const values = { app: APP, stream, __rate_interval: '10s', __interval: '1s', __range: '1m', datasource: 'prometheus' };
  const dataStarted = Date.now();

  await t.test('the stream variables list the live stream under its public name, never its key', async () => {
    const d = loadDashboards().find((x) => x.dashboard.uid === 'firstmile-stream')!.dashboard;
    for (const v of d.templating.list.filter((x) => x.type === 'query')) {
      const lv = labelValuesQuery(variableQuery(v) ?? '');
      assert.ok(lv, v.name);
      const selector = substituteVariables(lv.selector, values);
      const deadline = Date.now() + 30_000;
      let found: string[] = [];
      while (Date.now() < deadline) {
        found = [...new Set((await p.query(selector)).map((s) => s.metric[lv.label] ?? ''))];
        if (found.includes(values[v.name as 'app' | 'stream'])) break;
        await sleep(500);
      }
      assert.ok(found.includes(values[v.name as 'app' | 'stream']), `variable ${v.name}: ${selector} gives ${lv.label} values ${JSON.stringify(found)}, expected ${values[v.name as 'app' | 'stream']}`);
    }
  });

  await t.test('every dashboard panel query returns data', async () => {
    const checks: DataCheck[] = loadDashboards().flatMap(({ dashboard: d }) =>
      dashboardQueries(d).map((q) => ({ what: `${d.uid} "${q.panel}" ${q.refId}`, expr: substituteVariables(q.expr, values) })),
    );
    const failures = await untilAllHaveData(p, checks, 45_000);
    assert.deepEqual(failures, [], `${failures.length} of ${checks.length} panel queries without data`);
    figure(`all ${checks.length} dashboard queries had data ${Date.now() - dataStarted} ms after the checks started`);
  });

  await t.test('every alert expression reads series that exist, and its measured value (threshold removed) has data', async () => {
    const rules = (await p.rules()).filter((r) => r.type === 'alerting');
    const checks: DataCheck[] = rules.flatMap((r) => [
      ...vectorSelectors(r.query).map((s) => ({ what: `${r.name} selector`, expr: s })),
      { what: `${r.name} without its threshold`, expr: stripThresholds(r.query) },
    ]);
    const failures = await untilAllHaveData(p, checks, 30_000);
    assert.deepEqual(failures, [], `${failures.length} of ${checks.length} alert checks without data`);
  });

  await t.test('no alert fires while the cluster and its stream are healthy', async () => {
    const firing = (await p.alerts()).filter((a) => a.state === 'firing');
    assert.deepEqual(firing.map((a) => a.labels), []);
  });

  await t.test('no label value in Prometheus holds the stream key', async () => {
    const names = await fetch(`${p.url}/api/v1/labels`).then((r) => r.json() as Promise<{ data: string[] }>);
    for (const name of names.data) {
      const vals = await fetch(`${p.url}/api/v1/label/${encodeURIComponent(name)}/values`).then((r) => r.json() as Promise<{ data: string[] }>);
      const leak = vals.data.find((v) => v.includes(key));
      assert.equal(leak, undefined, `label ${name} holds the stream key`);
    }
  });

  const streamLabels = { app: APP, stream };
  await t.test('a publisher restarted with a 10 s keyframe interval fires FirstmileKeyframeIntervalTooLong and FirstmileStreamDegraded', async () => {
    await encoder.stop('SIGINT', 5000);
    const restarted = Date.now();
    encoder = c.own(liveEncoder(c.edge.url(`${APP}/${key}`), 10 * FPS));
    const [keyframe, degraded] = await Promise.all([
      p.waitForAlert('FirstmileKeyframeIntervalTooLong', streamLabels, 'firing', 45_000).then((a) => ({ a, ms: Date.now() - restarted })),
      p.waitForAlert('FirstmileStreamDegraded', streamLabels, 'firing', 45_000).then((a) => ({ a, ms: Date.now() - restarted })),
    ]);
    assert.ok(Number(keyframe.a.value) > 4, `value ${keyframe.a.value}`);
    assert.match(keyframe.a.annotations['summary'] ?? '', new RegExp(`^Stream ${APP}/${stream} has keyframes [0-9.]+s apart$`));
    assert.equal(keyframe.a.labels['severity'], 'warning');
    figure(`10 s keyframe interval: FirstmileKeyframeIntervalTooLong firing ${keyframe.ms} ms and FirstmileStreamDegraded ${degraded.ms} ms after the restart (for: ${SHORT_FOR})`);
  });

  await t.test('a frozen encoder fires FirstmileStreamStarving; killed, its stream goes offline and every stream alert resolves', async () => {
    const frozen = Date.now();
    encoder.kill('SIGSTOP');
    await p.waitForAlert('FirstmileStreamStarving', streamLabels, 'firing', 30_000);
    figure(`encoder frozen: FirstmileStreamStarving firing after ${Date.now() - frozen} ms (for: ${SHORT_FOR})`);
    const killed = Date.now();
    await encoder.stop('SIGKILL', 1000);
    const offline = `firstmile_stream_health{app="${APP}", stream="${stream}", state="offline"} == 1`;
    const deadline = Date.now() + 20_000;
    while ((await p.query(offline)).length === 0) {
      assert.ok(Date.now() < deadline, `the stream is not offline 20 s after its encoder was killed: ${JSON.stringify(await p.query(`firstmile_stream_health{app="${APP}", stream="${stream}"}`))}`);
      await sleep(500);
    }
    for (const name of ['FirstmileStreamStarving', 'FirstmileStreamDegraded', 'FirstmileKeyframeIntervalTooLong']) {
      await p.waitForAlertGone(name, streamLabels, 20_000);
    }
    figure(`encoder killed: stream offline and its alerts resolved after ${Date.now() - killed} ms`);
  });

  await t.test('a killed control process fires FirstmilePodNotReady for its job', async () => {
    const killed = Date.now();
    c.control.proc.kill('SIGKILL');
    const a = await p.waitForAlert('FirstmilePodNotReady', { job: c.jobs.control }, 'firing', 30_000);
    assert.equal(a.labels['instance'], `127.0.0.1:${c.control.httpPort}`);
    figure(`control killed: FirstmilePodNotReady firing after ${Date.now() - killed} ms (for: ${SHORT_FOR})`);
  });
});
