/**
 * Helpers for the auth and control tests in this directory: secrets in files (the way a mounted
 * Kubernetes Secret holds them), a small client for control's HTTP API, ffmpeg publishers that
 * wait for the server's verdict, a reader of what a JetStream KV bucket holds at rest, a local
 * node:http receiver (auth webhook, webhooks out, JWKS), JWTs made with node:crypto, Prometheus
 * text parsing, and the secret-leak grep.
 *
 * Everything here talks to real processes: the `firstmile` command (test/harness/server.ts),
 * nats-server, ffmpeg and the HTTP API the server serves. Nothing is mocked.
 */
import { createHmac, randomBytes, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { streamIdForName } from '@firstmile/bus';
import { connect } from '@nats-io/transport-node';
import type { Delivery, KickedSession, LiveStream, StreamResource } from '@firstmile/control';
import { ffmpegPublishFile, type ProcessResult, type RunningProcess } from '../harness/media.ts';
import type { LogLine, ServerProcess } from '../harness/server.ts';

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

export interface SecretFile {
  path: string;
  value: string;
}

/** Writes a random secret (or `value`) with a trailing newline, as `kubectl create secret` files often have. */
export function writeSecret(dir: string, name: string, value = randomBytes(24).toString('base64url')): SecretFile {
  const path = join(dir, name);
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  return { path, value };
}

// ---------------------------------------------------------------------------------------------
// Control's HTTP API
// ---------------------------------------------------------------------------------------------

export interface ApiResponse<T> {
  status: number;
  body: T;
}

/** The create answer: the only place the key appears. */
export type StreamWithKey = StreamResource & { streamKey: string };
export type RotatedStream = StreamWithKey & { previousKeyExpiresAt: string | null };
export interface RevokeResult {
  stream: StreamResource;
  kicked: KickedSession[];
}
export interface PlaybackToken {
  token: string;
  expiresAt: string;
  playback: { rtmp: string; rtmps?: string };
}
export interface ApiErrorBody {
  error: { code: string; message: string };
}

/** Bearer-token client of control's /v1 API on http://127.0.0.1:<port>. Throws on an unexpected status. */
export class ControlClient {
  readonly base: string;
  readonly #token: string | undefined;

  constructor(httpPort: number, token: string | undefined) {
    this.base = `http://127.0.0.1:${httpPort}`;
    this.#token = token;
  }

  /** `token`: null sends no Authorization header; undefined sends the client's token. */
  async request<T>(method: string, path: string, body?: unknown, token?: string | null): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = {};
    const bearer = token === undefined ? this.#token : token;
    if (bearer !== null && bearer !== undefined) headers['authorization'] = `Bearer ${bearer}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
  }

  async expect<T>(status: number, method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request<T>(method, path, body);
    if (res.status !== status) throw new Error(`${method} ${path}: HTTP ${res.status} (expected ${status}): ${JSON.stringify(res.body)}`);
    return res.body;
  }

  createStream(body: { name?: string; playbackPolicy?: 'public' | 'signed'; metadata?: Record<string, string> } = {}): Promise<StreamWithKey> {
    return this.expect<StreamWithKey>(201, 'POST', '/v1/streams', body);
  }

  getStream(id: string): Promise<StreamResource> {
    return this.expect<StreamResource>(200, 'GET', `/v1/streams/${id}`);
  }

  rotateKey(id: string, overlapSeconds?: number): Promise<RotatedStream> {
    return this.expect<RotatedStream>(200, 'POST', `/v1/streams/${id}/rotate-key`, overlapSeconds === undefined ? {} : { overlapSeconds });
  }

  revoke(id: string): Promise<RevokeResult> {
    return this.expect<RevokeResult>(200, 'POST', `/v1/streams/${id}/revoke`, {});
  }

  playbackToken(id: string, ttlSeconds?: number): Promise<PlaybackToken> {
    return this.expect<PlaybackToken>(200, 'POST', `/v1/streams/${id}/playback-token`, ttlSeconds === undefined ? {} : { ttlSeconds });
  }

  async live(): Promise<LiveStream[]> {
    return (await this.expect<{ data: LiveStream[] }>(200, 'GET', '/v1/live')).data;
  }

  async deliveries(): Promise<Delivery[]> {
    return (await this.expect<{ data: Delivery[]; dropped: number }>(200, 'GET', '/v1/webhooks/deliveries')).data;
  }
}

/** Polls `get` until `accept` holds for its value; rejects after timeoutMs with the last value. */
export async function pollUntil<T>(get: () => Promise<T>, accept: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError = '';
  for (;;) {
    try {
      last = await get();
      if (accept(last)) return last;
    } catch (error) {
      lastError = (error as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)} ${lastError}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------------------------------------
// Publishing and the server's verdict
// ---------------------------------------------------------------------------------------------

/** The bus stream id of a play name: what the server's logs carry as `stream` (never the key). */
export function busStreamId(app: string, playName: string): string {
  return streamIdForName(app, playName);
}

/** A position in a server's log, so a test reads only what its own action caused. */
export function logMark(server: ServerProcess): number {
  return server.logs.length;
}

/** The first log line after `mark` that matches, waiting up to timeoutMs. */
export function waitForLogAfter(server: ServerProcess, mark: number, match: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
  const before = new Set(server.logs.slice(0, mark));
  return server.waitForLog((line) => !before.has(line) && match(line), timeoutMs);
}

export type PublishOutcome =
  | { accepted: true; publisher: RunningProcess; started: LogLine }
  | { accepted: false; result: ProcessResult; refusal: LogLine | undefined };

/**
 * Starts `ffmpeg -re -i file -c copy -f flv url` and resolves once the server decided: accepted
 * (the server logged 'publish started' for `streamId`; ffmpeg keeps running) or refused (ffmpeg
 * exited; the refusal log line after `mark`, if any, is returned).
 */
export async function publishAndWait(
  server: ServerProcess,
  file: string,
  url: string,
  streamId: string | undefined,
  options: { timeoutMs?: number; outputArgs?: string[] } = {},
): Promise<PublishOutcome> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const mark = logMark(server);
  const publisher = ffmpegPublishFile(file, url, { timeoutMs: 120_000, outputArgs: options.outputArgs });
  const started = waitForLogAfter(server, mark, (l) => l.msg === 'publish started' && (streamId === undefined || l['stream'] === streamId), timeoutMs);
  started.catch(() => {});
  const outcome = await Promise.race([
    started.then((line) => ({ kind: 'started' as const, line })),
    publisher.result.then((result) => ({ kind: 'exited' as const, result })),
  ]);
  if (outcome.kind === 'started') return { accepted: true, publisher, started: outcome.line };
  // The server's log line can reach us after ffmpeg has exited (stdout is a pipe): wait for it a little.
  const refusal = await waitForLogAfter(server, mark, (l) => typeof l.msg === 'string' && l.msg.startsWith('refusing publish'), 2000).catch(() => undefined);
  return { accepted: false, result: outcome.result, refusal };
}

// ---------------------------------------------------------------------------------------------
// JetStream, read around the code under test
// ---------------------------------------------------------------------------------------------

export interface StoredMessage {
  subject: string;
  seq: number;
  data: Buffer;
}

/**
 * Every message still stored in the KV bucket `bucket` (stream `KV_<bucket>`), read with the raw
 * JetStream API ($JS.API.STREAM.INFO, then $JS.API.STREAM.MSG.GET by sequence): what is at rest,
 * history and delete markers included. At most `max` messages.
 */
export async function kvStoredMessages(url: string, bucket: string, max = 10_000): Promise<StoredMessage[]> {
  const nc = await connect({ servers: url, timeout: 2000, reconnect: false });
  try {
    const stream = `KV_${bucket}`;
    const info = (await nc.request(`$JS.API.STREAM.INFO.${stream}`, '', { timeout: 2000 })).json<{ state?: { first_seq: number; last_seq: number }; error?: unknown }>();
    if (!info.state) throw new Error(`stream info ${stream}: ${JSON.stringify(info.error ?? info)}`);
    const out: StoredMessage[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && out.length < max; seq++) {
      const r = (await nc.request(`$JS.API.STREAM.MSG.GET.${stream}`, JSON.stringify({ seq }), { timeout: 2000 })).json<{ message?: { subject: string; seq: number; data?: string } }>();
      // A purged or deleted sequence answers an error: there is nothing at rest there.
      if (r.message) out.push({ subject: r.message.subject, seq: r.message.seq, data: Buffer.from(r.message.data ?? '', 'base64') });
    }
    return out;
  } finally {
    await nc.close().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// A local HTTP receiver (auth webhooks, webhooks out, JWKS)
// ---------------------------------------------------------------------------------------------

export interface ReceivedRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The raw body bytes as text (signatures are over these, not a re-serialization). */
  body: string;
  at: number;
}

export interface HttpReceiver {
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly base: string;
  readonly requests: ReceivedRequest[];
  close(): Promise<void>;
}

/** Largest request body the receiver reads: firstmile's bodies are small JSON documents. */
const MAX_RECEIVER_BODY = 1024 * 1024;

/**
 * A real node:http server on a free loopback port. Every request is recorded (body read whole,
 * capped), then `answer` writes the response.
 */
export async function startHttpReceiver(answer: (request: ReceivedRequest, res: ServerResponse) => void): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_RECEIVER_BODY) {
        res.writeHead(413).end();
        req.destroy();
        return;
      }
      chunks.push(d);
    });
    req.on('end', () => {
      const r: ReceivedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      requests.push(r);
      answer(r, res);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    base: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Answers with a JSON body. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

// ---------------------------------------------------------------------------------------------
// Prometheus text
// ---------------------------------------------------------------------------------------------

/** Sum of the samples of `name` whose labels include `labels` (0 when there is none). */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const pair of (m[2] ?? '').slice(1, -1).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[pair[1]!] = pair[2]!;
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

export async function scrape(httpPort: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
  return res.text();
}

// ---------------------------------------------------------------------------------------------
// Tokens and leaks
// ---------------------------------------------------------------------------------------------

/**
 * A JWT made with node:crypto alone (RFC 7515 compact serialization), so the tokens the server
 * checks are not made by the library that checks them. HS256 takes a secret, RS256 a private key;
 * `none` makes an unsigned token (which the server must refuse).
 */
export function signJwt(
  alg: 'HS256' | 'RS256' | 'none',
  key: string | KeyObject | undefined,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${b64({ alg, typ: 'JWT', ...header })}.${b64(claims)}`;
  if (alg === 'none') return `${input}.`;
  if (key === undefined) throw new Error(`${alg} needs a key`);
  const signature = alg === 'HS256'
    ? createHmac('sha256', typeof key === 'string' ? key : key.export()).update(input).digest()
    : cryptoSign('sha256', Buffer.from(input), key as KeyObject);
  return `${input}.${signature.toString('base64url')}`;
}

/** Throws, with the surrounding text, if any of `secrets` appears in `output`. */
export function assertNoSecrets(output: string, secrets: Iterable<string>, what = "the server's output"): void {
  for (const s of secrets) {
    if (s.length < 8) throw new Error(`refusing to grep for a short string (${s.length} chars): it would prove nothing`);
    const at = output.indexOf(s);
    if (at >= 0) throw new Error(`a secret (${s.slice(0, 6)}…) appears in ${what}: …${output.slice(Math.max(0, at - 300), at + 80)}`);
  }
}
