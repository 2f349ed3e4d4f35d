import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Amf0Decoder,
  Amf0Encoder,
  Amf3Dictionary,
  Amf3Vector,
  Amf3Xml,
  ByteArray,
  EcmaArray,
  TypedObject,
  XmlDocument,
  decodeAmf0,
  decodeAmf0Value,
  encodeAmf0,
  encodeAmf0Value,
  type AmfValue,
} from '../src/index.ts';
import {
  assertAmfError,
  defineCaseTests,
  f64h,
  hex,
  own,
  u16h,
  u32h,
  utf8Hex,
  type CodecCase,
} from './helpers.ts';

/** AMF0 string value: marker 0x02, u16 length, UTF-8. */
const S = (s: string): string => `02 ${u16h(Buffer.byteLength(s))} ${utf8Hex(s)}`;
/** AMF0 property name: u16 length, UTF-8 (no marker). */
const K = (s: string): string => `${u16h(Buffer.byteLength(s))} ${utf8Hex(s)}`;
/** AMF0 number value. */
const N = (n: number): string => `00 ${f64h(n)}`;
/** Object-end: empty name followed by the 0x09 marker. */
const END = '00 00 09';

const codec = { name: 'AMF0', decode: decodeAmf0, encode: encodeAmf0 };

const shared: Record<string, AmfValue> = { a: 1 };
const cyclic: Record<string, AmfValue> = {};
cyclic['self'] = cyclic;
const longString = 'x'.repeat(70_000);
const maxShortString = 'é'.repeat(32_767) + 'a'; // 65535 UTF-8 bytes, still a short string
const date = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678));

