import { ExScan, fourCcString, fourCcValue, readSi24 } from './bytes.ts';
import { FlvError } from './errors.ts';

/** VideoFrameType (legacy UB[4], enhanced UB[3]). */
export const VideoFrameType = {
  KeyFrame: 1,
  InterFrame: 2,
  DisposableInterFrame: 3,
  GeneratedKeyFrame: 4,
  /** Video info/command frame: the body is a UI8 VideoCommand, not video. */
  Command: 5,
} as const;

/** VideoCommand carried by Command frames. */
export const VideoCommand = { StartSeek: 0, EndSeek: 1 } as const;

/**
 * Legacy VideoCodecId (UB[4]). 12–15 are not in any Adobe spec: they are the convention of Chinese
 * CDNs / ffmpeg forks (HEVC = 12 is widespread) and are framed exactly like AVC.
 */
export const VideoCodecId = {
  SorensonH263: 2,
  Screen: 3,
  On2VP6: 4,
  On2VP6A: 5,
  ScreenV2: 6,
  Avc: 7,
  Hevc: 12,
  Av1: 13,
  Vp8: 14,
  Vp9: 15,
} as const;

/** Legacy AVCPacketType (also used by the 12–15 extensions). */
export const AvcPacketType = { SequenceHeader: 0, Nalu: 1, EndOfSequence: 2 } as const;

/** E-RTMP VideoPacketType (UB[4] in the first byte when IsExHeader is set). */
export const VideoPacketType = {
  SequenceStart: 0,
  CodedFrames: 1,
  SequenceEnd: 2,
  /** CodedFrames with CompositionTime implied 0: saves the SI24 when pts == dts (no B-frames). */
  CodedFramesX: 3,
  /** Body is AMF-encoded metadata (e.g. colorInfo for HDR); FrameType is ignored. */
  Metadata: 4,
  MPEG2TSSequenceStart: 5,
  Multitrack: 6,
  ModEx: 7,
} as const;

/** E-RTMP VideoPacketModExType. */
export const VideoPacketModExType = { TimestampOffsetNano: 0 } as const;

/** E-RTMP AvMultitrackType (shared by audio and video). */
export const AvMultitrackType = { OneTrack: 0, ManyTracks: 1, ManyTracksManyCodecs: 2 } as const;

/** E-RTMP VideoFourCc values. */
export const VideoFourCc = {
  Vp8: 'vp08',
  Vp9: 'vp09',
  Av1: 'av01',
  Avc: 'avc1',
  Hevc: 'hvc1',
  Vvc: 'vvc1',
} as const;

/** Everything the (Ex)VideoTagHeader says about one video payload. */
export interface VideoTagHeader {
  /** IsExHeader: E-RTMP FourCC mode (top bit of the first byte). */
  readonly enhanced: boolean;
  /** VideoFrameType: 1 key, 2 inter, 3 disposable inter, 4 generated key, 5 command. */
  readonly frameType: number;
  /** Legacy VideoCodecId; undefined when enhanced. */
  readonly codecId: number | undefined;
  /** Enhanced FourCC (first track's for Multitrack); undefined for legacy and enhanced command frames. */
  readonly fourCc: string | undefined;
  /**
   * Legacy AVCPacketType (codecs 7, 12–15) or enhanced VideoPacketType after resolving ModEx and
   * Multitrack; -1 when the wire carries none (other legacy codecs, legacy command frames).
   */
  readonly packetType: number;
  /** A coded key frame (FrameType 1 or 4) — not a sequence header, end of sequence, metadata or command. */
  readonly isKeyframe: boolean;
  /** Decoder configuration: legacy AVCPacketType 0, enhanced SequenceStart or MPEG2TSSequenceStart. */
  readonly isSequenceHeader: boolean;
  /** Legacy AVCPacketType 2 or enhanced SequenceEnd. */
  readonly isEndOfSequence: boolean;
  /** CompositionTime (SI24 ms, pts − dts) of coded AVC/HEVC/VVC frames; 0 when absent (e.g. CodedFramesX). */
  readonly compositionTime: number;
  /** Bytes before the codec data (for Multitrack: before the first track's data). */
  readonly headerLength: number;
  /** VideoCommand of a Command frame, else undefined. */
  readonly videoCommand: number | undefined;
  /** AvMultitrackType when PacketType was Multitrack, else undefined. */
  readonly multitrackType: number | undefined;
  /** TrackId of the first track when Multitrack, else undefined. */
  readonly trackId: number | undefined;
  /** ModEx TimestampOffsetNano (ns to add to the ms timestamp), else undefined. */
  readonly timestampOffsetNano: number | undefined;
}

