import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TtlCache } from '../src/index.ts';

test('TtlCache: entries expire after their TTL and the oldest is evicted at maxEntries', () => {
  let now = 0;
  const cache = new TtlCache<number>({ maxEntries: 3, now: () => now });
  cache.set('a', 1, 100);
  cache.set('b', 2, 1000);
  cache.set('c', 3, 1000);
  cache.set('a', 11, 100); // re-set moves a to the back
  cache.set('d', 4, 1000);
  assert.equal(cache.size, 3);
  assert.equal(cache.get('b'), undefined, 'b was the oldest');
  assert.equal(cache.get('a'), 11);
  now = 100;
  assert.equal(cache.get('a'), undefined, 'expired at its TTL');
  assert.equal(cache.get('c'), 3);
  cache.set('z', 0, 0);
  assert.equal(cache.get('z'), undefined, 'a TTL of 0 caches nothing');
  assert.equal(cache.deleteWhere((v) => v === 4), 1);
  assert.equal(cache.get('d'), undefined);
  assert.throws(() => new TtlCache({ maxEntries: 0 }), RangeError);
});
