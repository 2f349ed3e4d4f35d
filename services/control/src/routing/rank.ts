import { haversineKm, type LatLon } from '../geo/distance.ts';
import type { EdgeInfo } from './edge-source.ts';
import type { EdgeLoad } from './load-view.ts';
import type { RegionConfig } from './regions.ts';
import type { IngestEndpoint } from './types.ts';

/** An edge joined with its latest heartbeat (undefined when none is fresh). */
export interface RoutableEdge extends EdgeInfo {
  load: Pick<EdgeLoad, 'connections' | 'maxConnections' | 'cpu' | 'draining' | 'region' | 'rtmpUrl' | 'rtmpsUrl'> | undefined;
}

/**
 * What an endpoint stands for. `region`: one endpoint per configured region, reached through the
 * region's ingest hostname (Kubernetes, where pods sit behind a load balancer). `edge`: one
 * endpoint per edge, reached at the URL it announces (bare processes, `firstmile up`).
 */
export type RoutingMode = 'region' | 'edge';

export interface RankInput {
  mode: RoutingMode;
  /** The RTMP application the URL templates name. */
  app: string;
  regions: readonly RegionConfig[];
  edges: readonly RoutableEdge[];
  /** The caller's region (explicit hint, or the region nearest its IP): ranked first. */
  callerRegion?: string | undefined;
  /** The caller's location; without it, endpoints are ranked by spare capacity only. */
  callerLocation?: LatLon | undefined;
  /**
   * rtmp:// base URL for edges no region or announced URL covers (`region` mode: edges without a
   * configured region; `edge` mode: edges that announce no URL). Unset: such edges are not offered.
   */
  fallbackRtmpUrl?: string | undefined;
  fallbackRtmpsUrl?: string | undefined;
  /**
   * CPU (fraction of one core) at which an edge counts as full. An edge is one Node.js event loop,
   * so it saturates near one core whatever the machine has. Default 0.9.
   */
  cpuFullThreshold?: number | undefined;
  /** Longest list returned. Default 10. */
  maxEndpoints?: number | undefined;
}

export const DEFAULT_CPU_FULL_THRESHOLD = 0.9;
export const DEFAULT_MAX_ENDPOINTS = 10;

interface Group {
  id: string;
  region: string | undefined;
  location: LatLon | undefined;
  rtmpBase: string;
  rtmpsBase: string | undefined;
  edges: number;
  /** Σ maxConnections over the usable edges. */
  capacity: number;
  /** Σ (1 - edge load) × maxConnections: connections the endpoint can still take. */
  spare: number;
}

/**
 * The ingest list for one caller, best first. An edge counts when the platform has it ready, it
 * is not draining (by the platform or by its own heartbeat), it has a fresh heartbeat (an edge that
 * cannot reach the bus cannot ingest), and it is not full (connections at maxConnections, or CPU at
 * the threshold). Endpoints without such an edge are dropped. Order: the caller's own region
 * first, then by great-circle distance from the caller (unknown distances last), then by spare
 * capacity, then by id, so equal inputs always give the same list.
 */
