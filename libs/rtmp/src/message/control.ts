/**
 * Protocol control messages (spec 5.4, types 1-3, 5, 6) and User Control messages (spec 6.2 /
 * 7.1.7, type 4). Spec 5.4: "These protocol control messages MUST have message stream ID 0 (known
 * as the control stream) and be sent in chunk stream ID 2."
 */
import { RtmpError } from '../errors.ts';
import { ChunkStreamId, MessageType } from './types.ts';
import type { RtmpMessage } from './types.ts';

/** User Control event types (spec 7.1.7). */
export const UserControlEvent = {
  StreamBegin: 0,
  StreamEOF: 1,
  StreamDry: 2,
  SetBufferLength: 3,
  StreamIsRecorded: 4,
  PingRequest: 6,
  PingResponse: 7,
} as const;
/** One of UserControlEvent's values. */
export type UserControlEventId = (typeof UserControlEvent)[keyof typeof UserControlEvent];

/** Set Peer Bandwidth limit types (spec 5.4.5). */
export const PeerBandwidthLimitType = { Hard: 0, Soft: 1, Dynamic: 2 } as const;
/** One of PeerBandwidthLimitType's values. */
export type PeerBandwidthLimitTypeId = (typeof PeerBandwidthLimitType)[keyof typeof PeerBandwidthLimitType];

/** A parsed protocol control or User Control message. */
export type ControlMessage =
  | { kind: 'SetChunkSize'; size: number }
  | { kind: 'Abort'; chunkStreamId: number }
  | { kind: 'Acknowledgement'; sequenceNumber: number }
  | { kind: 'WindowAcknowledgementSize'; size: number }
  /** limitType is normally a PeerBandwidthLimitType; other values are passed through. */
  | { kind: 'SetPeerBandwidth'; size: number; limitType: number }
  /**
   * streamId for StreamBegin/EOF/Dry/IsRecorded and SetBufferLength (with bufferLength, ms);
   * timestamp for PingRequest/PingResponse; unknown events carry only `event`.
   */
  | { kind: 'UserControl'; event: number; streamId?: number; bufferLength?: number; timestamp?: number };

function control(type: number, payload: Buffer): RtmpMessage {
  return { chunkStreamId: ChunkStreamId.ProtocolControl, messageStreamId: 0, type, timestamp: 0, payload };
}

function uint32Message(type: number, value: number): RtmpMessage {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(value, 0);
  return control(type, payload);
}

function userControl(event: number, ...values: number[]): RtmpMessage {
  const payload = Buffer.allocUnsafe(2 + 4 * values.length);
  payload.writeUInt16BE(event, 0);
  for (let i = 0; i < values.length; i++) payload.writeUInt32BE(values[i]! >>> 0, 2 + 4 * i);
  return control(MessageType.UserControl, payload);
}

/** SetChunkSize (type 1): our new maximum chunk size, 1..0x7FFFFFFF (top bit zero). */
export function setChunkSize(size: number): RtmpMessage {
  if (!Number.isInteger(size) || size < 1 || size > 0x7fffffff) {
    throw new RangeError(`chunk size must be an integer in 1..2147483647, got ${size}`);
  }
  return uint32Message(MessageType.SetChunkSize, size);
}

/** Abort (type 2): the peer discards the partial message on chunk stream `csid`. */
export function abort(csid: number): RtmpMessage {
  return uint32Message(MessageType.Abort, csid >>> 0);
}

/** Acknowledgement (type 3): bytes received so far, sent modulo 2^32. */
export function acknowledgement(sequenceNumber: number): RtmpMessage {
  return uint32Message(MessageType.Acknowledgement, sequenceNumber >>> 0);
}

/** Window Acknowledgement Size (type 5): acknowledge every `size` bytes. */
export function windowAcknowledgementSize(size: number): RtmpMessage {
  return uint32Message(MessageType.WindowAcknowledgementSize, size >>> 0);
}

/** Set Peer Bandwidth (type 6): window size and limit type (0 hard, 1 soft, 2 dynamic). */
export function setPeerBandwidth(size: number, limitType: PeerBandwidthLimitTypeId): RtmpMessage {
  const payload = Buffer.allocUnsafe(5);
  payload.writeUInt32BE(size >>> 0, 0);
  payload[4] = limitType;
  return control(MessageType.SetPeerBandwidth, payload);
}

/** User Control StreamBegin: the stream became functional. */
export function streamBegin(streamId: number): RtmpMessage {
  return userControl(UserControlEvent.StreamBegin, streamId);
}

