import { createServer } from 'node:net';

/**
 * `n` distinct free TCP ports on 127.0.0.1, all held open while they are picked: two pickings in a
 * row can otherwise return the same port (the first is closed before the second is asked). Shared
 * with the test harness (test/harness/nats.ts).
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        const s = createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve(s));
      }),
    ),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}
