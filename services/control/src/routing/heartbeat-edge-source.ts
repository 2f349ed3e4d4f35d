import type { EdgeInfo, EdgeSource } from './edge-source.ts';
import type { LoadView } from './load-view.ts';

/**
 * Outside Kubernetes (`firstmile up`, bare processes) the edges are the ones that send heartbeats:
 * an edge exists while it keeps sending them, its region and zone are the ones it reports
 * (FIRSTMILE_REGION/ZONE), and it disappears after the load view's missed-heartbeat limit.
 */
export class HeartbeatEdgeSource implements EdgeSource {
  readonly #load: LoadView;
  readonly #listeners = new Set<() => void>();
  #unsubscribe: (() => void) | undefined;

  constructor(load: LoadView) {
    this.#load = load;
  }

  async start(): Promise<void> {
    this.#unsubscribe ??= this.#load.onChange(() => {
      for (const l of this.#listeners) l();
    });
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  edges(): readonly EdgeInfo[] {
    return this.#load.list().map((l) => ({ id: l.edge, ready: true, draining: l.draining, region: l.region, zone: l.zone }));
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
