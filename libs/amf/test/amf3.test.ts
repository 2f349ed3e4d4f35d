import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AMF3_INT_MAX,
  AMF3_INT_MIN,
  Amf3Decoder,
  Amf3Dictionary,
  Amf3Encoder,
  Amf3Vector,
  Amf3Xml,
  ByteArray,
  EcmaArray,
  TypedObject,
  XmlDocument,
  decodeAmf3,
  decodeAmf3Value,
  encodeAmf3,
  encodeAmf3Value,
  type AmfValue,
} from '../src/index.ts';
import { assertAmfError, defineCaseTests, f64h, hex, own, utf8Hex, type CodecCase } from './helpers.ts';

/** U29 straight from AMF3 spec 1.3.1: 7 bits per byte with a continuation bit, the 4th byte carries 8 bits. */
function u29h(v: number): string {
  const bytes =
    v < 0x80 ? [v]
    : v < 0x4000 ? [(v >> 7) | 0x80, v & 0x7f]
    : v < 0x200000 ? [(v >> 14) | 0x80, ((v >> 7) & 0x7f) | 0x80, v & 0x7f]
    : [(v >> 22) | 0x80, ((v >> 15) & 0x7f) | 0x80, ((v >> 8) & 0x7f) | 0x80, v & 0xff];
  return Buffer.from(bytes).toString('hex');
}
/** UTF-8-vr inline string: U29 (byte length << 1 | 1), then the bytes. */
const VR = (s: string): string => `${u29h((Buffer.byteLength(s) << 1) | 1)} ${utf8Hex(s)}`;
/** AMF3 string value. */
const S = (s: string): string => `06 ${VR(s)}`;

const codec = { name: 'AMF3', decode: decodeAmf3, encode: encodeAmf3 };

const date = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678));
const sharedObject: Record<string, AmfValue> = { a: 1 };
const cyclic: Record<string, AmfValue> = {};
cyclic['self'] = cyclic;
const xmlDoc = new XmlDocument('<a>b</a>');
const longString = 'ü'.repeat(40_000);

const u29Cases: Array<[number, string]> = [
  [0, '00'],
  [127, '7f'],
  [128, '8100'],
  [16383, 'ff7f'],
  [16384, '818000'],
  [2 ** 21 - 1, 'ffff7f'],
  [2 ** 21, '80c08000'],
  [2 ** 28 - 1, 'bfffffff'],
  [-1, 'ffffffff'],
  [-(2 ** 28), 'c0808000'],
  [-129, 'ffffff7f'],
];

