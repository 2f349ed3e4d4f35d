import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bus, BusMessage } from '@firstmile/bus';
import type { Logger } from '@firstmile/observability';
import {
  AUTH_PUBLISH_SUBJECT,
  AUTH_STREAM_SUBJECT,
  KeysAuthorizer,
  PlaybackAuthorizer,
  createKeyAuthResponder,
  generateStreamId,
  generateStreamKey,
  hashStreamKey,
  publishKeysChanged,
  signPlaybackToken,
  type KeyStore,
  type PublishDecision,
  type StreamRecord,
} from '../src/index.ts';

const KEY_SECRET = 'server-key-hash-secret';
const PLAY_SECRET = 'playback-secret-0123456789abcdef';

/** Records every log line, to prove keys never reach a log. */
export function recordingLogger(lines: string[]): Logger {
  const log = (level: string) => (obj: object, msg?: string) => void lines.push(`${level} ${msg ?? ''} ${JSON.stringify(obj)}`);
  const logger: Logger = { trace: log('trace'), debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), fatal: log('fatal'), child: () => logger };
  return logger;
}

export interface KeysAuthWorld {
  /** The edge's and the origin's connection. */
  edgeBus: Bus;
  /** Control's connection. */
  controlBus: Bus;
  store: KeyStore;
  close(): Promise<void>;
}

const code = (d: PublishDecision) => (d.ok ? 'OK' : d.code);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function streamWith(keys: { key: string; expiresAt?: number }[], playback: StreamRecord['playback'] = 'public'): StreamRecord {
  const now = new Date().toISOString();
  return {
    id: generateStreamId(),
    playback,
    createdAt: now,
    updatedAt: now,
    keys: keys.map((k) => ({ hash: hashStreamKey(KEY_SECRET, k.key), createdAt: now, ...(k.expiresAt ? { expiresAt: new Date(k.expiresAt).toISOString() } : {}) })),
  };
}

