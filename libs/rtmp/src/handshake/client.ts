import { RtmpError } from '../errors.ts';
import {
  CLIENT_FULL_KEY,
  CLIENT_PARTIAL_KEY,
  DIGEST_LENGTH,
  HANDSHAKE_SIZE,
  RTMP_VERSION,
  SERVER_FULL_KEY,
  SERVER_PARTIAL_KEY,
  digestOf,
  findDigestScheme,
  responseSignature,
  writeDigest,
} from './digest.ts';
import type { DigestScheme } from './digest.ts';
import { EMPTY, checkVersion, defaultNow, defaultRandomBytes, fillRandom } from './common.ts';
import type { HandshakeOptions, HandshakeResult } from './common.ts';

/** Options for ClientHandshake. */
export interface ClientHandshakeOptions extends HandshakeOptions {
  /** Send a digest-form C1 (like Flash Player / FMLE) and require a genuine server. Default false. */
  digest?: boolean;
  /** Digest scheme for C1 when digest is true. Default 0. */
  scheme?: DigestScheme;
}

/** Flash Player version we announce in a digest-form C1 (9.0.124.2, as FFmpeg does). */
const CLIENT_VERSION = 0x09007c02;

const S0S1_SIZE = 1 + HANDSHAKE_SIZE;
const State = { Idle: 0, AwaitS0S1: 1, AwaitS2: 2, Done: 3 } as const;
type State = (typeof State)[keyof typeof State];

/**
 * Client side of the handshake (spec 5.2), used by the load generator and tests. start() yields
 * C0+C1; push() the server's bytes: C2 goes out once S0+S1 are in, and it is done after S2.
 * With `digest: true` the S1 digest and the S2 signature are verified (RTMP_ERR_HANDSHAKE if not
 * genuine); a server answering with a zero S1 version field gets the simple form.
 */
export class ClientHandshake {
  readonly #random: (n: number) => Buffer;
  readonly #now: () => number;
  readonly #digest: boolean;
  readonly #scheme: DigestScheme;
  #state: State = State.Idle;
  #c1Digest: Buffer | null = null;
  #s0s1: Buffer | null = null;
  #have = 0;
  /** S2 is kept only when its signature must be checked. */
  #s2: Buffer | null = null;
  #s2Have = 0;
  #serverDigest = false;

  constructor(options?: ClientHandshakeOptions) {
    this.#random = options?.randomBytes ?? defaultRandomBytes;
    this.#now = options?.now ?? defaultNow;
    this.#digest = options?.digest ?? false;
    this.#scheme = options?.scheme ?? 0;
  }

  /** True once the server's S1 carried a valid digest (so S2 is verified too). */
  get serverDigest(): boolean {
    return this.#serverDigest;
  }

  /** True once S2 has been received. */
  get done(): boolean {
    return this.#state === State.Done;
  }

  /** Returns C0+C1 (1537 bytes); call exactly once, before push(). */
  start(): Buffer {
    if (this.#state !== State.Idle) throw new Error('ClientHandshake.start() called twice');
    const out = Buffer.alloc(1 + HANDSHAKE_SIZE);
    out[0] = RTMP_VERSION;
    const c1 = out.subarray(1);
    c1.writeUInt32BE(this.#now() >>> 0, 0);
    fillRandom(c1, 8, HANDSHAKE_SIZE, this.#random);
    if (this.#digest) {
      c1.writeUInt32BE(CLIENT_VERSION, 4);
      this.#c1Digest = Buffer.from(writeDigest(c1, this.#scheme, CLIENT_PARTIAL_KEY));
    }
    this.#s0s1 = Buffer.alloc(S0S1_SIZE);
    this.#state = State.AwaitS0S1;
    return out;
  }

  /** Consumes server bytes; throws RtmpError on a bad S0 version or (digest mode) a bad S1/S2. */
  push(data: Buffer): HandshakeResult {
    if (this.#state === State.Idle) throw new Error('ClientHandshake.push() before start()');
    if (this.#state === State.Done) return { output: [], done: true, remainder: data };
    const output: Buffer[] = [];
    let off = 0;
    if (this.#state === State.AwaitS0S1) {
      const s0s1 = this.#s0s1!;
      if (this.#have === 0 && data.length > 0) checkVersion(data[0]!, 'S0');
      const take = Math.min(S0S1_SIZE - this.#have, data.length);
      data.copy(s0s1, this.#have, 0, take);
      this.#have += take;
      off = take;
      if (this.#have < S0S1_SIZE) return { output, done: false, remainder: EMPTY };
      output.push(this.#c2(s0s1.subarray(1)));
      this.#s0s1 = null;
      this.#state = State.AwaitS2;
    }
    const take = Math.min(HANDSHAKE_SIZE - this.#s2Have, data.length - off);
    if (this.#s2 !== null) data.copy(this.#s2, this.#s2Have, off, off + take);
    this.#s2Have += take;
    off += take;
    if (this.#s2Have < HANDSHAKE_SIZE) return { output, done: false, remainder: EMPTY };
    if (this.#s2 !== null) {
      const s2 = this.#s2;
      const expected = responseSignature(s2, this.#c1Digest!, SERVER_FULL_KEY);
      if (!expected.equals(s2.subarray(HANDSHAKE_SIZE - DIGEST_LENGTH))) {
        throw new RtmpError('RTMP_ERR_HANDSHAKE', 'S2 signature does not match our C1 digest');
      }
      this.#s2 = null;
    }
    this.#state = State.Done;
    return { output, done: true, remainder: off === data.length ? EMPTY : data.subarray(off) };
  }

  /** Builds C2 answering S1. */
  #c2(s1: Buffer): Buffer {
    if (this.#digest && s1.readUInt32BE(4) !== 0) {
      const scheme = findDigestScheme(s1, SERVER_PARTIAL_KEY);
      if (scheme === null) {
        throw new RtmpError('RTMP_ERR_HANDSHAKE', 'S1 announces the digest form but carries no valid digest');
      }
      this.#serverDigest = true;
      this.#s2 = Buffer.alloc(HANDSHAKE_SIZE);
      const c2 = Buffer.alloc(HANDSHAKE_SIZE);
      fillRandom(c2, 0, HANDSHAKE_SIZE - DIGEST_LENGTH, this.#random);
      responseSignature(c2, digestOf(s1, scheme), CLIENT_FULL_KEY).copy(c2, HANDSHAKE_SIZE - DIGEST_LENGTH);
      return c2;
    }
    // Simple form, spec 5.2.4: "C2 ... MUST be the echo of S1".
    return Buffer.from(s1);
  }
}
