// AMF0 (Adobe "Action Message Format – AMF 0" spec): the encoding of RTMP command (type 20) and
// data (type 18) messages such as connect, _result and onMetaData.
import { Amf3Decoder, Amf3Writer, constructorName } from './amf3.ts';
import { AmfError } from './errors.ts';
import { AmfReader, setProperty } from './reader.ts';
import {
  Amf3Dictionary,
  Amf3Vector,
  Amf3Xml,
  ByteArray,
  EcmaArray,
  TypedObject,
  XmlDocument,
  type AmfLimits,
  type AmfValue,
} from './types.ts';
import { ByteWriter, MAX_ENCODE_DEPTH } from './writer.ts';

/** AMF0 type markers (AMF0 spec 2.1). */
export const Amf0Marker = {
  Number: 0x00,
  Boolean: 0x01,
  String: 0x02,
  Object: 0x03,
  MovieClip: 0x04,
  Null: 0x05,
  Undefined: 0x06,
  Reference: 0x07,
  EcmaArray: 0x08,
  ObjectEnd: 0x09,
  StrictArray: 0x0a,
  Date: 0x0b,
  LongString: 0x0c,
  Unsupported: 0x0d,
  RecordSet: 0x0e,
  XmlDocument: 0x0f,
  TypedObject: 0x10,
  AvmPlus: 0x11,
} as const;
export type Amf0MarkerValue = (typeof Amf0Marker)[keyof typeof Amf0Marker];

/**
 * Stateful AMF0 decoder. The reference table (objects, typed objects, ECMA and strict arrays, in
 * the order they start) lives as long as the decoder, so a 0x07 reference resolves to the very
 * instance decoded earlier, including an enclosing one (a cycle).
 */
export class Amf0Decoder extends AmfReader {
  #references: AmfValue[] = [];

  constructor(buf: Uint8Array, offset = 0, limits?: Partial<AmfLimits>) {
    super(buf, offset, limits);
  }

  readValue(): AmfValue {
    this.countItems(1);
    const marker = this.u8();
    switch (marker) {
      case Amf0Marker.Number:
        return this.f64();
      case Amf0Marker.Boolean:
        return this.u8() !== 0;
      case Amf0Marker.String:
        return this.utf8(this.u16());
      case Amf0Marker.Object: {
        const value: Record<string, AmfValue> = {};
        this.#properties(value, 'AMF0 object');
        return value;
      }
      case Amf0Marker.Null:
        return null;
      case Amf0Marker.Undefined:
      // "Unsupported" stands in for a value the sender could not serialize; undefined is the closest JS value.
      case Amf0Marker.Unsupported:
        return undefined;
      case Amf0Marker.Reference: {
        const index = this.u16();
        if (index >= this.#references.length) {
          this.fail('AMF_ERR_BAD_REFERENCE', `reference ${index} at offset ${this.pos - 3} but only ${this.#references.length} complex values seen`);
        }
        return this.#references[index];
      }
      case Amf0Marker.EcmaArray: {
        // The count is only a hint (encoders disagree on it); the object-end marker is authoritative.
        this.skip(4);
        const properties: Record<string, AmfValue> = {};
        const value = new EcmaArray(properties);
        this.#properties(value, 'AMF0 ECMA array', properties);
        return value;
      }
      case Amf0Marker.StrictArray:
        return this.#strictArray();
      case Amf0Marker.Date: {
        const date = new Date(this.f64());
        // Time zone offset: the spec says senders should write 0 and receivers must ignore it.
        this.skip(2);
        return date;
      }
      case Amf0Marker.LongString:
        return this.utf8(this.u32());
      case Amf0Marker.XmlDocument:
        return new XmlDocument(this.utf8(this.u32()));
      case Amf0Marker.TypedObject: {
        const className = this.utf8(this.u16());
        const properties: Record<string, AmfValue> = {};
        const value = new TypedObject(className, properties);
        this.#properties(value, 'AMF0 typed object', properties);
        return value;
      }
      case Amf0Marker.AvmPlus:
        // One AMF3 value follows, with its own fresh AMF3 reference tables.
        return this.delegate(new Amf3Decoder(this.buf, this.pos, this.limits));
      case Amf0Marker.ObjectEnd:
        return this.fail('AMF_ERR_MALFORMED', `AMF0 object-end marker outside an object at offset ${this.pos - 1}`);
      case Amf0Marker.MovieClip:
      case Amf0Marker.RecordSet:
        return this.fail('AMF_ERR_UNSUPPORTED', `reserved AMF0 marker 0x${marker.toString(16)} at offset ${this.pos - 1}`);
      default:
        return this.fail('AMF_ERR_UNKNOWN_MARKER', `unknown AMF0 marker 0x${marker.toString(16)} at offset ${this.pos - 1}`);
    }
  }