const cases: CodecCase[] = [
  { name: 'number 0', bytes: ['00 0000000000000000'], values: [0] },
  { name: 'number 1', bytes: ['00 3ff0000000000000'], values: [1] },
  { name: 'number -0 keeps its sign', bytes: ['00 8000000000000000'], values: [-0] },
  { name: 'number NaN', bytes: ['00 7ff8000000000000'], values: [NaN] },
  { name: 'number -Infinity', bytes: ['00 fff0000000000000'], values: [-Infinity] },
  { name: 'number 1.5e300', bytes: [N(1.5e300)], values: [1.5e300] },
  { name: 'boolean true', bytes: ['01 01'], values: [true] },
  { name: 'boolean false', bytes: ['01 00'], values: [false] },
  { name: 'boolean byte other than 1 is true', bytes: ['01 7f'], values: [true], canonical: ['01 01'] },
  { name: 'empty string', bytes: ['02 0000'], values: [''] },
  { name: 'string', bytes: ['02 0005 68656c6c6f'], values: ['hello'] },
  { name: 'unicode string', bytes: [S('héllo ✓ 🎥')], values: ['héllo ✓ 🎥'] },
  { name: 'string of exactly 65535 UTF-8 bytes stays a short string', bytes: [S(maxShortString)], values: [maxShortString] },
  { name: 'string over 65535 UTF-8 bytes becomes a long string (0x0C)', bytes: [`0c ${u32h(70_000)} ${utf8Hex(longString)}`], values: [longString] },
  { name: 'short content in a long string marker', bytes: ['0c 00000002 6869'], values: ['hi'], canonical: ['02 0002 6869'] },
  { name: 'null', bytes: ['05'], values: [null] },
  { name: 'undefined', bytes: ['06'], values: [undefined] },
  { name: 'unsupported marker (0x0D) decodes as undefined', bytes: ['0d'], values: [undefined], canonical: ['06'] },
  { name: 'empty object', bytes: [`03 ${END}`], values: [{}] },
  { name: 'object', bytes: [`03 ${K('a')} ${N(1)} ${K('b')} ${S('x')} ${END}`], values: [{ a: 1, b: 'x' }] },
  {
    name: 'object with an empty property name (00 00 not followed by 0x09 is a name, not the end)',
    bytes: [`03 ${K('')} 05 ${END}`],
    values: [{ '': null }],
  },
  { name: 'object with a __proto__ key', bytes: [`03 ${K('__proto__')} ${N(1)} ${END}`], values: [own([['__proto__', 1]])] },
  {
    name: 'nested objects',
    bytes: [`03 ${K('o')} 03 ${K('p')} 01 01 ${END} ${END}`],
    values: [{ o: { p: true } }],
  },
  { name: 'empty ECMA array', bytes: [`08 00000000 ${END}`], values: [new EcmaArray()] },
  {
    name: 'ECMA array whose count hint is wrong (the end marker decides)',
    bytes: [`08 00000000 ${K('a')} ${N(1)} ${K('b')} ${N(2)} ${END}`],
    values: [new EcmaArray({ a: 1, b: 2 })],
    canonical: [`08 00000002 ${K('a')} ${N(1)} ${K('b')} ${N(2)} ${END}`],
  },
  { name: 'strict array', bytes: [`0a 00000003 ${N(1)} ${S('a')} 05`], values: [[1, 'a', null]] },
  { name: 'empty strict array', bytes: ['0a 00000000'], values: [[]] },
  {
    name: 'nested strict arrays',
    bytes: [`0a 00000002 0a 00000001 ${N(1)} 0a 00000002 ${N(2)} 0a 00000001 ${N(3)}`],
    values: [[[1], [2, [3]]]],
  },
  { name: 'date', bytes: [`0b ${f64h(date.getTime())} 0000`], values: [date] },
  {
    name: 'date with a non-zero time zone (read and ignored)',
    bytes: [`0b ${f64h(date.getTime())} ff88`],
    values: [date],
    canonical: [`0b ${f64h(date.getTime())} 0000`],
  },
  {
    name: 'typed object',
    bytes: [`10 ${K('com.example.Point')} ${K('x')} ${N(1)} ${K('y')} ${N(2)} ${END}`],
    values: [new TypedObject('com.example.Point', { x: 1, y: 2 })],
  },
  { name: 'typed object with an empty class name', bytes: [`10 0000 ${END}`], values: [new TypedObject('')] },
  { name: 'XML document', bytes: [`0f ${u32h(8)} ${utf8Hex('<a>b</a>')}`], values: [new XmlDocument('<a>b</a>')] },
  {
    name: 'reference (0x07) to an earlier object in the same array',
    bytes: [`0a 00000002 03 ${K('a')} ${N(1)} ${END} 07 0001`],
    values: [[shared, shared]],
  },
  {
    name: 'reference across top-level values',
    bytes: [`03 ${K('a')} ${N(1)} ${END}`, '07 0000'],
    values: [shared, shared],
  },
  { name: 'reference to the enclosing object (a cycle)', bytes: [`03 ${K('self')} 07 0000 ${END}`], values: [cyclic] },
  { name: 'AVM+ switch to an AMF3 ByteArray', bytes: ['11 0c 07 010203'], values: [new ByteArray(Buffer.from([1, 2, 3]))] },
  { name: 'AVM+ switch to AMF3 XML', bytes: [`11 0b 11 ${utf8Hex('<a>b</a>')}`], values: [new Amf3Xml('<a>b</a>')] },
  {
    name: 'AVM+ switch to an AMF3 Vector.<int>',
    bytes: ['11 0d 05 00 00000001 ffffffff'],
    values: [new Amf3Vector('int', [1, -1])],
  },
  {
    name: 'AVM+ switch to an AMF3 Dictionary',
    bytes: ['11 11 03 00 06 03 6b 04 01'],
    values: [new Amf3Dictionary([['k', 1]])],
  },
  {
    name: 'AVM+ switch to an AMF3 object (re-encoded as native AMF0)',
    bytes: ['11 0a 0b 01 03 61 04 01 01'],
    values: [{ a: 1 }],
    canonical: [`03 ${K('a')} ${N(1)} ${END}`],
  },
  {
    name: 'AVM+ switches each start fresh AMF3 reference tables',
    bytes: ['11 09 05 01 06 03 61 06 00', '11 09 05 01 06 03 61 06 00'],
    values: [['a', 'a'], ['a', 'a']],
    canonical: [`0a 00000002 ${S('a')} ${S('a')}`, `0a 00000002 ${S('a')} ${S('a')}`],
  },
  {
    name: 'RTMP connect command as sent by ffmpeg',
    bytes: [
      '02 0007 636f6e6e656374', // "connect"
      '00 3ff0000000000000', // transaction id 1
      '03' +
        '0003 617070 02 0004 6c697665' + // app: "live"
        '0004 74797065 02 000a 6e6f6e70726976617465' + // type: "nonprivate"
        '0008 666c617368566572 02 001f 464d4c452f332e302028636f6d70617469626c653b20464d53632f312e3029' + // flashVer
        '0005 746355726c 02 001a 72746d703a2f2f3132372e302e302e313a313933352f6c697665' + // tcUrl
        '00 00 09',
    ],
    values: [
      'connect',
      1,
      { app: 'live', type: 'nonprivate', flashVer: 'FMLE/3.0 (compatible; FMSc/1.0)', tcUrl: 'rtmp://127.0.0.1:1935/live' },
    ],
  },
  {
    name: '@setDataFrame onMetaData ECMA array as written by ffmpeg',
    bytes: [
      '02 000d 40736574446174614672616d65', // "@setDataFrame"
      '02 000a 6f6e4d65746144617461', // "onMetaData"
      '08 00000009' +
        '0008 6475726174696f6e 00 0000000000000000' + // duration: 0
        '0005 7769647468 00 4094000000000000' + // width: 1280
        '0006 686569676874 00 4086800000000000' + // height: 720
        '000d 766964656f6461746172617465 00 40a3880000000000' + // videodatarate: 2500
        '0009 6672616d6572617465 00 403e000000000000' + // framerate: 30
        '000c 766964656f636f6465636964 00 401c000000000000' + // videocodecid: 7 (AVC)
        '000c 617564696f636f6465636964 00 4024000000000000' + // audiocodecid: 10 (AAC)
        '0007 656e636f646572 02 000d 4c61766635392e32372e313030' + // encoder: "Lavf59.27.100"
        '0008 66696c6573697a65 00 0000000000000000' + // filesize: 0
        '00 00 09',
    ],
    values: [
      '@setDataFrame',
      'onMetaData',
      new EcmaArray({
        duration: 0,
        width: 1280,
        height: 720,
        videodatarate: 2500,
        framerate: 30,
        videocodecid: 7,
        audiocodecid: 10,
        encoder: 'Lavf59.27.100',
        filesize: 0,
      }),
    ],
  },
  {
    name: '_result of connect with properties and information objects',
    bytes: [
      '02 0007 5f726573756c74', // "_result"
      '00 3ff0000000000000', // transaction id 1
      '03' +
        '0006 666d73566572 02 000d 464d532f332c302c312c313233' + // fmsVer: "FMS/3,0,1,123"
        '000c 6361706162696c6974696573 00 403f000000000000' + // capabilities: 31
        '00 00 09',
      '03' +
        '0005 6c6576656c 02 0006 737461747573' + // level: "status"
        '0004 636f6465 02 001d 4e6574436f6e6e656374696f6e2e436f6e6e6563742e53756363657373' + // code
        '000b 6465736372697074696f6e 02 0015 436f6e6e656374696f6e207375636365656465642e' + // description
        '000e 6f626a656374456e636f64696e67 00 0000000000000000' + // objectEncoding: 0
        '00 00 09',
    ],
    values: [
      '_result',
      1,
      { fmsVer: 'FMS/3,0,1,123', capabilities: 31 },
      { level: 'status', code: 'NetConnection.Connect.Success', description: 'Connection succeeded.', objectEncoding: 0 },
    ],
  },
  {
    name: 'createStream then publish arguments with null command object',
    bytes: [S('publish'), N(5), '05', S('stream-key'), S('live')],
    values: ['publish', 5, null, 'stream-key', 'live'],
  },
];

