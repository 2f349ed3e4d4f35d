// AMF3 (Adobe "Action Message Format – AMF 3" spec): variable-length U29 integers and three
// reference tables (strings, objects, traits) that let repeated values cost one or two bytes.
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
  type Amf3VectorKind,
} from './types.ts';
import { ByteWriter, MAX_ENCODE_DEPTH } from './writer.ts';

/** AMF3 type markers (AMF3 spec 3.1). */
export const Amf3Marker = {
  Undefined: 0x00,
  Null: 0x01,
  False: 0x02,
  True: 0x03,
  Integer: 0x04,
  Double: 0x05,
  String: 0x06,
  XmlDocument: 0x07,
  Date: 0x08,
  Array: 0x09,
  Object: 0x0a,
  Xml: 0x0b,
  ByteArray: 0x0c,
  VectorInt: 0x0d,
  VectorUint: 0x0e,
  VectorDouble: 0x0f,
  VectorObject: 0x10,
  Dictionary: 0x11,
} as const;
export type Amf3MarkerValue = (typeof Amf3Marker)[keyof typeof Amf3Marker];

/** AMF3 integers are 29-bit signed: a JS number in this range (and not -0) is sent as an integer, anything else as a double. */
export const AMF3_INT_MIN = -0x10000000;
export const AMF3_INT_MAX = 0x0fffffff;
/** Largest length/count/index a U29 can carry next to its 1-bit inline/reference flag. */
const U28_MAX = 0x0fffffff;

/** Class description shared by objects of one class: sent once, then referenced by index. */
interface Amf3Traits {
  className: string;
  dynamic: boolean;
  members: string[];
}

const vectorKinds: Record<number, Amf3VectorKind> = {
  [Amf3Marker.VectorInt]: 'int',
  [Amf3Marker.VectorUint]: 'uint',
  [Amf3Marker.VectorDouble]: 'double',
  [Amf3Marker.VectorObject]: 'object',
};

/** Stateful AMF3 decoder: the three reference tables live as long as the decoder (one AMF3 context). */
export class Amf3Decoder extends AmfReader {
  #strings: string[] = [];
  #objects: AmfValue[] = [];
  #traits: Amf3Traits[] = [];

  constructor(buf: Uint8Array, offset = 0, limits?: Partial<AmfLimits>) {
    super(buf, offset, limits);
  }

  readValue(): AmfValue {
    this.countItems(1);
    const marker = this.u8();
    switch (marker) {
      case Amf3Marker.Undefined:
        return undefined;
      case Amf3Marker.Null:
        return null;
      case Amf3Marker.False:
        return false;
      case Amf3Marker.True:
        return true;
      case Amf3Marker.Integer:
        // Sign-extend bit 28.
        return (this.#u29() << 3) >> 3;
      case Amf3Marker.Double:
        return this.f64();
      case Amf3Marker.String:
        return this.#string();
      case Amf3Marker.XmlDocument:
      case Amf3Marker.Xml:
        return this.#xml(marker === Amf3Marker.Xml);
      case Amf3Marker.Date:
        return this.#date();
      case Amf3Marker.Array:
        return this.#array();
      case Amf3Marker.Object:
        return this.#object();
      case Amf3Marker.ByteArray:
        return this.#byteArray();
      case Amf3Marker.VectorInt:
      case Amf3Marker.VectorUint:
      case Amf3Marker.VectorDouble:
      case Amf3Marker.VectorObject:
        return this.#vector(vectorKinds[marker]!);
      case Amf3Marker.Dictionary:
        return this.#dictionary();
      default:
        return this.fail('AMF_ERR_UNKNOWN_MARKER', `unknown AMF3 marker 0x${marker.toString(16)} at offset ${this.pos - 1}`);
    }
  }

  /** U29: 1–4 bytes, 7 bits per byte with a continuation bit, except the 4th byte which gives all 8. */
  #u29(): number {
    let b = this.u8();
    if (b < 0x80) return b;
    let v = (b & 0x7f) << 7;
    b = this.u8();
    if (b < 0x80) return v | b;
    v = (v | (b & 0x7f)) << 7;
    b = this.u8();
    if (b < 0x80) return v | b;
    return ((v | (b & 0x7f)) << 8) | this.u8();
  }

