/**
 * The JS value model shared by AMF0 and AMF3. Primitives, Date, arrays and plain objects map to
 * themselves; the classes below carry the wire types JS has no native equivalent for.
 */
export type AmfValue =
  | number
  | boolean
  | string
  | null
  | undefined
  | Date
  | AmfValue[]
  | AmfObject
  | EcmaArray
  | TypedObject
  | XmlDocument
  | Amf3Xml
  | ByteArray
  | Amf3Vector
  | Amf3Dictionary;

/** A plain object: AMF0 anonymous Object (0x03), AMF3 anonymous dynamic object. */
export interface AmfObject {
  [key: string]: AmfValue;
}

/**
 * AMF0 ECMA array (0x08), the associative array onMetaData travels in; in AMF3 an array with
 * named keys (dense elements appear as "0", "1", …). Key order is kept except that JS always
 * enumerates integer-like keys first.
 */
export class EcmaArray {
  properties: Record<string, AmfValue>;

  constructor(properties: Record<string, AmfValue> = {}) {
    this.properties = properties;
  }
}

/** An object with a class name: AMF0 typed object (0x10), AMF3 object with non-empty class name. */
export class TypedObject {
  className: string;
  properties: Record<string, AmfValue>;

  constructor(className: string, properties: Record<string, AmfValue> = {}) {
    this.className = className;
    this.properties = properties;
  }
}

/** Legacy flash.xml.XMLDocument: AMF0 0x0F, AMF3 0x07. */
export class XmlDocument {
  xml: string;

  constructor(xml: string) {
    this.xml = xml;
  }
}

/** E4X XML (AMF3 0x0B); AMF0 has no such type, so encodeAmf0 sends it behind an AVM+ switch. */
export class Amf3Xml {
  xml: string;

  constructor(xml: string) {
    this.xml = xml;
  }
}

/**
 * flash.utils.ByteArray (AMF3 0x0C). Decoded payloads are copies, never views of the input, so a
 * value kept around (e.g. cached metadata) does not pin a whole network read buffer.
 */
export class ByteArray {
  bytes: Buffer;

  constructor(bytes: Uint8Array = Buffer.alloc(0)) {
    this.bytes = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}

/** Element type of an AMF3 Vector: Vector.<int> (0x0D), .<uint> (0x0E), .<Number> (0x0F), .<T> (0x10). */
export type Amf3VectorKind = 'int' | 'uint' | 'double' | 'object';

/** AS3 Vector (AMF3 0x0D–0x10). Numeric kinds hold numbers; `typeName` only exists on the wire for 'object'. */
export class Amf3Vector {
  kind: Amf3VectorKind;
  items: AmfValue[];
  /** Fixed-length vector flag from the wire. */
  fixed: boolean;
  /** Element class name of an object vector ("*" for Vector.<*>); '' for numeric kinds. */
  typeName: string;

  constructor(
    kind: Amf3VectorKind,
    items: AmfValue[] = [],
    options: { fixed?: boolean; typeName?: string } = {},
  ) {
    this.kind = kind;
    this.items = items;
    this.fixed = options.fixed ?? false;
    this.typeName = kind === 'object' ? (options.typeName ?? '*') : '';
  }
}

/** flash.utils.Dictionary (AMF3 0x11): keys may be any value, so entries are kept as pairs in wire order. */
export class Amf3Dictionary {
  entries: Array<[AmfValue, AmfValue]>;
  weakKeys: boolean;

  constructor(entries: Array<[AmfValue, AmfValue]> = [], weakKeys = false) {
    this.entries = entries;
    this.weakKeys = weakKeys;
  }
}

/** Caps that bound the work and memory one decode call can be made to spend by a hostile peer. */
export interface AmfLimits {
  /** Maximum nesting of containers (objects, arrays, vectors, dictionaries); at most 1000. Default 64. */
  maxDepth: number;
  /** Maximum elements/properties in one container. Default 65536. */
  maxItems: number;
  /** Maximum values decoded by one decode call (or one decoder instance). Default 1,000,000. */
  maxTotalItems: number;
  /** Maximum UTF-8 bytes of one string, XML document or ByteArray. Default 16 MiB. */
  maxStringBytes: number;
}

/** The limits used when a decode call is given none; fields missing from a Partial fall back here. */
export const DEFAULT_AMF_LIMITS: Readonly<AmfLimits> = Object.freeze({
  maxDepth: 64,
  maxItems: 65536,
  maxTotalItems: 1_000_000,
  maxStringBytes: 16 * 1024 * 1024,
});