defineCaseTests(codec, cases);

describe('AMF0 references and cycles', () => {
  it('decodeAmf0() resolves a reference to the very instance decoded earlier', () => {
    const [arr] = decodeAmf0(hex(`0a 00000002 03 ${K('a')} ${N(1)} ${END} 07 0001`));
    assert.ok(Array.isArray(arr));
    assert.equal(arr[0], arr[1]);
  });

  it('decodeAmf0() turns a reference to the enclosing object into a cycle without looping', () => {
    const [obj] = decodeAmf0(hex(`03 ${K('self')} 07 0000 ${END}`)) as [Record<string, AmfValue>];
    assert.equal(obj['self'], obj);
  });

  it('decodeAmf0() resolves a reference to an enclosing ECMA array and typed object', () => {
    const [ea] = decodeAmf0(hex(`08 00000001 ${K('me')} 07 0000 ${END}`)) as [EcmaArray];
    assert.ok(ea instanceof EcmaArray);
    assert.equal(ea.properties['me'], ea);
    const [t] = decodeAmf0(hex(`10 ${K('T')} ${K('me')} 07 0000 ${END}`)) as [TypedObject];
    assert.equal(t.properties['me'], t);
  });

  it('encodeAmf0() writes a repeated instance as a reference and a cycle as a back-reference', () => {
    const o: Record<string, AmfValue> = { a: 1 };
    assert.equal(encodeAmf0Value([o, o]).toString('hex'), hex(`0a 00000002 03 ${K('a')} ${N(1)} ${END} 07 0001`).toString('hex'));
    const c: Record<string, AmfValue> = {};
    c['self'] = c;
    const [back] = decodeAmf0(encodeAmf0Value(c)) as [Record<string, AmfValue>];
    assert.equal(back['self'], back);
  });

  it('encodeAmf0() of equal but distinct objects writes them in full, not as references', () => {
    assert.equal(
      encodeAmf0Value([{ a: 1 }, { a: 1 }]).toString('hex'),
      hex(`0a 00000002 03 ${K('a')} ${N(1)} ${END} 03 ${K('a')} ${N(1)} ${END}`).toString('hex'),
    );
  });

  it('dates are not reference-counted complex values in AMF0 (the index after a date still points at the next object)', () => {
    const values = decodeAmf0(hex(`0a 00000003 0b ${f64h(0)} 0000 03 ${END} 07 0001`)) as [AmfValue[]];
    assert.equal(values[0][1], values[0][2]);
  });

  it('decodeAmf0() of a reference beyond the table fails with AMF_ERR_BAD_REFERENCE', () => {
    assertAmfError(() => decodeAmf0(hex('07 0000')), 'AMF_ERR_BAD_REFERENCE');
    assertAmfError(() => decodeAmf0(hex(`0a 00000002 03 ${END} 07 0002`)), 'AMF_ERR_BAD_REFERENCE');
    assertAmfError(() => decodeAmf0(hex('07 ffff')), 'AMF_ERR_BAD_REFERENCE');
  });

  it('decodeAmf0Value() uses a fresh reference table per call', () => {
    const buf = hex(`03 ${END} 07 0000`);
    const first = decodeAmf0Value(buf, 0);
    assert.deepStrictEqual(first, { value: {}, offset: 4 });
    assertAmfError(() => decodeAmf0Value(buf, first.offset), 'AMF_ERR_BAD_REFERENCE');
  });

  it('an AVM+ switched value cannot reference AMF3 strings from an earlier switch', () => {
    assertAmfError(() => decodeAmf0(hex('11 06 03 61 11 06 00')), 'AMF_ERR_BAD_REFERENCE');
  });
});

