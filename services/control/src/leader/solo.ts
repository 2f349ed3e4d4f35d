import type { LeaderElector } from './elector.ts';

/** `firstmile up` on the memory bus: one process, so it always leads while started. */
export class SoloElector implements LeaderElector {
  readonly #listeners = new Set<(leader: boolean) => void>();
  #leader = false;

  isLeader(): boolean {
    return this.#leader;
  }

  async start(): Promise<void> {
    this.#set(true);
  }

  async stop(): Promise<void> {
    this.#set(false);
  }

  onChange(listener: (leader: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #set(leader: boolean): void {
    if (leader === this.#leader) return;
    this.#leader = leader;
    for (const l of this.#listeners) l(leader);
  }
}
