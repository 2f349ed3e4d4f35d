/**
 * JetStream operations retried through what a cluster does in normal operation: a stream's
 * leader moving, a server restarting. One policy for every KV user in the repository (the stream
 * index, the key store, the leader lock).
 */

/** A compare-and-set that lost: someone else wrote first. Never transient. */
export function isWrongLastSequence(error: unknown): boolean {
  return /wrong last sequence|key exists/i.test(errorText(error));
}

/** Transient JetStream failures: no leader yet, timeouts, no responders while the stream moves. */
export function isTransientJetStreamError(error: unknown): boolean {
  if (isWrongLastSequence(error)) return false;
  return /timeout|no responders|503|leader|temporarily|unavailable|not ready|disconnect|reconnect/i.test(errorText(error));
}

function errorText(error: unknown): string {
  return `${(error as Error)?.name ?? ''} ${(error as Error)?.message ?? ''} ${String((error as { cause?: unknown })?.cause ?? '')}`;
}

/** Runs `op`, retrying transient failures with backoff (100 ms doubling to 1 s) for up to `forMs`. */
export async function retrying<T>(forMs: number, op: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + forMs;
  let delay = 100;
  for (;;) {
    try {
      return await op();
    } catch (error) {
      if (!isTransientJetStreamError(error) || Date.now() + delay > deadline) throw error;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 1000);
    }
  }
}
