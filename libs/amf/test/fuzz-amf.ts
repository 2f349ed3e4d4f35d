// Long-running fuzz campaign for the AMF decoders (called by the repo-level fuzz script and, briefly,
// by property.test.ts). Lives in test/ because it needs fast-check, a dev dependency.
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

export interface FuzzReport {
  executions: number;
  crashes: Array<{ input: string; error: string }>;
}

interface Codec {
  name: 'amf0' | 'amf3';
  decode(buf: Uint8Array, limits?: Partial<AmfLimits>): AmfValue[];
  encode(values: readonly AmfValue[]): Buffer;
}

const codecs: readonly Codec[] = [
  { name: 'amf0', decode: decodeAmf0, encode: encodeAmf0 },
  { name: 'amf3', decode: decodeAmf3, encode: encodeAmf3 },
];

const lifted: Partial<AmfLimits> = { maxItems: Infinity, maxTotalItems: Infinity, maxStringBytes: Infinity };
const interestingBytes = [0x00, 0x01, 0x02, 0x03, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x7f, 0x80, 0x81, 0xfe, 0xff];
const interestingU32 = [0, 1, 0x7f, 0x80, 0xffff, 0x10000, 0x0fffffff, 0x1fffffff, 0x7fffffff, 0x80000000, 0xffffffff];
const MAX_CRASHES = 100;

/** mulberry32: small, fast, seedable; fuzzing needs reproducibility, not statistical quality. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Applies one random structural mutation (bit flip, byte set, insert, delete, duplicate, splice, u32 overwrite, truncate). */
export function mutate(input: Buffer, random: () => number, donor?: Buffer): Buffer {
  const int = (n: number): number => Math.floor(random() * n);
  const bytes = Buffer.from(input);
  const at = int(bytes.length + 1);
  switch (int(9)) {
    case 0:
      if (bytes.length > 0) bytes[at % bytes.length]! ^= 1 << int(8);
      return bytes;
    case 1:
      if (bytes.length > 0) bytes[at % bytes.length] = interestingBytes[int(interestingBytes.length)]!;
      return bytes;
    case 2:
      if (bytes.length > 0) bytes[at % bytes.length] = int(256);
      return bytes;
    case 3: {
      const insert = Buffer.alloc(1 + int(4));
      for (let i = 0; i < insert.length; i++) insert[i] = random() < 0.5 ? interestingBytes[int(interestingBytes.length)]! : int(256);
      return Buffer.concat([bytes.subarray(0, at), insert, bytes.subarray(at)]);
    }
    case 4:
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + 1 + int(8)))]);
    case 5: {
      const start = int(bytes.length + 1);
      const chunk = bytes.subarray(start, start + 1 + int(32));
      return Buffer.concat([bytes.subarray(0, at), chunk, bytes.subarray(at)]);
    }
    case 6: {
      if (!donor || donor.length === 0) return bytes;
      const start = int(donor.length);
      return Buffer.concat([bytes.subarray(0, at), donor.subarray(start, start + 1 + int(64)), bytes.subarray(at)]);
    }
    case 7: {
      if (bytes.length < 4) return bytes;
      const pos = int(bytes.length - 3);
      bytes.writeUInt32BE(interestingU32[int(interestingU32.length)]!, pos);
      return bytes;
    }
    default:
      return bytes.subarray(0, int(bytes.length + 1));
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error);
}

/**
 * Decodes `input` with `codec`. A crash is any thrown value that is not an AmfError, or a decoded
 * value that does not survive encode → decode unchanged (an AmfError from the re-encode is fine:
 * not every decodable value is encodable, e.g. an AMF3 sealed member named "" in a plain object).
 */
export function checkInput(codec: Codec, input: Buffer): string | undefined {
  let values: AmfValue[];
  try {
    values = codec.decode(input);
  } catch (error) {
    return error instanceof AmfError ? undefined : `${codec.name} decode threw ${describeError(error)}`;
  }
  let encoded: Buffer;
  try {
    encoded = codec.encode(values);
  } catch (error) {
    return error instanceof AmfError ? undefined : `${codec.name} re-encode threw ${describeError(error)}`;
  }
  try {
    // AMF3-only values inside AMF0 re-encode with a fresh context each, which can take more items.
    const again = codec.decode(encoded, lifted);
    return amfEquals(values, again) ? undefined : `${codec.name} round-trip mismatch (re-encoded ${encoded.toString('hex')})`;
  } catch (error) {
    return `${codec.name} re-decode threw ${describeError(error)}`;
  }
}

/**
 * Runs `iterations` fuzz executions: mostly mutated valid encodings of fast-check-generated AMF
 * trees, some raw random bytes, and some straight round trips of generated values.
 */
export function fuzzAmf(iterations: number, seed: number = Date.now() >>> 0): FuzzReport {
  const random = prng(seed);
  const int = (n: number): number => Math.floor(random() * n);
  const crashes: FuzzReport['crashes'] = [];
  const record = (input: Buffer, error: string): void => {
    if (crashes.length < MAX_CRASHES) crashes.push({ input: input.toString('hex'), error });
  };

  const sampleCount = Math.max(16, Math.min(400, Math.ceil(iterations / 20)));
  const samples = {
    amf0: fc.sample(fc.array(amfValueArb({ amf3: false }), { minLength: 1, maxLength: 3 }), { seed, numRuns: sampleCount }),
    amf3: fc.sample(fc.array(amfValueArb({ amf3: true }), { minLength: 1, maxLength: 3 }), { seed: seed ^ 0x5bd1e995, numRuns: sampleCount }),
  };
  const corpus = { amf0: [] as Buffer[], amf3: [] as Buffer[] };
  let executions = 0;

  for (const codec of codecs) {
    for (const values of samples[codec.name]) {
      executions++;
      try {
        const encoded = codec.encode(values);
        const decoded = codec.decode(encoded);
        if (!amfEquals(values, decoded)) record(encoded, `${codec.name} round-trip mismatch of a generated value`);
        corpus[codec.name].push(encoded.length > 8192 ? encoded.subarray(0, 8192) : encoded);
      } catch (error) {
        record(Buffer.alloc(0), `${codec.name} round trip of a generated value threw ${describeError(error)}`);
      }
    }
  }

  for (let i = 0; i < iterations; i++) {
    const codec = codecs[int(2)]!;
    const pool = corpus[codec.name];
    let input: Buffer;
    if (random() < 0.1 || pool.length === 0) {
      input = Buffer.alloc(int(256));
      for (let j = 0; j < input.length; j++) input[j] = random() < 0.3 ? interestingBytes[int(interestingBytes.length)]! : int(256);
    } else {
      input = pool[int(pool.length)]!;
      const rounds = 1 + int(4);
      for (let r = 0; r < rounds; r++) input = mutate(input, random, pool[int(pool.length)]);
    }
    executions++;
    const crash = checkInput(codec, input);
    if (crash !== undefined) record(input, crash);
  }
  return { executions, crashes };
}