  /**
   * Reads key/value pairs up to the object-end sequence (empty key + 0x09) into `target`, after
   * registering `container` in the reference table so members may refer back to it.
   */
  #properties(container: AmfValue, what: string, target = container as Record<string, AmfValue>): void {
    this.#references.push(container);
    this.enter();
    let n = 0;
    for (;;) {
      const keyLength = this.u16();
      if (keyLength === 0 && this.peekU8() === Amf0Marker.ObjectEnd) {
        this.pos++;
        break;
      }
      this.checkItems(++n, what);
      const key = this.utf8(keyLength);
      setProperty(target, key, this.readValue());
    }
    this.leave();
  }

  #strictArray(): AmfValue[] {
    const count = this.u32();
    this.claim(count, 1, 'AMF0 strict array');
    const arr: AmfValue[] = [];
    this.#references.push(arr);
    this.enter();
    for (let i = 0; i < count; i++) arr.push(this.readValue());
    this.leave();
    return arr;
  }
}

function encodeError(message: string): AmfError {
  return new AmfError('AMF_ERR_ENCODE', message);
}

/**
 * Stateful AMF0 encoder. A complex value (object, array, ECMA array, typed object) that occurs a
 * second time in one encoder is written as a 0x07 reference to its first occurrence; that keeps
 * shared and cyclic graphs finite. Some peers (librtmp, nginx-rtmp) do not understand references,
 * so pass distinct objects to them. AMF3-only values (ByteArray, Amf3Xml, Amf3Vector,
 * Amf3Dictionary) are written behind an AVM+ switch (0x11), each with fresh AMF3 tables.
 */
export class Amf0Encoder {
  readonly #out = new ByteWriter();
  #references = new Map<object, number>();
  #referenceCount = 0;
  #depth = 0;

  writeValue(value: AmfValue): this {
    this.#value(value);
    return this;
  }

  /** The bytes written so far. */
  finish(): Buffer {
    return this.#out.finish();
  }

