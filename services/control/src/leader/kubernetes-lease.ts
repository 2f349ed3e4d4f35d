import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { RoutingError } from '../routing/errors.ts';
import { LeaseElectorBase, type ElectorTiming } from './elector.ts';

export interface KubernetesLeaseElectorOptions extends ElectorTiming {
  kubeConfig: KubeConfig;
  namespace: string;
  /** The Lease's name (FIRSTMILE_LEASE_NAME). */
  name: string;
  /** This replica: its pod name. Must be unique among the candidates. */
  identity: string;
  /**
   * Allowance for the holder's clock running behind ours: a lease counts as expired only this long
   * after renewTime + leaseDurationSeconds by our clock. Default 1000.
   */
  clockSkewMs?: number | undefined;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
 * read the Lease; create it if absent; take it when it is free or expired; renew it while held.
 * Every write is a replace carrying the resourceVersion that was read, so the API server's
 * optimistic concurrency decides races: a 409 Conflict means someone else wrote the Lease since
 * (renewed it, or took it), and the Lease is read again before anything else happens.
 *
 * A Lease is expired when renewTime + leaseDurationSeconds (+ clockSkewMs) has passed by our
 * clock, or when we have watched it stay unchanged for a whole duration (which also covers a dead
 * holder whose clock ran ahead of ours and wrote renewTimes in our future).
 */
export class KubernetesLeaseElector extends LeaseElectorBase {
  readonly #api: CoordinationV1Api;
  readonly #namespace: string;
  readonly #name: string;
  readonly #identity: string;
  readonly #durationSeconds: number;
  readonly #skewMs: number;
  /** The Lease as we last wrote it: release() replaces exactly that version. */
  #held: V1Lease | undefined;
  #observed: { resourceVersion: string | undefined; at: number } | undefined;
  #conflicts = 0;

  constructor(options: KubernetesLeaseElectorOptions) {
    super({ ...options, logger: options.logger?.child({ component: 'lease', lease: options.name, identity: options.identity }) });
    if (!options.identity) throw new RoutingError('ROUTING_ERR_LEADER', 'the lease identity (pod name) must not be empty');
    this.#api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.#namespace = options.namespace;
    this.#name = options.name;
    this.#identity = options.identity;
    // The Lease field is whole seconds; our own timing keeps the milliseconds.
    this.#durationSeconds = Math.max(1, Math.ceil(options.leaseDurationMs / 1000));
    this.#skewMs = options.clockSkewMs ?? 1000;
  }

  /** 409s received (create raced, or a replace with a stale resourceVersion). */
  get conflicts(): number {
    return this.#conflicts;
  }

  protected async attempt(): Promise<boolean> {
    // One re-read after a conflict; a second conflict in a row waits for the next round.
    for (let round = 0; round < 2; round++) {
      const lease = await this.#read();
      const now = this.now();
      if (!lease) {
        const created = await this.#write('create', this.#leaseFor(undefined, now));
        if (created === 'conflict') continue;
        return true;
      }
      this.#observe(lease, now);
      const holder = lease.spec?.holderIdentity;
      if (holder && holder !== this.#identity && !this.#expired(lease, now)) {
        this.#held = undefined;
        return false;
      }
      const written = await this.#write('replace', this.#leaseFor(lease, now));
      if (written === 'conflict') continue;
      return true;
    }
    this.#held = undefined;
    return false;
  }

  /** Clears the holder, so the others need not wait for the lease to expire. */
  protected async release(): Promise<void> {
    const held = this.#held;
    this.#held = undefined;
    if (!held) return;
    const now = new V1MicroTime(this.now());
    const body: V1Lease = { ...held, spec: { ...held.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: now, acquireTime: now } };
    await this.#api.replaceNamespacedLease({ name: this.#name, namespace: this.#namespace, body }).catch((error: unknown) => {
      // 409: someone wrote it since our last renewal, so it is not ours to clear any more.
      if (statusOf(error) !== 409) throw error;
    });
  }

  async #read(): Promise<V1Lease | undefined> {
    try {
      return await this.#api.readNamespacedLease({ name: this.#name, namespace: this.#namespace });
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async #write(op: 'create' | 'replace', body: V1Lease): Promise<'ok' | 'conflict'> {
    try {
      this.#held =
        op === 'create'
          ? await this.#api.createNamespacedLease({ namespace: this.#namespace, body })
          : await this.#api.replaceNamespacedLease({ name: this.#name, namespace: this.#namespace, body });
      return 'ok';
    } catch (error) {
      // create: AlreadyExists (another replica created it first). replace: stale resourceVersion.
      if (statusOf(error) !== 409) throw error;
      this.#conflicts++;
      this.log.debug({ op }, 'lease write conflict; reading it again');
      this.#held = undefined;
      return 'conflict';
    }
  }

  #leaseFor(current: V1Lease | undefined, now: number): V1Lease {
    const spec = current?.spec;
    const renewing = spec?.holderIdentity === this.#identity;
    const t = new V1MicroTime(now);
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      // Keeps metadata.resourceVersion: the replace is a compare-and-set on it.
      metadata: current?.metadata ?? { name: this.#name, namespace: this.#namespace },
      spec: {
        holderIdentity: this.#identity,
        leaseDurationSeconds: this.#durationSeconds,
        acquireTime: renewing && spec?.acquireTime ? spec.acquireTime : t,
        renewTime: t,
        leaseTransitions: (spec?.leaseTransitions ?? 0) + (current && !renewing ? 1 : 0),
      },
    };
  }

  #observe(lease: V1Lease, now: number): void {
    const rv = lease.metadata?.resourceVersion;
    if (!this.#observed || this.#observed.resourceVersion !== rv) this.#observed = { resourceVersion: rv, at: now };
  }

  #expired(lease: V1Lease, now: number): boolean {
    const durationMs = (lease.spec?.leaseDurationSeconds ?? this.#durationSeconds) * 1000;
    const renewedAt = timeOf(lease.spec?.renewTime);
    if (renewedAt === undefined || renewedAt + durationMs + this.#skewMs < now) return true;
    return this.#observed !== undefined && now - this.#observed.at > durationMs + this.#skewMs;
  }
}

/** MicroTime arrives as an RFC 3339 string (client-node does not convert it) or as a Date. */
function timeOf(v: unknown): number | undefined {
  const t = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isFinite(t) ? t : undefined;
}

function statusOf(error: unknown): number | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'number' ? code : undefined;
}
