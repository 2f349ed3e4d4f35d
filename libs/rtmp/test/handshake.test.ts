import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { ClientHandshake, ServerHandshake } from '../src/handshake/index.ts';
import type { HandshakeResult } from '../src/handshake/index.ts';
import { RtmpError } from '../src/errors.ts';

/** Deterministic "random" bytes: a simple LCG stream, different per seed. */
function fixedRandom(seed: number): (n: number) => Buffer {
  let state = seed >>> 0;
  return (n) => {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      out[i] = state >>> 24;
    }
    return out;
  };
}

const now = (): number => 123456;
const SIZE = 1536;

// Independent re-statement of the digest layout, so the tests do not trust the code under test.
const FP_KEY = Buffer.from('Genuine Adobe Flash Player 001');
const FMS_KEY = Buffer.from('Genuine Adobe Flash Media Server 001');
const SUFFIX = Buffer.from('F0EEC24A8068BEE82E00D0D1029E7E576EEC5D2D29806FAB93B8E636CFEB31AE', 'hex');
const hmac = (key: Buffer, ...parts: Buffer[]): Buffer => {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
};
function offsetOf(packet: Buffer, scheme: 0 | 1): number {
  const base = scheme === 0 ? 8 : 772;
  return ((packet[base]! + packet[base + 1]! + packet[base + 2]! + packet[base + 3]!) % 728) + base + 4;
}
function hasDigest(packet: Buffer, scheme: 0 | 1, key: Buffer): boolean {
  const o = offsetOf(packet, scheme);
  return hmac(key, packet.subarray(0, o), packet.subarray(o + 32)).equals(packet.subarray(o, o + 32));
}
function digestAt(packet: Buffer, scheme: 0 | 1): Buffer {
  const o = offsetOf(packet, scheme);
  return packet.subarray(o, o + 32);
}

interface Exchange {
  c0c1: Buffer;
  s0s1s2: Buffer;
  c2: Buffer;
  server: ServerHandshake;
  client: ClientHandshake;
  clientRemainder: Buffer;
  serverRemainder: Buffer;
}

const PIPELINED = Buffer.from('0300000000000514010000000102030405', 'hex');
const SERVER_TAIL = Buffer.from('02000000000004010000000000001000', 'hex');

function all(results: HandshakeResult[]): Buffer {
  return Buffer.concat(results.flatMap((r) => r.output));
}

function exchange(digest: boolean, scheme: 0 | 1 = 0): Exchange {
  const client = new ClientHandshake({ digest, scheme, randomBytes: fixedRandom(1), now });
  const server = new ServerHandshake({ randomBytes: fixedRandom(2), now });
  const c0c1 = client.start();
  const r1 = server.push(c0c1);
  assert.equal(r1.done, false);
  assert.equal(r1.output.length, 1);
  const s0s1s2 = all([r1]);
  assert.equal(s0s1s2.length, 1 + 2 * SIZE);
  const r2 = client.push(Buffer.concat([s0s1s2, SERVER_TAIL]));
  assert.equal(r2.done, true);
  const c2 = all([r2]);
  assert.equal(c2.length, SIZE);
  const r3 = server.push(Buffer.concat([c2, PIPELINED]));
  assert.equal(r3.done, true);
  assert.deepEqual(r3.output, []);
  return { c0c1, s0s1s2, c2, server, client, clientRemainder: r2.remainder, serverRemainder: r3.remainder };
}

/** Feeds `input` to a fresh handshake in the given pieces; returns all output and remainder. */
function feed(
  make: () => { push(d: Buffer): HandshakeResult },
  pieces: Buffer[],
): { output: Buffer; remainder: Buffer; done: boolean } {
  const hs = make();
  const results = pieces.map((p) => hs.push(p));
  const last = results.at(-1)!;
  return { output: all(results), remainder: Buffer.concat(results.map((r) => r.remainder)), done: last.done };
}

function splits(input: Buffer): Array<{ name: string; pieces: Buffer[] }> {
  const out: Array<{ name: string; pieces: Buffer[] }> = [{ name: 'whole', pieces: [input] }];
  const bytes: Buffer[] = [];
  for (let i = 0; i < input.length; i++) bytes.push(input.subarray(i, i + 1));
  out.push({ name: 'byte at a time', pieces: bytes });
  for (let k = 1; k < input.length; k++) {
    out.push({ name: `split at ${k}`, pieces: [input.subarray(0, k), input.subarray(k)] });
  }
  return out;
}

const forms: Array<{ name: string; digest: boolean; scheme: 0 | 1 }> = [
  { name: 'simple', digest: false, scheme: 0 },
  { name: 'digest scheme 0', digest: true, scheme: 0 },
  { name: 'digest scheme 1', digest: true, scheme: 1 },
];