/** Keys mode end to end: control's responder and an edge's KeysAuthorizer over one bus. */
export function keysAuthScenarios(label: string, open: () => Promise<KeysAuthWorld>): void {
  async function setup(t: { after: (fn: () => unknown) => void }, clock?: () => number, cacheTtlMs?: number) {
    const world = await open();
    const lines: string[] = [];
    const requests: BusMessage[] = [];
    const spy = world.controlBus.subscribe(AUTH_PUBLISH_SUBJECT, (m) => requests.push(m));
    const responder = createKeyAuthResponder({ bus: world.controlBus, store: world.store, keyHashSecret: KEY_SECRET, logger: recordingLogger(lines), now: clock });
    const edge = new KeysAuthorizer({ bus: world.edgeBus, timeoutMs: 1000, cacheTtlMs, now: clock, logger: recordingLogger(lines) });
    await world.controlBus.flush();
    t.after(async () => {
      edge.close();
      responder.close();
      spy.unsubscribe();
      await world.close();
    });
    const authorize = (name: string, headers?: Record<string, string>) =>
      edge.authorize({ app: 'live', name, tcUrl: 'rtmp://edge/live', clientIp: '192.0.2.5' }, headers ? { headers } : undefined);
    return { ...world, lines, requests, spy, responder, edge, authorize };
  }

  test(`${label}: a valid key is allowed; the play name is the stream id; bad and empty keys are refused`, async (t) => {
    const w = await setup(t);
    const key = generateStreamKey();
    const record = streamWith([{ key }]);
    await w.store.create(record);
    assert.deepEqual(await w.authorize(key), { ok: true, playName: record.id, mode: 'keys', streamRecordId: record.id });
    assert.equal(code(await w.authorize(`${key}?foo=bar`)), 'OK', 'a query after the key is ignored');
    assert.equal(code(await w.authorize(generateStreamKey())), 'AUTH_BAD_KEY');
    assert.equal(code(await w.authorize(`${key}x`)), 'AUTH_BAD_KEY');
    assert.equal(code(await w.authorize('?x=1')), 'AUTH_BAD_KEY');
    assert.equal(code(await w.authorize('k'.repeat(1025))), 'AUTH_BAD_KEY');
    assert.ok(!w.lines.join('\n').includes(key), 'the key never reaches a log line');
    assert.ok(!w.lines.join('\n').includes(hashStreamKey(KEY_SECRET, key)), 'nor does its stored hash');
  });

  test(`${label}: a revoked stream's key is refused with AUTH_REVOKED`, async (t) => {
    const w = await setup(t);
    const key = generateStreamKey();
    const record = streamWith([{ key }]);
    await w.store.create(record);
    await w.store.update({ ...record, revokedAt: new Date().toISOString() }, (await w.store.get(record.id))!.revision);
    assert.equal(code(await w.authorize(key)), 'AUTH_REVOKED');
  });

  test(`${label}: rotation overlap: the old key is accepted until its expiresAt, then refused; the new key throughout`, async (t) => {
    let now = Date.now();
    const w = await setup(t, () => now);
    const oldKey = generateStreamKey();
    const newKey = generateStreamKey();
    const record = streamWith([{ key: oldKey }]);
    let revision = await w.store.create(record);
    assert.equal(code(await w.authorize(oldKey)), 'OK');
    // Control rotates: new key, old key kept for a 60 s overlap.
    const rotated = streamWith([{ key: newKey }, { key: oldKey, expiresAt: now + 60_000 }]);
    revision = await w.store.update({ ...rotated, id: record.id }, revision);
    publishKeysChanged(w.controlBus, record.id);
    await w.controlBus.flush();
    await sleep(50);
    assert.equal(code(await w.authorize(newKey)), 'OK', 'the new key works at once');
    assert.equal(code(await w.authorize(oldKey)), 'OK', 'the old key still works during the overlap');
    now += 59_000;
    assert.equal(code(await w.authorize(oldKey)), 'OK', 'one second before the overlap ends');
    now += 1_000;
    assert.equal(code(await w.authorize(oldKey)), 'AUTH_EXPIRED', 'refused once expiresAt is reached (the edge cache expired with the clock)');
    assert.equal(code(await w.authorize(newKey)), 'OK');
    assert.ok(revision > 0);
  });

  test(`${label}: an edge's cached allow of a rotated-out key ends with the overlap, not a full cache TTL later`, async (t) => {
    let now = Date.now();
    const w = await setup(t, () => now, 1000);
    const oldKey = generateStreamKey();
    const record = streamWith([{ key: generateStreamKey() }, { key: oldKey, expiresAt: now + 60_000 }]);
    await w.store.create(record);
    now += 59_700;
    assert.equal(code(await w.authorize(oldKey)), 'OK', '300 ms of overlap left: allowed, and cached for at most those 300 ms');
    const asked = w.requests.length;
    now += 300;
    assert.equal(code(await w.authorize(oldKey)), 'AUTH_EXPIRED', 'the cache did not outlive the overlap');
    assert.equal(w.requests.length, asked + 1, 'the edge asked control again');
  });

  test(`${label}: revocation takes effect in under 1 s despite the edge's cache, thanks to KeysChanged`, async (t) => {
    const w = await setup(t, undefined, 1000);
    const key = generateStreamKey();
    const record = streamWith([{ key }]);
    await w.store.create(record);
    assert.equal(code(await w.authorize(key)), 'OK');
    const asked = w.requests.length;
    assert.equal(code(await w.authorize(key)), 'OK');
    assert.equal(w.requests.length, asked, 'the second attempt was answered from the cache');
    // Control revokes: the store first, then the announcement.
    await w.store.update({ ...record, revokedAt: new Date().toISOString() }, (await w.store.get(record.id))!.revision);
    const revokedAt = performance.now();
    publishKeysChanged(w.controlBus, record.id);
    let decision = await w.authorize(key);
    while (decision.ok && performance.now() - revokedAt < 2000) {
      await sleep(5);
      decision = await w.authorize(key);
    }
    const tookMs = performance.now() - revokedAt;
    assert.equal(code(decision), 'AUTH_REVOKED');
    assert.ok(tookMs < 1000, `revoked after ${tookMs.toFixed(1)} ms`);
    t.diagnostic(`revocation visible on the edge after ${tookMs.toFixed(1)} ms (cache TTL 1000 ms)`);
  });

  test(`${label}: without a KeysChanged message the cache TTL still bounds a revocation to 1 s`, async (t) => {
    let now = Date.now();
    const w = await setup(t, () => now, 1000);
    const key = generateStreamKey();
    const record = streamWith([{ key }]);
    await w.store.create(record);
    assert.equal(code(await w.authorize(key)), 'OK');
    const asked = w.requests.length;
    await w.store.update({ ...record, revokedAt: new Date().toISOString() }, (await w.store.get(record.id))!.revision);
    now += 999;
    assert.equal(code(await w.authorize(key)), 'OK', 'the cached allow is still used 999 ms later');
    assert.equal(w.requests.length, asked);
    now += 1;
    assert.equal(code(await w.authorize(key)), 'AUTH_REVOKED', 'after 1000 ms the edge asks control again');
  });

  test(`${label}: no control answering denies with AUTH_UNAVAILABLE (fail closed); headers pass through`, async (t) => {
    const w = await setup(t);
    const key = generateStreamKey();
    await w.store.create(streamWith([{ key }]));
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    assert.equal(code(await w.authorize(key, { traceparent })), 'OK');
    assert.equal(w.requests.at(-1)?.headers?.['traceparent'], traceparent, 'the request carried the trace context');
    w.responder.close();
    await w.controlBus.flush();
    await sleep(50);
    // Someone listens but nobody answers: the request times out.
    const timedOut = await w.authorize(generateStreamKey());
    assert.deepEqual(timedOut, { ok: false, code: 'AUTH_UNAVAILABLE', reason: 'control did not answer', mode: 'keys' });
    // Nobody listens: NATS says "no responders" at once.
    w.spy.unsubscribe();
    await w.controlBus.flush();
    await sleep(50);
    const started = performance.now();
    const none = await w.authorize(generateStreamKey());
    assert.deepEqual(none, { ok: false, code: 'AUTH_UNAVAILABLE', reason: 'no control service', mode: 'keys' });
    assert.ok(performance.now() - started < 500, 'no responders is not a timeout');
  });

  test(`${label}: control's answer never contains the key; malformed requests are refused`, async (t) => {
    const w = await setup(t);
    const key = generateStreamKey();
    const record = streamWith([{ key }]);
    await w.store.create(record);
    const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
    const ask = async (body: unknown) => JSON.parse(new TextDecoder().decode((await w.edgeBus.request(AUTH_PUBLISH_SUBJECT, enc(body), { timeoutMs: 1000 })).data)) as Record<string, unknown>;
    const allow = await ask({ app: 'live', key, clientIp: '192.0.2.5' });
    assert.deepEqual(allow, { ok: true, id: record.id, playback: 'public' });
    const deny = await ask({ app: 'live', key: `${key}0`, clientIp: '192.0.2.5' });
    assert.equal(deny['code'], 'AUTH_BAD_KEY');
    assert.ok(!JSON.stringify(deny).includes(key));
    assert.equal((await ask('not json'))['code'], 'AUTH_BAD_KEY');
    assert.equal((await ask({ app: 'live', key: 'k'.repeat(5000), clientIp: '192.0.2.5' }))['code'], 'AUTH_BAD_KEY');
    assert.equal((await ask({ pad: 'p'.repeat(10_000) }))['code'], 'AUTH_UNAVAILABLE', 'an oversized request is not parsed');
  });

  test(`${label}: play auth asks control for the stream's policy: public, signed with a token, unknown, revoked`, async (t) => {
    const w = await setup(t);
    const pub = streamWith([{ key: generateStreamKey() }], 'public');
    const signed = streamWith([{ key: generateStreamKey() }], 'signed');
    await w.store.create(pub);
    const signedRev = await w.store.create(signed);
    const play = new PlaybackAuthorizer({ bus: w.edgeBus, secret: PLAY_SECRET, timeoutMs: 1000 });
    t.after(() => play.close());
    const p = async (name: string) => {
      const d = await play.authorize({ app: 'live', name, clientIp: '192.0.2.6' });
      return d.ok ? `OK ${d.playName}` : d.code;
    };
    const token = signPlaybackToken({ secret: PLAY_SECRET, streamId: signed.id, expiresAt: Date.now() + 60_000 });
    assert.equal(await p(pub.id), `OK ${pub.id}`);
    assert.equal(await p(`${signed.id}?token=${token}`), `OK ${signed.id}`);
    assert.equal(await p(signed.id), 'PLAY_BAD_TOKEN');
    assert.equal(await p(generateStreamId()), 'PLAY_NOT_FOUND');
    await w.store.update({ ...signed, revokedAt: new Date().toISOString() }, signedRev);
    publishKeysChanged(w.controlBus, signed.id);
    await w.controlBus.flush();
    await sleep(50);
    assert.equal(await p(`${signed.id}?token=${token}`), 'PLAY_NOT_FOUND', 'a revoked stream plays no more once KeysChanged arrives');
    const lookups = (await collect(w.controlBus, AUTH_STREAM_SUBJECT, () => p(pub.id))).length;
    assert.equal(lookups, 0, 'the public answer was cached');
    w.responder.close();
    await w.controlBus.flush();
    await sleep(1100);
    assert.equal(await p(pub.id), 'PLAY_UNAVAILABLE');
  });
}

async function collect(bus: Bus, subject: string, during: () => Promise<unknown>): Promise<BusMessage[]> {
  const seen: BusMessage[] = [];
  const sub = bus.subscribe(subject, (m) => seen.push(m));
  await bus.flush();
  await during();
  await sleep(20);
  sub.unsubscribe();
  return seen;
}
