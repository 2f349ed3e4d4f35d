/**
 * Publish and play names carry credentials in their query: ffmpeg's `rtmp://h/app/name?token=..`
 * sends `name?token=..` as the publish name, while other encoders only keep the query on the
 * connect command's tcUrl. Both are peer-controlled strings, so both are capped before parsing.
 */

/** Longest publish/play name or tcUrl accepted (query included); RTMP allows far more. */
export const MAX_STREAM_NAME_LENGTH = 4096;
/** Most query parameters accepted in one name or tcUrl. */
export const MAX_QUERY_PARAMS = 32;

export interface ParsedStreamName {
  /** The name without its query: the stream key, a stream id, or the operator's stream name. */
  base: string;
  query: URLSearchParams;
}

/**
 * Splits `base?query`. Undefined when the name is over MAX_STREAM_NAME_LENGTH, has more than
 * MAX_QUERY_PARAMS parameters, or has an empty base: callers deny, never guess.
 */
export function parseStreamName(name: string): ParsedStreamName | undefined {
  if (typeof name !== 'string' || name.length > MAX_STREAM_NAME_LENGTH) return undefined;
  const q = name.indexOf('?');
  const base = q === -1 ? name : name.slice(0, q);
  if (base.length === 0) return undefined;
  const query = parseQuery(q === -1 ? '' : name.slice(q + 1));
  return query ? { base, query } : undefined;
}

/** The query of a tcUrl (`rtmp://host/app?sig=..`); empty when it has none, undefined when over the caps. */
export function parseTcUrlQuery(tcUrl: string | undefined): URLSearchParams | undefined {
  if (tcUrl === undefined) return new URLSearchParams();
  if (typeof tcUrl !== 'string' || tcUrl.length > MAX_STREAM_NAME_LENGTH) return undefined;
  const q = tcUrl.indexOf('?');
  return parseQuery(q === -1 ? '' : tcUrl.slice(q + 1));
}

function parseQuery(text: string): URLSearchParams | undefined {
  if (text.length === 0) return new URLSearchParams();
  // Counting separators first keeps URLSearchParams from building a huge list we then reject.
  let params = 1;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 0x26 /* & */) params++;
  if (params > MAX_QUERY_PARAMS) return undefined;
  return new URLSearchParams(text);
}

/** A publish or play request's credentials: the name's query, then the tcUrl's for what it lacks. */
export interface RequestParams {
  base: string;
  /** The first value of `name`, from the stream name's query, else from the tcUrl's. */
  get(name: string): string | undefined;
  /** All parameters, first value each, the stream name's winning over the tcUrl's. */
  toObject(): Record<string, string>;
}

/** Parses a request's name and tcUrl together; undefined when either is over the caps. */
export function requestParams(name: string, tcUrl?: string): RequestParams | undefined {
  const parsed = parseStreamName(name);
  const tc = parseTcUrlQuery(tcUrl);
  if (!parsed || !tc) return undefined;
  return {
    base: parsed.base,
    get: (param) => parsed.query.get(param) ?? tc.get(param) ?? undefined,
    toObject: () => {
      // No prototype: a parameter named `__proto__` or `constructor` is just a parameter.
      const out = Object.create(null) as Record<string, string>;
      for (const [k, v] of parsed.query) if (!(k in out)) out[k] = v;
      for (const [k, v] of tc) if (!(k in out)) out[k] = v;
      return out;
    },
  };
}
