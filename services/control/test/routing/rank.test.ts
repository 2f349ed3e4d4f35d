import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rankIngests, type RankInput, type RoutableEdge } from '../../src/routing/rank.ts';
import { CALLERS, REGIONS } from '../geo/fixtures.ts';

interface EdgeSpec {
  region?: string;
  connections?: number;
  maxConnections?: number;
  cpu?: number;
  /** The edge's own heartbeat says it drains. */
  draining?: boolean;
  /** The platform (EndpointSlice) says: not ready / terminating. */
  notReady?: boolean;
  terminating?: boolean;
  /** No fresh heartbeat. */
  silent?: boolean;
  /** Region only in the heartbeat (FIRSTMILE_REGION), not from the platform. */
  heartbeatRegion?: string;
  rtmpUrl?: string;
  rtmpsUrl?: string;
}

function edges(specs: Record<string, EdgeSpec>): RoutableEdge[] {
  return Object.entries(specs).map(([id, s]) => ({
    id,
    ready: !s.notReady,
    draining: s.terminating ?? false,
    region: s.region,
    load: s.silent
      ? undefined
      : {
          connections: s.connections ?? 0,
          maxConnections: s.maxConnections ?? 1000,
          cpu: s.cpu ?? 0,
          draining: s.draining ?? false,
          region: s.heartbeatRegion,
          rtmpUrl: s.rtmpUrl,
          rtmpsUrl: s.rtmpsUrl,
        },
  }));
}

/** A cluster in three regions; every ap-southeast edge is unusable for a different reason. */
const CLUSTER = edges({
  'eu-1': { region: 'eu-west', connections: 100, cpu: 0.2 }, // load max(0.1, 0.2/0.9) = 0.222; eu-west: (0.222 + 0.9) / 2 = 0.561
  'eu-2': { region: 'eu-west', connections: 900, cpu: 0.5 }, // load 0.9
  'us-1': { region: 'us-east', connections: 10, cpu: 0.1 }, // load 0.111
  'us-2': { region: 'us-east', draining: true },
  'us-3': { region: 'us-east', notReady: true },
  'us-4': { region: 'us-east', terminating: true },
  'ap-1': { region: 'ap-southeast', connections: 1000 }, // full by connections
  'ap-2': { region: 'ap-southeast', cpu: 0.95 }, // full by CPU
  'ap-3': { region: 'ap-southeast', silent: true }, // no heartbeat: cannot reach the bus
  'ap-4': { region: 'ap-southeast', maxConnections: 0 }, // nonsense capacity: never offered
});
const EU = 'ingest-eu.example.test';
const US = 'ingest-us.example.test';
const AP = 'ingest-ap.example.test';
const at = (c: { lat: number; lon: number }) => ({ lat: c.lat, lon: c.lon });

interface Case {
  name: string;
  input: Partial<RankInput> & Pick<RankInput, 'edges'>;
  /** [id, usable edges, load] best first. */
  want: [string, number, number][];
  /** Optional checks on the first endpoint. */
  first?: { urlTemplate?: string; urlTemplateSecure?: string | undefined; region?: string | undefined; distanceKm?: [number, number] };
}

