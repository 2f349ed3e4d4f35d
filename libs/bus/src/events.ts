/**
 * Cluster messages that are not media: JSON on plain subjects, at-most-once like everything on the
 * bus. Losing one is tolerable by design: heartbeats repeat, stream events are also visible in the
 * stream index, auth failures only feed a rate limit.
 *
 *   fm.evt.stream           StreamEvent: an edge started or ended a publisher session
 *   fm.hb.edge              EdgeHeartbeat: every edge, every heartbeatMs (routing, capacity, /v1/live)
 *   fm.hb.origin            OriginHeartbeat: every origin, every heartbeatMs (viewers per stream)
 *   fm.auth.fail            AuthFailure: a refused publish; every edge counts them per client IP
 *   fm.ctl.<app>.<streamId> (subjects.ts) also takes {op:'kick', reason} from control: revoke/kick
 *   fm.keys.changed         KeysChanged: control changed a stream's keys; edges drop cached decisions
 */
import { SUBJECT_PREFIX } from './subjects.ts';

export const STREAM_EVENT_SUBJECT = `${SUBJECT_PREFIX}.evt.stream`;
export const EDGE_HEARTBEAT_SUBJECT = `${SUBJECT_PREFIX}.hb.edge`;
export const ORIGIN_HEARTBEAT_SUBJECT = `${SUBJECT_PREFIX}.hb.origin`;
export const AUTH_FAILURE_SUBJECT = `${SUBJECT_PREFIX}.auth.fail`;
export const KEYS_CHANGED_SUBJECT = `${SUBJECT_PREFIX}.keys.changed`;

export interface StreamEvent {
  type: 'stream.started' | 'stream.ended' | 'stream.health_changed';
  app: string;
  /** The play name: the control service's stream id in `keys` mode, else the published name without its query. */
  stream: string;
  /** The bus stream id (streamIdForName(app, stream)). */
  streamId: string;
  edge: string;
  epoch: number;
  /** ISO time. */
  at: string;
  video?: string | undefined;
  audio?: string | undefined;
  /** stream.ended only. */
  reason?: 'unpublished' | 'dropped' | 'kicked' | 'revoked' | undefined;
  /** stream.health_changed only: the new and previous states. */
  health?: StreamHealthState | undefined;
  previousHealth?: StreamHealthState | undefined;
}

/** See docs/metrics.md for the thresholds. */
export type StreamHealthState = 'healthy' | 'degraded' | 'starving' | 'offline';

export interface EdgeHeartbeat {
  edge: string;
  /** Region and zone when known (Kubernetes topology labels or FIRSTMILE_REGION/ZONE). */
  region?: string | undefined;
  zone?: string | undefined;
  /** Host:port or URL hints an operator configured for this edge (outside Kubernetes). */
  rtmpUrl?: string | undefined;
  rtmpsUrl?: string | undefined;
  connections: number;
  maxConnections: number;
  publishers: number;
  /** Bits per second received from encoders, averaged over the last heartbeat interval. */
  ingestBps: number;
  /** Fraction of one core used by this process over the last interval (0..n). */
  cpu: number;
  draining: boolean;
  /** Per live stream on this edge: bitrate and start time, for /v1/live. */
  streams: {
    app: string;
    stream: string;
    streamId: string;
    since: string;
    ingestBps: number;
    video?: string | undefined;
    audio?: string | undefined;
    health?: StreamHealthState | undefined;
  }[];
  at: string;
}

export interface OriginHeartbeat {
  origin: string;
  region?: string | undefined;
  players: number;
  draining: boolean;
  /** Viewers per live stream on this origin. */
  streams: { app: string; streamId: string; viewers: number }[];
  at: string;
}

export interface AuthFailure {
  ip: string;
  app: string;
  mode: string;
  edge: string;
  at: string;
}

export interface KeysChanged {
  /** Control's stream id whose keys changed (rotated, revoked, deleted). */
  id: string;
  at: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Parses a JSON message from the bus; undefined (never a throw) for anything malformed. */
export function decodeJson<T>(data: Uint8Array, isValid: (value: unknown) => value is T): T | undefined {
  try {
    const value: unknown = JSON.parse(decoder.decode(data));
    return isValid(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