/** User Control StreamEOF: playback of the stream is over. */
export function streamEof(streamId: number): RtmpMessage {
  return userControl(UserControlEvent.StreamEOF, streamId);
}

/** User Control StreamDry: no more data on the stream for now. */
export function streamDry(streamId: number): RtmpMessage {
  return userControl(UserControlEvent.StreamDry, streamId);
}

/** User Control SetBufferLength: the client's buffer length in milliseconds for a stream. */
export function setBufferLength(streamId: number, ms: number): RtmpMessage {
  return userControl(UserControlEvent.SetBufferLength, streamId, ms);
}

/** User Control StreamIsRecorded: the stream is a recorded stream. */
export function streamIsRecorded(streamId: number): RtmpMessage {
  return userControl(UserControlEvent.StreamIsRecorded, streamId);
}

/** User Control PingRequest: the peer must answer with PingResponse carrying `timestamp`. */
export function pingRequest(timestamp: number): RtmpMessage {
  return userControl(UserControlEvent.PingRequest, timestamp);
}

/** User Control PingResponse: echoes a PingRequest's timestamp. */
export function pingResponse(timestamp: number): RtmpMessage {
  return userControl(UserControlEvent.PingResponse, timestamp);
}

/** True for the message types parseControlMessage understands (1, 2, 3, 4, 5, 6). */
export function isControlMessage(message: RtmpMessage): boolean {
  return message.type >= MessageType.SetChunkSize && message.type <= MessageType.SetPeerBandwidth;
}

function need(payload: Buffer, bytes: number, what: string): void {
  if (payload.length < bytes) {
    throw new RtmpError('RTMP_ERR_MALFORMED_MESSAGE', `${what} payload of ${payload.length} bytes, expected ${bytes}`);
  }
}

/**
 * Parses a protocol control (types 1, 2, 3, 5, 6) or User Control (type 4) message. Short payloads
 * throw RtmpError RTMP_ERR_MALFORMED_MESSAGE; extra trailing bytes are ignored. Other message
 * types are a caller error (RangeError; check isControlMessage first).
 */
export function parseControlMessage(message: RtmpMessage): ControlMessage {
  const payload = message.payload;
  switch (message.type) {
    case MessageType.SetChunkSize:
      need(payload, 4, 'SetChunkSize');
      return { kind: 'SetChunkSize', size: payload.readUInt32BE(0) };
    case MessageType.Abort:
      need(payload, 4, 'Abort');
      return { kind: 'Abort', chunkStreamId: payload.readUInt32BE(0) };
    case MessageType.Acknowledgement:
      need(payload, 4, 'Acknowledgement');
      return { kind: 'Acknowledgement', sequenceNumber: payload.readUInt32BE(0) };
    case MessageType.WindowAcknowledgementSize:
      need(payload, 4, 'WindowAcknowledgementSize');
      return { kind: 'WindowAcknowledgementSize', size: payload.readUInt32BE(0) };
    case MessageType.SetPeerBandwidth:
      need(payload, 5, 'SetPeerBandwidth');
      return { kind: 'SetPeerBandwidth', size: payload.readUInt32BE(0), limitType: payload[4]! };
    case MessageType.UserControl:
      return parseUserControl(payload);
    default:
      throw new RangeError(`message type ${message.type} is not a protocol control message`);
  }
}

function parseUserControl(payload: Buffer): ControlMessage {
  // Spec 7.1.7: "the first 2 bytes of the message data are used to identify the Event type.
  // Event type is followed by Event data."
  need(payload, 2, 'User Control');
  const event = payload.readUInt16BE(0);
  switch (event) {
    case UserControlEvent.StreamBegin:
    case UserControlEvent.StreamEOF:
    case UserControlEvent.StreamDry:
    case UserControlEvent.StreamIsRecorded:
      need(payload, 6, 'User Control stream event');
      return { kind: 'UserControl', event, streamId: payload.readUInt32BE(2) };
    case UserControlEvent.SetBufferLength:
      need(payload, 10, 'User Control SetBufferLength');
      return {
        kind: 'UserControl',
        event,
        streamId: payload.readUInt32BE(2),
        bufferLength: payload.readUInt32BE(6),
      };
    case UserControlEvent.PingRequest:
    case UserControlEvent.PingResponse:
      need(payload, 6, 'User Control ping');
      return { kind: 'UserControl', event, timestamp: payload.readUInt32BE(2) };
    default:
      // E.g. SWFVerification (26/27) or vendor events: pass the id up without data.
      return { kind: 'UserControl', event };
  }
}