const cases: CodecCase[] = [
  { name: 'undefined', bytes: ['00'], values: [undefined] },
  { name: 'null', bytes: ['01'], values: [null] },
  { name: 'false', bytes: ['02'], values: [false] },
  { name: 'true', bytes: ['03'], values: [true] },
  ...u29Cases.map(([v, h]): CodecCase => ({ name: `integer ${v} is U29 ${h}`, bytes: [`04 ${h}`], values: [v] })),
  { name: 'integer in an overlong U29 form', bytes: ['04 80 00'], values: [0], canonical: ['04 00'] },
  { name: 'integer 2^28 does not fit U29 and is a double', bytes: [`05 ${f64h(2 ** 28)}`], values: [2 ** 28] },
  { name: 'integer -2^28-1 does not fit U29 and is a double', bytes: [`05 ${f64h(-(2 ** 28) - 1)}`], values: [-(2 ** 28) - 1] },
  { name: 'double 1.5', bytes: ['05 3ff8000000000000'], values: [1.5] },
  { name: 'double -0 (not an integer, to keep its sign)', bytes: ['05 8000000000000000'], values: [-0] },
  { name: 'double NaN', bytes: ['05 7ff8000000000000'], values: [NaN] },
  { name: 'double Infinity', bytes: ['05 7ff0000000000000'], values: [Infinity] },
  { name: 'empty string', bytes: ['06 01'], values: [''] },
  { name: 'string', bytes: ['06 0b 68656c6c6f'], values: ['hello'] },
  { name: 'unicode string', bytes: [S('héllo ✓ 🎥')], values: ['héllo ✓ 🎥'] },
  { name: 'string of 64 bytes (two-byte U29 length)', bytes: [`06 8101 ${utf8Hex('x'.repeat(64))}`], values: ['x'.repeat(64)] },
  { name: 'string of 80,000 UTF-8 bytes', bytes: [S(longString)], values: [longString] },
  { name: 'string reference across top-level values', bytes: ['06 07 616263', '06 00'], values: ['abc', 'abc'] },
  { name: 'string reference inside an array', bytes: ['09 05 01 06 03 61 06 00'], values: [['a', 'a']] },
  { name: 'empty strings are never referenced', bytes: ['09 07 01 06 01 06 03 61 06 01'], values: [['', 'a', '']] },
  { name: 'property name and value share the string table', bytes: ['0a 0b 01 03 61 06 00 01'], values: [{ a: 'a' }] },
  { name: 'XMLDocument (0x07)', bytes: [`07 11 ${utf8Hex('<a>b</a>')}`], values: [new XmlDocument('<a>b</a>')] },
  { name: 'XML (0x0B)', bytes: [`0b 11 ${utf8Hex('<a>b</a>')}`], values: [new Amf3Xml('<a>b</a>')] },
  {
    name: 'XMLDocument by object reference',
    bytes: [`09 05 01 07 11 ${utf8Hex('<a>b</a>')} 07 02`],
    values: [[xmlDoc, xmlDoc]],
  },
  { name: 'date', bytes: [`08 01 ${f64h(date.getTime())}`], values: [date] },
  { name: 'date by object reference', bytes: [`09 05 01 08 01 ${f64h(date.getTime())} 08 02`], values: [[date, date]] },
  { name: 'empty array', bytes: ['09 01 01'], values: [[]] },
  { name: 'dense array', bytes: ['09 07 01 04 01 04 02 04 03'], values: [[1, 2, 3]] },
  { name: 'nested arrays', bytes: ['09 05 01 09 03 01 04 01 09 01 01'], values: [[[1], []]] },
  { name: 'associative array is an EcmaArray', bytes: ['09 01 03 61 04 01 01'], values: [new EcmaArray({ a: 1 })] },
  {
    name: 'array with dense and associative parts is an EcmaArray with "0", "1", … keys',
    bytes: ['09 05 03 61 04 01 01 03 06 03 62'],
    values: [new EcmaArray({ a: 1, '0': true, '1': 'b' })],
    canonical: ['09 01 03 30 03 03 31 06 03 62 03 61 04 01 01'],
  },
  { name: 'empty anonymous object', bytes: ['0a 0b 01 01'], values: [{}] },
  { name: 'anonymous dynamic object', bytes: ['0a 0b 01 03 61 04 01 03 62 06 03 78 01'], values: [{ a: 1, b: 'x' }] },
  {
    name: 'second anonymous object uses a traits reference',
    bytes: ['09 05 01 0a 0b 01 03 61 04 01 01 0a 01 00 04 02 01'],
    values: [[{ a: 1 }, { a: 2 }]],
  },
  { name: 'object with a __proto__ key', bytes: [`0a 0b 01 ${VR('__proto__')} 04 01 01`], values: [own([['__proto__', 1]])] },
  {
    name: 'anonymous sealed object',
    bytes: ['0a 13 01 03 61 04 01'],
    values: [{ a: 1 }],
    canonical: ['0a 0b 01 03 61 04 01 01'],
  },
  {
    name: 'typed sealed object',
    bytes: [`0a 23 ${VR('Foo')} 03 78 03 79 04 01 04 02`],
    values: [new TypedObject('Foo', { x: 1, y: 2 })],
  },
  {
    name: 'second typed object of the same shape uses a traits reference',
    bytes: [`09 05 01 0a 23 ${VR('Foo')} 03 78 03 79 04 01 04 02 0a 01 04 03 04 04`],
    values: [[new TypedObject('Foo', { x: 1, y: 2 }), new TypedObject('Foo', { x: 3, y: 4 })]],
  },
  {
    name: 'typed object with sealed and dynamic members',
    bytes: [`0a 1b ${VR('Foo')} 03 78 04 01 03 79 04 02 01`],
    values: [new TypedObject('Foo', { x: 1, y: 2 })],
    canonical: [`0a 23 ${VR('Foo')} 03 78 03 79 04 01 04 02`],
  },
  {
    name: 'object by object reference',
    bytes: ['09 05 01 0a 0b 01 03 61 04 01 01 0a 02'],
    values: [[sharedObject, sharedObject]],
  },
  { name: 'object referencing itself (a cycle)', bytes: [`0a 0b 01 ${VR('self')} 0a 00 01`], values: [cyclic] },
  { name: 'ByteArray', bytes: ['0c 07 010203'], values: [new ByteArray(Buffer.from([1, 2, 3]))] },
  { name: 'empty ByteArray', bytes: ['0c 01'], values: [new ByteArray()] },
  { name: 'Vector.<int>', bytes: ['0d 05 00 00000001 ffffffff'], values: [new Amf3Vector('int', [1, -1])] },
  {
    name: 'fixed Vector.<uint>',
    bytes: ['0e 05 01 00000001 ffffffff'],
    values: [new Amf3Vector('uint', [1, 0xffffffff], { fixed: true })],
  },
  { name: 'Vector.<Number>', bytes: [`0f 03 00 ${f64h(1.5)}`], values: [new Amf3Vector('double', [1.5])] },
  {
    name: 'Vector.<*>',
    bytes: ['10 05 00 03 2a 04 01 06 03 61'],
    values: [new Amf3Vector('object', [1, 'a'], { typeName: '*' })],
  },
  {
    name: 'typed Vector.<com.example.Foo>',
    bytes: [`10 03 00 ${VR('com.example.Foo')} 0a 13 00 03 78 04 01`],
    values: [new Amf3Vector('object', [new TypedObject('com.example.Foo', { x: 1 })], { typeName: 'com.example.Foo' })],
  },
  { name: 'Dictionary', bytes: ['11 03 00 06 03 6b 04 01'], values: [new Amf3Dictionary([['k', 1]])] },
  {
    name: 'weak-keyed Dictionary with an object key',
    bytes: ['11 05 01 0a 0b 01 01 03 04 01 01'],
    values: [new Amf3Dictionary([[{}, true], [1, null]], true)],
  },
  {
    name: 'NetStream status objects sharing traits and key strings',
    bytes: [
      `0a 0b 01 ${VR('level')} ${S('status')} ${VR('code')} ${S('NetStream.Publish.Start')} 01`,
      `0a 01 00 06 02 04 ${S('NetStream.Unpublish.Success')} 01`,
    ],
    values: [
      { level: 'status', code: 'NetStream.Publish.Start' },
      { level: 'status', code: 'NetStream.Unpublish.Success' },
    ],
  },
];

