/**
 * @firstmile/amf: AMF0 and AMF3 encoding and decoding over Buffers (sans-I/O, no globals).
 *
 * Decoding treats input as hostile: every peer-controlled length/count is checked against the
 * bytes that remain and against AmfLimits before anything is allocated or iterated, nesting is
 * capped (AMF_ERR_DEPTH instead of a stack overflow), and nothing but AmfError is ever thrown.
 * References resolve to the same instance, so decoded values may be shared or cyclic.
 *
 * Encoding writes a repeated object instance as a reference (AMF0 0x07, AMF3 object reference),
 * so shared and cyclic values encode to finite output; values outside the model, keys AMF cannot
 * carry and nesting deeper than 1000 throw AMF_ERR_ENCODE.
 *
 * Not every decodable value re-encodes to the same bytes: AMF0 unsupported (0x0D) decodes to
 * undefined, AMF3 sealed/dynamic distinctions collapse (anonymous → plain object, named →
 * TypedObject, re-sent sealed), and an AMF3 array's dense part becomes "0", "1", … keys of an
 * EcmaArray when it also has named keys. Encoding is lossy the other way in AMF3 only: an empty
 * EcmaArray is an empty array, and a TypedObject without a class name is an anonymous object.
 */
export { AmfError, type AmfErrorCode } from './errors.ts';
export {
  Amf3Dictionary,
  Amf3Vector,
  Amf3Xml,
  ByteArray,
  DEFAULT_AMF_LIMITS,
  EcmaArray,
  TypedObject,
  XmlDocument,
  type AmfLimits,
  type AmfObject,
  type AmfValue,
  type Amf3VectorKind,
} from './types.ts';
export { MAX_DEPTH_CEILING } from './reader.ts';
export {
  Amf0Decoder,
  Amf0Encoder,
  Amf0Marker,
  type Amf0MarkerValue,
  decodeAmf0,
  decodeAmf0Value,
  encodeAmf0,
  encodeAmf0Value,
} from './amf0.ts';
export {
  AMF3_INT_MAX,
  AMF3_INT_MIN,
  Amf3Decoder,
  Amf3Encoder,
  Amf3Marker,
  type Amf3MarkerValue,
  decodeAmf3,
  decodeAmf3Value,
  encodeAmf3,
  encodeAmf3Value,
} from './amf3.ts';