describe('AMF0 decoder API', () => {
  it('Amf0Decoder reads values one at a time and reports the offset after each', () => {
    const buf = hex(`${S('connect')} ${N(1)} 05`);
    const d = new Amf0Decoder(buf);
    assert.equal(d.readValue(), 'connect');
    assert.equal(d.offset, 10);
    assert.equal(d.readValue(), 1);
    assert.equal(d.offset, 19);
    assert.equal(d.remaining, 1);
    assert.equal(d.readValue(), null);
    assert.equal(d.remaining, 0);
    assertAmfError(() => d.readValue(), 'AMF_ERR_TRUNCATED');
  });

  it('decodeAmf0Value() starts at the given offset and returns the offset after the value', () => {
    const buf = hex(`ffff ${S('ab')} 06`);
    assert.deepStrictEqual(decodeAmf0Value(buf, 2), { value: 'ab', offset: 7 });
    assert.deepStrictEqual(decodeAmf0Value(buf, 7), { value: undefined, offset: 8 });
    assertAmfError(() => decodeAmf0Value(buf, 8), 'AMF_ERR_TRUNCATED');
  });

  it('decodeAmf0Value() rejects an offset outside the buffer with RangeError (a caller bug, not bad input)', () => {
    assert.throws(() => decodeAmf0Value(hex('05'), 2), RangeError);
    assert.throws(() => decodeAmf0Value(hex('05'), -1), RangeError);
    assert.throws(() => decodeAmf0Value(hex('05'), 0.5), RangeError);
  });

  it('decodeAmf0() of an empty buffer is an empty list', () => {
    assert.deepStrictEqual(decodeAmf0(Buffer.alloc(0)), []);
  });

  it('decodeAmf0() keeps ECMA array key order', () => {
    const [ea] = decodeAmf0(hex(`08 00000003 ${K('zeta')} 05 ${K('alpha')} 05 ${K('mid')} 05 ${END}`)) as [EcmaArray];
    assert.deepStrictEqual(Object.keys(ea.properties), ['zeta', 'alpha', 'mid']);
  });

  it('decodeAmf0() of a date ignores the time zone and keeps an invalid (NaN) time as an Invalid Date', () => {
    const [d] = decodeAmf0(hex(`0b ${f64h(NaN)} 0000`)) as [Date];
    assert.ok(d instanceof Date);
    assert.ok(Number.isNaN(d.getTime()));
    assert.equal(encodeAmf0Value(new Date(NaN)).toString('hex'), `0b${f64h(NaN)}0000`);
  });

  it('decodeAmf0() replaces invalid UTF-8 with U+FFFD instead of throwing', () => {
    assert.deepStrictEqual(decodeAmf0(hex('02 0003 ff c3 28')), ['\ufffd\ufffd(']);
  });

  it('decodeAmf0() of a ByteArray behind an AVM+ switch copies the bytes instead of viewing the input', () => {
    const buf = Buffer.alloc(64 * 1024); // not from the pool, like a socket read
    hex('11 0c 07 010203').copy(buf);
    const [ba] = decodeAmf0(buf.subarray(0, 6)) as [ByteArray];
    buf.fill(0);
    assert.deepStrictEqual([...ba.bytes], [1, 2, 3]);
    assert.notEqual(ba.bytes.buffer, buf.buffer);
  });
});