  /** UTF-8-vr: inline string (low bit 1) or index into the string table (low bit 0). */
  #string(): string {
    const header = this.#u29();
    if ((header & 1) === 0) {
      const index = header >> 1;
      if (index >= this.#strings.length) {
        this.fail('AMF_ERR_BAD_REFERENCE', `string reference ${index} at offset ${this.pos} but only ${this.#strings.length} strings seen`);
      }
      return this.#strings[index]!;
    }
    const len = header >> 1;
    // The empty string is never added: its inline form (0x01) is already as short as any reference.
    if (len === 0) return '';
    const s = this.utf8(len);
    this.#strings.push(s);
    return s;
  }

  #objectRef(index: number): AmfValue {
    if (index >= this.#objects.length) {
      this.fail('AMF_ERR_BAD_REFERENCE', `object reference ${index} at offset ${this.pos} but only ${this.#objects.length} objects seen`);
    }
    return this.#objects[index];
  }

  #xml(e4x: boolean): AmfValue {
    const header = this.#u29();
    if ((header & 1) === 0) return this.#objectRef(header >> 1);
    const xml = this.utf8(header >> 1);
    const value = e4x ? new Amf3Xml(xml) : new XmlDocument(xml);
    this.#objects.push(value);
    return value;
  }

  #date(): AmfValue {
    const header = this.#u29();
    if ((header & 1) === 0) return this.#objectRef(header >> 1);
    const date = new Date(this.f64());
    this.#objects.push(date);
    return date;
  }

  #byteArray(): AmfValue {
    const header = this.#u29();
    if ((header & 1) === 0) return this.#objectRef(header >> 1);
    const value = new ByteArray(this.copyBytes(header >> 1));
    this.#objects.push(value);
    return value;
  }

  /** Array: dense count, then the associative part (key/value pairs up to an empty key), then dense values. */
  #array(): AmfValue {
    const header = this.#u29();
    if ((header & 1) === 0) return this.#objectRef(header >> 1);
    const dense = header >> 1;
    this.claim(dense, 1, 'AMF3 array');
    let key = this.#string();
    this.enter();
    if (key === '') {
      const arr: AmfValue[] = [];
      this.#objects.push(arr);
      for (let i = 0; i < dense; i++) arr.push(this.readValue());
      this.leave();
      return arr;
    }
    const properties: Record<string, AmfValue> = {};
    const value = new EcmaArray(properties);
    this.#objects.push(value);
    let n = dense;
    do {
      this.checkItems(++n, 'AMF3 array');
      setProperty(properties, key, this.readValue());
      key = this.#string();
    } while (key !== '');
    for (let i = 0; i < dense; i++) setProperty(properties, String(i), this.readValue());
    this.leave();
    return value;
  }

  /**
   * Object: U29O header = object reference | traits reference | inline traits
   * (externalizable bit, dynamic bit, sealed member count), then sealed values, then dynamic pairs.
   */
  #object(): AmfValue {
    const header = this.#u29();
    if ((header & 1) === 0) return this.#objectRef(header >> 1);
    let traits: Amf3Traits;
    if ((header & 2) === 0) {
      const index = header >> 2;
      if (index >= this.#traits.length) {
        this.fail('AMF_ERR_BAD_REFERENCE', `traits reference ${index} at offset ${this.pos} but only ${this.#traits.length} traits seen`);
      }
      traits = this.#traits[index]!;
    } else if ((header & 4) !== 0) {
      // Externalizable classes serialize themselves with class-specific code; without that code
      // the length of the payload is unknown, so the rest of the message cannot be parsed.
      const className = this.#string();
      return this.fail('AMF_ERR_UNSUPPORTED', `externalizable AMF3 class "${className.slice(0, 100)}" at offset ${this.pos}`);
    } else {
      const count = header >> 4;
      this.claim(count, 1, 'AMF3 traits');
      const className = this.#string();
      const members: string[] = [];
      for (let i = 0; i < count; i++) members.push(this.#string());
      traits = { className, dynamic: (header & 8) !== 0, members };
      this.#traits.push(traits);
    }
    const members = traits.members;
    this.claim(members.length, 1, 'AMF3 object');
    this.enter();
    const properties: Record<string, AmfValue> = {};
    const value = traits.className === '' ? properties : new TypedObject(traits.className, properties);
    this.#objects.push(value);
    for (let i = 0; i < members.length; i++) setProperty(properties, members[i]!, this.readValue());
    if (traits.dynamic) {
      let n = members.length;
      for (let key = this.#string(); key !== ''; key = this.#string()) {
        this.checkItems(++n, 'AMF3 object');
        setProperty(properties, key, this.readValue());
      }
    }
    this.leave();
    return value;
  }

  #vector(kind: Amf3VectorKind): AmfValue {
    const header = this.#u29();
    if ((header & 1) === 0) return this.#objectRef(header >> 1);
    const count = header >> 1;
    const fixed = this.u8() !== 0;
    if (kind === 'object') {
      const typeName = this.#string();
      this.claim(count, 1, 'AMF3 object vector');
      this.enter();
      const items: AmfValue[] = [];
      const value = new Amf3Vector(kind, items, { fixed, typeName });
      this.#objects.push(value);
      for (let i = 0; i < count; i++) items.push(this.readValue());
      this.leave();
      return value;
    }
    const size = kind === 'double' ? 8 : 4;
    this.claim(count, size, 'AMF3 vector');
    this.countItems(count);
    const items: number[] = [];
    const b = this.buf;
    let p = this.pos;
    if (kind === 'int') for (let i = 0; i < count; i++, p += 4) items.push(b.readInt32BE(p));
    else if (kind === 'uint') for (let i = 0; i < count; i++, p += 4) items.push(b.readUInt32BE(p));
    else for (let i = 0; i < count; i++, p += 8) items.push(b.readDoubleBE(p));
    this.pos = p;
    const value = new Amf3Vector(kind, items, { fixed });
    this.#objects.push(value);
    return value;
  }

  #dictionary(): AmfValue {
    const header = this.#u29();
    if ((header & 1) === 0) return this.#objectRef(header >> 1);
    const count = header >> 1;
    const weakKeys = this.u8() !== 0;
    this.claim(count, 2, 'AMF3 dictionary');
    this.enter();
    const entries: Array<[AmfValue, AmfValue]> = [];
    const value = new Amf3Dictionary(entries, weakKeys);
    this.#objects.push(value);
    for (let i = 0; i < count; i++) {
      const key = this.readValue();
      entries.push([key, this.readValue()]);
    }
    this.leave();
    return value;
  }
}

