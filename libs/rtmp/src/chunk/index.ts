/** RTMP chunk stream (spec 5.3): message reassembly and chunking, sans-I/O. */
export { ChunkDecoder, DEFAULT_CHUNK_DECODER_OPTIONS, DEFAULT_CHUNK_SIZE } from './decoder.ts';
export type { ChunkDecoderOptions } from './decoder.ts';
export { ChunkEncoder, encodeChunks } from './encoder.ts';
