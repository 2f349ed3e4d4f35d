/**
 * What every lease-based LeaderElector must do, run against each implementation with the real
 * thing it coordinates through (a real nats-server; for Kubernetes, the API stand-in).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { LeaderElector, StopOptions } from '../../src/leader/index.ts';

export type StoppableElector = LeaderElector & { stop(options?: StopOptions): Promise<void> };

export interface ElectorWorld {
  /** A new elector for `identity` (not started), with its own connection to the lock service. */
  make(identity: string): Promise<StoppableElector>;
  /** Cuts that elector's connection off (requests hang) without stopping it: a partition. */
  isolate(identity: string): void;
  close(): Promise<void>;
}

export interface ContractOptions {
  leaseDurationMs: number;
  /** Time for the lock service to free an unrenewed lease, on top of the lease (expiry sweeps). */
  expirySlackMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Samples both electors until `done`; fails if both ever say they lead. */
async function watchPair(a: LeaderElector, b: LeaderElector, done: () => boolean, withinMs: number, what: string): Promise<number> {
  const start = Date.now();
  for (;;) {
    assert.ok(!(a.isLeader() && b.isLeader()), `two leaders at once (${what})`);
    if (done()) return Date.now() - start;
    if (Date.now() - start > withinMs) throw new Error(`${what}: not within ${withinMs} ms`);
    await sleep(10);
  }
}

export function electorContract(name: string, setup: () => Promise<ElectorWorld>, o: ContractOptions): void {
  describe(`${name} (leader election contract)`, () => {
    let world: ElectorWorld | undefined;
    const started: StoppableElector[] = [];
    afterEach(async () => {
      for (const e of started.splice(0)) await e.stop({ release: false }).catch(() => {});
      await world?.close();
      world = undefined;
    });

    async function pair(): Promise<[StoppableElector, StoppableElector, ElectorWorld]> {
      world = await setup();
      const a = await world.make('control-a');
      const b = await world.make('control-b');
      started.push(a, b);
      await Promise.all([a.start(), b.start()]);
      await watchPair(a, b, () => a.isLeader() || b.isLeader(), o.leaseDurationMs * 2, 'a first leader');
      return a.isLeader() ? [a, b, world] : [b, a, world];
    }

    it('of two candidates exactly one leads, and keeps leading while it renews', async () => {
      const [leader, follower] = await pair();
      const changes: boolean[] = [];
      leader.onChange((l) => changes.push(l));
      // Three lease durations: many renewals, no flapping, never two leaders.
      await watchPair(leader, follower, () => false, o.leaseDurationMs * 3, 'steady state').catch((e: Error) => {
        if (!/not within/.test(e.message)) throw e;
      });
      assert.equal(leader.isLeader(), true);
      assert.equal(follower.isLeader(), false);
      assert.deepEqual(changes, []);
    });

    it('the other takes over after the leader stops renewing (a crash), once the lease has run out', async () => {
      const [leader, follower] = await pair();
      const stoppedAt = Date.now();
      await leader.stop({ release: false });
      const took = await watchPair(leader, follower, () => follower.isLeader(), o.leaseDurationMs * 2 + o.expirySlackMs + 2000, 'takeover');
      // Not before the lease could have run out: at least the third of it left after the last renewal.
      assert.ok(Date.now() - stoppedAt >= o.leaseDurationMs / 3, `took over after ${took} ms, before the lease ran out`);
    });

    it('stop() releases the lease, so the other takes over within one retry interval', async () => {
      const [leader, follower] = await pair();
      await leader.stop();
      assert.equal(leader.isLeader(), false);
      await watchPair(leader, follower, () => follower.isLeader(), o.leaseDurationMs / 3 + 1500, 'takeover after release');
    });

    it('a leader cut off from the lock steps down before anyone else takes over', async () => {
      const [leader, follower, w] = await pair();
      const lost = new Promise<number>((resolve) => leader.onChange((l) => !l && resolve(Date.now())));
      const cutAt = Date.now();
      w.isolate(leader === started[0] ? 'control-a' : 'control-b');
      // watchPair fails the test if both ever lead at the same time.
      await watchPair(leader, follower, () => follower.isLeader(), o.leaseDurationMs * 2 + o.expirySlackMs + 2000, 'takeover from a partitioned leader');
      const lostAt = await lost;
      assert.ok(lostAt - cutAt <= o.leaseDurationMs, `stepped down ${lostAt - cutAt} ms after the cut`);
    });
  });
}
