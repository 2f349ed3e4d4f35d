import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPublishPlay, connectClient } from './harness/client.ts';
import { startServer } from './harness/server.ts';
import { randomKey } from './harness/media.ts';

// The edge claims a stream in the index asynchronously; an encoder can delete the stream (or hang
// up) before the claim resolves. Found by the connection fuzzer: the late acceptPublish threw in a
// promise continuation and the unhandled rejection took the whole process down.

test('publish and deleteStream in one read: the late claim is released, the server stays up and logs no error', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const key = randomKey();
  for (let i = 0; i < 5; i++) {
    const c = await connectClient(server.url(`live/${key}`));
    c.writeRaw(Buffer.concat([...c.session.publish(key), ...c.session.deleteStream()]));
    await new Promise((r) => setTimeout(r, 50));
    c.destroy();
  }
  const hangup = await connectClient(server.url(`live/${key}`));
  hangup.writeRaw(Buffer.concat(hangup.session.publish(key)));
  hangup.destroy();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(server.proc.exitCode, null, 'the server process died');
  assert.deepEqual(server.logs.filter((l) => l.level >= 50), [], 'no error-level log lines');
  // The key was released every time: a normal publish and play on it work.
  await checkPublishPlay(server.url(`live/${key}`));
});