const AVC = fourCcValue(VideoFourCc.Avc);
const HEVC = fourCcValue(VideoFourCc.Hevc);
const VVC = fourCcValue(VideoFourCc.Vvc);

class VideoScan extends ExScan {
  enhanced = false;
  frameType = 0;
  codecId = -1;
  compositionTime = 0;
  videoCommand = -1;
}

// Reused by every call: JS is single-threaded and scanVideo never re-enters, so predicates stay allocation-free.
const scratch = new VideoScan();

/** Legacy codecs whose header carries AVCPacketType + CompositionTime. */
function hasAvcFraming(codecId: number): boolean {
  return codecId === 7 || codecId >= 12;
}

/** Fills `s` from `p`; false when the payload ends inside the header (never throws). */
function scanVideo(p: Uint8Array, s: VideoScan): boolean {
  s.resetEx();
  s.compositionTime = 0;
  s.videoCommand = -1;
  s.codecId = -1;
  const n = p.length;
  if (n < 1) return false;
  const b0 = p[0]!;

  if ((b0 & 0x80) === 0) {
    // Legacy: FrameType UB[4] | CodecID UB[4].
    s.enhanced = false;
    s.frameType = b0 >> 4;
    s.codecId = b0 & 0x0f;
    if (s.frameType === VideoFrameType.Command) {
      if (n < 2) return false;
      s.videoCommand = p[1]!;
      s.pos = 2;
      return true;
    }
    if (hasAvcFraming(s.codecId)) {
      // AVCPacketType UI8 + CompositionTime SI24, present for every AVCPacketType (0 unless NALU).
      if (n < 5) return false;
      s.packetType = p[1]!;
      if (s.packetType === AvcPacketType.Nalu) s.compositionTime = readSi24(p, 2);
      s.pos = 5;
      return true;
    }
    s.pos = 1;
    return true;
  }

  // Enhanced: IsExHeader UB[1] | FrameType UB[3] | VideoPacketType UB[4].
  s.enhanced = true;
  s.frameType = (b0 >> 4) & 0x07;
  s.packetType = b0 & 0x0f;
  s.pos = 1;
  if (!s.modEx(p, VideoPacketType.ModEx)) return false;
  if (s.packetType !== VideoPacketType.Metadata && s.frameType === VideoFrameType.Command) {
    // Command frames carry no FourCC, only the UI8 VideoCommand.
    if (s.pos >= n) return false;
    s.videoCommand = p[s.pos++]!;
    return true;
  }
  if (s.packetType === VideoPacketType.Multitrack) {
    if (!s.multitrack(p)) return false;
  } else if (!s.fourCcAt(p)) {
    return false;
  }
  if (s.packetType === VideoPacketType.CodedFrames && (s.fourCc === AVC || s.fourCc === HEVC || s.fourCc === VVC)) {
    // Only codecs with B-frame reordering carry CompositionTime; VP8/VP9/AV1 coded frames do not.
    if (s.pos + 3 > n) return false;
    s.compositionTime = readSi24(p, s.pos);
    s.pos += 3;
  }
  return true;
}

function isCommand(s: VideoScan): boolean {
  return s.videoCommand !== -1;
}

function scanIsSequenceHeader(s: VideoScan): boolean {
  if (isCommand(s)) return false;
  if (s.enhanced) {
    return s.packetType === VideoPacketType.SequenceStart || s.packetType === VideoPacketType.MPEG2TSSequenceStart;
  }
  return hasAvcFraming(s.codecId) && s.packetType === AvcPacketType.SequenceHeader;
}