defineCaseTests(codec, cases);

describe('AMF3 references', () => {
  it('decodeAmf3() resolves object, date and array references to the same instance', () => {
    const [arr] = decodeAmf3(hex(`09 07 01 0a 0b 01 01 0a 02 08 01 ${f64h(0)}`)) as [AmfValue[]];
    assert.equal(arr[0], arr[1]);
    const [dates] = decodeAmf3(hex(`09 05 01 08 01 ${f64h(0)} 08 02`)) as [Date[]];
    assert.equal(dates[0], dates[1]);
    const [outer] = decodeAmf3(hex('09 03 01 09 00')) as [AmfValue[]];
    assert.equal(outer[0], outer);
  });

  it('decodeAmf3() of an object referencing itself yields a cycle without looping', () => {
    const [obj] = decodeAmf3(hex(`0a 0b 01 ${VR('self')} 0a 00 01`)) as [Record<string, AmfValue>];
    assert.equal(obj['self'], obj);
  });

  it('encodeAmf3() writes a repeated instance and a cycle as object references', () => {
    const o: Record<string, AmfValue> = { a: 1 };
    assert.equal(encodeAmf3Value([o, o]).toString('hex'), hex('09 05 01 0a 0b 01 03 61 04 01 01 0a 02').toString('hex'));
    const c: AmfValue[] = [];
    c.push(c);
    assert.equal(encodeAmf3Value(c).toString('hex'), '09030109' + '00');
    const [back] = decodeAmf3(encodeAmf3Value(c)) as [AmfValue[]];
    assert.equal(back[0], back);
  });

  it('decodeAmf3() of string, object and traits references beyond their tables fails with AMF_ERR_BAD_REFERENCE', () => {
    for (const h of ['06 00', '06 02', '09 03 01 06 03 61 06 02', '0a 00', '0a 05', '09 00', '08 00', '07 00', '0b 00', '0c 00', '0d 00', '0e 00', '0f 00', '10 00', '11 00']) {
      assertAmfError(() => decodeAmf3(hex(h)), 'AMF_ERR_BAD_REFERENCE');
    }
    // A traits reference may only name traits defined earlier, not the ones being defined now.
    assertAmfError(() => decodeAmf3(hex('0a 0b 01 03 61 0a 05')), 'AMF_ERR_BAD_REFERENCE');
  });

  it('decodeAmf3Value() starts fresh tables per call; Amf3Decoder keeps them across readValue()', () => {
    const buf = hex('06 03 61 06 00');
    const first = decodeAmf3Value(buf, 0);
    assert.deepStrictEqual(first, { value: 'a', offset: 3 });
    assertAmfError(() => decodeAmf3Value(buf, first.offset), 'AMF_ERR_BAD_REFERENCE');
    const d = new Amf3Decoder(buf);
    assert.equal(d.readValue(), 'a');
    assert.equal(d.readValue(), 'a');
    assert.equal(d.remaining, 0);
  });

  it('Amf3Encoder shares tables across writeValue(); encodeAmf3Value() starts fresh', () => {
    assert.equal(new Amf3Encoder().writeValue('ab').writeValue('ab').finish().toString('hex'), '06056162' + '0600');
    assert.equal(encodeAmf3Value('ab').toString('hex') + encodeAmf3Value('ab').toString('hex'), '06056162' + '06056162');
  });
});

