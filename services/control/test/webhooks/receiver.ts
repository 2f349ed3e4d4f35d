import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** Checked here from first principles (HMAC over `t.body`, fresh `t`), not with the code under test. */
  signatureValid: boolean;
  /** The signature's `t`. */
  t: number | undefined;
}

export interface Receiver {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/** A real HTTP receiver: answers the statuses of `script` in order (then 200) and verifies every signature. */
export async function statusReceiver(secret: string, script: number[] = []): Promise<Receiver> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(req.headers['firstmile-signature'] ?? ''));
      const expected = m ? createHmac('sha256', secret).update(`${m[1]}.${body}`).digest() : undefined;
      const fresh = m ? Math.abs(Date.now() / 1000 - Number(m[1])) < 300 : false;
      received.push({
        at: performance.now(),
        headers: req.headers,
        body,
        signatureValid: !!(m && expected && fresh && timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'))),
        t: m ? Number(m[1]) : undefined,
      });
      const status = script.shift() ?? 200;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status >= 400 ? 'nope' : 'ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks?token=receiver-secret`,
    received,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A fetch that counts the attempts one replica makes. */
export function countingFetch(): { fetch: typeof fetch; count: () => number } {
  let n = 0;
  return {
    fetch: (input, init) => {
      n++;
      return globalThis.fetch(input, init);
    },
    count: () => n,
  };
}

export async function waitFor(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
