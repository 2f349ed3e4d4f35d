/**
 * Webhooks out, end to end: `firstmile up` in mode `keys` with FIRSTMILE_WEBHOOK_URLS pointing at a
 * real local node:http receiver (two URLs: one that answers 200, one that answers 503 to the first
 * attempt of each delivery) and the signing secret in a file. ffmpeg publishes and stops, the API
 * rotates a key; the receiver checks every request's `firstmile-signature` with
 * verifyWebhookSignature and with an HMAC computed here, and the API's delivery list is compared
 * with what the receiver got.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { verifyWebhookSignature } from '@firstmile/control';
import { startServer, type ServerProcess } from '../harness/server.ts';
import { makeFlv, requireTools, sleep, tempDir } from '../harness/media.ts';
import {
  ControlClient,
  assertNoSecrets,
  busStreamId,
  logMark,
  pollUntil,
  publishAndWait,
  startHttpReceiver,
  waitForLogAfter,
  writeSecret,
  type HttpReceiver,
  type ReceivedRequest,
  type SecretFile,
} from './harness.ts';

const APP = 'live';

interface WebhookBody {
  id: string;
  type: string;
  createdAt: string;
  data: Record<string, unknown>;
}

let dir: ReturnType<typeof tempDir>;
let server: ServerProcess;
let api: ControlClient;
let receiver: HttpReceiver;
let adminToken: SecretFile;
let webhookSecret: SecretFile;
/** A token in the first receiver URL's query: the API and the logs must not show it. */
const receiverToken = randomBytes(16).toString('hex');
let longFlv: string;
const keysUsed = new Set<string>();
/** The stream of the first test, and what the webhooks said about it. */
let stream: { id: string } | undefined;

before(async () => {
  requireTools('ffmpeg');
  dir = tempDir('fm-keys-webhooks-');
  adminToken = writeSecret(dir.path, 'admin-token');
  webhookSecret = writeSecret(dir.path, 'webhook-secret');
  const seenFlaky = new Set<string>();
  receiver = await startHttpReceiver((r, res) => {
    const path = r.url.split('?')[0];
    if (path === '/flaky') {
      const id = String(r.headers['firstmile-delivery']);
      // The first attempt of each delivery fails as a receiver that is restarting would.
      if (!seenFlaky.has(id)) {
        seenFlaky.add(id);
        res.writeHead(503).end();
        return;
      }
      res.writeHead(204).end();
      return;
    }
    res.writeHead(path === '/hooks' ? 200 : 404, { 'content-type': 'text/plain' }).end('ok');
  });
  longFlv = await makeFlv({ duration: 30, width: 320, height: 180, videoBitrate: '300k' });
  server = await startServer({
    mode: 'up',
    env: {
      FIRSTMILE_AUTH_MODE: 'keys',
      FIRSTMILE_ADMIN_TOKEN_FILE: adminToken.path,
      FIRSTMILE_WEBHOOK_URLS: `${receiver.base}/hooks?receiver_token=${receiverToken},${receiver.base}/flaky`,
      FIRSTMILE_WEBHOOK_SECRET_FILE: webhookSecret.path,
    },
  });
  api = new ControlClient(server.httpPort, adminToken.value);
});

after(async () => {
  await server?.stop();
  await receiver?.close();
  dir?.cleanup();
});

const parse = (r: ReceivedRequest) => JSON.parse(r.body) as WebhookBody;
const pathOf = (r: ReceivedRequest) => r.url.split('?')[0];

/** Requests to `path` about stream `id` of `type`, in arrival order. */
function received(path: string, type: string, id: string): ReceivedRequest[] {
  return receiver.requests.filter((r) => pathOf(r) === path && parse(r).type === type && parse(r).data['stream'] === id);
}

