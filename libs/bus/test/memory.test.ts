import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BusError,
  MemoryBus,
  encodeSubjectToken,
  mediaSubject,
  streamIdForName,
  type BusMessage,
} from '../src/index.ts';

const enc = (s: string): Uint8Array => Buffer.from(s);
const dec = (m: BusMessage): string => Buffer.from(m.data).toString();

test('MemoryBus delivers asynchronously, in order, honouring * and > wildcards', async () => {
  const bus = new MemoryBus();
  const got: string[] = [];
  bus.subscribe('fm.media.*.s1', (m) => got.push(`star:${dec(m)}`));
  bus.subscribe('fm.>', (m) => got.push(`gt:${dec(m)}`));
  bus.subscribe('fm.media.live.s2', (m) => got.push(`other:${dec(m)}`));
  bus.publish('fm.media.live.s1', enc('a'));
  bus.publish('fm.media.live.s1', enc('b'));
  assert.deepEqual(got, [], 'nothing delivered synchronously');
  await bus.flush();
  assert.deepEqual(got, ['star:a', 'gt:a', 'star:b', 'gt:b']);
});

test('MemoryBus request() gets a reply, times out, or fails fast with no responders', async () => {
  const bus = new MemoryBus();
  await assert.rejects(bus.request('svc.echo', enc('x'), { timeoutMs: 50 }), (e: unknown) => e instanceof BusError && e.code === 'BUS_ERR_NO_RESPONDERS');
  bus.subscribe('svc.echo', (m) => bus.publish(m.reply!, enc(`re:${dec(m)}`)));
  assert.equal(dec(await bus.request('svc.echo', enc('x'), { timeoutMs: 500 })), 're:x');
  bus.subscribe('svc.silent', () => {});
  await assert.rejects(bus.request('svc.silent', enc('x'), { timeoutMs: 20 }), (e: unknown) => e instanceof BusError && e.code === 'BUS_ERR_TIMEOUT');
});

test('MemoryBus queue groups deliver each message to one member', async () => {
  const bus = new MemoryBus();
  const counts = [0, 0];
  bus.subscribe('q.x', () => counts[0]!++, { queue: 'g' });
  bus.subscribe('q.x', () => counts[1]!++, { queue: 'g' });
  for (let i = 0; i < 10; i++) bus.publish('q.x', enc(''));
  await bus.flush();
  assert.deepEqual(counts, [5, 5]);
});

test('MemoryBus refuses payloads over maxPayload and bad subjects', () => {
  const bus = new MemoryBus({ maxPayload: 10 });
  assert.throws(() => bus.publish('a.b', new Uint8Array(11)), (e: unknown) => e instanceof BusError && e.code === 'BUS_ERR_MAX_PAYLOAD');
  for (const s of ['', 'a..b', 'a.*', 'a.>', 'a b']) {
    assert.throws(() => bus.publish(s, new Uint8Array(1)), (e: unknown) => e instanceof BusError && e.code === 'BUS_ERR_BAD_SUBJECT', s);
  }
  assert.throws(() => bus.subscribe('a.>.b', () => {}), (e: unknown) => e instanceof BusError);
});

test('MemoryBus: a throwing handler is reported and does not stop other subscribers', async () => {
  const errors: unknown[] = [];
  const bus = new MemoryBus({ onHandlerError: (e) => errors.push(e) });
  let ok = 0;
  bus.subscribe('t', () => { throw new Error('boom'); });
  bus.subscribe('t', () => ok++);
  bus.publish('t', enc(''));
  await bus.flush();
  assert.equal(ok, 1);
  assert.equal(errors.length, 1);
});

test('unsubscribe() inside a handler stops further deliveries', async () => {
  const bus = new MemoryBus();
  let n = 0;
  const sub = bus.subscribe('t', () => { n++; sub.unsubscribe(); });
  bus.publish('t', enc(''));
  bus.publish('t', enc(''));
  await bus.flush();
  assert.equal(n, 1);
});

test('subject tokens escape NATS metacharacters reversibly and stream ids hide names', () => {
  assert.equal(encodeSubjectToken('live'), 'live');
  assert.equal(encodeSubjectToken('a.b*c >'), 'a~2eb~2ac~20~3e');
  const id = streamIdForName('live', 'sk_secret_123');
  assert.match(id, /^[0-9a-f]{24}$/);
  assert.ok(!mediaSubject('live', id).includes('secret'));
  assert.notEqual(streamIdForName('live', 'a'), streamIdForName('live2', 'a'));
});
