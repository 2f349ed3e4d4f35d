/**
 * Runs Node-Media-Server v4 (the npm package) with RTMP only, for the benchmark:
 *   node bench/src/nms-server.ts --port <rtmp port> --data <dir>
 * No HTTP/HTTPS/RTMPS listener, no admin API, no recording; logs at warn like the other servers.
 * SIGTERM/SIGINT stop it cleanly.
 */
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' }, data: { type: 'string' } }, strict: true });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error('usage: nms-server.ts --port <rtmp port> --data <dir>');
  process.exit(2);
}
const data = values.data ?? '/tmp/firstmile-bench-nms';

const require = createRequire(import.meta.url);
type Nms = { run(): Promise<void>; stop(): Promise<void> };
const NodeMediaServer = require('node-media-server') as new (config: unknown, configPath: string) => Nms;
const logger = require('node-media-server/src/core/logger.js') as { level: string };

// Only the keys NMS reads unguarded; no http/https/rtmps port means no such listener, and no
// auth.jwt means no admin API.
const config = {
  bind: '127.0.0.1',
  notify: { url: '' },
  store: { path: data, maxHistory: 100 },
  auth: { play: false, publish: false, secret: '' },
  rtmp: { port },
  webadmin: { enable: false },
  record: { auto: false, path: `${data}/record` },
};
const nms = new NodeMediaServer(config, `${data}/config.json`);
// The constructor sets debug; per-session info lines are not part of what is measured.
logger.level = 'warn';
void nms.run();

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  const force = setTimeout(() => process.exit(0), 5000);
  force.unref();
  void nms.stop().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
