import assert from 'node:assert/strict';
import { FlvError, type FlvErrorCode } from '../src/index.ts';

/** Builds a Buffer from byte values and ASCII strings (FourCCs, AMF names). */
export function bytes(...parts: ReadonlyArray<number | string | readonly number[]>): Buffer {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (typeof p === 'string') for (const ch of p) out.push(ch.charCodeAt(0));
    else out.push(...p);
  }
  return Buffer.from(out);
}

/** Asserts that `fn` throws an FlvError with `code`. */
export function throwsFlv(fn: () => unknown, code: FlvErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FlvError, `expected FlvError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

/** Runs `fn`; returns its value, or undefined if it threw an FlvError; any other error propagates. */
export function flvOrUndefined<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (err instanceof FlvError) return undefined;
    throw err;
  }
}
