import { isWrongLastSequence, retrying } from '@firstmile/bus';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { RoutingError } from '../routing/errors.ts';
import { LeaseElectorBase, type ElectorTiming } from './elector.ts';

export interface NatsKvLockElectorOptions extends ElectorTiming {
  nc: NatsConnection;
  /** The lock's JetStream KV bucket; its max age is the lease duration. See lockBucketName(). */
  bucket: string;
  /** This replica: unique among the candidates (pod name, or host and pid). */
  identity: string;
  /** 3 on a NATS cluster, so the lock survives losing a node. Default 1. */
  replicas?: number | undefined;
  /** How long opening the bucket retries through a JetStream leader election. Default 8000. */
  openRetryMs?: number | undefined;
}

/** The key holding the lock in its bucket. */
export const LOCK_KEY = 'leader';

/** A valid bucket name for a lease name: fm_lease_<name>, other characters as `_`. */
export function lockBucketName(leaseName: string): string {
  return `fm_lease_${leaseName.replace(/[^A-Za-z0-9_-]/g, '_')}`.slice(0, 128);
}

/**
 * Leader election outside Kubernetes, on a JetStream KV bucket whose max age is the lease
 * duration: a replica leads by creating the key `leader` (create succeeds only if the key is
 * absent), and keeps leading by updating it with the revision it holds (compare-and-set). An
 * entry not renewed within the max age is removed by the server, so the key becomes absent and
 * another replica's create succeeds. A failed CAS means the lock was lost (it expired, or someone
 * else holds it now): leadership ends at once.
 */
export class NatsKvLockElector extends LeaseElectorBase {
  readonly #kv: KV;
  readonly #identity: string;
  #revision: number | undefined;

  private constructor(kv: KV, options: NatsKvLockElectorOptions) {
    super({ ...options, logger: options.logger?.child({ component: 'kv-lock', bucket: options.bucket, identity: options.identity }) });
    this.#kv = kv;
    this.#identity = options.identity;
  }

  /** Opens (creating when absent) the lock bucket; the elector is not started. */
  static async open(options: NatsKvLockElectorOptions): Promise<NatsKvLockElector> {
    if (!options.identity) throw new RoutingError('ROUTING_ERR_LEADER', 'the lock identity must not be empty');
    let kv: KV;
    try {
      kv = await retrying(options.openRetryMs ?? 8000, () =>
        new Kvm(options.nc).create(options.bucket, {
          replicas: options.replicas ?? 1,
          history: 1,
          ttl: options.leaseDurationMs,
          // Lock reads must come from the stream leader, never from a lagging replica.
          allow_direct: false,
          description: 'firstmile control leader lock',
        }),
      );
    } catch (error) {
      throw new RoutingError('ROUTING_ERR_LEADER', `cannot open the leader lock bucket ${options.bucket}: ${(error as Error).message}`, { cause: error });
    }
    const elector = new NatsKvLockElector(kv, options);
    // An existing bucket keeps its configuration: a max age other than the lease duration would
    // make a dead leader's lock outlive (or undercut) the lease the survivors assume.
    const ttl = (await kv.status()).ttl;
    if (ttl !== options.leaseDurationMs) {
      elector.log.warn({ bucketTtlMs: ttl, leaseDurationMs: options.leaseDurationMs }, 'lock bucket max age differs from the lease duration; delete the bucket to change it');
    }
    return elector;
  }

  protected async attempt(): Promise<boolean> {
    const value = JSON.stringify({ holder: this.#identity, at: new Date(this.now()).toISOString() });
    try {
      this.#revision = this.#revision === undefined ? await this.#kv.create(LOCK_KEY, value) : await this.#kv.update(LOCK_KEY, value, this.#revision);
      return true;
    } catch (error) {
      if (!isWrongLastSequence(error)) throw error;
    }
    // The CAS failed. If the current entry is ours, an earlier write landed after its reply was
    // lost (a timeout): we still hold the lock at that revision.
    const current = await this.#kv.get(LOCK_KEY);
    if (current && current.operation === 'PUT' && holderOf(current.string()) === this.#identity) {
      this.#revision = current.revision;
      return true;
    }
    this.#revision = undefined;
    return false;
  }

  /** Deletes the key at the revision we hold, so the next create elsewhere succeeds at once. */
  protected async release(): Promise<void> {
    const revision = this.#revision;
    this.#revision = undefined;
    if (revision === undefined) return;
    try {
      await this.#kv.delete(LOCK_KEY, { previousSeq: revision });
    } catch (error) {
      // Someone else holds it already: nothing of ours to delete.
      if (!isWrongLastSequence(error)) throw error;
    }
  }
}

function holderOf(text: string): string | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && typeof (v as { holder?: unknown }).holder === 'string' ? (v as { holder: string }).holder : undefined;
  } catch {
    return undefined;
  }
}

