/**
 * The benchmark's media: a prepared FLV (made once with ffmpeg and cached), loaded into memory as
 * a list of tags, and the send-time stamp each video frame carries in an H.264 SEI NAL unit.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { FlvReader, isVideoKeyframe, isVideoSequenceHeader, isAudioSequenceHeader, TagType } from '@firstmile/flv';

/** ffmpeg arguments of the test file: 720p30 H.264 ~3 Mbit/s, 2 s GOP, no B-frames, AAC 128k, 20 s. */
export const MEDIA_SPEC = {
  width: 1280,
  height: 720,
  fps: 30,
  videoKbps: 3000,
  gopFrames: 60,
  audioKbps: 128,
  seconds: 20,
} as const;

function ffmpegArgs(out: string): string[] {
  const s = MEDIA_SPEC;
  return [
    '-hide_banner', '-loglevel', 'error', '-y',
    // Noise keeps the encoder busy at the target bitrate (a clean test pattern compresses to far less).
    '-f', 'lavfi', '-i', `testsrc2=size=${s.width}x${s.height}:rate=${s.fps},noise=alls=12:allf=t`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
    '-t', String(s.seconds),
    '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-pix_fmt', 'yuv420p',
    '-bf', '0', '-g', String(s.gopFrames), '-keyint_min', String(s.gopFrames), '-sc_threshold', '0',
    '-b:v', `${s.videoKbps}k`, '-maxrate', `${s.videoKbps}k`, '-bufsize', `${s.videoKbps}k`,
    '-c:a', 'aac', '-b:a', `${s.audioKbps}k`, '-ac', '2', '-ar', '44100',
    '-f', 'flv', out,
  ];
}

/** Where the test FLV is cached. */
export function mediaFilePath(cacheDir: string): string {
  const s = MEDIA_SPEC;
  return join(cacheDir, `bench-${s.width}x${s.height}p${s.fps}-${s.videoKbps}k-g${s.gopFrames}-${s.seconds}s.flv`);
}

/** Path of the cached test FLV, made with ffmpeg when missing. */
export function ensureMediaFile(cacheDir: string, log: (s: string) => void): string {
  const file = mediaFilePath(cacheDir);
  if (existsSync(file)) return file;
  mkdirSync(cacheDir, { recursive: true });
  log(`making the test file with ffmpeg: ${file}`);
  const tmp = `${file}.tmp.flv`;
  const r = spawnSync('ffmpeg', ffmpegArgs(tmp), { stdio: ['ignore', 'inherit', 'inherit'], timeout: 300_000 });
  if (r.status !== 0) throw new Error(`ffmpeg failed making the test file (status ${r.status}, ${r.error?.message ?? ''})`);
  renameSync(tmp, file);
  return file;
}

export interface MediaTag {
  type: 8 | 9 | 18;
  /** Milliseconds from the start of the file. */
  timestamp: number;
  payload: Buffer;
  /** Video frame (AVC NALU packet) that gets a send-time SEI. */
  stampable: boolean;
  keyframe: boolean;
}

export interface Media {
  file: string;
  /** onMetaData as `@setDataFrame` data (sent once per publisher). */
  metadata: Buffer | undefined;
  videoHeader: Buffer;
  audioHeader: Buffer | undefined;
  /** Media frames in file order (sequence headers and metadata excluded), with stamp slots. */
  frames: MediaTag[];
  /** Loop period: the last timestamp plus one frame interval. */
  durationMs: number;
  /** Media payload bytes per second of the stream as published (stamps included). */
  payloadBytesPerSecond: number;
  /** Messages per second as published. */
  messagesPerSecond: number;
  videoFramesPerSecond: number;
}

// ---------------------------------------------------------------------------------------------
// Send-time stamp: an SEI NAL unit (type 6) with one user_data_unregistered message (payloadType
// 5, 24 bytes: a fixed 16-byte UUID, then 8 time bytes), inserted as an extra NAL unit of the
// AVCC payload behind a 4-byte length. Each time byte carries 7 bits with the top bit set, so the
// NAL never holds 00 00 0x and needs no emulation prevention; decoders skip the message.

/** Fixed UUID of the stamp (no zero bytes). */
export const STAMP_UUID = Buffer.from('f1a57c11e0be4e7c9a3db0a7c5e1d2f3', 'hex');
/** NAL: header 0x06, payloadType 5, payloadSize 24, UUID (16), time (8), rbsp trailing bits. */
const SEI_NAL_SIZE = 1 + 1 + 1 + 16 + 8 + 1;
/** The SEI NAL with its 4-byte length prefix. */
export const STAMP_SIZE = 4 + SEI_NAL_SIZE;

/** Offset of the 8 time bytes within the stamp (from the length prefix). */
const TIME_OFFSET = 4 + 3 + 16;

function stampTemplate(): Buffer {
  const b = Buffer.alloc(STAMP_SIZE);
  b.writeUInt32BE(SEI_NAL_SIZE, 0);
  b[4] = 0x06;
  b[5] = 5;
  b[6] = 24;
  STAMP_UUID.copy(b, 7);
  b.fill(0x80, TIME_OFFSET, TIME_OFFSET + 8);
  b[STAMP_SIZE - 1] = 0x80;
  return b;
}

/** Writes `micros` (a non-negative integer below 2^56) as 8 × 7 bits, top bit set, at `at`. */
function writeStampTime(buf: Buffer, at: number, micros: number): void {
  let v = micros;
  for (let i = 7; i >= 0; i--) {
    buf[at + i] = 0x80 | (v % 128);
    v = Math.floor(v / 128);
  }
}

