import { MediaChunkStream, MessageType, encodeChunks } from '@firstmile/rtmp';

/**
 * One media message as the origin sends it: payload and rebased timestamp, plus its chunk encoding
 * for message stream 1 (what nearly every player's createStream returns), made once and written to
 * every player. Players on another message stream id get their own encoding, on demand.
 */
export class OutMessage {
  readonly type: number;
  readonly timestamp: number;
  readonly payload: Uint8Array;
  readonly keyframe: boolean;
  readonly config: boolean;
  readonly chunks: Buffer;
  readonly #chunkSize: number;
  #other: Map<number, Buffer> | undefined;

  constructor(type: number, timestamp: number, payload: Uint8Array, keyframe: boolean, config: boolean, chunkSize: number) {
    this.type = type;
    this.timestamp = timestamp;
    this.payload = payload;
    this.keyframe = keyframe;
    this.config = config;
    this.#chunkSize = chunkSize;
    this.chunks = this.#encode(1);
  }

  get isVideo(): boolean {
    return this.type === MessageType.Video;
  }

  get isAudio(): boolean {
    return this.type === MessageType.Audio;
  }

  encodedFor(messageStreamId: number): Buffer {
    if (messageStreamId === 1) return this.chunks;
    this.#other ??= new Map();
    let b = this.#other.get(messageStreamId);
    if (!b) {
      b = this.#encode(messageStreamId);
      this.#other.set(messageStreamId, b);
    }
    return b;
  }

  #encode(messageStreamId: number): Buffer {
    const chunkStreamId =
      this.type === MessageType.Video ? MediaChunkStream.Video : this.type === MessageType.Audio ? MediaChunkStream.Audio : MediaChunkStream.Data;
    return encodeChunks(
      {
        chunkStreamId,
        messageStreamId,
        type: this.type,
        timestamp: this.timestamp,
        payload: Buffer.from(this.payload.buffer, this.payload.byteOffset, this.payload.byteLength),
      },
      this.#chunkSize,
    );
  }
}