const cases: Case[] = [
  {
    name: 'a caller in Paris (by IP location) gets eu-west, then us-east; the full, draining, silent ap-southeast is dropped',
    input: { edges: CLUSTER, callerRegion: 'eu-west', callerLocation: at(CALLERS.paris) },
    want: [[EU, 2, 0.561], [US, 1, 0.111]],
    first: { urlTemplate: `rtmp://${EU}/live/{stream_key}`, urlTemplateSecure: `rtmps://${EU}:443/live/{stream_key}`, region: 'eu-west', distanceKm: [770, 800] },
  },
  {
    name: 'a caller in Tokyo whose own region (ap-southeast) has no usable edge gets the nearer of the rest: eu-west before us-east',
    input: { edges: CLUSTER, callerRegion: 'ap-southeast', callerLocation: at(CALLERS.tokyo) },
    want: [[EU, 2, 0.561], [US, 1, 0.111]],
    first: { distanceKm: [9500, 9700] },
  },
  {
    name: 'a caller in New York gets us-east first',
    input: { edges: CLUSTER, callerRegion: 'us-east', callerLocation: at(CALLERS.newYork) },
    want: [[US, 1, 0.111], [EU, 2, 0.561]],
    first: { region: 'us-east', distanceKm: [330, 370] },
  },
  {
    name: 'the caller\'s own region (a ?region= hint) comes first even when another region is nearer to its IP',
    input: { edges: CLUSTER, callerRegion: 'us-east', callerLocation: at(CALLERS.paris) },
    want: [[US, 1, 0.111], [EU, 2, 0.561]],
  },
  {
    name: 'without a location or region (no GeoIP database, unknown IP) the endpoint with the most spare capacity comes first',
    input: { edges: CLUSTER },
    // spare: us-east (1 - 0.111) x 1000 = 889 > eu-west 778 + 100 = 878
    want: [[US, 1, 0.111], [EU, 2, 0.561]],
    first: { distanceKm: undefined },
  },
  {
    name: 'ap-southeast comes back once one of its edges is usable, and offers no RTMPS (no ingestHostSecure)',
    input: { edges: [...CLUSTER, ...edges({ 'ap-5': { region: 'ap-southeast', connections: 500 } })], callerRegion: 'ap-southeast', callerLocation: at(CALLERS.tokyo) },
    want: [[AP, 1, 0.5], [EU, 2, 0.561], [US, 1, 0.111]],
    first: { urlTemplate: `rtmp://${AP}/live/{stream_key}`, urlTemplateSecure: undefined, region: 'ap-southeast' },
  },
  {
    name: 'an edge whose region comes only from its heartbeat counts in that region',
    input: { edges: edges({ 'x-1': { heartbeatRegion: 'ap-southeast' } }), callerLocation: at(CALLERS.paris) },
    want: [[AP, 1, 0]],
  },
  {
    name: 'edges without a configured region are dropped when there is no cluster-wide fallback URL',
    input: { edges: edges({ 'n-1': {}, 'n-2': { region: 'mars-1' } }) },
    want: [],
  },
  {
    name: 'edges without a configured region go to the cluster-wide fallback endpoint, ranked after known distances',
    input: { edges: [...CLUSTER, ...edges({ 'n-1': { connections: 10 }, 'n-2': { region: 'mars-1' } })], callerLocation: at(CALLERS.paris), fallbackRtmpUrl: 'rtmp://ingest.example.test/', fallbackRtmpsUrl: 'rtmps://ingest.example.test:443' },
    want: [[EU, 2, 0.561], [US, 1, 0.111], ['ingest.example.test', 2, 0.005]],
  },
  {
    name: 'a lower CPU threshold makes busy edges full',
    input: { edges: CLUSTER, callerLocation: at(CALLERS.paris), cpuFullThreshold: 0.4 },
    // eu-2 (cpu 0.5) is full now; eu-1 load max(0.1, 0.2/0.4) = 0.5; us-1 load 0.25
    want: [[EU, 1, 0.5], [US, 1, 0.25]],
  },
  {
    name: 'maxEndpoints cuts the list',
    input: { edges: CLUSTER, callerLocation: at(CALLERS.paris), maxEndpoints: 1 },
    want: [[EU, 2, 0.561]],
  },
  {
    name: 'no edges, no endpoints',
    input: { edges: [] },
    want: [],
  },
  // Outside Kubernetes: one endpoint per edge.
  {
    name: 'edge mode: edges in the caller\'s region first, by spare capacity; ties by id; draining and unaddressable edges dropped',
    input: {
      mode: 'edge',
      callerRegion: 'eu-west',
      callerLocation: at(CALLERS.paris),
      edges: edges({
        'e-busy': { heartbeatRegion: 'eu-west', connections: 800, rtmpUrl: 'rtmp://e-busy.example.test:1935' },
        'e-idle-b': { heartbeatRegion: 'eu-west', connections: 100, rtmpUrl: 'e-idle-b.example.test:1935' },
        'e-idle-a': { heartbeatRegion: 'eu-west', connections: 100, rtmpUrl: 'rtmp://e-idle-a.example.test', rtmpsUrl: 'rtmps://e-idle-a.example.test' },
        'u-1': { heartbeatRegion: 'us-east', rtmpUrl: 'rtmp://u-1.example.test' },
        'e-drain': { heartbeatRegion: 'eu-west', draining: true, rtmpUrl: 'rtmp://e-drain.example.test' },
        'e-nourl': { heartbeatRegion: 'eu-west' },
      }),
    },
    want: [['e-idle-a', 1, 0.1], ['e-idle-b', 1, 0.1], ['e-busy', 1, 0.8], ['u-1', 1, 0]],
    first: { urlTemplate: 'rtmp://e-idle-a.example.test/live/{stream_key}', urlTemplateSecure: 'rtmps://e-idle-a.example.test/live/{stream_key}', region: 'eu-west' },
  },
  {
    name: 'edge mode: an edge announcing host:port gets an rtmp:// template; one announcing nothing uses the fallback URLs',
    input: {
      mode: 'edge',
      fallbackRtmpUrl: 'rtmp://127.0.0.1:1935',
      fallbackRtmpsUrl: 'rtmps://127.0.0.1:1936',
      edges: edges({ solo: { connections: 1 } }),
    },
    want: [['solo', 1, 0.001]],
    first: { urlTemplate: 'rtmp://127.0.0.1:1935/live/{stream_key}', urlTemplateSecure: 'rtmps://127.0.0.1:1936/live/{stream_key}', region: undefined },
  },
];

describe('rankIngests', () => {
  for (const c of cases) {
    it(c.name, () => {
      const got = rankIngests({ mode: 'region', app: 'live', regions: REGIONS, ...c.input });
      assert.deepEqual(
        got.map((e) => [e.id, e.edges, e.load]),
        c.want,
      );
      if (c.first) {
        const f = got[0]!;
        if ('urlTemplate' in c.first) assert.equal(f.urlTemplate, c.first.urlTemplate);
        if ('urlTemplateSecure' in c.first) assert.equal(f.urlTemplateSecure, c.first.urlTemplateSecure);
        if ('region' in c.first) assert.equal(f.region, c.first.region);
        if ('distanceKm' in c.first) {
          if (c.first.distanceKm === undefined) assert.equal(f.distanceKm, undefined);
          else {
            const [lo, hi] = c.first.distanceKm;
            assert.ok(f.distanceKm !== undefined && f.distanceKm >= lo && f.distanceKm <= hi, `distance ${f.distanceKm} not in [${lo}, ${hi}]`);
          }
        }
      }
    });
  }

  it('escapes the application name in the URL templates', () => {
    const [e] = rankIngests({ mode: 'region', app: 'a b/c', regions: REGIONS, edges: edges({ x: { region: 'eu-west' } }) });
    assert.equal(e?.urlTemplate, `rtmp://${EU}/a%20b%2Fc/{stream_key}`);
  });

  it('gives the same list whatever order the edges come in', () => {
    const input = { mode: 'region' as const, app: 'live', regions: REGIONS, edges: CLUSTER };
    const a = rankIngests(input);
    const b = rankIngests({ ...input, edges: [...CLUSTER].reverse() });
    assert.deepEqual(a, b);
  });
});