/** Checks a request as a receiver must: the signature over the raw body, in time, and the headers. */
function assertSigned(r: ReceivedRequest, what: string): WebhookBody {
  const header = String(r.headers['firstmile-signature'] ?? '');
  assert.ok(verifyWebhookSignature(webhookSecret.value, r.body, header), `${what}: verifyWebhookSignature accepts ${header}`);
  // The same check written out from the README: hex HMAC-SHA256(secret, "<t>.<raw body>").
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  assert.ok(m, `${what}: header format t=<seconds>,v1=<hex>: ${header}`);
  assert.equal(m[2], createHmac('sha256', webhookSecret.value).update(`${m[1]}.${r.body}`).digest('hex'), `${what}: v1 is the HMAC of t.body`);
  assert.ok(Math.abs(Number(m[1]) - r.at / 1000) < 10, `${what}: t is the sending time`);
  assert.equal(verifyWebhookSignature(randomBytes(24).toString('base64url'), r.body, header), false, `${what}: another secret does not verify`);
  assert.equal(verifyWebhookSignature(webhookSecret.value, r.body.replace('"data"', '"data" '), header), false, `${what}: a changed body does not verify`);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  const body = parse(r);
  assert.deepEqual(Object.keys(body).sort(), ['createdAt', 'data', 'id', 'type']);
  assert.match(body.id, /^dlv_/);
  assert.equal(r.headers['firstmile-delivery'], body.id, `${what}: the delivery header names the body's id`);
  assert.equal(r.headers['firstmile-event'], body.type);
  assert.ok(!Number.isNaN(Date.parse(body.createdAt)));
  return body;
}

test('an ffmpeg publish and its clean stop produce stream.started and stream.ended, each POSTed once to the receiver with a valid firstmile-signature over the raw body', async (t) => {
  const s = await api.createStream({ name: 'webhooks' });
  keysUsed.add(s.streamKey);
  stream = { id: s.id };
  const streamId = busStreamId(APP, s.id);
  const outcome = await publishAndWait(server, longFlv, s.ingest.rtmp, streamId);
  if (!outcome.accepted) return assert.fail(`refused: ${JSON.stringify(outcome.refusal)}`);
  t.after(() => outcome.publisher.kill());
  await pollUntil(async () => received('/hooks', 'stream.started', s.id).length, (n) => n >= 1, 5000, 'stream.started at the receiver');
  await sleep(1000);
  const mark = logMark(server);
  await outcome.publisher.stop('SIGINT');
  await waitForLogAfter(server, mark, (l) => l.msg === 'publish ended' && l['stream'] === streamId, 5000);
  await pollUntil(async () => received('/hooks', 'stream.ended', s.id).length, (n) => n >= 1, 5000, 'stream.ended at the receiver');
  await sleep(300); // a duplicate would arrive now

  const [started] = received('/hooks', 'stream.started', s.id);
  const [ended] = received('/hooks', 'stream.ended', s.id);
  assert.equal(received('/hooks', 'stream.started', s.id).length, 1, 'one stream.started');
  assert.equal(received('/hooks', 'stream.ended', s.id).length, 1, 'one stream.ended');
  const a = assertSigned(started!, 'stream.started');
  const b = assertSigned(ended!, 'stream.ended');
  t.diagnostic(`stream.started: ${started!.body}`);
  t.diagnostic(`stream.ended: ${ended!.body}`);
  for (const body of [a, b]) {
    assert.equal(body.data['stream'], s.id, 'data.stream is the play name (the id), never the key');
    assert.equal(body.data['app'], APP);
    assert.equal(typeof body.data['edge'], 'string');
    assert.ok(!Number.isNaN(Date.parse(String(body.data['at']))));
  }
  assert.equal(b.data['reason'], 'unpublished');
  assert.equal(a.data['video'], 'H264', 'stream.started carries the video codec (sent with the first frame)');
  assert.equal(a.data['audio'], 'AAC', 'stream.started carries the audio codec');
  assert.ok(Date.parse(String(a.data['at'])) < Date.parse(String(b.data['at'])));
  for (const r of [started!, ended!]) assert.ok(!r.body.includes(s.streamKey), 'the body does not carry the key');
});

