import { ExScan, fourCcString } from './bytes.ts';
import { FlvError } from './errors.ts';

/** SoundFormat (UB[4]); 9 was reserved in FLV 10.1 and now signals the E-RTMP ExAudioTagHeader. */
export const SoundFormat = {
  LPcmPlatformEndian: 0,
  AdPcm: 1,
  Mp3: 2,
  LPcmLittleEndian: 3,
  Nellymoser16KMono: 4,
  Nellymoser8KMono: 5,
  Nellymoser: 6,
  G711ALaw: 7,
  G711MuLaw: 8,
  ExHeader: 9,
  Aac: 10,
  Speex: 11,
  Mp3_8K: 14,
  Native: 15,
} as const;

/** Legacy AACPacketType. */
export const AacPacketType = { SequenceHeader: 0, Raw: 1 } as const;

/** E-RTMP AudioPacketType (UB[4] in the first byte when SoundFormat is ExHeader). */
export const AudioPacketType = {
  SequenceStart: 0,
  CodedFrames: 1,
  /** Same meaning as the legacy zero-length "silence" message, but per track. */
  SequenceEnd: 2,
  MultichannelConfig: 4,
  Multitrack: 5,
  ModEx: 7,
} as const;

/** E-RTMP AudioPacketModExType. */
export const AudioPacketModExType = { TimestampOffsetNano: 0 } as const;

/** E-RTMP AudioFourCc values. */
export const AudioFourCc = {
  Ac3: 'ac-3',
  Eac3: 'ec-3',
  Opus: 'Opus',
  Mp3: '.mp3',
  Flac: 'fLaC',
  Aac: 'mp4a',
} as const;

/** Everything the (Ex)AudioTagHeader says about one audio payload. */
export interface AudioTagHeader {
  /** SoundFormat is ExHeader (9): E-RTMP FourCC mode. */
  readonly enhanced: boolean;
  /** SoundFormat (UB[4]); 9 when enhanced. */
  readonly soundFormat: number;
  /** Enhanced FourCC (first track's for Multitrack); undefined for legacy. */
  readonly fourCc: string | undefined;
  /** AACPacketType, or enhanced AudioPacketType after ModEx/Multitrack; -1 when absent (legacy non-AAC). */
  readonly packetType: number;
  /** SoundRate in Hz (5512, 11025, 22050, 44100); 0 when enhanced (the codec config carries it). */
  readonly soundRate: number;
  /** SoundSize in bits (8 or 16); 0 when enhanced. */
  readonly soundSize: number;
  /** SoundType as a channel count (1 mono, 2 stereo); 0 when enhanced. */
  readonly channels: number;
  /** Decoder configuration: AAC AACPacketType 0 or enhanced SequenceStart. */
  readonly isSequenceHeader: boolean;
  /** Bytes before the codec data (for Multitrack: before the first track's data). */
  readonly headerLength: number;
  /** AvMultitrackType when PacketType was Multitrack, else undefined. */
  readonly multitrackType: number | undefined;
  /** TrackId of the first track when Multitrack, else undefined. */
  readonly trackId: number | undefined;
  /** ModEx TimestampOffsetNano, else undefined. */
  readonly timestampOffsetNano: number | undefined;
}

const SOUND_RATES = [5512, 11025, 22050, 44100] as const;

class AudioScan extends ExScan {
  soundFormat = 0;
}

// Reused by every call (single-threaded, non-reentrant) so the predicate allocates nothing.
const scratch = new AudioScan();

/** Fills `s` from `p`; false when the payload ends inside the header (never throws). */
function scanAudio(p: Uint8Array, s: AudioScan): boolean {
  s.resetEx();
  // An empty audio message is RTMP's undocumented "silence" signal: it has no header to parse.
  if (p.length < 1) return false;
  const b0 = p[0]!;
  s.soundFormat = b0 >> 4;
  if (s.soundFormat !== SoundFormat.ExHeader) {
    if (s.soundFormat === SoundFormat.Aac) {
      if (p.length < 2) return false;
      s.packetType = p[1]!;
      s.pos = 2;
    } else {
      s.pos = 1;
    }
    return true;
  }
  // ExHeader: the low nibble (SoundRate/SoundSize/SoundType in legacy) is the AudioPacketType.
  s.packetType = b0 & 0x0f;
  s.pos = 1;
  if (!s.modEx(p, AudioPacketType.ModEx)) return false;
  if (s.packetType === AudioPacketType.Multitrack) return s.multitrack(p);
  return s.fourCcAt(p);
}

function scanIsSequenceHeader(s: AudioScan): boolean {
  if (s.soundFormat === SoundFormat.ExHeader) return s.packetType === AudioPacketType.SequenceStart;
  return s.soundFormat === SoundFormat.Aac && s.packetType === AacPacketType.SequenceHeader;
}