describe('AMF0 prototype pollution', () => {
  it('a __proto__ key becomes an own property of an object, ECMA array and typed object without touching prototypes', () => {
    const payload = `${K('__proto__')} 03 ${K('polluted')} 01 01 ${END} ${END}`;
    const [obj, ea, typed] = decodeAmf0(hex(`03 ${payload} 08 00000001 ${payload} 10 ${K('T')} ${payload}`)) as [
      Record<string, AmfValue>,
      EcmaArray,
      TypedObject,
    ];
    for (const target of [obj, ea.properties, typed.properties]) {
      assert.equal(Object.getPrototypeOf(target), Object.prototype);
      assert.ok(Object.hasOwn(target, '__proto__'));
      assert.deepStrictEqual(Object.getOwnPropertyDescriptor(target, '__proto__')?.value, { polluted: true });
      assert.equal((target as { polluted?: unknown }).polluted, undefined);
    }
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
  });

  it('an own __proto__ property round-trips through encodeAmf0()', () => {
    const value = own([['__proto__', 'x'], ['b', 2]]);
    const bytes = encodeAmf0Value(value);
    assert.equal(bytes.toString('hex'), hex(`03 ${K('__proto__')} ${S('x')} ${K('b')} ${N(2)} ${END}`).toString('hex'));
    assert.deepStrictEqual(decodeAmf0(bytes), [value]);
  });
});