function scanIsEndOfSequence(s: VideoScan): boolean {
  if (isCommand(s)) return false;
  if (s.enhanced) return s.packetType === VideoPacketType.SequenceEnd;
  return hasAvcFraming(s.codecId) && s.packetType === AvcPacketType.EndOfSequence;
}

function scanIsKeyframe(s: VideoScan): boolean {
  if (s.frameType !== VideoFrameType.KeyFrame && s.frameType !== VideoFrameType.GeneratedKeyFrame) return false;
  if (s.enhanced) {
    return s.packetType === VideoPacketType.CodedFrames || s.packetType === VideoPacketType.CodedFramesX;
  }
  // Legacy codecs without AVCPacketType: the whole body is the coded frame.
  return hasAvcFraming(s.codecId) ? s.packetType === AvcPacketType.Nalu : true;
}

/** Parses the (Ex)VideoTagHeader at the start of a video tag / RTMP video message payload. */
export function parseVideoTagHeader(payload: Uint8Array): VideoTagHeader {
  const s = scratch;
  if (!scanVideo(payload, s)) {
    throw new FlvError('FLV_ERR_TRUNCATED', `video tag header truncated (${payload.length} bytes)`);
  }
  return {
    enhanced: s.enhanced,
    frameType: s.frameType,
    codecId: s.enhanced ? undefined : s.codecId,
    fourCc: s.fourCc === -1 ? undefined : fourCcString(s.fourCc),
    packetType: s.packetType,
    isKeyframe: scanIsKeyframe(s),
    isSequenceHeader: scanIsSequenceHeader(s),
    isEndOfSequence: scanIsEndOfSequence(s),
    compositionTime: s.compositionTime,
    headerLength: s.pos,
    videoCommand: s.videoCommand === -1 ? undefined : s.videoCommand,
    multitrackType: s.multitrackType === -1 ? undefined : s.multitrackType,
    trackId: s.trackId === -1 ? undefined : s.trackId,
    timestampOffsetNano: s.timestampOffsetNano === -1 ? undefined : s.timestampOffsetNano,
  };
}

/** Hot path: true for a complete key-frame header (same rule as `isKeyframe`); false on short input, never throws. */
export function isVideoKeyframe(payload: Uint8Array): boolean {
  return scanVideo(payload, scratch) && scanIsKeyframe(scratch);
}

/** Hot path: true for a complete sequence-header header (same rule as `isSequenceHeader`); never throws. */
export function isVideoSequenceHeader(payload: Uint8Array): boolean {
  return scanVideo(payload, scratch) && scanIsSequenceHeader(scratch);
}

/** Codec label for metrics and logs. */
export type VideoCodecName =
  | 'H263'
  | 'ScreenVideo'
  | 'VP6'
  | 'VP6A'
  | 'ScreenVideo2'
  | 'H264'
  | 'HEVC'
  | 'AV1'
  | 'VP8'
  | 'VP9'
  | 'VVC'
  | 'unknown';

const LEGACY_VIDEO_NAMES: Readonly<Record<number, VideoCodecName>> = {
  2: 'H263',
  3: 'ScreenVideo',
  4: 'VP6',
  5: 'VP6A',
  6: 'ScreenVideo2',
  7: 'H264',
  12: 'HEVC',
  13: 'AV1',
  14: 'VP8',
  15: 'VP9',
};

const FOURCC_VIDEO_NAMES: Readonly<Record<string, VideoCodecName>> = {
  avc1: 'H264',
  hvc1: 'HEVC',
  av01: 'AV1',
  vp09: 'VP9',
  vp08: 'VP8',
  vvc1: 'VVC',
};

/** Codec name from a parsed header; 'unknown' for unassigned ids / FourCCs (bounded metric cardinality). */
export function videoCodecName(h: Pick<VideoTagHeader, 'codecId' | 'fourCc'>): VideoCodecName {
  if (h.fourCc !== undefined) return Object.hasOwn(FOURCC_VIDEO_NAMES, h.fourCc) ? FOURCC_VIDEO_NAMES[h.fourCc]! : 'unknown';
  if (h.codecId !== undefined) return LEGACY_VIDEO_NAMES[h.codecId] ?? 'unknown';
  return 'unknown';
}
