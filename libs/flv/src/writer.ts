import { writeU32 } from './bytes.ts';
import type { FlvTagInput } from './reader.ts';
import { buildFlvHeader, MAX_TAG_DATA_SIZE, PREVIOUS_TAG_SIZE_SIZE, TAG_HEADER_SIZE, writeTagHeader } from './tag.ts';

/** Serialises an FLV file piecewise: `header()` once, then `tag()` per tag; concatenating the results is the file. */
export class FlvWriter {
  /** FLV header plus PreviousTagSize0 (13 bytes). */
  header(opts: { readonly hasAudio: boolean; readonly hasVideo: boolean }): Buffer {
    return buildFlvHeader(opts);
  }

  /** Tag header + data + PreviousTagSize (= 11 + DataSize) in one Buffer. RangeError on out-of-range fields. */
  tag(tag: FlvTagInput): Buffer {
    const size = tag.data.length;
    if (size > MAX_TAG_DATA_SIZE) {
      throw new RangeError(`FLV tag data is ${size} bytes; DataSize is UI24 (max ${MAX_TAG_DATA_SIZE})`);
    }
    const out = Buffer.allocUnsafe(TAG_HEADER_SIZE + size + PREVIOUS_TAG_SIZE_SIZE);
    writeTagHeader(out, 0, { type: tag.type, dataSize: size, timestamp: tag.timestamp });
    out.set(tag.data, TAG_HEADER_SIZE);
    writeU32(out, TAG_HEADER_SIZE + size, TAG_HEADER_SIZE + size);
    return out;
  }
}