describe('AMF0 malformed input', () => {
  it('decodeAmf0() of markers 0x12–0xFF fails with AMF_ERR_UNKNOWN_MARKER', () => {
    for (let m = 0x12; m <= 0xff; m++) assertAmfError(() => decodeAmf0(Buffer.from([m, 0, 0, 0, 0])), 'AMF_ERR_UNKNOWN_MARKER');
  });

  it('decodeAmf0() of the reserved movieclip (0x04) and recordset (0x0E) markers fails with AMF_ERR_UNSUPPORTED', () => {
    assertAmfError(() => decodeAmf0(hex('04')), 'AMF_ERR_UNSUPPORTED');
    assertAmfError(() => decodeAmf0(hex('0e')), 'AMF_ERR_UNSUPPORTED');
  });

  it('decodeAmf0() of an object-end marker (0x09) in value position fails with AMF_ERR_MALFORMED', () => {
    assertAmfError(() => decodeAmf0(hex('09')), 'AMF_ERR_MALFORMED');
    assertAmfError(() => decodeAmf0(hex(`03 ${K('a')} 09 ${END}`)), 'AMF_ERR_MALFORMED');
  });

  it('decodeAmf0() of an object without its end marker fails with AMF_ERR_TRUNCATED', () => {
    assertAmfError(() => decodeAmf0(hex(`03 ${K('a')} ${N(1)}`)), 'AMF_ERR_TRUNCATED');
    assertAmfError(() => decodeAmf0(hex(`08 00000001 ${K('a')} ${N(1)} 0000`)), 'AMF_ERR_TRUNCATED');
  });

  it('decodeAmf0() of a string whose length exceeds the buffer fails with AMF_ERR_TRUNCATED', () => {
    assertAmfError(() => decodeAmf0(hex('02 ffff 6162')), 'AMF_ERR_TRUNCATED');
    assertAmfError(() => decodeAmf0(hex(`03 ${u16h(100)} 6162`)), 'AMF_ERR_TRUNCATED');
    assertAmfError(() => decodeAmf0(hex('0f 00001000 3c')), 'AMF_ERR_TRUNCATED');
  });

  it('decodeAmf0() of a long string claiming 4 GiB fails with AMF_ERR_LIMIT (over maxStringBytes) or AMF_ERR_TRUNCATED (limit lifted)', () => {
    assertAmfError(() => decodeAmf0(hex('0c ffffffff 6162')), 'AMF_ERR_LIMIT');
    assertAmfError(() => decodeAmf0(hex('0c ffffffff 6162'), { maxStringBytes: Infinity }), 'AMF_ERR_TRUNCATED');
  });

  it('decodeAmf0() enforces maxStringBytes on strings, long strings and XML', () => {
    const limits = { maxStringBytes: 4 };
    assert.deepStrictEqual(decodeAmf0(hex(S('abcd')), limits), ['abcd']);
    assertAmfError(() => decodeAmf0(hex(S('abcde')), limits), 'AMF_ERR_LIMIT');
    assertAmfError(() => decodeAmf0(hex(`0c 00000005 ${utf8Hex('abcde')}`), limits), 'AMF_ERR_LIMIT');
    assertAmfError(() => decodeAmf0(hex(`0f 00000005 ${utf8Hex('abcde')}`), limits), 'AMF_ERR_LIMIT');
  });

  it('decodeAmf0() of a strict array claiming 2^32-1 elements in 10 bytes fails with AMF_ERR_LIMIT, or AMF_ERR_TRUNCATED with maxItems lifted, within milliseconds', () => {
    const bomb = hex('0a ffffffff 0000000000');
    const start = performance.now();
    assertAmfError(() => decodeAmf0(bomb), 'AMF_ERR_LIMIT');
    assertAmfError(() => decodeAmf0(bomb, { maxItems: Infinity, maxTotalItems: Infinity }), 'AMF_ERR_TRUNCATED');
    assert.ok(performance.now() - start < 250, 'a count bomb must be rejected before any iteration');
  });

  it('decodeAmf0() of a strict array claiming more elements than bytes remain fails with AMF_ERR_TRUNCATED before reading them', () => {
    assertAmfError(() => decodeAmf0(hex('0a 00000004 050505')), 'AMF_ERR_TRUNCATED');
  });

  it('decodeAmf0() of 10,000 nested strict arrays fails with AMF_ERR_DEPTH, not a stack overflow', () => {
    assertAmfError(() => decodeAmf0(hex('0a00000001'.repeat(10_000) + '05')), 'AMF_ERR_DEPTH');
  });

  it('decodeAmf0() of 10,000 nested objects, ECMA arrays and typed objects fails with AMF_ERR_DEPTH', () => {
    assertAmfError(() => decodeAmf0(hex(`03 ${K('a')}`.repeat(10_000))), 'AMF_ERR_DEPTH');
    assertAmfError(() => decodeAmf0(hex(`08 00000001 ${K('a')}`.repeat(10_000))), 'AMF_ERR_DEPTH');
    assertAmfError(() => decodeAmf0(hex(`10 ${K('T')} ${K('a')}`.repeat(10_000))), 'AMF_ERR_DEPTH');
  });

  it('decodeAmf0() accepts exactly maxDepth nested containers and rejects maxDepth + 1', () => {
    const nested = (n: number): Buffer => hex('0a00000001'.repeat(n) + '05');
    assert.equal(decodeAmf0(nested(64)).length, 1);
    assertAmfError(() => decodeAmf0(nested(65)), 'AMF_ERR_DEPTH');
    assert.equal(decodeAmf0(nested(3), { maxDepth: 3 }).length, 1);
    assertAmfError(() => decodeAmf0(nested(4), { maxDepth: 3 }), 'AMF_ERR_DEPTH');
  });

  it('decodeAmf0() enforces maxItems per object, ECMA array and strict array', () => {
    const limits = { maxItems: 2 };
    const three = `${K('a')} 05 ${K('b')} 05 ${K('c')} 05 ${END}`;
    assert.equal(decodeAmf0(hex(`03 ${K('a')} 05 ${K('b')} 05 ${END}`), limits).length, 1);
    assertAmfError(() => decodeAmf0(hex(`03 ${three}`), limits), 'AMF_ERR_LIMIT');
    assertAmfError(() => decodeAmf0(hex(`08 00000000 ${three}`), limits), 'AMF_ERR_LIMIT');
    assertAmfError(() => decodeAmf0(hex(`10 ${K('T')} ${three}`), limits), 'AMF_ERR_LIMIT');
    assertAmfError(() => decodeAmf0(hex('0a 00000003 050505'), limits), 'AMF_ERR_LIMIT');
  });

  it('decodeAmf0() enforces maxTotalItems across one call', () => {
    const buf = hex('0a 00000004 05050505');
    assert.equal(decodeAmf0(buf, { maxTotalItems: 5 }).length, 1);
    assertAmfError(() => decodeAmf0(buf, { maxTotalItems: 4 }), 'AMF_ERR_LIMIT');
    assertAmfError(() => decodeAmf0(hex('05'.repeat(11)), { maxTotalItems: 10 }), 'AMF_ERR_LIMIT');
  });

  it('decodeAmf0() rejects invalid limits with RangeError', () => {
    assert.throws(() => decodeAmf0(hex('05'), { maxDepth: -1 }), RangeError);
    assert.throws(() => decodeAmf0(hex('05'), { maxItems: NaN }), RangeError);
    assert.throws(() => decodeAmf0(hex('05'), { maxDepth: 100_000 }), RangeError);
  });
});

