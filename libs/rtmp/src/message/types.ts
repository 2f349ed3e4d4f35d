/** RTMP message type ids (RTMP spec 5.4 and 7.1). */
export const MessageType = {
  SetChunkSize: 1,
  Abort: 2,
  Acknowledgement: 3,
  UserControl: 4,
  WindowAcknowledgementSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  SharedObjectAmf3: 16,
  CommandAmf3: 17,
  DataAmf0: 18,
  SharedObjectAmf0: 19,
  CommandAmf0: 20,
  Aggregate: 22,
} as const;
export type MessageTypeId = (typeof MessageType)[keyof typeof MessageType];

/**
 * One complete RTMP message as the chunk layer hands it up or takes it down. `payload` is a view
 * (subarray) of the received bytes when the message arrived in one chunk of one read, and a fresh
 * copy only when it was reassembled from several chunks.
 */
export interface RtmpMessage {
  chunkStreamId: number;
  messageStreamId: number;
  /** One of MessageType; unknown ids are passed up unchanged. */
  type: number;
  /** Absolute timestamp in milliseconds, modulo 2^32. */
  timestamp: number;
  payload: Buffer;
}

/** Chunk stream ids used by convention: 2 is reserved for protocol control (spec 5.4). */
export const ChunkStreamId = {
  ProtocolControl: 2,
  Command: 3,
  Audio: 4,
  Data: 5,
  Video: 6,
} as const;
