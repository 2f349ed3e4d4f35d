import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EDGE_HEARTBEAT_SUBJECT, MemoryBus, encodeJson, type EdgeHeartbeat } from '@firstmile/bus';
import { GeoLocator } from '../../src/geo/index.ts';
import { HeartbeatEdgeSource, IngestRankerImpl, LoadView, RoutingError, isRoutableHeartbeat, parseRegions, resolveCaller, type EdgeInfo, type EdgeSource } from '../../src/routing/index.ts';
import { CALLERS, REGIONS, writeTestDatabase } from '../geo/fixtures.ts';

function hb(edge: string, over: Partial<EdgeHeartbeat> = {}): EdgeHeartbeat {
  return { edge, connections: 0, maxConnections: 1000, publishers: 0, ingestBps: 0, cpu: 0, draining: false, streams: [], at: new Date().toISOString(), ...over };
}

/** A fixed platform view, as the Kubernetes source would give it. */
function staticSource(list: EdgeInfo[]): EdgeSource {
  return { edges: () => list, onChange: () => () => {}, start: async () => {}, stop: async () => {} };
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('IngestRankerImpl', () => {
  let db: { path: string; remove: () => void };
  let geo: GeoLocator;
  const bus = new MemoryBus();
  const load = new LoadView({ heartbeatMs: 60_000 });
  before(async () => {
    db = writeTestDatabase();
    geo = await GeoLocator.open(db.path);
    load.start(bus);
    for (const [edge, over] of [
      ['eu-a', { connections: 500 }],
      ['eu-b', { connections: 100 }],
      ['us-a', { connections: 10 }],
      ['ap-a', { connections: 10 }],
    ] as const) {
      bus.publish(EDGE_HEARTBEAT_SUBJECT, encodeJson(hb(edge, over)));
    }
    await until(() => load.size === 4);
  });
  after(async () => {
    load.stop();
    await bus.close();
    db.remove();
  });

  const platform = staticSource([
    { id: 'eu-a', ready: true, draining: false, region: 'eu-west' },
    { id: 'eu-b', ready: true, draining: false, region: 'eu-west' },
    { id: 'us-a', ready: true, draining: false, region: 'us-east' },
    { id: 'ap-a', ready: true, draining: false, region: 'ap-southeast' },
    // Ready by the platform but never heard from on the bus: not offered.
    { id: 'ap-mute', ready: true, draining: false, region: 'ap-southeast' },
  ]);
  const EU = 'ingest-eu.example.test';
  const US = 'ingest-us.example.test';
  const AP = 'ingest-ap.example.test';

  const cases = [
    { caller: { ip: CALLERS.paris.ip }, want: [EU, US, AP], placed: 'eu-west by IP' },
    { caller: { ip: CALLERS.newYork.ip }, want: [US, EU, AP], placed: 'us-east by IP' },
    { caller: { ip: CALLERS.tokyo.ip }, want: [AP, EU, US], placed: 'ap-southeast by IP' },
    { caller: { ip: CALLERS.sydneyV6.ip }, want: [AP, US, EU], placed: 'ap-southeast by IPv6' },
    { caller: { ip: CALLERS.paris.ip, region: 'ap-southeast' }, want: [AP, EU, US], placed: 'ap-southeast by hint, over its IP' },
    { caller: { region: 'us-east' }, want: [US, EU, AP], placed: 'us-east by hint alone' },
    // Unknown everywhere: by spare capacity. eu: 500 + 900 = 1400, us: 990, ap: 990 (ties by id).
    { caller: { ip: CALLERS.unknown.ip }, want: [EU, AP, US], placed: 'nowhere (IP not in the database)' },
    { caller: { ip: CALLERS.unknown.ip, region: 'moon-1' }, want: [EU, AP, US], placed: 'nowhere (unknown hint ignored)' },
  ];
  for (const c of cases) {
    it(`ranks for a caller placed ${c.placed}: ${c.want.join(' > ')}`, async () => {
      const router = new IngestRankerImpl({ edges: platform, load, regions: REGIONS, mode: 'region', geo });
      const got = await router.ingests(c.caller, 'live');
      assert.deepEqual(got.map((e) => e.id), c.want);
      assert.equal(got.find((e) => e.id === AP)?.edges, 1);
    });
  }

  it('without a GeoIP database, callers are placed by hint only', async () => {
    const router = new IngestRankerImpl({ edges: platform, load, regions: REGIONS, mode: 'region' });
    assert.deepEqual((await router.ingests({ ip: CALLERS.tokyo.ip }, 'live')).map((e) => e.id), [EU, AP, US]);
    assert.deepEqual((await router.ingests({ ip: CALLERS.tokyo.ip, region: 'ap-southeast' }, 'live')).map((e) => e.id), [AP, EU, US]);
  });

  it('resolveCaller says how the caller was placed', () => {
    assert.deepEqual(resolveCaller({ region: 'eu-west' }, REGIONS, geo), { region: 'eu-west', location: { lat: 53.35, lon: -6.26 }, source: 'hint' });
    assert.deepEqual(resolveCaller({ ip: CALLERS.newYork.ip }, REGIONS, geo), { region: 'us-east', location: { lat: CALLERS.newYork.lat, lon: CALLERS.newYork.lon }, source: 'ip' });
    assert.deepEqual(resolveCaller({ ip: CALLERS.unknown.ip }, REGIONS, geo), { region: undefined, location: undefined, source: 'none' });
  });

  it('outside Kubernetes, the heartbeats alone make the list (one endpoint per edge, its announced URL)', async () => {
    const bus2 = new MemoryBus();
    const view = new LoadView({ heartbeatMs: 60_000 });
    view.start(bus2);
    const source = new HeartbeatEdgeSource(view);
    await source.start();
    let changes = 0;
    source.onChange(() => changes++);
    bus2.publish(EDGE_HEARTBEAT_SUBJECT, encodeJson(hb('bare-1', { region: 'us-east', rtmpUrl: 'rtmp://bare-1.example.test:1935' })));
    bus2.publish(EDGE_HEARTBEAT_SUBJECT, encodeJson(hb('bare-2', { region: 'eu-west', connections: 999, rtmpUrl: 'bare-2.example.test:1935', rtmpsUrl: 'bare-2.example.test:443' })));
    await until(() => view.size === 2);
    const router = new IngestRankerImpl({ edges: source, load: view, regions: REGIONS, mode: 'edge', geo });
    const got = await router.ingests({ ip: CALLERS.paris.ip }, 'live');
    assert.deepEqual(
      got.map((e) => [e.id, e.region, e.urlTemplate, e.urlTemplateSecure]),
      [
        ['bare-2', 'eu-west', 'rtmp://bare-2.example.test:1935/live/{stream_key}', 'rtmps://bare-2.example.test:443/live/{stream_key}'],
        ['bare-1', 'us-east', 'rtmp://bare-1.example.test:1935/live/{stream_key}', undefined],
      ],
    );
    assert.equal(changes, 2);
    // Draining is a change listeners hear about, and drops the edge from the list.
    bus2.publish(EDGE_HEARTBEAT_SUBJECT, encodeJson(hb('bare-2', { region: 'eu-west', draining: true, rtmpUrl: 'bare-2.example.test:1935' })));
    await until(() => changes === 3);
    assert.deepEqual((await router.ingests({ ip: CALLERS.paris.ip }, 'live')).map((e) => e.id), ['bare-1']);
    await source.stop();
    view.stop();
    await bus2.close();
  });
});

describe('HeartbeatEdgeSource', () => {
  it('an edge that stops sending heartbeats leaves the view after 3 missed intervals, and listeners hear of it', async () => {
    let now = 0;
    const view = new LoadView({ heartbeatMs: 1000, now: () => now });
    const source = new HeartbeatEdgeSource(view);
    await source.start();
    let changes = 0;
    source.onChange(() => changes++);
    view.observe(hb('bare-1', { region: 'eu-west', zone: 'eu-west-1a' }));
    assert.deepEqual(source.edges(), [{ id: 'bare-1', ready: true, draining: false, region: 'eu-west', zone: 'eu-west-1a' }]);
    now = 2900;
    view.observe(hb('bare-1', { region: 'eu-west', zone: 'eu-west-1a', connections: 5 })); // a load update is no change
    now = 5800;
    view.sweep();
    assert.equal(source.edges().length, 1);
    now = 6000;
    view.sweep();
    assert.deepEqual(source.edges(), []);
    assert.equal(changes, 2);
    await source.stop();
  });
});

describe('LoadView', () => {
  it('forgets an edge after 3 missed heartbeats, and says so', () => {
    let now = 1_000_000;
    const view = new LoadView({ heartbeatMs: 1000, now: () => now });
    const events: string[] = [];
    view.onChange((edge, change) => events.push(`${change}:${edge}`));
    view.observe(hb('a'));
    now += 500;
    view.observe(hb('b'));
    now += 2600; // a: 3100 ms since its heartbeat; b: 2600
    assert.equal(view.get('a'), undefined);
    assert.ok(view.get('b'));
    assert.deepEqual(view.sweep(), ['a']);
    now += 500; // b: 3100
    assert.deepEqual(view.sweep(), ['b']);
    assert.deepEqual(events, ['added:a', 'added:b', 'removed:a', 'removed:b']);
    assert.equal(view.size, 0);
  });

  it('is bounded: beyond maxEdges the least recently heard edge is dropped', () => {
    let now = 0;
    const view = new LoadView({ heartbeatMs: 1000, maxEdges: 3, now: () => ++now });
    for (const id of ['a', 'b', 'c']) view.observe(hb(id));
    view.observe(hb('a')); // a is now the most recent
    view.observe(hb('d'));
    assert.deepEqual(view.list().map((l) => l.edge).sort(), ['a', 'c', 'd']);
    assert.equal(view.size, 3);
  });

  it('ignores malformed or hostile heartbeats on the bus', async () => {
    const bus = new MemoryBus();
    const view = new LoadView({ heartbeatMs: 60_000 });
    view.start(bus);
    const bad: unknown[] = [
      'not an object',
      { ...hb('x'), connections: -1 },
      { ...hb('x'), cpu: Number.NaN },
      { ...hb('x'), draining: 'no' },
      { ...hb('x'), edge: 'e'.repeat(300) },
      { ...hb('x'), rtmpUrl: 'javascript:alert(1)' },
      { ...hb('x'), rtmpUrl: 'rtmp://host/ with space' },
      { ...hb('x'), region: 'r'.repeat(65) },
    ];
    for (const b of bad) {
      assert.equal(isRoutableHeartbeat(b), false, JSON.stringify(b).slice(0, 80));
      bus.publish(EDGE_HEARTBEAT_SUBJECT, encodeJson(b));
    }
    assert.equal(view.observe({ ...hb('direct'), cpu: -1 }), false, 'observe() validates too');
    bus.publish(EDGE_HEARTBEAT_SUBJECT, new TextEncoder().encode('{not json'));
    bus.publish(EDGE_HEARTBEAT_SUBJECT, encodeJson(hb('good')));
    await until(() => view.size === 1);
    assert.deepEqual(view.list().map((l) => l.edge), ['good']);
    view.stop();
    await bus.close();
  });
});

describe('parseRegions', () => {
  it('accepts the documented shape and freezes it', () => {
    const r = parseRegions(JSON.stringify([{ name: 'eu-west', lat: 53.35, lon: -6.26, ingestHost: 'ingest-eu.example.test', ingestHostSecure: 'ingest-eu.example.test:443' }]));
    assert.equal(r[0]?.ingestHostSecure, 'ingest-eu.example.test:443');
    assert.ok(Object.isFrozen(r) && Object.isFrozen(r[0]));
  });

  const bad: [string, unknown][] = [
    ['not JSON', '[{'],
    ['not an array', '{}'],
    ['a region without a host', [{ name: 'a', lat: 0, lon: 0 }]],
    ['latitude out of range', [{ name: 'a', lat: 91, lon: 0, ingestHost: 'h' }]],
    ['a host with a path', [{ name: 'a', lat: 0, lon: 0, ingestHost: 'h/x' }]],
    ['a host with a scheme', [{ name: 'a', lat: 0, lon: 0, ingestHost: 'rtmp://h' }]],
    ['port out of range', [{ name: 'a', lat: 0, lon: 0, ingestHost: 'h:70000' }]],
    ['duplicate names', [{ name: 'a', lat: 0, lon: 0, ingestHost: 'h' }, { name: 'a', lat: 1, lon: 1, ingestHost: 'g' }]],
    ['an unknown field', [{ name: 'a', lat: 0, lon: 0, ingestHost: 'h', latitude: 1 }]],
    ['too many regions', Array.from({ length: 257 }, (_, i) => ({ name: `r${i}`, lat: 0, lon: 0, ingestHost: 'h' }))],
  ];
  for (const [name, input] of bad) {
    it(`rejects ${name} with ROUTING_ERR_CONFIG`, () => {
      assert.throws(() => parseRegions(input), (e: unknown) => e instanceof RoutingError && e.code === 'ROUTING_ERR_CONFIG');
    });
  }
});