/** Parses the (Ex)AudioTagHeader at the start of an audio tag / RTMP audio message payload. */
export function parseAudioTagHeader(payload: Uint8Array): AudioTagHeader {
  const s = scratch;
  if (!scanAudio(payload, s)) {
    throw new FlvError('FLV_ERR_TRUNCATED', `audio tag header truncated (${payload.length} bytes)`);
  }
  const enhanced = s.soundFormat === SoundFormat.ExHeader;
  const b0 = payload[0]!;
  return {
    enhanced,
    soundFormat: s.soundFormat,
    fourCc: s.fourCc === -1 ? undefined : fourCcString(s.fourCc),
    packetType: s.packetType,
    soundRate: enhanced ? 0 : SOUND_RATES[(b0 >> 2) & 0x03]!,
    soundSize: enhanced ? 0 : (b0 & 0x02) !== 0 ? 16 : 8,
    channels: enhanced ? 0 : (b0 & 0x01) !== 0 ? 2 : 1,
    isSequenceHeader: scanIsSequenceHeader(s),
    headerLength: s.pos,
    multitrackType: s.multitrackType === -1 ? undefined : s.multitrackType,
    trackId: s.trackId === -1 ? undefined : s.trackId,
    timestampOffsetNano: s.timestampOffsetNano === -1 ? undefined : s.timestampOffsetNano,
  };
}

/** Hot path: true for a complete sequence-header header (same rule as `isSequenceHeader`); never throws. */
export function isAudioSequenceHeader(payload: Uint8Array): boolean {
  return scanAudio(payload, scratch) && scanIsSequenceHeader(scratch);
}

/** Codec label for metrics and logs. */
export type AudioCodecName =
  | 'LPCM'
  | 'ADPCM'
  | 'MP3'
  | 'LPCM-LE'
  | 'Nellymoser'
  | 'G.711 A-law'
  | 'G.711 mu-law'
  | 'AAC'
  | 'Speex'
  | 'Native'
  | 'Opus'
  | 'FLAC'
  | 'AC-3'
  | 'E-AC-3'
  | 'unknown';

const LEGACY_AUDIO_NAMES: Readonly<Record<number, AudioCodecName>> = {
  0: 'LPCM',
  1: 'ADPCM',
  2: 'MP3',
  3: 'LPCM-LE',
  4: 'Nellymoser',
  5: 'Nellymoser',
  6: 'Nellymoser',
  7: 'G.711 A-law',
  8: 'G.711 mu-law',
  10: 'AAC',
  11: 'Speex',
  14: 'MP3',
  15: 'Native',
};

const FOURCC_AUDIO_NAMES: Readonly<Record<string, AudioCodecName>> = {
  'ac-3': 'AC-3',
  'ec-3': 'E-AC-3',
  Opus: 'Opus',
  '.mp3': 'MP3',
  fLaC: 'FLAC',
  mp4a: 'AAC',
};

/** Codec name from a parsed header; 'unknown' for reserved formats / unassigned FourCCs. */
export function audioCodecName(h: Pick<AudioTagHeader, 'soundFormat' | 'fourCc'>): AudioCodecName {
  if (h.fourCc !== undefined) return Object.hasOwn(FOURCC_AUDIO_NAMES, h.fourCc) ? FOURCC_AUDIO_NAMES[h.fourCc]! : 'unknown';
  return LEGACY_AUDIO_NAMES[h.soundFormat] ?? 'unknown';
}

/** ISO/IEC 14496-3 samplingFrequencyIndex values 0..12 (13, 14 reserved; 15 = explicit 24-bit rate). */
const AAC_SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/**
 * The real sample rate of a sequence header: for AAC the FLV SoundRate field is always 3 (44 kHz)
 * whatever the stream carries, so it comes from the AudioSpecificConfig; for legacy codecs the
 * SoundRate field. Undefined when unknown (enhanced audio, truncated or escape forms).
 */
export function audioSampleRate(payload: Uint8Array): number | undefined {
  let h: AudioTagHeader;
  try {
    h = parseAudioTagHeader(payload);
  } catch {
    return undefined;
  }
  if (h.enhanced) return undefined;
  if (h.soundFormat === SoundFormat.Aac) {
    if (!h.isSequenceHeader || payload.length < h.headerLength + 2) return undefined;
    // AudioSpecificConfig: audioObjectType (5 bits), samplingFrequencyIndex (4 bits).
    const b0 = payload[h.headerLength]!;
    const b1 = payload[h.headerLength + 1]!;
    if (b0 >> 3 === 31) return undefined; // escaped object type: the index sits 6 bits later
    return AAC_SAMPLE_RATES[((b0 & 0x07) << 1) | (b1 >> 7)];
  }
  return h.soundRate || undefined;
}
