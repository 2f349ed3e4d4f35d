import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus, encodeSubjectToken, mediaSubject, streamIdForName } from '../src/index.ts';
import { busContract } from './contract.ts';

busContract('MemoryBus', async () => {
  const bus = new MemoryBus();
  return { a: bus, b: bus, close: () => bus.close() };
});

test('MemoryBus: a throwing handler is reported and does not stop other subscribers', async () => {
  const errors: unknown[] = [];
  const bus = new MemoryBus({ onHandlerError: (e) => errors.push(e) });
  let ok = 0;
  bus.subscribe('t', () => {
    throw new Error('boom');
  });
  bus.subscribe('t', () => ok++);
  bus.publish('t', Buffer.from(''));
  await bus.flush();
  assert.equal(ok, 1);
  assert.equal(errors.length, 1);
});

test('MemoryBus: unsubscribe() inside a handler stops further deliveries', async () => {
  const bus = new MemoryBus();
  let n = 0;
  const sub = bus.subscribe('t', () => {
    n++;
    sub.unsubscribe();
  });
  bus.publish('t', Buffer.from(''));
  bus.publish('t', Buffer.from(''));
  await bus.flush();
  assert.equal(n, 1);
});

test('subject tokens escape NATS metacharacters reversibly and stream ids hide names', () => {
  assert.equal(encodeSubjectToken('live'), 'live');
  assert.equal(encodeSubjectToken('a.b*c >'), 'a=2eb=2ac=20=3e');
  assert.match(encodeSubjectToken('ä/x.y'), /^[-_=A-Za-z0-9]+$/);
  const id = streamIdForName('live', 'sk_secret_123');
  assert.match(id, /^[0-9a-f]{24}$/);
  assert.ok(!mediaSubject('live', id).includes('secret'));
  assert.notEqual(streamIdForName('live', 'a'), streamIdForName('live2', 'a'));
});
