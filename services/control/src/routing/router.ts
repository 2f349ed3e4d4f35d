import { nearest, type LatLon } from '../geo/distance.ts';
import type { GeoLocator } from '../geo/geo-locator.ts';
import type { EdgeSource } from './edge-source.ts';
import type { LoadView } from './load-view.ts';
import { rankIngests, type RoutableEdge, type RoutingMode } from './rank.ts';
import type { RegionConfig } from './regions.ts';
import type { Caller, IngestEndpoint, IngestRouter } from './types.ts';

export interface IngestRankerOptions {
  /** Kubernetes endpoints, or heartbeats alone outside Kubernetes. */
  edges: EdgeSource;
  /** Latest heartbeat per edge (load, draining, announced URLs). */
  load: LoadView;
  regions: readonly RegionConfig[];
  /** `region` with Kubernetes (one endpoint per region hostname), `edge` without. */
  mode: RoutingMode;
  /** Absent: callers are placed by their `?region=` hint only. */
  geo?: GeoLocator | undefined;
  /** See RankInput.fallbackRtmpUrl (FIRSTMILE_PUBLIC_RTMP_URL). */
  fallbackRtmpUrl?: string | undefined;
  fallbackRtmpsUrl?: string | undefined;
  /** See RankInput.cpuFullThreshold. Default 0.9. */
  cpuFullThreshold?: number | undefined;
  /** Longest list returned. Default 10. */
  maxEndpoints?: number | undefined;
}

/** Where a caller is: its region (ranked first) and coordinates (for distances). */
export interface CallerPlace {
  region: string | undefined;
  location: LatLon | undefined;
  /** How the place was found. */
  source: 'hint' | 'ip' | 'none';
}

/**
 * The caller's region is the `?region=` hint when it names a configured region; otherwise the
 * configured region nearest the IP's location; otherwise none (unknown IP, no database, no
 * regions), and the list is ranked by spare capacity alone. An unknown hint is ignored, not an
 * error: encoders keep working when regions are renamed.
 */
export function resolveCaller(caller: Caller, regions: readonly RegionConfig[], geo: GeoLocator | undefined): CallerPlace {
  const hinted = caller.region === undefined ? undefined : regions.find((r) => r.name === caller.region);
  if (hinted) return { region: hinted.name, location: { lat: hinted.lat, lon: hinted.lon }, source: 'hint' };
  const at = caller.ip !== undefined && geo ? geo.locate(caller.ip) : undefined;
  if (at) return { region: nearest(at, regions)?.name, location: { lat: at.lat, lon: at.lon }, source: 'ip' };
  return { region: undefined, location: undefined, source: 'none' };
}

/** `GET /v1/ingests`: the edge view joined with heartbeats, ranked for the caller. */
export class IngestRankerImpl implements IngestRouter {
  readonly #o: IngestRankerOptions;

  constructor(options: IngestRankerOptions) {
    this.#o = options;
  }

  async ingests(caller: Caller, app: string): Promise<IngestEndpoint[]> {
    const o = this.#o;
    const place = resolveCaller(caller, o.regions, o.geo);
    const edges: RoutableEdge[] = o.edges.edges().map((e) => ({ ...e, load: o.load.get(e.id) }));
    return rankIngests({
      mode: o.mode,
      app,
      regions: o.regions,
      edges,
      callerRegion: place.region,
      callerLocation: place.location,
      fallbackRtmpUrl: o.fallbackRtmpUrl,
      fallbackRtmpsUrl: o.fallbackRtmpsUrl,
      cpuFullThreshold: o.cpuFullThreshold,
      maxEndpoints: o.maxEndpoints,
    });
  }
}