describe('AMF0 encoder', () => {
  it('encodeAmf0Value() writes a 65535-byte string with 0x02 and a 65536-byte string with 0x0C', () => {
    assert.equal(encodeAmf0Value('a'.repeat(65_535)).subarray(0, 3).toString('hex'), '02ffff');
    assert.equal(encodeAmf0Value('a'.repeat(65_536)).subarray(0, 5).toString('hex'), '0c00010000');
    assert.equal(encodeAmf0Value('é'.repeat(32_768)).subarray(0, 5).toString('hex'), '0c00010000');
  });

  it('encodeAmf0Value() writes AMF3-only values behind an AVM+ switch', () => {
    assert.equal(encodeAmf0Value(new Amf3Vector('double', [1])).toString('hex'), `110f0300${f64h(1)}`);
  });

  it('Amf0Encoder writes values back to back', () => {
    const bytes = new Amf0Encoder().writeValue('a').writeValue(null).finish();
    assert.equal(bytes.toString('hex'), hex(`${S('a')} 05`).toString('hex'));
  });

  it('encodeAmf0() rejects values outside the AMF value model with AMF_ERR_ENCODE', () => {
    const bad: unknown[] = [() => 1, Symbol('s'), 1n, new Map(), new (class Foo {})(), new Uint8Array(1), { nested: [() => 1] }];
    for (const value of bad) assertAmfError(() => encodeAmf0([value as AmfValue]), 'AMF_ERR_ENCODE');
  });

  it('encodeAmf0() rejects a property name over 65535 UTF-8 bytes with AMF_ERR_ENCODE', () => {
    assertAmfError(() => encodeAmf0Value({ ['k'.repeat(65_536)]: 1 }), 'AMF_ERR_ENCODE');
    assertAmfError(() => encodeAmf0Value(new TypedObject('C'.repeat(65_536))), 'AMF_ERR_ENCODE');
  });

  it('encodeAmf0() of nesting deeper than 1000 fails with AMF_ERR_ENCODE, not a stack overflow', () => {
    let deep: AmfValue = null;
    for (let i = 0; i < 5000; i++) deep = [deep];
    assertAmfError(() => encodeAmf0Value(deep), 'AMF_ERR_ENCODE');
  });

  it('encodeAmf0() writes array holes as undefined', () => {
    // eslint-disable-next-line no-sparse-arrays
    const holey: AmfValue[] = [1, , 3];
    assert.deepStrictEqual(decodeAmf0(encodeAmf0Value(holey)), [[1, undefined, 3]]);
  });
});
