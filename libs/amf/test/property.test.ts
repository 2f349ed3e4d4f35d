import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  AmfError,
  decodeAmf0,
  decodeAmf3,
  encodeAmf0,
  encodeAmf3,
  type AmfLimits,
  type AmfValue,
} from '../src/index.ts';
import { amfEquals, amfValueArb } from './arbitraries.ts';
import { fuzzAmf, mutate } from './fuzz-amf.ts';
import { assertOnlyAmfError } from './helpers.ts';

const codecs = [
  { name: 'AMF0', decode: decodeAmf0, encode: encodeAmf0, arb: amfValueArb({ amf3: false }) },
  { name: 'AMF3', decode: decodeAmf3, encode: encodeAmf3, arb: amfValueArb({ amf3: true }) },
] as const;

for (const codec of codecs) {
  describe(`${codec.name} properties`, () => {
    it(`decode${codec.name}(encode${codec.name}(v)) deep-equals v for arbitrary value trees`, () => {
      fc.assert(
        fc.property(fc.array(codec.arb, { minLength: 1, maxLength: 3 }), (values) => {
          const decoded = codec.decode(codec.encode(values));
          assert.deepStrictEqual(decoded, values);
          // deepStrictEqual ignores key order; the decoders must also keep it.
          assert.ok(amfEquals(decoded, values), 'key order or class differs');
        }),
        { numRuns: 1000 },
      );
    });

    it(`decode${codec.name}() of arbitrary bytes (up to 4 KiB) returns or throws AmfError, nothing else`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => {
          assertOnlyAmfError(() => codec.decode(bytes));
        }),
        { numRuns: 2000 },
      );
    });

    it(`decode${codec.name}() of mutated valid encodings (flips, inserts, deletes, splices) returns or throws AmfError, nothing else`, () => {
      fc.assert(
        fc.property(codec.arb, fc.integer(), fc.integer({ min: 1, max: 6 }), (value, seed, rounds) => {
          let s = seed;
          const random = (): number => {
            s = (Math.imul(s, 1103515245) + 12345) | 0;
            return ((s >>> 8) & 0xffffff) / 0x1000000;
          };
          let bytes = codec.encode([value]);
          if (bytes.length > 8192) bytes = bytes.subarray(0, 8192);
          for (let r = 0; r < rounds; r++) {
            bytes = mutate(bytes, random);
            assertOnlyAmfError(() => codec.decode(bytes));
          }
        }),
        { numRuns: 1500 },
      );
    });

    it(`decode${codec.name}() of every prefix of a valid encoding throws only AMF_ERR_TRUNCATED or returns whole values`, () => {
      fc.assert(
        fc.property(codec.arb, (value) => {
          const bytes = codec.encode([value]);
          const step = Math.max(1, Math.floor(bytes.length / 200));
          for (let k = 0; k < bytes.length; k += step) {
            try {
              assert.deepStrictEqual(codec.decode(bytes.subarray(0, k)), k === 0 ? [] : assert.fail('a strict prefix decoded'));
            } catch (error) {
              if (!(error instanceof AmfError)) throw error;
              assert.equal(error.code, 'AMF_ERR_TRUNCATED', error.message);
            }
          }
        }),
        { numRuns: 500 },
      );
    });
  });
}