function readStampTime(buf: Buffer, at: number): number {
  let v = 0;
  for (let i = 0; i < 8; i++) v = v * 128 + (buf[at + i]! & 0x7f);
  return v;
}

/** Where (within the AVC payload) the stamp goes: after a leading access unit delimiter, else first. */
function stampOffset(payload: Buffer): number {
  let at = 5;
  if (payload.length >= at + 5) {
    const len = payload.readUInt32BE(at);
    if ((payload[at + 4]! & 0x1f) === 9 && at + 4 + len <= payload.length) at += 4 + len;
  }
  return at;
}

/**
 * The frame with an empty stamp inserted; `stampAt` is where the time bytes are. Write them with
 * stampFrame() right before each send (chunk encoding copies the payload, so one buffer per
 * frame serves every publisher).
 */
function withStampSlot(payload: Buffer): { payload: Buffer; stampAt: number } {
  const at = stampOffset(payload);
  const out = Buffer.allocUnsafe(payload.length + STAMP_SIZE);
  payload.copy(out, 0, 0, at);
  stampTemplate().copy(out, at);
  payload.copy(out, at + STAMP_SIZE, at);
  return { payload: out, stampAt: at + TIME_OFFSET };
}

const stampAtOf = new WeakMap<Buffer, number>();

/** Writes the send time (µs on this process's clock) into a stampable frame's slot. */
export function stampFrame(payload: Buffer, micros: number): void {
  const at = stampAtOf.get(payload);
  if (at !== undefined) writeStampTime(payload, at, micros);
}

/**
 * The send time carried by a received video payload, or -1. Looks at the first few NAL units of
 * an AVC NALU packet for our SEI (4-byte NAL lengths, as in the prepared file).
 */
export function readStamp(payload: Buffer): number {
  if (payload.length < 5 + STAMP_SIZE || (payload[0]! & 0x0f) !== 7 || payload[1] !== 1) return -1;
  let at = 5;
  for (let n = 0; n < 4 && at + STAMP_SIZE <= payload.length; n++) {
    const len = payload.readUInt32BE(at);
    const nal = at + 4;
    const type = payload[nal]! & 0x1f;
    if (type === 6 && len === SEI_NAL_SIZE && payload[nal + 1] === 5 && payload[nal + 2] === 24 && payload.compare(STAMP_UUID, 0, 16, nal + 3, nal + 19) === 0) {
      return readStampTime(payload, at + TIME_OFFSET);
    }
    if (type !== 9 && type !== 6) return -1;
    at = nal + len;
  }
  return -1;
}

/** Loads the FLV into memory: metadata, sequence headers, and frames with stamp slots. */
export function loadMedia(file: string): Media {
  const reader = new FlvReader();
  const tags = reader.push(readFileSync(file));
  reader.end();
  let metadata: Buffer | undefined;
  let videoHeader: Buffer | undefined;
  let audioHeader: Buffer | undefined;
  let nalLengthSize = 4;
  const frames: MediaTag[] = [];
  for (const tag of tags) {
    const data = Buffer.from(tag.data);
    if (tag.type === TagType.Script) {
      // FLV script data is `onMetaData {…}`; publishers send it as `@setDataFrame onMetaData {…}`.
      if (metadata === undefined) metadata = Buffer.concat([Buffer.from('\x02\x00\x0d@setDataFrame', 'latin1'), data]);
      continue;
    }
    if (tag.type === TagType.Video) {
      if (isVideoSequenceHeader(data)) {
        videoHeader ??= data;
        if (data.length > 9) nalLengthSize = (data[9]! & 3) + 1;
        continue;
      }
      const nalu = (data[0]! & 0x0f) === 7 && data[1] === 1;
      const stampable = nalu && nalLengthSize === 4;
      let payload: Buffer = data;
      if (stampable) {
        const slot = withStampSlot(data);
        payload = slot.payload;
        stampAtOf.set(payload, slot.stampAt);
      }
      frames.push({ type: 9, timestamp: tag.timestamp, payload, stampable, keyframe: isVideoKeyframe(data) });
      continue;
    }
    if (tag.type === TagType.Audio) {
      if (isAudioSequenceHeader(data)) {
        audioHeader ??= data;
        continue;
      }
      frames.push({ type: 8, timestamp: tag.timestamp, payload: data, stampable: false, keyframe: false });
    }
  }
  if (videoHeader === undefined) throw new Error(`${file}: no AVC sequence header`);
  if (frames.length === 0 || !frames.find((f) => f.type === 9)?.keyframe) throw new Error(`${file}: does not start with a keyframe`);
  if (!frames.some((f) => f.stampable)) throw new Error(`${file}: no stampable H.264 frames (NAL length size ${nalLengthSize})`);
  const video = frames.filter((f) => f.type === 9);
  const last = frames[frames.length - 1]!.timestamp;
  const frameMs = video.length > 1 ? (video[video.length - 1]!.timestamp - video[0]!.timestamp) / (video.length - 1) : 33;
  const durationMs = Math.round(last + frameMs);
  let bytes = 0;
  for (const f of frames) bytes += f.payload.length;
  return {
    file,
    metadata,
    videoHeader,
    audioHeader,
    frames,
    durationMs,
    payloadBytesPerSecond: (bytes * 1000) / durationMs,
    messagesPerSecond: (frames.length * 1000) / durationMs,
    videoFramesPerSecond: (video.length * 1000) / durationMs,
  };
}
