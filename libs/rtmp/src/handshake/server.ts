import {
  DIGEST_LENGTH,
  HANDSHAKE_SIZE,
  RTMP_VERSION,
  SERVER_FULL_KEY,
  SERVER_PARTIAL_KEY,
  CLIENT_PARTIAL_KEY,
  digestOf,
  findDigestScheme,
  responseSignature,
  writeDigest,
} from './digest.ts';
import type { DigestScheme } from './digest.ts';
import { EMPTY, checkVersion, defaultNow, defaultRandomBytes, fillRandom } from './common.ts';
import type { HandshakeOptions, HandshakeResult } from './common.ts';

/** Version we announce in a digest-form S1 (bytes 4..7); clients only check that it is non-zero. */
const SERVER_VERSION = 0x04050001;

const C0C1_SIZE = 1 + HANDSHAKE_SIZE;
const State = { AwaitC0C1: 0, AwaitC2: 1, Done: 2 } as const;
type State = (typeof State)[keyof typeof State];

/**
 * Server side of the handshake (spec 5.2). Feed it the client's bytes; it answers S0+S1+S2 as soon
 * as C0+C1 are in ("The server MUST wait until C1 has been received before sending S2") and is done
 * once C2 (1536 bytes, not validated: clients differ) is in. Holds at most C0+C1 (1537 bytes).
 */
export class ServerHandshake {
  readonly #random: (n: number) => Buffer;
  readonly #now: () => number;
  #state: State = State.AwaitC0C1;
  #c0c1: Buffer | null = Buffer.alloc(C0C1_SIZE);
  #have = 0;
  #c2Have = 0;
  #scheme: DigestScheme | null = null;

  constructor(options?: HandshakeOptions) {
    this.#random = options?.randomBytes ?? defaultRandomBytes;
    this.#now = options?.now ?? defaultNow;
  }

  /** The digest scheme the client's C1 validated under, or null for the simple form / before C1. */
  get digestScheme(): DigestScheme | null {
    return this.#scheme;
  }

  /** True once C2 has been received. */
  get done(): boolean {
    return this.#state === State.Done;
  }

  /** Consumes client bytes; throws RtmpError RTMP_ERR_HANDSHAKE_VERSION if C0 is not 3. */
  push(data: Buffer): HandshakeResult {
    if (this.#state === State.Done) return { output: [], done: true, remainder: data };
    const output: Buffer[] = [];
    let off = 0;
    if (this.#state === State.AwaitC0C1) {
      const c0c1 = this.#c0c1!;
      // Reject a wrong C0 on its first byte: no point waiting for 1536 more bytes of, say, HTTP.
      if (this.#have === 0 && data.length > 0) checkVersion(data[0]!, 'C0');
      const take = Math.min(C0C1_SIZE - this.#have, data.length);
      data.copy(c0c1, this.#have, 0, take);
      this.#have += take;
      off = take;
      if (this.#have < C0C1_SIZE) return { output, done: false, remainder: EMPTY };
      output.push(this.#reply(c0c1.subarray(1)));
      this.#state = State.AwaitC2;
    }
    // C2 is accepted as whatever 1536 bytes arrive, so only count them.
    const take = Math.min(HANDSHAKE_SIZE - this.#c2Have, data.length - off);
    this.#c2Have += take;
    off += take;
    if (this.#c2Have < HANDSHAKE_SIZE) return { output, done: false, remainder: EMPTY };
    this.#state = State.Done;
    this.#c0c1 = null;
    return { output, done: true, remainder: off === data.length ? EMPTY : data.subarray(off) };
  }

  /** Builds S0+S1+S2 (one Buffer) answering C1. */
  #reply(c1: Buffer): Buffer {
    const out = Buffer.alloc(1 + 2 * HANDSHAKE_SIZE);
    out[0] = RTMP_VERSION;
    const s1 = out.subarray(1, 1 + HANDSHAKE_SIZE);
    const s2 = out.subarray(1 + HANDSHAKE_SIZE);
    s1.writeUInt32BE(this.#now() >>> 0, 0);
    // A non-zero version field in C1 announces the digest form; a C1 that fails to validate under
    // either scheme (garbage in the "zero" field is common) gets the simple form.
    const scheme = c1.readUInt32BE(4) !== 0 ? findDigestScheme(c1, CLIENT_PARTIAL_KEY) : null;
    this.#scheme = scheme;
    if (scheme === null) {
      // Spec 5.2.3: S1 "Zero (4 bytes): This field MUST be all 0s", then random bytes; S2 echoes C1
      // (5.2.4: "The S2 ... MUST be the echo of C1"). The exact echo suits clients that compare it.
      fillRandom(s1, 8, HANDSHAKE_SIZE, this.#random);
      c1.copy(s2);
      return out;
    }
    s1.writeUInt32BE(SERVER_VERSION, 4);
    fillRandom(s1, 8, HANDSHAKE_SIZE, this.#random);
    writeDigest(s1, scheme, SERVER_PARTIAL_KEY);
    fillRandom(s2, 0, HANDSHAKE_SIZE - DIGEST_LENGTH, this.#random);
    responseSignature(s2, digestOf(c1, scheme), SERVER_FULL_KEY).copy(s2, HANDSHAKE_SIZE - DIGEST_LENGTH);
    return out;
  }
}
