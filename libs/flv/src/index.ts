export { FlvError, type FlvErrorCode } from './errors.ts';
export {
  buildFlvHeader,
  buildTagHeader,
  FLV_HEADER_SIZE,
  MAX_TAG_DATA_SIZE,
  parseFlvHeader,
  parseTagHeader,
  PREVIOUS_TAG_SIZE_SIZE,
  TAG_HEADER_SIZE,
  TagType,
  type FlvHeader,
  type TagHeader,
  type TagHeaderInit,
} from './tag.ts';
export {
  AvcPacketType,
  AvMultitrackType,
  isVideoKeyframe,
  isVideoSequenceHeader,
  parseVideoTagHeader,
  VideoCodecId,
  videoCodecName,
  VideoCommand,
  VideoFourCc,
  VideoFrameType,
  VideoPacketModExType,
  VideoPacketType,
  type VideoCodecName,
  type VideoTagHeader,
} from './video.ts';
export {
  AacPacketType,
  AudioFourCc,
  AudioPacketModExType,
  AudioPacketType,
  audioCodecName,
  audioSampleRate,
  isAudioSequenceHeader,
  parseAudioTagHeader,
  SoundFormat,
  type AudioCodecName,
  type AudioTagHeader,
} from './audio.ts';
export { DEFAULT_MAX_TAG_SIZE, FlvReader, type FlvReaderOptions, type FlvTag, type FlvTagInput } from './reader.ts';
export { FlvWriter } from './writer.ts';