export function rankIngests(input: RankInput): IngestEndpoint[] {
  const cpuFull = input.cpuFullThreshold ?? DEFAULT_CPU_FULL_THRESHOLD;
  const regions = new Map(input.regions.map((r) => [r.name, r]));
  const groups = new Map<string, Group>();

  for (const edge of input.edges) {
    const l = edge.load;
    if (!edge.ready || edge.draining || !l || l.draining) continue;
    if (!(l.maxConnections > 0) || l.connections >= l.maxConnections || l.cpu >= cpuFull) continue;
    const place = placeOf(edge, input, regions);
    if (!place) continue;
    const edgeLoad = Math.min(1, Math.max(l.connections / l.maxConnections, l.cpu / cpuFull));
    let g = groups.get(place.id);
    if (!g) {
      g = { ...place, edges: 0, capacity: 0, spare: 0 };
      groups.set(place.id, g);
    }
    g.edges++;
    g.capacity += l.maxConnections;
    g.spare += (1 - edgeLoad) * l.maxConnections;
  }

  const app = encodeURIComponent(input.app);
  const ranked = [...groups.values()].map((g) => ({
    g,
    distanceKm: input.callerLocation && g.location ? haversineKm(input.callerLocation, g.location) : undefined,
  }));
  ranked.sort((a, b) => {
    const own = Number(isOwn(b.g, input.callerRegion)) - Number(isOwn(a.g, input.callerRegion));
    if (own !== 0) return own;
    if (a.distanceKm !== b.distanceKm) {
      if (a.distanceKm === undefined) return 1;
      if (b.distanceKm === undefined) return -1;
      return a.distanceKm - b.distanceKm;
    }
    if (a.g.spare !== b.g.spare) return b.g.spare - a.g.spare;
    return a.g.id < b.g.id ? -1 : a.g.id > b.g.id ? 1 : 0;
  });

  return ranked.slice(0, input.maxEndpoints ?? DEFAULT_MAX_ENDPOINTS).map(({ g, distanceKm }) => ({
    id: g.id,
    region: g.region,
    urlTemplate: `${g.rtmpBase}/${app}/{stream_key}`,
    urlTemplateSecure: g.rtmpsBase === undefined ? undefined : `${g.rtmpsBase}/${app}/{stream_key}`,
    // Capacity-weighted mean of the edges' loads: what a new connection through this endpoint's
    // load balancer meets on average.
    load: round3(g.capacity > 0 ? 1 - g.spare / g.capacity : 1),
    edges: g.edges,
    distanceKm: distanceKm === undefined ? undefined : Math.round(distanceKm),
  }));
}

function isOwn(g: Group, callerRegion: string | undefined): boolean {
  return callerRegion !== undefined && g.region === callerRegion;
}

function placeOf(edge: RoutableEdge, input: RankInput, regions: ReadonlyMap<string, RegionConfig>): Omit<Group, 'edges' | 'capacity' | 'spare'> | undefined {
  const regionName = edge.region ?? edge.load?.region;
  const region = regionName === undefined ? undefined : regions.get(regionName);
  const location = region ? { lat: region.lat, lon: region.lon } : undefined;
  if (input.mode === 'region') {
    if (region) {
      return {
        id: region.ingestHost,
        region: region.name,
        location,
        rtmpBase: `rtmp://${region.ingestHost}`,
        rtmpsBase: region.ingestHostSecure === undefined ? undefined : `rtmps://${region.ingestHostSecure}`,
      };
    }
    // No region label, or a region nobody configured a hostname for: the cluster-wide ingest.
    if (input.fallbackRtmpUrl === undefined) return undefined;
    return { id: hostOf(input.fallbackRtmpUrl), region: undefined, location: undefined, rtmpBase: trimSlash(input.fallbackRtmpUrl), rtmpsBase: input.fallbackRtmpsUrl === undefined ? undefined : trimSlash(input.fallbackRtmpsUrl) };
  }
  const rtmp = edge.load?.rtmpUrl ?? input.fallbackRtmpUrl;
  if (rtmp === undefined) return undefined;
  const rtmps = edge.load?.rtmpsUrl ?? (edge.load?.rtmpUrl === undefined ? input.fallbackRtmpsUrl : undefined);
  return { id: edge.id, region: regionName, location, rtmpBase: baseUrl(rtmp, 'rtmp'), rtmpsBase: rtmps === undefined ? undefined : baseUrl(rtmps, 'rtmps') };
}

/** Heartbeats carry `host:port` or a full URL; templates need the URL. */
function baseUrl(hint: string, scheme: 'rtmp' | 'rtmps'): string {
  return trimSlash(/^rtmps?:\/\//.test(hint) ? hint : `${scheme}://${hint}`);
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function hostOf(url: string): string {
  return url.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
}

function round3(x: number): number {
  return Math.round(Math.min(1, Math.max(0, x)) * 1000) / 1000;
}
