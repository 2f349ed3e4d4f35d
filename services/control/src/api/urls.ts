/**
 * Public base URLs of the cluster, without the app: `rtmp://ingest.example.com` (the edge Service
 * or its load balancer) and, when players use other hosts, the origins' bases. The app and the
 * stream name are appended here.
 */
export interface PublicUrls {
  /** rtmp:// base encoders publish to. */
  rtmp: string;
  /** rtmps:// base encoders publish to over TLS. */
  rtmps?: string | undefined;
  /** rtmp:// base players play from (default: `rtmp`). */
  play?: string | undefined;
  /** rtmps:// base players play from. */
  playRtmps?: string | undefined;
  /** http(s):// base of an HTTP-FLV endpoint: `<base>/<app>/<id>.flv`. */
  httpFlv?: string | undefined;
  /** http(s):// base of an HLS endpoint: `<base>/<app>/<id>/index.m3u8`. */
  hls?: string | undefined;
}

export interface IngestUrls {
  rtmp: string;
  rtmps?: string;
}

export interface PlaybackUrls {
  rtmp: string;
  rtmps?: string;
  httpFlv?: string;
  hls?: string;
}

/** What `{stream_key}` in a URL template stands for (the same placeholder as IngestEndpoint's). */
export const STREAM_KEY_PLACEHOLDER = '{stream_key}';

function join(base: string, ...segments: string[]): string {
  return [base.replace(/\/+$/, ''), ...segments].join('/');
}

/** Ingest URLs of `app`: full URLs when `key` is given, else templates with STREAM_KEY_PLACEHOLDER. */
export function ingestUrls(urls: PublicUrls, app: string, key?: string): IngestUrls {
  const name = key ?? STREAM_KEY_PLACEHOLDER;
  const out: IngestUrls = { rtmp: join(urls.rtmp, encodeURIComponent(app), name) };
  if (urls.rtmps) out.rtmps = join(urls.rtmps, encodeURIComponent(app), name);
  return out;
}

/** Playback URLs of stream `id` (players play by id, never by key), with `?token=` when given. */
export function playbackUrls(urls: PublicUrls, app: string, id: string, token?: string): PlaybackUrls {
  const a = encodeURIComponent(app);
  const s = encodeURIComponent(id);
  const query = token === undefined ? '' : `?token=${encodeURIComponent(token)}`;
  const out: PlaybackUrls = { rtmp: join(urls.play ?? urls.rtmp, a, s) + query };
  if (urls.playRtmps) out.rtmps = join(urls.playRtmps, a, s) + query;
  if (urls.httpFlv) out.httpFlv = join(urls.httpFlv, a, `${s}.flv`) + query;
  if (urls.hls) out.hls = join(urls.hls, a, s, 'index.m3u8') + query;
  return out;
}

/** The server part of an rtmp URL template (OBS's "Server" field): the template without `/{stream_key}`. */
export function serverUrl(template: string): string {
  const suffix = `/${STREAM_KEY_PLACEHOLDER}`;
  return template.endsWith(suffix) ? template.slice(0, -suffix.length) : template.replace(STREAM_KEY_PLACEHOLDER, '').replace(/\/+$/, '');
}
