import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { NatsBus } from '@firstmile/bus';
import { FailureCounter, LockoutGuard } from '@firstmile/auth';
import { recordingLogger } from '../../libs/auth/test/keys-auth-scenarios.ts';
import { startNats } from '../harness/nats.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, ms: number): Promise<number> {
  const started = performance.now();
  while (!check()) {
    if (performance.now() - started > ms) throw new Error(`not within ${ms} ms`);
    await sleep(2);
  }
  return performance.now() - started;
}

test('failed publishes on two edges (two NATS connections) add up: the address is locked out on both, each failure counted once', async (t) => {
  const server = await startNats({ jetstream: false });
  const busA = new NatsBus(await connect({ servers: server.url }));
  const busB = new NatsBus(await connect({ servers: server.url }));
  t.after(async () => {
    await busA.close();
    await busB.close();
    await server.stop();
  });
  const lines: string[] = [];
  const lockouts: string[] = [];
  const guard = (bus: NatsBus, edgeId: string) =>
    new LockoutGuard({
      bus,
      edgeId,
      logger: recordingLogger(lines),
      counter: new FailureCounter({ windowMs: 60_000, maxFailures: 5, lockoutMs: 2000, maxEntries: 1000 }),
      onLockout: (e) => lockouts.push(`${edgeId} ${e.ip} ${e.local ? 'local' : 'remote'}`),
    });
  const a = guard(busA, 'edge-a');
  const b = guard(busB, 'edge-b');
  t.after(() => {
    a.close();
    b.close();
  });
  await busA.flush();
  await busB.flush();
  const ip = '203.0.113.7';
  for (let i = 0; i < 2; i++) a.recordFailure(ip, 'live', 'keys');
  for (let i = 0; i < 2; i++) b.recordFailure(ip, 'live', 'keys');
  await busA.flush();
  await busB.flush();
  await until(() => a.counter.trackedCount() === 1 && b.counter.trackedCount() === 1, 1000);
  await sleep(50);
  assert.equal(a.isLockedOut(ip), false, 'four failures (own echoes ignored) are under the limit of five on edge a');
  assert.equal(b.isLockedOut(ip), false, 'and on edge b');
  b.recordFailure(ip, 'live', 'keys');
  assert.equal(b.isLockedOut(ip), true, 'the fifth failure locks out at once on the edge that saw it');
  const tookMs = await until(() => a.isLockedOut(ip), 1000);
  t.diagnostic(`lockout reached the other edge after ${tookMs.toFixed(1)} ms`);
  assert.equal(a.isLockedOut('203.0.113.8'), false, 'other addresses are not affected');
  assert.deepEqual(lockouts.sort(), [`edge-a ${ip} remote`, `edge-b ${ip} local`]);
  assert.deepEqual([a.counter.lockedCount(), b.counter.lockedCount(), a.counter.lockoutsTotal], [1, 1, 1]);
  await until(() => !a.isLockedOut(ip) && !b.isLockedOut(ip), 3000);
  assert.equal(a.counter.lockedCount(), 0, 'the lockout ends after lockoutMs');
});
