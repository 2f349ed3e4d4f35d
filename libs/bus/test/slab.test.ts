import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlabAllocator } from '../src/index.ts';

test('SlabAllocator carves aligned, non-overlapping buffers from one slab and starts a new one when full', () => {
  const slabs = new SlabAllocator(1024);
  const a = slabs.alloc(10);
  const b = slabs.alloc(100);
  assert.equal(a.buffer, b.buffer, 'same slab');
  assert.equal(b.byteOffset - a.byteOffset, 16, '8-byte aligned');
  a.fill(1);
  b.fill(2);
  assert.ok(a.every((x) => x === 1), 'no overlap');
  const big = slabs.alloc(300);
  assert.notEqual(big.buffer, a.buffer, 'a buffer over a quarter slab gets its own allocation');
  assert.equal(big.length, 300);
  for (let i = 0; i < 20; i++) slabs.alloc(100);
  const later = slabs.alloc(100);
  assert.notEqual(later.buffer, a.buffer, 'a full slab is replaced, not grown');
});