/** Headers that claim huge lengths or counts, followed by a few random bytes. */
const claimArb: fc.Arbitrary<{ codec: 'amf0' | 'amf3'; bytes: Buffer }> = fc
  .tuple(
    fc.constantFrom(
      ['amf0', (n: number) => `0a${u32(n)}`], // strict array count
      ['amf0', (n: number) => `0c${u32(n)}`], // long string length
      ['amf0', (n: number) => `0f${u32(n)}`], // XML document length
      ['amf0', (n: number) => `02${u32(Math.max(n & 0xffff, 0x100)).slice(4)}`], // string length (u16)
      ['amf0', (n: number) => `11 09${u29(n)}01`], // AVM+ → AMF3 array
      ['amf3', (n: number) => `09${u29(n)}01`], // dense array count
      ['amf3', (n: number) => `06${u29(n)}`], // string length
      ['amf3', (n: number) => `0c${u29(n)}`], // ByteArray length
      ['amf3', (n: number) => `0d${u29(n)}00`], // Vector.<int>
      ['amf3', (n: number) => `0f${u29(n)}00`], // Vector.<Number>
      ['amf3', (n: number) => `10${u29(n)}0001`], // Vector.<*>
      ['amf3', (n: number) => `11${u29(n)}00`], // Dictionary
      ['amf3', (n: number) => `0a${u29raw((Math.min(n, 0x1ffffff) << 4) | 3)}01`], // sealed member count
    ),
    fc.integer({ min: 2 ** 16, max: 2 ** 32 - 1 }),
    fc.uint8Array({ maxLength: 64 }),
  )
  .map(([[codec, header], n, tail]) => ({
    codec: codec as 'amf0' | 'amf3',
    bytes: Buffer.concat([Buffer.from(header(n).replace(/\s/g, ''), 'hex'), tail]),
  }));

function u32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

/** A 4-byte U29 of `v` (< 2^29). */
function u29raw(v: number): string {
  const bytes = [(v >> 22) | 0x80, ((v >> 15) & 0x7f) | 0x80, ((v >> 8) & 0x7f) | 0x80, v & 0xff];
  return Buffer.from(bytes).toString('hex');
}

/** U29 inline length/count header: min(n, 2^28-1) << 1 | 1. */
function u29(n: number): string {
  return u29raw((Math.min(n, 0x0fffffff) << 1) | 1);
}

describe('resource caps', () => {
  it('decoders reject huge length/count claims from the remaining bytes alone: fast and without allocating, even with every limit lifted', () => {
    const lifted: Partial<AmfLimits> = { maxItems: Infinity, maxTotalItems: Infinity, maxStringBytes: Infinity };
    globalThis.gc?.();
    const before = process.memoryUsage();
    let slowest = 0;
    fc.assert(
      fc.property(claimArb, ({ codec, bytes }) => {
        const decode = codec === 'amf0' ? decodeAmf0 : decodeAmf3;
        for (const limits of [undefined, lifted]) {
          const start = performance.now();
          let thrown: unknown;
          try {
            decode(bytes, limits);
          } catch (error) {
            thrown = error;
          }
          slowest = Math.max(slowest, performance.now() - start);
          assert.ok(thrown instanceof AmfError, `expected AmfError, got ${String(thrown)}`);
          assert.ok(['AMF_ERR_TRUNCATED', 'AMF_ERR_LIMIT'].includes(thrown.code), thrown.message);
        }
      }),
      { numRuns: 2000 },
    );
    const after = process.memoryUsage();
    assert.ok(slowest < 250, `slowest rejection took ${slowest.toFixed(1)} ms`);
    assert.ok(after.arrayBuffers - before.arrayBuffers < 16 * 1024 * 1024, `arrayBuffers grew by ${after.arrayBuffers - before.arrayBuffers}`);
    assert.ok(after.heapUsed - before.heapUsed < 64 * 1024 * 1024, `heapUsed grew by ${after.heapUsed - before.heapUsed}`);
  });
});

describe('fuzzAmf()', () => {
  it('a short seeded campaign finds no crash (non-AmfError or round-trip mismatch)', () => {
    const report = fuzzAmf(4000, 0x464d);
    assert.ok(report.executions >= 4000);
    assert.deepStrictEqual(report.crashes, []);
  });

  it('reports a round-trip mismatch as a crash (the harness can fail)', async () => {
    const { checkInput } = await import('./fuzz-amf.ts');
    const broken = {
      name: 'amf0' as const,
      decode: decodeAmf0,
      // An encoder that loses the value: every decoded value re-encodes as null.
      encode: (values: readonly AmfValue[]) => encodeAmf0(values.map(() => null)),
    };
    assert.equal(checkInput(broken, Buffer.from('0101', 'hex'))?.startsWith('amf0 round-trip mismatch'), true);
    const throwing = { ...broken, decode: (): AmfValue[] => { throw new TypeError('boom'); } };
    assert.match(checkInput(throwing, Buffer.alloc(1)) ?? '', /decode threw TypeError: boom/);
  });
});