describe('AMF3 prototype pollution', () => {
  it('a __proto__ key in dynamic members, sealed members and associative arrays becomes an own property', () => {
    const inner = `0a 0b 01 ${VR('polluted')} 03 01`;
    const [dyn, sealed, assoc] = decodeAmf3(
      hex(`0a 0b 01 ${VR('__proto__')} ${inner} 01` + `0a 23 ${VR('T')} 00 01 ${inner} ${inner}` + `09 01 00 ${inner} 01`),
    ) as [Record<string, AmfValue>, TypedObject, EcmaArray];
    for (const target of [dyn, sealed.properties, assoc.properties]) {
      assert.equal(Object.getPrototypeOf(target), Object.prototype);
      assert.ok(Object.hasOwn(target, '__proto__'));
      assert.equal((target as { polluted?: unknown }).polluted, undefined);
    }
    assert.deepStrictEqual(sealed.properties, own([['__proto__', { polluted: true }], ['', { polluted: true }]]));
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
  });
});

describe('AMF3 malformed input', () => {
  it('decodeAmf3() of markers 0x12–0xFF fails with AMF_ERR_UNKNOWN_MARKER', () => {
    for (let m = 0x12; m <= 0xff; m++) assertAmfError(() => decodeAmf3(Buffer.from([m, 1, 1, 1])), 'AMF_ERR_UNKNOWN_MARKER');
  });

  it('decodeAmf3() of an externalizable object (e.g. flex.messaging.io.ArrayCollection) fails with AMF_ERR_UNSUPPORTED', () => {
    assertAmfError(() => decodeAmf3(hex(`0a 07 ${VR('flex.messaging.io.ArrayCollection')} 09 01 01`)), 'AMF_ERR_UNSUPPORTED');
  });

  it('decodeAmf3() of a U29 cut short fails with AMF_ERR_TRUNCATED', () => {
    for (const h of ['04', '04 ff', '04 ff ff', '04 ff ff ff', '06 81']) assertAmfError(() => decodeAmf3(hex(h)), 'AMF_ERR_TRUNCATED');
  });

  it('decodeAmf3() of a string whose length exceeds the buffer fails with AMF_ERR_TRUNCATED', () => {
    assertAmfError(() => decodeAmf3(hex('06 ff 61')), 'AMF_ERR_TRUNCATED');
    assertAmfError(() => decodeAmf3(hex('0c 81 01 00')), 'AMF_ERR_TRUNCATED');
  });

  it('decodeAmf3() of strings, XML and ByteArrays claiming 256 MiB fails with AMF_ERR_LIMIT, or AMF_ERR_TRUNCATED with maxStringBytes lifted', () => {
    for (const marker of ['06', '07', '0b', '0c']) {
      const bomb = hex(`${marker} ffffffff 00`);
      assertAmfError(() => decodeAmf3(bomb), 'AMF_ERR_LIMIT');
      assertAmfError(() => decodeAmf3(bomb, { maxStringBytes: Infinity }), 'AMF_ERR_TRUNCATED');
    }
  });

  it('decodeAmf3() of arrays, vectors, dictionaries and traits claiming 2^28-1 items fails fast with AMF_ERR_LIMIT or AMF_ERR_TRUNCATED', () => {
    const huge = u29h((0x0fffffff << 1) | 1);
    const bombs = [`09 ${huge} 01`, `0d ${huge} 00`, `0e ${huge} 00`, `0f ${huge} 00`, `10 ${huge} 00 01`, `11 ${huge} 00`, `0a ${u29h((0x1ffffff << 4) | 3)} 01`];
    const start = performance.now();
    for (const b of bombs) {
      const bomb = hex(`${b} 0000000000000000`);
      assertAmfError(() => decodeAmf3(bomb), 'AMF_ERR_LIMIT');
      assertAmfError(() => decodeAmf3(bomb, { maxItems: Infinity, maxTotalItems: Infinity }), 'AMF_ERR_TRUNCATED');
    }
    assert.ok(performance.now() - start < 250, 'count bombs must be rejected before any iteration');
  });

  it('decodeAmf3() of a Vector.<int> claiming more elements than 4-byte slots remain fails with AMF_ERR_TRUNCATED', () => {
    assertAmfError(() => decodeAmf3(hex('0d 05 00 00000001 000000')), 'AMF_ERR_TRUNCATED');
  });

  it('decodeAmf3() of 10,000 nested arrays, objects, object vectors and dictionaries fails with AMF_ERR_DEPTH', () => {
    assertAmfError(() => decodeAmf3(hex('09 03 01'.repeat(10_000))), 'AMF_ERR_DEPTH');
    assertAmfError(() => decodeAmf3(hex('0a 0b 01 03 61' + '0a 01 00'.repeat(9_999))), 'AMF_ERR_DEPTH');
    assertAmfError(() => decodeAmf3(hex('10 03 00 01'.repeat(10_000))), 'AMF_ERR_DEPTH');
    assertAmfError(() => decodeAmf3(hex('11 03 00 01'.repeat(10_000))), 'AMF_ERR_DEPTH');
    assertAmfError(() => decodeAmf3(hex('09 01 03 61'.repeat(10_000))), 'AMF_ERR_DEPTH');
  });

  it('decodeAmf3() accepts exactly maxDepth nested arrays and rejects maxDepth + 1', () => {
    const nested = (n: number): Buffer => hex('09 03 01'.repeat(n) + '01');
    assert.equal(decodeAmf3(nested(64)).length, 1);
    assertAmfError(() => decodeAmf3(nested(65)), 'AMF_ERR_DEPTH');
  });

  it('decodeAmf3() enforces maxItems on dense + associative parts and sealed + dynamic members', () => {
    const limits = { maxItems: 2 };
    assert.equal(decodeAmf3(hex('09 03 03 61 01 01 01'), limits).length, 1);
    assertAmfError(() => decodeAmf3(hex('09 03 03 61 01 03 62 01 01 01'), limits), 'AMF_ERR_LIMIT');
    assertAmfError(() => decodeAmf3(hex('09 07 01 01 01 01'), limits), 'AMF_ERR_LIMIT');
    assertAmfError(() => decodeAmf3(hex('0a 1b 01 03 61 01 03 62 01 03 63 01 01'), limits), 'AMF_ERR_LIMIT');
    assertAmfError(() => decodeAmf3(hex('0a 33 01 03 61 03 62 03 63 01 01 01'), limits), 'AMF_ERR_LIMIT');
    assertAmfError(() => decodeAmf3(hex('11 07 00 01 01 01 01 01 01'), limits), 'AMF_ERR_LIMIT');
  });

  it('decodeAmf3() counts numeric vector elements against maxTotalItems', () => {
    const buf = hex(`0d 0b 00 ${'00000001'.repeat(5)}`);
    assert.equal(decodeAmf3(buf, { maxTotalItems: 6 }).length, 1);
    assertAmfError(() => decodeAmf3(buf, { maxTotalItems: 5 }), 'AMF_ERR_LIMIT');
  });

  it('decodeAmf3() replaces invalid UTF-8 with U+FFFD instead of throwing', () => {
    assert.deepStrictEqual(decodeAmf3(hex('06 07 ff c3 28')), ['\ufffd\ufffd(']);
  });

  it('decodeAmf3() copies ByteArray payloads out of the input buffer', () => {
    const buf = Buffer.alloc(64 * 1024);
    hex('0c 07 010203').copy(buf);
    const [ba] = decodeAmf3(buf.subarray(0, 5)) as [ByteArray];
    buf.fill(0xee);
    assert.deepStrictEqual([...ba.bytes], [1, 2, 3]);
    assert.notEqual(ba.bytes.buffer, buf.buffer);
  });
});

