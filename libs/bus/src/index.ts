export { BusError } from './bus.ts';
export type {
  Bus,
  BusErrorCode,
  BusMessage,
  MessageHandler,
  PublishOptions,
  RequestOptions,
  SubscribeOptions,
  Subscription,
} from './bus.ts';
export { MemoryBus } from './memory.ts';
export type { MemoryBusOptions } from './memory.ts';
export {
  SUBJECT_PREFIX,
  mediaSubject,
  initSubject,
  controlSubject,
  encodeSubjectToken,
  streamIdForName,
  subjectMatches,
  assertPublishSubject,
  assertSubscribeSubject,
} from './subjects.ts';
export {
  FRAME_HEADER_SIZE,
  FRAME_VERSION,
  FrameKind,
  FrameFlag,
  encodeFrame,
  decodeFrame,
  FrameAssembler,
} from './frame.ts';
export type { Frame, FrameFragment, FrameKindId, StreamStartInfo } from './frame.ts';
export { NatsBus } from './nats.ts';
export type { NatsBusOptions } from './nats.ts';
export { MemoryStreamIndex, indexKey, parseRecord } from './stream-index.ts';
export type { ClaimResult, LiveStreamRecord, StreamIndex } from './stream-index.ts';
export { KvStreamIndex } from './kv-stream-index.ts';
export type { KvStreamIndexOptions } from './kv-stream-index.ts';
export { SlabAllocator } from './slab.ts';
export {
  STREAM_EVENT_SUBJECT,
  EDGE_HEARTBEAT_SUBJECT,
  ORIGIN_HEARTBEAT_SUBJECT,
  AUTH_FAILURE_SUBJECT,
  KEYS_CHANGED_SUBJECT,
  encodeJson,
  decodeJson,
} from './events.ts';
export type { StreamEvent, StreamHealthState, EdgeHeartbeat, OriginHeartbeat, AuthFailure, KeysChanged } from './events.ts';
export { retrying, isWrongLastSequence, isTransientJetStreamError } from './jetstream-retry.ts';
