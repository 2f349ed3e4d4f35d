import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  PeerBandwidthLimitType,
  UserControlEvent,
  abort,
  acknowledgement,
  isControlMessage,
  parseControlMessage,
  pingRequest,
  pingResponse,
  setBufferLength,
  setChunkSize,
  setPeerBandwidth,
  streamBegin,
  streamDry,
  streamEof,
  streamIsRecorded,
  windowAcknowledgementSize,
} from '../src/message/control.ts';
import type { ControlMessage } from '../src/message/control.ts';
import type { RtmpMessage } from '../src/message/types.ts';
import { ChunkDecoder, encodeChunks } from '../src/chunk/index.ts';
import { RtmpError } from '../src/errors.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

interface Case {
  name: string;
  message: RtmpMessage;
  type: number;
  payload: string;
  parsed: ControlMessage;
}

const cases: Case[] = [
  { name: 'SetChunkSize', message: setChunkSize(4096), type: 1, payload: '00001000', parsed: { kind: 'SetChunkSize', size: 4096 } },
  { name: 'SetChunkSize max', message: setChunkSize(0x7fffffff), type: 1, payload: '7fffffff', parsed: { kind: 'SetChunkSize', size: 0x7fffffff } },
  { name: 'Abort', message: abort(6), type: 2, payload: '00000006', parsed: { kind: 'Abort', chunkStreamId: 6 } },
  {
    name: 'Acknowledgement',
    message: acknowledgement(0x01020304),
    type: 3,
    payload: '01020304',
    parsed: { kind: 'Acknowledgement', sequenceNumber: 0x01020304 },
  },
  {
    name: 'Acknowledgement wraps past 2^32',
    message: acknowledgement(2 ** 32 + 5),
    type: 3,
    payload: '00000005',
    parsed: { kind: 'Acknowledgement', sequenceNumber: 5 },
  },
  {
    name: 'WindowAcknowledgementSize',
    message: windowAcknowledgementSize(2500000),
    type: 5,
    payload: '002625a0',
    parsed: { kind: 'WindowAcknowledgementSize', size: 2500000 },
  },
  {
    name: 'SetPeerBandwidth dynamic',
    message: setPeerBandwidth(2500000, PeerBandwidthLimitType.Dynamic),
    type: 6,
    payload: '002625a0 02',
    parsed: { kind: 'SetPeerBandwidth', size: 2500000, limitType: 2 },
  },
  {
    name: 'SetPeerBandwidth hard',
    message: setPeerBandwidth(1, 0),
    type: 6,
    payload: '00000001 00',
    parsed: { kind: 'SetPeerBandwidth', size: 1, limitType: 0 },
  },
  { name: 'StreamBegin', message: streamBegin(1), type: 4, payload: '0000 00000001', parsed: { kind: 'UserControl', event: 0, streamId: 1 } },
  { name: 'StreamEOF', message: streamEof(2), type: 4, payload: '0001 00000002', parsed: { kind: 'UserControl', event: 1, streamId: 2 } },
  { name: 'StreamDry', message: streamDry(3), type: 4, payload: '0002 00000003', parsed: { kind: 'UserControl', event: 2, streamId: 3 } },
  {
    name: 'SetBufferLength',
    message: setBufferLength(1, 3000),
    type: 4,
    payload: '0003 00000001 00000bb8',
    parsed: { kind: 'UserControl', event: 3, streamId: 1, bufferLength: 3000 },
  },
  {
    name: 'StreamIsRecorded',
    message: streamIsRecorded(1),
    type: 4,
    payload: '0004 00000001',
    parsed: { kind: 'UserControl', event: 4, streamId: 1 },
  },
  {
    name: 'PingRequest',
    message: pingRequest(0xdeadbeef),
    type: 4,
    payload: '0006 deadbeef',
    parsed: { kind: 'UserControl', event: 6, timestamp: 0xdeadbeef },
  },
  {
    name: 'PingResponse',
    message: pingResponse(123),
    type: 4,
    payload: '0007 0000007b',
    parsed: { kind: 'UserControl', event: 7, timestamp: 123 },
  },
];

function malformed(payload: string, type: number): void {
  const message: RtmpMessage = { chunkStreamId: 2, messageStreamId: 0, type, timestamp: 0, payload: hex(payload) };
  assert.throws(
    () => parseControlMessage(message),
    (error: unknown) => error instanceof RtmpError && error.code === 'RTMP_ERR_MALFORMED_MESSAGE',
  );
}

describe('control messages', () => {
  for (const c of cases) {
    it(`${c.name}: exact bytes and round trip`, () => {
      assert.equal(c.message.chunkStreamId, 2);
      assert.equal(c.message.messageStreamId, 0);
      assert.equal(c.message.timestamp, 0);
      assert.equal(c.message.type, c.type);
      assert.deepEqual(c.message.payload, hex(c.payload));
      assert.ok(isControlMessage(c.message));
      assert.deepEqual(parseControlMessage(c.message), c.parsed);
    });

    it(`${c.name}: every truncation is malformed`, () => {
      const full = hex(c.payload);
      for (let n = 0; n < full.length; n++) malformed(full.subarray(0, n).toString('hex'), c.type);
    });
  }

  it('UserControlEvent ids', () => {
    assert.deepEqual(UserControlEvent, {
      StreamBegin: 0,
      StreamEOF: 1,
      StreamDry: 2,
      SetBufferLength: 3,
      StreamIsRecorded: 4,
      PingRequest: 6,
      PingResponse: 7,
    });
  });

  it('unknown User Control events pass through with only the event id', () => {
    const message: RtmpMessage = { chunkStreamId: 2, messageStreamId: 0, type: 4, timestamp: 0, payload: hex('001a 00') };
    assert.deepEqual(parseControlMessage(message), { kind: 'UserControl', event: 26 });
  });

  it('ignores trailing bytes and passes unusual limit types through', () => {
    const message: RtmpMessage = { chunkStreamId: 2, messageStreamId: 0, type: 6, timestamp: 0, payload: hex('00001000 07 ff') };
    assert.deepEqual(parseControlMessage(message), { kind: 'SetPeerBandwidth', size: 4096, limitType: 7 });
  });

  it('rejects non-control types and invalid chunk sizes with RangeError', () => {
    const message: RtmpMessage = { chunkStreamId: 3, messageStreamId: 0, type: 20, timestamp: 0, payload: hex('00') };
    assert.equal(isControlMessage(message), false);
    assert.throws(() => parseControlMessage(message), RangeError);
    assert.throws(() => setChunkSize(0), RangeError);
    assert.throws(() => setChunkSize(0x80000000), RangeError);
  });

  it('built messages go through the chunk layer unchanged', () => {
    const decoder = new ChunkDecoder();
    for (const c of cases.filter((x) => x.type !== 1 && x.type !== 2)) {
      assert.deepEqual(decoder.push(encodeChunks(c.message, 128)), [c.message]);
    }
  });
});