describe('AMF3 encoder', () => {
  it('encodeAmf3Value() sends integers in [-2^28, 2^28-1] as U29 and everything else as doubles', () => {
    assert.equal(encodeAmf3Value(AMF3_INT_MAX).toString('hex'), '04bfffffff');
    assert.equal(encodeAmf3Value(AMF3_INT_MIN).toString('hex'), '04c0808000');
    assert.equal(encodeAmf3Value(AMF3_INT_MAX + 1).toString('hex'), `05${f64h(AMF3_INT_MAX + 1)}`);
    assert.equal(encodeAmf3Value(AMF3_INT_MIN - 1).toString('hex'), `05${f64h(AMF3_INT_MIN - 1)}`);
    assert.equal(encodeAmf3Value(-0).toString('hex'), '058000000000000000');
    assert.equal(encodeAmf3Value(0.5).toString('hex'), `05${f64h(0.5)}`);
  });

  it('encodeAmf3Value() of an empty EcmaArray writes an empty array, which decodes as []', () => {
    assert.equal(encodeAmf3Value(new EcmaArray()).toString('hex'), '090101');
    assert.deepStrictEqual(decodeAmf3(encodeAmf3Value(new EcmaArray())), [[]]);
  });

  it('encodeAmf3() rejects an empty key in dynamic members with AMF_ERR_ENCODE (the empty string ends the list)', () => {
    assertAmfError(() => encodeAmf3Value({ '': 1 }), 'AMF_ERR_ENCODE');
    assertAmfError(() => encodeAmf3Value(new EcmaArray({ '': 1 })), 'AMF_ERR_ENCODE');
  });

  it('encodeAmf3() of a TypedObject sends an empty key as a sealed member', () => {
    const value = new TypedObject('T', { '': 1 });
    assert.equal(encodeAmf3Value(value).toString('hex'), hex('0a 13 03 54 01 04 01').toString('hex'));
    assert.deepStrictEqual(decodeAmf3(encodeAmf3Value(value)), [value]);
  });

  it('encodeAmf3() rejects numeric vector items that do not fit the element type with AMF_ERR_ENCODE', () => {
    assertAmfError(() => encodeAmf3Value(new Amf3Vector('int', [1.5])), 'AMF_ERR_ENCODE');
    assertAmfError(() => encodeAmf3Value(new Amf3Vector('int', [2 ** 31])), 'AMF_ERR_ENCODE');
    assertAmfError(() => encodeAmf3Value(new Amf3Vector('uint', [-1])), 'AMF_ERR_ENCODE');
    assertAmfError(() => encodeAmf3Value(new Amf3Vector('double', ['x'])), 'AMF_ERR_ENCODE');
  });

  it('encodeAmf3() rejects values outside the AMF value model with AMF_ERR_ENCODE', () => {
    const bad: unknown[] = [() => 1, Symbol('s'), 10n, new Set(), new Uint8Array(2), [{ a: () => 1 }]];
    for (const value of bad) assertAmfError(() => encodeAmf3([value as AmfValue]), 'AMF_ERR_ENCODE');
  });

  it('encodeAmf3() of nesting deeper than 1000 fails with AMF_ERR_ENCODE, not a stack overflow', () => {
    let deep: AmfValue = null;
    for (let i = 0; i < 5000; i++) deep = { d: deep };
    assertAmfError(() => encodeAmf3Value(deep), 'AMF_ERR_ENCODE');
  });
});
