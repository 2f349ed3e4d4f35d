import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AcknowledgementWindow, RtmpError, splitAggregate, type RtmpMessage } from '../src/index.ts';

function tag(type: number, ts: number, body: Buffer): Buffer {
  const h = Buffer.alloc(11);
  h[0] = type;
  h.writeUIntBE(body.length, 1, 3);
  h.writeUIntBE(ts & 0xffffff, 4, 3);
  h[7] = (ts >>> 24) & 0xff;
  const back = Buffer.alloc(4);
  back.writeUInt32BE(11 + body.length);
  return Buffer.concat([h, body, back]);
}

const agg = (payload: Buffer, timestamp = 1000): RtmpMessage => ({ chunkStreamId: 6, messageStreamId: 1, type: 22, timestamp, payload });

test('splitAggregate() yields the FLV tags with timestamps rebased on the aggregate timestamp', () => {
  const msg = agg(Buffer.concat([tag(9, 0x01000050, Buffer.from('v1')), tag(8, 0x01000060, Buffer.from('a1')), tag(9, 0x01000070, Buffer.from('v2'))]));
  const subs = splitAggregate(msg);
  assert.deepEqual(subs.map((m) => [m.type, m.timestamp, m.payload.toString()]), [[9, 1000, 'v1'], [8, 1016, 'a1'], [9, 1032, 'v2']]);
  assert.equal(subs[0]!.payload.buffer, msg.payload.buffer, 'sub-payloads are views');
  assert.equal(subs[0]!.messageStreamId, 1);
});

test('splitAggregate() rejects a tag that overruns the aggregate with RTMP_ERR_MALFORMED_MESSAGE', () => {
  const whole = tag(9, 0, Buffer.from('video'));
  for (let cut = 12; cut < whole.length; cut++) {
    assert.throws(() => splitAggregate(agg(whole.subarray(0, cut))), (e: unknown) => e instanceof RtmpError && e.code === 'RTMP_ERR_MALFORMED_MESSAGE');
  }
  assert.deepEqual(splitAggregate(agg(whole.subarray(0, 10))), [], 'a trailing fragment shorter than a tag header is ignored');
});

test('AcknowledgementWindow is due once per window of received bytes, modulo 2^32', () => {
  const w = new AcknowledgementWindow();
  assert.equal(w.due(10_000_000), undefined, 'no window announced: no acknowledgements');
  w.window = 1000;
  assert.equal(w.due(10_000_999), 10_000_999);
  assert.equal(w.due(10_001_500), undefined);
  assert.equal(w.due(10_002_000), 10_002_000);
  assert.equal(w.due(2 ** 32 + 5000), 5000);
});
