import { RoutingError } from './errors.ts';

/** One ingest region: where it is and the hostname encoders reach its edges by. */
export interface RegionConfig {
  /** The region's name: the edges' topology.kubernetes.io/region label (or FIRSTMILE_REGION). */
  name: string;
  /** Coordinates of the region's data centre, for distances to callers. */
  lat: number;
  lon: number;
  /** host[:port] of the region's RTMP ingest (its load balancer). */
  ingestHost: string;
  /** host[:port] of the region's RTMPS ingest; unset when the region offers no RTMPS. */
  ingestHostSecure?: string | undefined;
}

const MAX_REGIONS = 256;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A DNS name or IPv4 address, or a bracketed IPv6 address, with an optional port. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * Validates the regions setting (FIRSTMILE_REGIONS, a JSON array) into frozen RegionConfigs.
 * Accepts the JSON text or an already parsed value.
 */
export function parseRegions(input: string | unknown): readonly RegionConfig[] {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw new RoutingError('ROUTING_ERR_CONFIG', `regions: not JSON (${(error as Error).message})`, { cause: error });
    }
  }
  if (!Array.isArray(value)) throw new RoutingError('ROUTING_ERR_CONFIG', 'regions: expected a JSON array');
  if (value.length > MAX_REGIONS) throw new RoutingError('ROUTING_ERR_CONFIG', `regions: at most ${MAX_REGIONS}`);
  const seen = new Set<string>();
  const out = value.map((r: unknown, i): RegionConfig => {
    const where = `regions[${i}]`;
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new RoutingError('ROUTING_ERR_CONFIG', `${where}: expected an object`);
    const o = r as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!['name', 'lat', 'lon', 'ingestHost', 'ingestHostSecure'].includes(k)) throw new RoutingError('ROUTING_ERR_CONFIG', `${where}: unknown field ${JSON.stringify(k)}`);
    }
    if (typeof o.name !== 'string' || !NAME.test(o.name)) throw new RoutingError('ROUTING_ERR_CONFIG', `${where}.name: 1-64 characters of [A-Za-z0-9._-]`);
    if (seen.has(o.name)) throw new RoutingError('ROUTING_ERR_CONFIG', `${where}.name: duplicate region ${o.name}`);
    seen.add(o.name);
    if (typeof o.lat !== 'number' || !(o.lat >= -90 && o.lat <= 90)) throw new RoutingError('ROUTING_ERR_CONFIG', `${where}.lat: a number in [-90, 90]`);
    if (typeof o.lon !== 'number' || !(o.lon >= -180 && o.lon <= 180)) throw new RoutingError('ROUTING_ERR_CONFIG', `${where}.lon: a number in [-180, 180]`);
    if (!isHost(o.ingestHost)) throw new RoutingError('ROUTING_ERR_CONFIG', `${where}.ingestHost: host or host:port`);
    if (o.ingestHostSecure !== undefined && !isHost(o.ingestHostSecure)) throw new RoutingError('ROUTING_ERR_CONFIG', `${where}.ingestHostSecure: host or host:port`);
    return Object.freeze({ name: o.name, lat: o.lat, lon: o.lon, ingestHost: o.ingestHost, ingestHostSecure: o.ingestHostSecure });
  });
  return Object.freeze(out);
}

function isHost(v: unknown): v is string {
  if (typeof v !== 'string' || v.length > 260 || !HOST.test(v)) return false;
  const port = /:(\d+)$/.exec(v);
  return !port || (Number(port[1]) >= 1 && Number(port[1]) <= 65535);
}