function encodeError(message: string): AmfError {
  return new AmfError('AMF_ERR_ENCODE', message);
}

/**
 * Internal AMF3 writer over a shared ByteWriter, so AMF0's AVM+ switch can continue in the same
 * output with a fresh AMF3 context. Repeated object instances are sent as references, which also
 * makes cyclic values encodable.
 */
export class Amf3Writer {
  readonly #out: ByteWriter;
  #depth: number;
  #strings = new Map<string, number>();
  #objects = new Map<object, number>();
  #objectCount = 0;
  #traits = new Map<string, number>();
  #traitCount = 0;

  constructor(out: ByteWriter, depth: number) {
    this.#out = out;
    this.#depth = depth;
  }

  value(v: AmfValue): void {
    const out = this.#out;
    switch (typeof v) {
      case 'number':
        if ((v | 0) === v && v >= AMF3_INT_MIN && v <= AMF3_INT_MAX && !(v === 0 && 1 / v < 0)) {
          out.u8(Amf3Marker.Integer);
          this.#u29(v & 0x1fffffff);
        } else {
          out.u8(Amf3Marker.Double);
          out.f64(v);
        }
        return;
      case 'string':
        out.u8(Amf3Marker.String);
        this.#string(v);
        return;
      case 'boolean':
        out.u8(v ? Amf3Marker.True : Amf3Marker.False);
        return;
      case 'undefined':
        out.u8(Amf3Marker.Undefined);
        return;
      case 'object':
        if (v === null) out.u8(Amf3Marker.Null);
        else this.#complex(v);
        return;
      default:
        throw encodeError(`cannot encode a ${typeof v} as AMF3`);
    }
  }

