import { RtmpError } from '../errors.ts';
import type { RtmpMessage } from './types.ts';

/**
 * The sub-messages of an Aggregate message (type 22): FLV tags back to back (11-byte tag header,
 * body, 4-byte back pointer). Their timestamps are relative to the first tag's and are rebased on
 * the aggregate's own timestamp, as Flash Media Server does and the encoders that send aggregates
 * expect. Payloads are views of the aggregate's payload.
 */
export function splitAggregate(message: RtmpMessage): RtmpMessage[] {
  const p = message.payload;
  const out: RtmpMessage[] = [];
  let offset = 0;
  let base: number | undefined;
  while (offset + 11 <= p.length) {
    const type = p[offset]!;
    const size = p.readUIntBE(offset + 1, 3);
    const ts = (p.readUIntBE(offset + 4, 3) | (p[offset + 7]! << 24)) >>> 0;
    const end = offset + 11 + size;
    if (end + 4 > p.length) throw new RtmpError('RTMP_ERR_MALFORMED_MESSAGE', 'aggregate sub-message overruns its message');
    base ??= ts;
    out.push({
      chunkStreamId: message.chunkStreamId,
      messageStreamId: message.messageStreamId,
      type,
      timestamp: (message.timestamp + ts - base) >>> 0,
      payload: p.subarray(offset + 11, end),
    });
    offset = end + 4;
  }
  return out;
}

/**
 * Acknowledgement bookkeeping (spec 5.4.3): once the peer has announced a window, the receiver
 * sends an Acknowledgement each time it has received that many more bytes. The sequence number is
 * the byte count modulo 2^32.
 */
export class AcknowledgementWindow {
  #window = 0;
  #lastAck = 0;

  set window(size: number) {
    this.#window = size;
  }

  /** The sequence number to acknowledge now, or undefined. */
  due(bytesReceived: number): number | undefined {
    if (this.#window <= 0 || bytesReceived - this.#lastAck < this.#window) return undefined;
    this.#lastAck = bytesReceived;
    return bytesReceived % 0x1_0000_0000;
  }
}
