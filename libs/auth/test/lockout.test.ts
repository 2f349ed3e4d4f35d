import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AUTH_FAILURE_SUBJECT, MemoryBus, encodeJson, type AuthFailure } from '@firstmile/bus';
import type { Logger } from '@firstmile/observability';
import { FailureCounter, LockoutGuard, lockoutKey } from '../src/index.ts';

const silent: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child: () => silent };

test('lockoutKey(): IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64', () => {
  const cases: [string, string][] = [
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:192.0.2.1', '192.0.2.1'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    ['1:2:3:4:5:6:192.0.2.1', '1:2:3:4::/64'],
    ['not-an-ip', 'not-an-ip'],
  ];
  for (const [ip, key] of cases) assert.equal(lockoutKey(ip), key, ip);
  assert.equal(lockoutKey('x'.repeat(1000)).length, 64, 'peer-supplied strings are capped');
});

test('FailureCounter: sliding window, lockout, expiry (table-driven)', () => {
  // Each step: [time ms, action, expected]. record -> whether it locked; check -> isLockedOut.
  type Step = [number, 'record' | 'check', boolean];
  const cases: { why: string; steps: Step[] }[] = [
    { why: 'three failures within the window lock out', steps: [[0, 'record', false], [100, 'record', false], [200, 'check', false], [200, 'record', true], [201, 'check', true]] },
    { why: 'failures spread beyond the window never lock out', steps: [[0, 'record', false], [600, 'record', false], [1200, 'record', false], [1800, 'record', false], [1800, 'check', false]] },
    { why: 'the window slides: the oldest failure drops out', steps: [[0, 'record', false], [900, 'record', false], [1001, 'record', false], [1002, 'record', true]] },
    { why: 'a lockout ends after lockoutMs and counting starts over', steps: [[0, 'record', false], [1, 'record', false], [2, 'record', true], [5001, 'check', true], [5002, 'check', false], [5003, 'record', false], [5004, 'check', false]] },
    { why: 'failures while locked out do not extend the lockout', steps: [[0, 'record', false], [1, 'record', false], [2, 'record', true], [3000, 'record', false], [5002, 'check', false]] },
  ];
  for (const c of cases) {
    let now = 0;
    const counter = new FailureCounter({ windowMs: 1000, maxFailures: 3, lockoutMs: 5000, maxEntries: 100, now: () => now });
    for (const [at, action, expected] of c.steps) {
      now = at;
      const got = action === 'record' ? counter.record('192.0.2.1') : counter.isLockedOut('192.0.2.1');
      assert.equal(got, expected, `${c.why}: ${action} at ${at}`);
    }
    assert.equal(counter.isLockedOut('192.0.2.2'), false, `${c.why}: another address is unaffected`);
  }
});

test('FailureCounter: addresses of one IPv6 /64 share a count; counts are exposed for metrics', () => {
  let now = 0;
  const counter = new FailureCounter({ windowMs: 1000, maxFailures: 3, lockoutMs: 5000, maxEntries: 100, now: () => now });
  counter.record('2001:db8::1');
  counter.record('2001:db8::2');
  assert.equal(counter.record('2001:db8::3'), true);
  assert.equal(counter.isLockedOut('2001:db8::ffff'), true);
  assert.equal(counter.isLockedOut('2001:db8:0:1::1'), false);
  counter.record('192.0.2.1');
  assert.deepEqual([counter.lockedCount(), counter.trackedCount(), counter.lockoutsTotal], [1, 2, 1]);
  now = 6000;
  assert.deepEqual([counter.lockedCount(), counter.lockoutsTotal], [0, 1]);
});

test('FailureCounter: memory is bounded; unlocked addresses are evicted before locked ones', () => {
  const counter = new FailureCounter({ windowMs: 60_000, maxFailures: 2, lockoutMs: 60_000, maxEntries: 10, now: () => 0 });
  counter.record('10.0.0.1');
  counter.record('10.0.0.1');
  assert.ok(counter.isLockedOut('10.0.0.1'));
  for (let i = 0; i < 1000; i++) counter.record(`10.1.${i >> 8}.${i & 255}`);
  assert.equal(counter.trackedCount(), 10);
  assert.ok(counter.isLockedOut('10.0.0.1'), 'a flood of single failures from other addresses does not lift a lockout');
  assert.throws(() => new FailureCounter({ windowMs: 0, maxFailures: 1, lockoutMs: 1, maxEntries: 1 }), { code: 'AUTH_ERR_CONFIG' });
});

test('LockoutGuard: failures on one edge lock the address out on another; each failure counts once per edge', async (t) => {
  const bus = new MemoryBus();
  t.after(() => bus.close());
  const lockouts: { ip: string; local: boolean }[] = [];
  const mk = (edgeId: string) =>
    new LockoutGuard({
      bus,
      edgeId,
      logger: silent,
      counter: new FailureCounter({ windowMs: 60_000, maxFailures: 3, lockoutMs: 60_000, maxEntries: 100 }),
      onLockout: (e) => lockouts.push({ ip: `${edgeId}:${e.ip}`, local: e.local }),
    });
  const a = mk('edge-a');
  const b = mk('edge-b');
  t.after(() => (a.close(), b.close()));
  a.recordFailure('192.0.2.9', 'live', 'keys');
  a.recordFailure('192.0.2.9', 'live', 'keys');
  await bus.flush();
  await new Promise((r) => setImmediate(r));
  assert.equal(a.isLockedOut('192.0.2.9'), false, "edge a's own echoes were not counted twice");
  assert.equal(b.isLockedOut('192.0.2.9'), false);
  b.recordFailure('192.0.2.9', 'live', 'keys');
  assert.equal(b.isLockedOut('192.0.2.9'), true, 'the third failure, on edge b, locks out at once on b');
  await new Promise((r) => setImmediate(r));
  assert.equal(a.isLockedOut('192.0.2.9'), true, 'and on edge a once it arrives');
  assert.deepEqual(lockouts.sort((x, y) => x.ip.localeCompare(y.ip)), [
    { ip: 'edge-a:192.0.2.9', local: false },
    { ip: 'edge-b:192.0.2.9', local: true },
  ]);
  // Malformed or oversized failure messages are ignored.
  bus.publish(AUTH_FAILURE_SUBJECT, encodeJson({ ip: 42 }));
  bus.publish(AUTH_FAILURE_SUBJECT, encodeJson({ ip: '198.51.100.1', app: 'x'.repeat(2000), mode: 'keys', edge: 'e', at: '' } satisfies AuthFailure));
  await new Promise((r) => setImmediate(r));
  assert.equal(a.counter.trackedCount(), 1);
});