describe('handshake', () => {
  for (const form of forms) {
    describe(form.name, () => {
      it('completes in memory and returns pipelined bytes exactly', () => {
        const x = exchange(form.digest, form.scheme);
        assert.equal(x.c0c1[0], 3);
        assert.equal(x.s0s1s2[0], 3);
        assert.deepEqual(x.serverRemainder, PIPELINED);
        assert.deepEqual(x.clientRemainder, SERVER_TAIL);
        assert.equal(x.server.done, true);
        assert.equal(x.client.done, true);
        assert.equal(x.server.digestScheme, form.digest ? form.scheme : null);
        assert.equal(x.client.serverDigest, form.digest);
      });

      it('has the right packet layout', () => {
        const x = exchange(form.digest, form.scheme);
        const c1 = x.c0c1.subarray(1);
        const s1 = x.s0s1s2.subarray(1, 1 + SIZE);
        const s2 = x.s0s1s2.subarray(1 + SIZE);
        assert.equal(s1.readUInt32BE(0), 123456, 'S1 time');
        if (!form.digest) {
          assert.equal(s1.readUInt32BE(4), 0, 'S1 zero field');
          assert.deepEqual(s2, c1, 'S2 echoes C1');
          assert.deepEqual(x.c2, s1, 'C2 echoes S1');
          return;
        }
        assert.notEqual(c1.readUInt32BE(4), 0);
        assert.ok(hasDigest(c1, form.scheme, FP_KEY), 'C1 digest');
        assert.notEqual(s1.readUInt32BE(4), 0, 'S1 version');
        assert.ok(hasDigest(s1, form.scheme, FMS_KEY), 'S1 digest in the same scheme');
        const s2Key = hmac(Buffer.concat([FMS_KEY, SUFFIX]), digestAt(c1, form.scheme));
        assert.deepEqual(s2.subarray(SIZE - 32), hmac(s2Key, s2.subarray(0, SIZE - 32)), 'S2 signature');
        const c2Key = hmac(Buffer.concat([FP_KEY, SUFFIX]), digestAt(s1, form.scheme));
        assert.deepEqual(x.c2.subarray(SIZE - 32), hmac(c2Key, x.c2.subarray(0, SIZE - 32)), 'C2 signature');
      });

      it('server gives the same bytes however C0C1C2 is split', () => {
        const x = exchange(form.digest, form.scheme);
        const input = Buffer.concat([x.c0c1, x.c2, PIPELINED]);
        const make = () => new ServerHandshake({ randomBytes: fixedRandom(2), now });
        for (const { name, pieces } of splits(input)) {
          const r = feed(make, pieces);
          assert.ok(r.done, name);
          assert.ok(r.output.equals(x.s0s1s2), name);
          assert.ok(r.remainder.equals(PIPELINED), name);
        }
      });

      it('client gives the same bytes however S0S1S2 is split', () => {
        const x = exchange(form.digest, form.scheme);
        const input = Buffer.concat([x.s0s1s2, SERVER_TAIL]);
        const make = () => {
          const c = new ClientHandshake({ digest: form.digest, scheme: form.scheme, randomBytes: fixedRandom(1), now });
          c.start();
          return c;
        };
        for (const { name, pieces } of splits(input)) {
          const r = feed(make, pieces);
          assert.ok(r.done, name);
          assert.ok(r.output.equals(x.c2), name);
          assert.ok(r.remainder.equals(SERVER_TAIL), name);
        }
      });
    });
  }

  it('sends S0S1S2 exactly when C0C1 is complete', () => {
    const c0c1 = new ClientHandshake({ randomBytes: fixedRandom(1), now }).start();
    const server = new ServerHandshake({ randomBytes: fixedRandom(2), now });
    assert.deepEqual(server.push(c0c1.subarray(0, 1536)).output, []);
    const r = server.push(c0c1.subarray(1536));
    assert.equal(r.output.length, 1);
    assert.equal(r.done, false);
    assert.equal(r.remainder.length, 0);
  });

  it('a hand-built scheme-1 digest C1 gets a digest S1 that ClientHandshake validates', () => {
    // Build C1 by hand from the published layout: time, non-zero version, random, digest at the
    // scheme-1 offset keyed with the 30-byte Flash Player key.
    const c1 = fixedRandom(7)(SIZE);
    c1.writeUInt32BE(0, 0);
    c1.writeUInt32BE(0x0a000c02, 4);
    const o = offsetOf(c1, 1);
    hmac(FP_KEY, c1.subarray(0, o), c1.subarray(o + 32)).copy(c1, o);
    assert.ok(hasDigest(c1, 1, FP_KEY));
    assert.ok(!hasDigest(c1, 0, FP_KEY));
    const server = new ServerHandshake({ randomBytes: fixedRandom(3), now });
    const r = server.push(Buffer.concat([Buffer.from([3]), c1]));
    assert.equal(server.digestScheme, 1);
    const s0s1s2 = all([r]);
    const s1 = s0s1s2.subarray(1, 1 + SIZE);
    assert.ok(hasDigest(s1, 1, FMS_KEY));
    // ClientHandshake accepts that S1 (its own C1 differs, so only S0+S1 are fed to it); the S2
    // signature is checked against the hand-built C1's digest directly.
    const client = new ClientHandshake({ digest: true, scheme: 1, randomBytes: fixedRandom(1), now });
    client.start();
    const clientResult = client.push(s0s1s2.subarray(0, 1 + SIZE));
    assert.equal(client.serverDigest, true);
    assert.equal(clientResult.output.length, 1);
    const s2 = s0s1s2.subarray(1 + SIZE);
    const key = hmac(Buffer.concat([FMS_KEY, SUFFIX]), digestAt(c1, 1));
    assert.deepEqual(s2.subarray(SIZE - 32), hmac(key, s2.subarray(0, SIZE - 32)));
  });

  it('falls back to the simple form for a C1 with a non-zero version but no valid digest', () => {
    const c1 = fixedRandom(9)(SIZE);
    c1.writeUInt32BE(0x01020304, 4);
    const server = new ServerHandshake({ randomBytes: fixedRandom(3), now });
    const out = all([server.push(Buffer.concat([Buffer.from([3]), c1]))]);
    assert.equal(server.digestScheme, null);
    assert.equal(out.subarray(1).readUInt32BE(4), 0);
    assert.deepEqual(out.subarray(1 + SIZE), c1);
  });

  it('accepts any C2 bytes', () => {
    const server = new ServerHandshake({ randomBytes: fixedRandom(3), now });
    server.push(new ClientHandshake({ randomBytes: fixedRandom(1), now }).start());
    const r = server.push(Buffer.alloc(SIZE, 0xaa));
    assert.equal(r.done, true);
    assert.equal(r.remainder.length, 0);
  });

  it('returns later pushes whole as remainder once done', () => {
    const x = exchange(false);
    const extra = Buffer.from([1, 2, 3]);
    const r = x.server.push(extra);
    assert.equal(r.done, true);
    assert.equal(r.remainder, extra);
  });

  for (const version of [0, 6, 0xff, 0x47, 0x16]) {
    it(`server rejects C0 version ${version} on the first byte`, () => {
      const server = new ServerHandshake();
      assert.throws(
        () => server.push(Buffer.from([version])),
        (error: unknown) => {
          assert.ok(error instanceof RtmpError);
          assert.equal(error.code, 'RTMP_ERR_HANDSHAKE_VERSION');
          assert.match(error.message, new RegExp(`version ${version}\\b`));
          if (version === 6) assert.match(error.message, /RTMPE/);
          return true;
        },
      );
    });
  }

  it('client rejects S0 version 6', () => {
    const client = new ClientHandshake();
    client.start();
    assert.throws(() => client.push(Buffer.from([6])), { code: 'RTMP_ERR_HANDSHAKE_VERSION' });
  });

  it('digest client rejects an S1 that announces a digest but carries none', () => {
    const client = new ClientHandshake({ digest: true, randomBytes: fixedRandom(1), now });
    client.start();
    const s1 = fixedRandom(5)(SIZE);
    s1.writeUInt32BE(0x04050001, 4);
    assert.throws(() => client.push(Buffer.concat([Buffer.from([3]), s1])), { code: 'RTMP_ERR_HANDSHAKE' });
  });

  it('digest client rejects a bad S2 signature', () => {
    const x = exchange(true, 0);
    const bad = Buffer.from(x.s0s1s2);
    bad[bad.length - 1]! ^= 1;
    const client = new ClientHandshake({ digest: true, randomBytes: fixedRandom(1), now });
    client.start();
    assert.throws(() => client.push(bad), { code: 'RTMP_ERR_HANDSHAKE' });
  });

  it('digest client accepts a simple-form server (zero S1 version)', () => {
    const client = new ClientHandshake({ digest: true, randomBytes: fixedRandom(1), now });
    const c0c1 = client.start();
    const s1 = fixedRandom(5)(SIZE);
    s1.writeUInt32BE(0, 4);
    const r = client.push(Buffer.concat([Buffer.from([3]), s1, c0c1.subarray(1)]));
    assert.equal(r.done, true);
    assert.equal(client.serverDigest, false);
    assert.deepEqual(all([r]), s1);
  });

  it('uses the default random source and clock', () => {
    const client = new ClientHandshake({ digest: true });
    const server = new ServerHandshake();
    const out = all([server.push(client.start())]);
    const r = client.push(out);
    assert.equal(r.done, true);
    assert.equal(server.push(all([r])).done, true);
  });
});
