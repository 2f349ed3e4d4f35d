// fast-check arbitraries for AMF value trees and a structural equality that tolerates what
// deepStrictEqual does not (Invalid Dates, cycles through distinct instances).
import fc from 'fast-check';
import {
  Amf3Dictionary,
  Amf3Vector,
  Amf3Xml,
  ByteArray,
  EcmaArray,
  TypedObject,
  XmlDocument,
  type AmfValue,
} from '../src/index.ts';

/** Builds an object from entries; `__proto__` becomes an own data property like the decoders make it. */
export function objectFrom(entries: ReadonlyArray<readonly [string, AmfValue]>): Record<string, AmfValue> {
  const o: Record<string, AmfValue> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  return o;
}

const keyArb = (allowEmpty: boolean): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: allowEmpty ? 0 : 1, maxLength: 8 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: allowEmpty ? 0 : 1, maxLength: 6 }) },
    { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', '0', '1', '10') },
  );

/** A string over 65535 UTF-8 bytes (AMF0 long string territory). */
const longStringArb: fc.Arbitrary<string> = fc
  .tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }), fc.nat(64))
  .map(([s, extra]) => s.repeat(Math.ceil(65_536 / Buffer.byteLength(s)) + extra));

const numberArb: fc.Arbitrary<number> = fc.oneof(
  fc.double(),
  fc.integer({ min: -(2 ** 28) - 4, max: 2 ** 28 + 4 }),
  fc.integer(),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 2 ** 28 - 1, -(2 ** 28), 2 ** 28, -(2 ** 28) - 1, 2 ** 53, Number.MIN_VALUE),
);

const stringArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 24 }) },
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }) },
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
  { weight: 1, arbitrary: longStringArb },
);

const leafArb: fc.Arbitrary<AmfValue> = fc.oneof(
  { weight: 6, arbitrary: numberArb },
  { weight: 6, arbitrary: stringArb },
  { weight: 2, arbitrary: fc.boolean() },
  { weight: 2, arbitrary: fc.constantFrom(null, undefined) },
  { weight: 2, arbitrary: fc.date({ noInvalidDate: true }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }).map((s) => new XmlDocument(s)) },
);

/** Values only AMF3 has; AMF0 sends them behind an AVM+ switch. */
const amf3LeafArb: fc.Arbitrary<AmfValue> = fc.oneof(
  fc.string({ maxLength: 20 }).map((s) => new Amf3Xml(s)),
  fc.uint8Array({ maxLength: 24 }).map((b) => new ByteArray(Buffer.from(b))),
  fc
    .tuple(fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 6 }), fc.boolean())
    .map(([items, fixed]) => new Amf3Vector('int', items, { fixed })),
  fc
    .tuple(fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 6 }), fc.boolean())
    .map(([items, fixed]) => new Amf3Vector('uint', items, { fixed })),
  fc
    .tuple(fc.array(fc.double(), { maxLength: 6 }), fc.boolean())
    .map(([items, fixed]) => new Amf3Vector('double', items, { fixed })),
);

export interface AmfValueArbOptions {
  /**
   * Restrict to values AMF3 can carry exactly: no empty keys in plain objects or EcmaArrays (the
   * empty string ends AMF3 dynamic members), no empty EcmaArray (it is an empty AMF3 array) and
   * no TypedObject without a class name (it is an anonymous AMF3 object).
   */
  amf3: boolean;
  maxDepth?: number;
}

/** Arbitrary AmfValue trees of bounded depth and width for which decode(encode(v)) must equal v. */
export function amfValueArb(options: AmfValueArbOptions): fc.Arbitrary<AmfValue> {
  const amf3 = options.amf3;
  const { value } = fc.letrec<{ value: AmfValue }>((tie) => {
    const child = tie('value');
    const entries = (allowEmptyKey: boolean, minLength = 0): fc.Arbitrary<Array<[string, AmfValue]>> =>
      fc.uniqueArray(fc.tuple(keyArb(allowEmptyKey), child), { minLength, maxLength: 5, selector: ([k]) => k });
    // Inside AMF3-only containers an AMF0 tree switches to AMF3, so their children must be AMF3-safe.
    const amf3Child = amf3 ? child : fc.oneof(leafArb, amf3LeafArb);
    return {
      value: fc.oneof(
        { depthSize: 'small', maxDepth: options.maxDepth ?? 4 },
        { weight: 10, arbitrary: leafArb },
        { weight: 2, arbitrary: amf3LeafArb },
        { weight: 3, arbitrary: fc.array(child, { maxLength: 5 }) },
        { weight: 3, arbitrary: entries(!amf3).map(objectFrom) },
        { weight: 2, arbitrary: entries(!amf3, amf3 ? 1 : 0).map((e) => new EcmaArray(objectFrom(e))) },
        {
          weight: 2,
          arbitrary: fc
            .tuple(fc.string({ unit: 'grapheme-ascii', minLength: amf3 ? 1 : 0, maxLength: 12 }), entries(true))
            .map(([className, e]) => new TypedObject(className, objectFrom(e))),
        },
        {
          weight: 1,
          arbitrary: fc
            .tuple(fc.array(amf3Child, { maxLength: 4 }), fc.boolean(), fc.string({ maxLength: 8 }))
            .map(([items, fixed, typeName]) => new Amf3Vector('object', items, { fixed, typeName })),
        },
        {
          weight: 1,
          arbitrary: fc
            .tuple(fc.array(fc.tuple(amf3Child, amf3Child), { maxLength: 3 }), fc.boolean())
            .map(([pairs, weak]) => new Amf3Dictionary(pairs, weak)),
        },
      ),
    };
  });
  return value;
}

/**
 * Structural equality of AMF values: same classes, own keys in the same order, numbers by
 * Object.is (so -0 and NaN count), Invalid Dates equal each other, cycles compared by pairing.
 */
export function amfEquals(a: unknown, b: unknown, seen = new Map<object, object>()): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (seen.get(a) === b) return true;
  seen.set(a, b);
  if (a instanceof Date) return Object.is(a.getTime(), (b as Date).getTime());
  if (Buffer.isBuffer(a)) return Buffer.isBuffer(b) && a.equals(b);
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!amfEquals(a[i], bb[i], seen)) return false;
    return true;
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const key = ka[i]!;
    if (key !== kb[i]) return false;
    if (!amfEquals((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], seen)) return false;
  }
  return true;
}
