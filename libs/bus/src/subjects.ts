import { createHash } from 'node:crypto';
import { BusError } from './bus.ts';

/**
 * Subject layout. Every stream subject is `fm.<kind>.<app>.<streamId>`, so a NATS user can be
 * limited to one app (`fm.*.live.>`) and an origin can watch every stream of an app with one
 * wildcard. Stream ids are never stream keys: a key is a secret and subjects are visible to every
 * NATS client with subscribe rights, to monitoring endpoints and to logs.
 *
 *   fm.media.<app>.<streamId>  media frames of one live stream, edge -> origins (frame.ts)
 *   fm.init.<app>.<streamId>   request: an origin asks the owning edge for the stream's init
 *                              snapshot (metadata, sequence headers, current GOP); the frames go
 *                              to an inbox named in the request, the reply counts them
 *   fm.ctl.<app>.<streamId>    request: to whichever edge publishes the stream now ({op:'ping'}
 *                              answers {edge, epoch}); no responders means nobody does
 */
export const SUBJECT_PREFIX = 'fm';

export function mediaSubject(app: string, streamId: string): string {
  return `${SUBJECT_PREFIX}.media.${encodeSubjectToken(app)}.${encodeSubjectToken(streamId)}`;
}

export function controlSubject(app: string, streamId: string): string {
  return `${SUBJECT_PREFIX}.ctl.${encodeSubjectToken(app)}.${encodeSubjectToken(streamId)}`;
}

export function initSubject(app: string, streamId: string): string {
  return `${SUBJECT_PREFIX}.init.${encodeSubjectToken(app)}.${encodeSubjectToken(streamId)}`;
}

const SAFE_TOKEN = /^[A-Za-z0-9_-]+$/;

/**
 * NATS subject tokens cannot hold '.', '*', '>' or whitespace; RTMP app names can. Bytes outside
 * [A-Za-z0-9_-] become `=XX`: reversible, readable for plain names, and valid in JetStream KV keys
 * too (which allow only [-/_=.a-zA-Z0-9]), so one encoding serves subjects and the stream index.
 */
export function encodeSubjectToken(value: string): string {
  if (value.length === 0) return '=';
  if (SAFE_TOKEN.test(value)) return value;
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `=${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/**
 * The stream id of a published name when no control service assigns ids (auth mode `none`):
 * a truncated SHA-256, so the name, which may be someone's real key, never reaches a subject or
 * a log line.
 */
export function streamIdForName(app: string, name: string): string {
  return createHash('sha256').update(app).update('\u0000').update(name).digest('hex').slice(0, 24);
}

export function subjectMatches(pattern: readonly string[], subject: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === '>') return subject.length > i;
    if (i >= subject.length) return false;
    if (p !== '*' && p !== subject[i]) return false;
  }
  return pattern.length === subject.length;
}

function assertTokens(subject: string, wildcards: boolean): void {
  if (subject.length === 0 || subject.length > 1024) {
    throw new BusError('BUS_ERR_BAD_SUBJECT', 'subject must be 1..1024 characters');
  }
  const tokens = subject.split('.');
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.length === 0 || /\s/.test(t)) throw new BusError('BUS_ERR_BAD_SUBJECT', `bad subject ${JSON.stringify(subject)}`);
    const wild = t === '*' || t === '>';
    if (wild && !wildcards) throw new BusError('BUS_ERR_BAD_SUBJECT', `wildcard in publish subject ${subject}`);
    if (t === '>' && i !== tokens.length - 1) throw new BusError('BUS_ERR_BAD_SUBJECT', `'>' must be last in ${subject}`);
    if (!wild && (t.includes('*') || t.includes('>'))) throw new BusError('BUS_ERR_BAD_SUBJECT', `bad subject ${subject}`);
  }
}

export function assertPublishSubject(subject: string): void {
  assertTokens(subject, false);
}

export function assertSubscribeSubject(subject: string): void {
  assertTokens(subject, true);
}