test('rotate-key produces one signed stream.key_rotated with the stream, the time and previousKeyExpiresAt, and neither key', async () => {
  assert.ok(stream, 'the first test made the stream');
  const before = await api.getStream(stream.id);
  assert.equal(before.status, 'idle');
  const rotated = await api.rotateKey(stream.id, 30);
  keysUsed.add(rotated.streamKey);
  await pollUntil(async () => received('/hooks', 'stream.key_rotated', stream!.id).length, (n) => n >= 1, 5000, 'stream.key_rotated at the receiver');
  const [r] = received('/hooks', 'stream.key_rotated', stream.id);
  const body = assertSigned(r!, 'stream.key_rotated');
  assert.deepEqual(Object.keys(body.data).sort(), ['at', 'previousKeyExpiresAt', 'stream']);
  assert.equal(body.data['previousKeyExpiresAt'], rotated.previousKeyExpiresAt);
  for (const key of keysUsed) assert.ok(!r!.body.includes(key), 'the event carries no key');
});

test('a receiver answering 503 gets the same delivery (id and body) again after the backoff; GET /v1/webhooks/deliveries shows every delivery succeeded with its attempts, and the URLs without their query', async () => {
  assert.ok(stream, 'the first test made the stream');
  const id = stream.id;
  const types = ['stream.started', 'stream.ended', 'stream.key_rotated'];
  const ours = (list: Awaited<ReturnType<ControlClient['deliveries']>>) => {
    const ids = new Set(receiver.requests.filter((r) => parse(r).data['stream'] === id).map((r) => parse(r).id));
    return list.filter((d) => ids.has(d.id) && types.includes(d.type));
  };
  // Two receivers, three events: six deliveries; the flaky receiver's succeed on the second attempt.
  const deliveries = await pollUntil(
    () => api.deliveries(),
    (list) => ours(list).length === 6 && ours(list).every((d) => d.status === 'succeeded'),
    8000,
    'six succeeded deliveries',
  ).then(ours);
  for (const type of types) {
    const flaky = received('/flaky', type, id);
    assert.equal(flaky.length, 2, `${type}: the flaky receiver got two attempts`);
    assert.equal(flaky[0]!.body, flaky[1]!.body, `${type}: the retry sends the same body`);
    assertSigned(flaky[1]!, `${type} (retry)`);
    const gap = flaky[1]!.at - flaky[0]!.at;
    assert.ok(gap >= 750 && gap < 3000, `${type}: retried ${gap} ms later (1 s backoff, up to 20 % jitter)`);
  }
  const hooksUrl = `${receiver.base}/hooks`;
  const flakyUrl = `${receiver.base}/flaky`;
  for (const d of deliveries) {
    assert.ok([hooksUrl, flakyUrl].includes(d.url), `the delivery's url ${d.url} has no query`);
    assert.ok(d.completedAt !== null && d.nextAttemptAt === null);
    const codes = d.attempts.map((a) => a.statusCode);
    assert.deepEqual(codes, d.url === hooksUrl ? [200] : [503, 204], `${d.type} to ${d.url}: attempts ${JSON.stringify(d.attempts)}`);
    assert.equal(d.attempts.at(-1)!.error, null);
    const at = receiver.requests.filter((r) => pathOf(r) === new URL(d.url).pathname && parse(r).id === d.id);
    assert.equal(at.length, codes.length, 'the receiver got each attempt the API lists');
  }
  const listing = JSON.stringify(await api.request('GET', '/v1/webhooks/deliveries'));
  assert.ok(!listing.includes(receiverToken), "the receiver URL's token is not shown");
});

test("the server's output contains no stream key, the webhook secret, the receiver URL's token or the admin token", async () => {
  assert.ok(keysUsed.size >= 2);
  await server.stop();
  assert.ok(server.logs.some((l) => l.msg === 'webhook attempt failed; retrying'), 'the retries were logged');
  assertNoSecrets(server.output(), [...keysUsed, webhookSecret.value, receiverToken, adminToken.value]);
});
