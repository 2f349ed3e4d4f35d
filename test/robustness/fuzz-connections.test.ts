/**
 * 200 random or mutated byte streams, each after a valid handshake + connect on its own
 * connection, against one server: whatever the bytes, the server process survives, logs nothing
 * at error level, and still serves a publish/play pair, including one that ran throughout.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeAmf0, type AmfValue } from '@firstmile/amf';
import { ChunkEncoder, type RtmpMessage } from '@firstmile/rtmp';
import { startServer, type ServerProcess } from '../harness/server.ts';
import { Bystander, checkPublishPlay, connectClient } from '../harness/client.ts';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 200);

let server: ServerProcess;
let bystander: Bystander;

before(async () => {
  server = await startServer({ env: { FIRSTMILE_LOG_LEVEL: 'info' } });
  bystander = await Bystander.start(server.url('live/bystander'));
});

after(async () => {
  bystander?.stop();
  assert.equal(await server?.stop(), 0);
});

const amf = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<AmfValue>;
const commandNames = fc.constantFrom(
  'connect', 'createStream', 'publish', 'play', 'play2', 'deleteStream', 'closeStream', 'releaseStream', 'FCPublish',
  'FCUnpublish', 'receiveAudio', 'receiveVideo', 'pause', 'seek', 'getStreamLength', '_checkbw', '_result', '_error', 'onStatus', '',
);
const streamId = fc.constantFrom(0, 1, 2, 3, 0xffffffff);

/** A message that is well-formed at the chunk level, with a plausible or arbitrary body. */
const message: fc.Arbitrary<RtmpMessage> = fc.oneof(
  // Commands (AMF0 and the type 17 form) with stream names that exist or not.
  fc.record({
    chunkStreamId: fc.constantFrom(3, 8, 64, 320),
    messageStreamId: streamId,
    type: fc.constantFrom(20, 17),
    timestamp: fc.nat(),
    payload: fc.tuple(commandNames, fc.double({ noNaN: true }), amf, fc.array(fc.oneof(fc.constantFrom('fuzz-key', 'bystander', 'live'), amf), { maxLength: 4 })).map(
      ([name, tx, obj, args]) => encodeAmf0([name, tx, obj, ...args]),
    ),
  }).map((m) => (m.type === 17 ? { ...m, payload: Buffer.concat([Buffer.alloc(1), m.payload]) } : m)),
  // Protocol control and User Control with short, exact or long payloads.
  fc.record({
    chunkStreamId: fc.constantFrom(2, 3),
    messageStreamId: fc.constant(0),
    type: fc.integer({ min: 1, max: 6 }),
    timestamp: fc.constant(0),
    payload: fc.uint8Array({ maxLength: 10 }).map((b) => Buffer.from(b)),
  }).map((m) => (m.type === 1 && m.payload.length >= 4 ? { ...m, payload: Buffer.from([0, 0, m.payload[2]! & 0x0f, m.payload[3]! | 1]) } : m)),
  // Media, data and aggregates with arbitrary bodies.
  fc.record({
    chunkStreamId: fc.constantFrom(4, 5, 6, 7),
    messageStreamId: streamId,
    type: fc.constantFrom(8, 9, 18, 15, 22, 16, 19, 0, 255),
    timestamp: fc.oneof(fc.nat({ max: 100_000 }), fc.constant(0xffffff), fc.constant(0xffffffff)),
    payload: fc.uint8Array({ maxLength: 3000 }).map((b) => Buffer.from(b)),
  }),
);

/** Encodes messages as a compliant peer would (header compression included) after SetChunkSize 4096. */
function encode(messages: RtmpMessage[]): Buffer {
  const enc = new ChunkEncoder(4096);
  return Buffer.concat(messages.map((m) => enc.encode(m)));
}

const mutation = fc.record({ at: fc.nat(), op: fc.constantFrom('set', 'insert', 'delete'), byte: fc.integer({ min: 0, max: 255 }) });

const input: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 4096 }).map((b) => Buffer.from(b)),
  fc.array(message, { minLength: 1, maxLength: 8 }).map(encode),
  fc.tuple(fc.array(message, { minLength: 1, maxLength: 8 }), fc.array(mutation, { minLength: 1, maxLength: 8 }), fc.option(fc.nat())).map(([ms, muts, cut]) => {
    const bytes = [...encode(ms)];
    for (const m of muts) {
      const at = bytes.length === 0 ? 0 : m.at % bytes.length;
      if (m.op === 'set') bytes[at] = m.byte;
      else if (m.op === 'insert') bytes.splice(at, 0, m.byte);
      else bytes.splice(at, 1);
    }
    return Buffer.from(cut === null ? bytes : bytes.slice(0, cut % (bytes.length + 1)));
  }),
);

describe('fuzzed connections', () => {
  it(`${RUNS} random and mutated chunk streams after handshake + connect never take the server down`, async () => {
    let closedByServer = 0;
    await fc.assert(
      fc.asyncProperty(input, async (bytes) => {
        const c = await connectClient(server.url('live/fuzz-key'));
        c.writeRaw(bytes);
        if (await c.closedWithin(60)) closedByServer++;
        c.destroy();
        assert.equal(server.proc.exitCode, null, 'server process exited');
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    await new Promise((r) => setTimeout(r, 200));
    const warnings = server.logs.filter((l) => l.msg === 'closing connection: protocol error').length;
    const errors = server.logs.filter((l) => l.level >= 50);
    console.log(`fuzz: ${RUNS} inputs, ${closedByServer} closed by the server, ${warnings} protocol-error warnings, ${errors.length} error lines`);
    assert.equal(server.proc.exitCode, null);
    assert.deepEqual(errors, [], 'no error-level log lines');
    assert.ok(warnings > 0, 'some inputs were refused as protocol errors');
    await checkPublishPlay(server.url('live/after-fuzz'));
    await bystander.check();
    assert.equal(bystander.corrupt + bystander.outOfOrder, 0);
  });
});
