// Shared test helpers: hex builders written straight from the specs (independent of the encoders)
// and the table-driven harness that runs every case as a decode, an encode and a split test.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AmfError, type AmfErrorCode, type AmfLimits, type AmfValue } from '../src/index.ts';

/** Hex to bytes; spaces and `|` are for readability only. */
export const hex = (h: string): Buffer => Buffer.from(h.replace(/[\s|]/g, ''), 'hex');
export const utf8Hex = (s: string): string => Buffer.from(s, 'utf8').toString('hex');
export const u8h = (n: number): string => n.toString(16).padStart(2, '0');
export const u16h = (n: number): string => n.toString(16).padStart(4, '0');
export const u32h = (n: number): string => n.toString(16).padStart(8, '0');
export const f64h = (n: number): string => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(n);
  return b.toString('hex');
};

/** Builds an object with the given own properties; `__proto__` becomes an own data property. */
export function own(entries: Array<[string, AmfValue]>): Record<string, AmfValue> {
  const o: Record<string, AmfValue> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  return o;
}

/** Runs `fn` and asserts it throws an AmfError with `code`; returns the error. */
export function assertAmfError(fn: () => unknown, code: AmfErrorCode): AmfError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  if (!(thrown instanceof AmfError)) {
    assert.fail(`expected AmfError ${code}, got ${thrown === undefined ? 'no error' : String((thrown as Error).stack ?? thrown)}`);
  }
  assert.equal(thrown.code, code, thrown.message);
  assert.equal(thrown.name, 'AmfError');
  return thrown;
}

/** Asserts `fn` either returns or throws an AmfError (the decoder's contract for arbitrary bytes). */
export function assertOnlyAmfError(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof AmfError)) assert.fail(`threw a non-AmfError: ${String((error as Error).stack ?? error)}`);
  }
}

/**
 * One wire sample: `bytes` holds one hex string per top-level value (the joins are the value
 * boundaries), `values` what they decode to, `canonical` what the encoder writes instead when the
 * sample is not in the encoder's canonical form.
 */
export interface CodecCase {
  name: string;
  bytes: string[];
  values: AmfValue[];
  canonical?: string[];
}

export interface Codec {
  name: string;
  decode(buf: Uint8Array, limits?: Partial<AmfLimits>): AmfValue[];
  encode(values: readonly AmfValue[]): Buffer;
}

export function defineCaseTests(codec: Codec, cases: readonly CodecCase[]): void {
  for (const c of cases) {
    describe(`${codec.name} ${c.name}`, () => {
      const bytes = hex(c.bytes.join(''));
      it('decodes to the expected values', () => {
        assert.deepStrictEqual(codec.decode(bytes), c.values);
      });
      it(c.canonical ? 'encodes to the canonical bytes, which decode to the same values' : 'encodes to exactly these bytes', () => {
        const expected = hex((c.canonical ?? c.bytes).join(''));
        assert.equal(codec.encode(c.values).toString('hex'), expected.toString('hex'));
        if (c.canonical) assert.deepStrictEqual(codec.decode(expected), c.values);
      });
      it('decodes from a Uint8Array view at a non-zero byteOffset', () => {
        const backing = new Uint8Array(bytes.length + 7);
        backing.set(bytes, 3);
        assert.deepStrictEqual(codec.decode(backing.subarray(3, 3 + bytes.length)), c.values);
      });
      // Samples over 4 KiB (long strings) are split at every offset near either end and at a stride
      // in between: every middle offset lies inside the same string payload.
      const splitName = bytes.length > 4096 ? 'split near both ends and at every 509th offset' : 'split at every offset';
      it(`${splitName}: the first part alone is AMF_ERR_TRUNCATED (or whole values at a boundary), the concatenation decodes`, () => {
        const boundaries = new Map<number, number>();
        let at = 0;
        c.bytes.forEach((part, i) => {
          at += hex(part).length;
          boundaries.set(at, i + 1);
        });
        for (let k = 1; k < bytes.length; k++) {
          if (bytes.length > 4096 && k > 256 && k < bytes.length - 256 && k % 509 !== 0) continue;
          const first = bytes.subarray(0, k);
          const second = bytes.subarray(k);
          const whole = boundaries.get(k);
          if (whole !== undefined) assert.deepStrictEqual(codec.decode(first), c.values.slice(0, whole), `split at ${k}`);
          else assertAmfError(() => codec.decode(first), 'AMF_ERR_TRUNCATED');
          assert.deepStrictEqual(codec.decode(Buffer.concat([first, second])), c.values, `split at ${k}`);
        }
      });
    });
  }
}
