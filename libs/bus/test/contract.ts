import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BusError, FrameAssembler, decodeFrame, encodeFrame, FrameKind, type Bus, type BusMessage, type Frame } from '../src/index.ts';

const enc = (s: string): Uint8Array => Buffer.from(s);
const dec = (m: BusMessage): string => Buffer.from(m.data).toString();

/** Waits until `check` holds, polling; the bus is asynchronous by contract. */
export async function eventually(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * What every Bus implementation promises, run against MemoryBus here and against a real
 * nats-server in test/: the services are written against this and nothing more.
 */
export function busContract(label: string, open: () => Promise<{ a: Bus; b: Bus; close: () => Promise<void> }>): void {
  test(`${label}: delivers asynchronously and in order, honouring * and > wildcards across connections`, async (t) => {
    const { a, b, close } = await open();
    t.after(close);
    const got: string[] = [];
    b.subscribe('fm.media.*.s1', (m) => got.push(`star:${dec(m)}`));
    b.subscribe('fm.>', (m) => got.push(`gt:${dec(m)}`));
    b.subscribe('fm.media.live.s2', (m) => got.push(`other:${dec(m)}`));
    await b.flush();
    a.publish('fm.media.live.s1', enc('a'));
    a.publish('fm.media.live.s1', enc('b'));
    assert.equal(got.length, 0, 'nothing delivered synchronously');
    await a.flush();
    await eventually(() => got.length === 4);
    assert.deepEqual(got.filter((g) => g.startsWith('star')), ['star:a', 'star:b']);
    assert.deepEqual(got.filter((g) => g.startsWith('gt')), ['gt:a', 'gt:b']);
  });

  test(`${label}: request() gets a reply, times out, or fails fast with no responders`, async (t) => {
    const { a, b, close } = await open();
    t.after(close);
    await assert.rejects(a.request('svc.nobody', enc('x'), { timeoutMs: 1000 }), (e: unknown) => e instanceof BusError && e.code === 'BUS_ERR_NO_RESPONDERS');
    b.subscribe('svc.echo', (m) => b.publish(m.reply!, enc(`re:${dec(m)}`)));
    b.subscribe('svc.silent', () => {});
    await b.flush();
    assert.equal(dec(await a.request('svc.echo', enc('x'), { timeoutMs: 2000 })), 're:x');
    await assert.rejects(a.request('svc.silent', enc('x'), { timeoutMs: 50 }), (e: unknown) => e instanceof BusError && e.code === 'BUS_ERR_TIMEOUT');
  });

  test(`${label}: headers travel with publishes and requests (trace context crosses the bus)`, async (t) => {
    const { a, b, close } = await open();
    t.after(close);
    const seen: (Readonly<Record<string, string>> | undefined)[] = [];
    b.subscribe('svc.hdr', (m) => {
      seen.push(m.headers);
      if (m.reply) b.publish(m.reply, enc('ok'), { headers: { 'x-answer': m.headers?.['traceparent'] ?? 'none' } });
    });
    await b.flush();
    a.publish('svc.hdr', enc('p'), { headers: { traceparent: '00-abc-def-01' } });
    const reply = await a.request('svc.hdr', enc('r'), { timeoutMs: 2000, headers: { traceparent: '00-123-456-01' } });
    assert.equal(reply.headers?.['x-answer'], '00-123-456-01');
    await eventually(() => seen.length === 2);
    assert.equal(seen[0]?.['traceparent'], '00-abc-def-01');
  });

  test(`${label}: a queue group delivers each message to exactly one member`, async (t) => {
    const { a, b, close } = await open();
    t.after(close);
    const counts = [0, 0];
    b.subscribe('q.x', () => counts[0]!++, { queue: 'g' });
    b.subscribe('q.x', () => counts[1]!++, { queue: 'g' });
    await b.flush();
    for (let i = 0; i < 50; i++) a.publish('q.x', enc(''));
    await a.flush();
    await eventually(() => counts[0]! + counts[1]! === 50);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(counts[0]! + counts[1]!, 50);
  });

  test(`${label}: refuses payloads over maxPayload and subjects that are not NATS subjects`, async (t) => {
    const { a, close } = await open();
    t.after(close);
    assert.throws(() => a.publish('a.b', new Uint8Array(a.maxPayload + 1)), (e: unknown) => e instanceof BusError && e.code === 'BUS_ERR_MAX_PAYLOAD');
    for (const s of ['', 'a..b', 'a.*', 'a.>', 'a b']) {
      assert.throws(() => a.publish(s, new Uint8Array(1)), (e: unknown) => e instanceof BusError && e.code === 'BUS_ERR_BAD_SUBJECT', s);
    }
  });

  test(`${label}: unsubscribe() stops deliveries; inboxes are unique`, async (t) => {
    const { a, b, close } = await open();
    t.after(close);
    let n = 0;
    const sub = b.subscribe('t.u', () => n++);
    await b.flush();
    a.publish('t.u', enc(''));
    await a.flush();
    await eventually(() => n === 1);
    sub.unsubscribe();
    await b.flush();
    a.publish('t.u', enc(''));
    await a.flush();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(n, 1);
    assert.notEqual(a.createInbox(), a.createInbox());
  });

  test(`${label}: a frame larger than maxPayload crosses the bus fragmented and is reassembled exactly`, async (t) => {
    const { a, b, close } = await open();
    t.after(close);
    const payload = Buffer.alloc(a.maxPayload * 2 + 12345).map((_, i) => (i * 7) & 0xff);
    const asm = new FrameAssembler(16 * 1024 * 1024);
    let got: Frame | undefined;
    b.subscribe('fm.media.live.big', (m) => {
      got = asm.push(decodeFrame(m.data)) ?? got;
    });
    await b.flush();
    for (const part of encodeFrame({ kind: FrameKind.Media, messageType: 9, flags: 1, epoch: 1, seq: 1, timestamp: 0, payload }, a.maxPayload)) {
      a.publish('fm.media.live.big', part);
    }
    await a.flush();
    await eventually(() => got !== undefined, 5000);
    assert.ok(Buffer.from(got!.payload).equals(payload));
  });
}