  #value(v: AmfValue): void {
    const out = this.#out;
    switch (typeof v) {
      case 'number':
        out.u8(Amf0Marker.Number);
        out.f64(v);
        return;
      case 'string':
        this.#string(v);
        return;
      case 'boolean':
        out.u8(Amf0Marker.Boolean);
        out.u8(v ? 1 : 0);
        return;
      case 'undefined':
        out.u8(Amf0Marker.Undefined);
        return;
      case 'object':
        if (v === null) out.u8(Amf0Marker.Null);
        else this.#complex(v);
        return;
      default:
        throw encodeError(`cannot encode a ${typeof v} as AMF0`);
    }
  }

  /** Strings over 65535 UTF-8 bytes do not fit the u16 length and switch to the long-string marker. */
  #string(s: string): void {
    const out = this.#out;
    const len = Buffer.byteLength(s, 'utf8');
    if (len <= 0xffff) {
      out.u8(Amf0Marker.String);
      out.u16(len);
    } else {
      if (len > 0xffffffff) throw encodeError(`string of ${len} bytes exceeds the AMF0 long string maximum`);
      out.u8(Amf0Marker.LongString);
      out.u32(len);
    }
    out.utf8(s, len);
  }

  #key(key: string): void {
    const len = Buffer.byteLength(key, 'utf8');
    if (len > 0xffff) throw encodeError(`property name of ${len} bytes exceeds the AMF0 maximum of 65535`);
    this.#out.u16(len);
    this.#out.utf8(key, len);
  }

  #complex(v: object): void {
    const out = this.#out;
    if (v instanceof Date) {
      out.u8(Amf0Marker.Date);
      out.f64(v.getTime());
      out.u16(0);
      return;
    }
    if (v instanceof XmlDocument) {
      const len = Buffer.byteLength(v.xml, 'utf8');
      if (len > 0xffffffff) throw encodeError(`XML document of ${len} bytes exceeds the AMF0 maximum`);
      out.u8(Amf0Marker.XmlDocument);
      out.u32(len);
      out.utf8(v.xml, len);
      return;
    }
    if (v instanceof ByteArray || v instanceof Amf3Xml || v instanceof Amf3Vector || v instanceof Amf3Dictionary) {
      out.u8(Amf0Marker.AvmPlus);
      new Amf3Writer(out, this.#depth).value(v);
      return;
    }
    const isArray = Array.isArray(v);
    const proto: unknown = isArray ? undefined : Object.getPrototypeOf(v);
    const isPlain = proto === Object.prototype || proto === null;
    if (!isArray && !isPlain && !(v instanceof EcmaArray) && !(v instanceof TypedObject)) {
      throw encodeError(`cannot encode an instance of ${constructorName(v)} as AMF0`);
    }
    const index = this.#references.get(v);
    if (index !== undefined) {
      out.u8(Amf0Marker.Reference);
      out.u16(index);
      return;
    }
    // The reference index is a u16; later values are written inline but still counted.
    if (this.#referenceCount <= 0xffff) this.#references.set(v, this.#referenceCount);
    this.#referenceCount++;
    if (++this.#depth > MAX_ENCODE_DEPTH) throw encodeError(`value nested deeper than ${MAX_ENCODE_DEPTH} levels`);
    if (isArray) {
      if (v.length > 0xffffffff) throw encodeError(`array of ${v.length} elements exceeds the AMF0 maximum`);
      out.u8(Amf0Marker.StrictArray);
      out.u32(v.length);
      for (let i = 0; i < v.length; i++) this.#value(v[i] as AmfValue);
    } else if (isPlain) {
      out.u8(Amf0Marker.Object);
      this.#properties(v as Record<string, AmfValue>);
    } else if (v instanceof EcmaArray) {
      const keys = Object.keys(v.properties);
      out.u8(Amf0Marker.EcmaArray);
      out.u32(keys.length);
      this.#properties(v.properties, keys);
    } else {
      const typed = v as TypedObject;
      out.u8(Amf0Marker.TypedObject);
      this.#key(typed.className);
      this.#properties(typed.properties);
    }
    this.#depth--;
  }

  #properties(properties: Record<string, AmfValue>, keys = Object.keys(properties)): void {
    for (const key of keys) {
      this.#key(key);
      this.#value(properties[key]);
    }
    this.#out.u16(0);
    this.#out.u8(Amf0Marker.ObjectEnd);
  }
}

/** Decodes every AMF0 value in `buf` (e.g. a command: name, transaction id, arguments…). */
export function decodeAmf0(buf: Uint8Array, limits?: Partial<AmfLimits>): AmfValue[] {
  const decoder = new Amf0Decoder(buf, 0, limits);
  const values: AmfValue[] = [];
  while (decoder.remaining > 0) values.push(decoder.readValue());
  return values;
}

/** Decodes one AMF0 value at `offset` with a fresh reference table; `offset` in the result is just past it. */
export function decodeAmf0Value(
  buf: Uint8Array,
  offset: number,
  limits?: Partial<AmfLimits>,
): { value: AmfValue; offset: number } {
  const decoder = new Amf0Decoder(buf, offset, limits);
  const value = decoder.readValue();
  return { value, offset: decoder.offset };
}

/** Encodes values back to back (references may span values, as in one decodeAmf0 call). */
export function encodeAmf0(values: readonly AmfValue[]): Buffer {
  const encoder = new Amf0Encoder();
  for (const value of values) encoder.writeValue(value);
  return encoder.finish();
}

/** Encodes one AMF0 value. */
export function encodeAmf0Value(value: AmfValue): Buffer {
  return new Amf0Encoder().writeValue(value).finish();
}