  #u29(v: number): void {
    const out = this.#out;
    if (v < 0x80) {
      out.u8(v);
    } else if (v < 0x4000) {
      out.u8((v >> 7) | 0x80);
      out.u8(v & 0x7f);
    } else if (v < 0x200000) {
      out.u8((v >> 14) | 0x80);
      out.u8(((v >> 7) & 0x7f) | 0x80);
      out.u8(v & 0x7f);
    } else {
      out.u8((v >> 22) | 0x80);
      out.u8(((v >> 15) & 0x7f) | 0x80);
      out.u8(((v >> 8) & 0x7f) | 0x80);
      out.u8(v & 0xff);
    }
  }

  /** U29 with the low "inline" flag set: length or count << 1 | 1. */
  #inlineLength(n: number, what: string): void {
    if (n > U28_MAX) throw encodeError(`${what} of ${n} exceeds the AMF3 maximum of ${U28_MAX}`);
    this.#u29((n << 1) | 1);
  }

  #string(s: string): void {
    if (s.length === 0) {
      this.#out.u8(0x01);
      return;
    }
    const index = this.#strings.get(s);
    if (index !== undefined) {
      this.#u29(index << 1);
      return;
    }
    const len = Buffer.byteLength(s, 'utf8');
    this.#inlineLength(len, 'string length');
    this.#out.utf8(s, len);
    if (this.#strings.size <= U28_MAX) this.#strings.set(s, this.#strings.size);
  }

  /** Writes the reference if `v` was already sent in this context; otherwise registers it. */
  #reference(v: object): boolean {
    const index = this.#objects.get(v);
    if (index !== undefined) {
      this.#u29(index << 1);
      return true;
    }
    // Indices past U28_MAX cannot be referenced; keep counting so later indices stay in step.
    if (this.#objectCount <= U28_MAX) this.#objects.set(v, this.#objectCount);
    this.#objectCount++;
    return false;
  }

  #enter(): void {
    if (++this.#depth > MAX_ENCODE_DEPTH) throw encodeError(`value nested deeper than ${MAX_ENCODE_DEPTH} levels`);
  }

  #complex(v: object): void {
    const out = this.#out;
    if (Array.isArray(v)) {
      out.u8(Amf3Marker.Array);
      if (this.#reference(v)) return;
      this.#inlineLength(v.length, 'array length');
      out.u8(0x01); // empty associative part
      this.#enter();
      for (let i = 0; i < v.length; i++) this.value(v[i] as AmfValue);
      this.#depth--;
      return;
    }
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) {
      this.#anonymousObject(v as Record<string, AmfValue>);
    } else if (v instanceof TypedObject) {
      this.#typedObject(v);
    } else if (v instanceof EcmaArray) {
      out.u8(Amf3Marker.Array);
      if (this.#reference(v)) return;
      out.u8(0x01); // no dense part: every key goes in the associative part
      this.#enter();
      this.#dynamicMembers(v.properties, 'EcmaArray');
      this.#depth--;
    } else if (v instanceof Date) {
      out.u8(Amf3Marker.Date);
      if (this.#reference(v)) return;
      out.u8(0x01);
      out.f64(v.getTime());
    } else if (v instanceof ByteArray) {
      out.u8(Amf3Marker.ByteArray);
      if (this.#reference(v)) return;
      this.#inlineLength(v.bytes.length, 'ByteArray length');
      out.bytes(v.bytes);
    } else if (v instanceof XmlDocument || v instanceof Amf3Xml) {
      out.u8(v instanceof Amf3Xml ? Amf3Marker.Xml : Amf3Marker.XmlDocument);
      if (this.#reference(v)) return;
      const len = Buffer.byteLength(v.xml, 'utf8');
      this.#inlineLength(len, 'XML length');
      out.utf8(v.xml, len);
    } else if (v instanceof Amf3Vector) {
      this.#vector(v);
    } else if (v instanceof Amf3Dictionary) {
      out.u8(Amf3Marker.Dictionary);
      if (this.#reference(v)) return;
      this.#inlineLength(v.entries.length, 'Dictionary size');
      out.u8(v.weakKeys ? 1 : 0);
      this.#enter();
      for (const [key, value] of v.entries) {
        this.value(key);
        this.value(value);
      }
      this.#depth--;
    } else {
      throw encodeError(`cannot encode an instance of ${constructorName(v)} as AMF3`);
    }
  }

  /** Dynamic members end at the first empty key, so an empty key cannot be sent this way. */
  #dynamicMembers(properties: Record<string, AmfValue>, what: string): void {
    for (const key of Object.keys(properties)) {
      if (key === '') throw encodeError(`AMF3 cannot encode an empty key in a ${what} (it is the end marker)`);
      this.#string(key);
      this.value(properties[key]);
    }
    this.#out.u8(0x01);
  }

  #anonymousObject(v: Record<string, AmfValue>): void {
    this.#out.u8(Amf3Marker.Object);
    if (this.#reference(v)) return;
    // Traits of every anonymous object: dynamic, no class name, no sealed members.
    if (!this.#traitsReference('')) {
      this.#out.u8(0x0b);
      this.#out.u8(0x01);
    }
    this.#enter();
    this.#dynamicMembers(v, 'object');
    this.#depth--;
  }

  /** Typed objects are sent sealed (every property a sealed member), so same-shaped instances share traits. */
  #typedObject(v: TypedObject): void {
    this.#out.u8(Amf3Marker.Object);
    if (this.#reference(v)) return;
    const properties = v.properties;
    const keys = Object.keys(properties);
    if (!this.#traitsReference(JSON.stringify([v.className, ...keys]))) {
      if (keys.length > 0x1ffffff) throw encodeError(`TypedObject with ${keys.length} properties exceeds the AMF3 sealed member limit`);
      this.#u29((keys.length << 4) | 0x03);
      this.#string(v.className);
      for (const key of keys) this.#string(key);
    }
    this.#enter();
    for (const key of keys) this.value(properties[key]);
    this.#depth--;
  }

  /** Writes a traits reference if traits with this signature were already sent; otherwise registers them. */
  #traitsReference(signature: string): boolean {
    const index = this.#traits.get(signature);
    if (index !== undefined) {
      this.#u29((index << 2) | 0x01);
      return true;
    }
    if (this.#traitCount <= 0x7ffffff) this.#traits.set(signature, this.#traitCount);
    this.#traitCount++;
    return false;
  }

  #vector(v: Amf3Vector): void {
    const out = this.#out;
    const kind = v.kind;
    const marker =
      kind === 'int' ? Amf3Marker.VectorInt
      : kind === 'uint' ? Amf3Marker.VectorUint
      : kind === 'double' ? Amf3Marker.VectorDouble
      : kind === 'object' ? Amf3Marker.VectorObject
      : undefined;
    if (marker === undefined) throw encodeError(`unknown Amf3Vector kind ${String(kind)}`);
    out.u8(marker);
    if (this.#reference(v)) return;
    const items = v.items;
    this.#inlineLength(items.length, 'Vector length');
    out.u8(v.fixed ? 1 : 0);
    if (kind === 'object') {
      this.#string(v.typeName);
      this.#enter();
      for (const item of items) this.value(item);
      this.#depth--;
      return;
    }
    for (const item of items) {
      if (typeof item !== 'number') throw encodeError(`Vector.<${kind}> item ${String(item)} is not a number`);
      if (kind === 'double') {
        out.f64(item);
      } else if (kind === 'int') {
        if ((item | 0) !== item) throw encodeError(`Vector.<int> item ${item} is not a 32-bit signed integer`);
        out.i32(item);
      } else {
        if (item >>> 0 !== item) throw encodeError(`Vector.<uint> item ${item} is not a 32-bit unsigned integer`);
        out.u32(item);
      }
    }
  }
}

export function constructorName(v: object): string {
  const ctor: unknown = (v as { constructor?: unknown }).constructor;
  return typeof ctor === 'function' && ctor.name ? ctor.name : 'an unknown class';
}

/**
 * Stateful AMF3 encoder: values written through one instance share reference tables (one AMF3
 * context), matching what one Amf3Decoder expects.
 */
export class Amf3Encoder {
  readonly #out = new ByteWriter();
  readonly #writer = new Amf3Writer(this.#out, 0);

  writeValue(value: AmfValue): this {
    this.#writer.value(value);
    return this;
  }

  /** The bytes written so far. */
  finish(): Buffer {
    return this.#out.finish();
  }
}

/** Decodes every AMF3 value in `buf` (one AMF3 context, so references may span values). */
export function decodeAmf3(buf: Uint8Array, limits?: Partial<AmfLimits>): AmfValue[] {
  const decoder = new Amf3Decoder(buf, 0, limits);
  const values: AmfValue[] = [];
  while (decoder.remaining > 0) values.push(decoder.readValue());
  return values;
}

/** Decodes one AMF3 value at `offset` with fresh reference tables; `offset` in the result is just past it. */
export function decodeAmf3Value(
  buf: Uint8Array,
  offset: number,
  limits?: Partial<AmfLimits>,
): { value: AmfValue; offset: number } {
  const decoder = new Amf3Decoder(buf, offset, limits);
  const value = decoder.readValue();
  return { value, offset: decoder.offset };
}

/** Encodes values back to back in one AMF3 context. */
export function encodeAmf3(values: readonly AmfValue[]): Buffer {
  const encoder = new Amf3Encoder();
  for (const value of values) encoder.writeValue(value);
  return encoder.finish();
}

/** Encodes one AMF3 value with fresh reference tables. */
export function encodeAmf3Value(value: AmfValue): Buffer {
  return new Amf3Encoder().writeValue(value).finish();
}
