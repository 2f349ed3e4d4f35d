import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Reader, type CityResponse } from 'maxmind';
import { GeoLocator, haversineKm, nearest } from '../../src/geo/index.ts';
import { RoutingError } from '../../src/routing/errors.ts';
import { CALLERS, REGIONS, writeTestDatabase } from './fixtures.ts';
import { cityRecord, uint32, writeMmdb } from './mmdb-writer.ts';

describe('the test MMDB writer', () => {
  it('writes a file the maxmind reader accepts, with the metadata the spec requires', () => {
    const db = new Reader<CityResponse>(writeMmdb([{ network: '10.0.0.0/8', data: cityRecord({ lat: 1.5, lon: -2.25, country: 'XX', continent: 'EU' }) }], { buildEpoch: 1_700_000_000 }));
    assert.equal(db.metadata.binaryFormatMajorVersion, 2);
    assert.equal(db.metadata.ipVersion, 6);
    assert.equal(db.metadata.recordSize, 24);
    assert.equal(db.metadata.databaseType, 'GeoLite2-City');
    assert.deepEqual(db.metadata.languages, ['en']);
    assert.equal(db.metadata.buildEpoch.getTime(), 1_700_000_000_000);
    const r = db.get('10.200.3.4');
    assert.equal(r?.location?.latitude, 1.5);
    assert.equal(r?.location?.longitude, -2.25);
    assert.equal(r?.country?.iso_code, 'XX');
    assert.equal(r?.location?.accuracy_radius, 50);
    assert.equal(db.get('11.0.0.1'), null);
    assert.equal(db.get('9.255.255.255'), null);
  });

  it('encodes sizes past 28, 284 and 65820 bytes (the extended size forms)', () => {
    for (const length of [28, 29, 284, 285, 70_000]) {
      const s = 'x'.repeat(length);
      const db = new Reader<Record<string, unknown>>(writeMmdb([{ network: '10.0.0.0/8', data: { s, n: uint32(length) } }]));
      const r = db.get('10.0.0.1') as { s: string; n: number };
      assert.equal(r.s.length, length);
      assert.equal(r.n, length);
    }
  });

  it('is rejected by the reader when the metadata marker is damaged (the reader really parses it)', () => {
    const b = writeMmdb([{ network: '10.0.0.0/8', data: { a: 'b' } }]);
    const at = b.lastIndexOf(Buffer.from('MaxMind.com', 'latin1'));
    b[at] = 0x6d;
    assert.throws(() => new Reader(b));
  });
});

describe('GeoLocator', () => {
  let db: { path: string; remove: () => void };
  let geo: GeoLocator;
  before(async () => {
    db = writeTestDatabase();
    geo = await GeoLocator.open(db.path);
  });
  after(() => db.remove());

  const cases = [
    { name: 'IPv4 in a /24', ip: CALLERS.paris.ip, want: CALLERS.paris },
    { name: 'IPv4 as Node reports a dual-stack peer (::ffff:a.b.c.d)', ip: `::ffff:${CALLERS.newYork.ip}`, want: CALLERS.newYork },
    { name: 'IPv4 in a /25, low half', ip: '192.0.2.1', want: CALLERS.tokyo },
    { name: 'IPv4 in the other half of that /24', ip: '192.0.2.200', want: undefined },
    { name: 'IPv6 in a /48', ip: CALLERS.sydneyV6.ip, want: CALLERS.sydneyV6 },
    { name: 'IPv4 in no network', ip: CALLERS.unknown.ip, want: undefined },
    { name: 'not an IP at all', ip: 'example.com', want: undefined },
    { name: 'empty string', ip: '', want: undefined },
  ] as const;
  for (const c of cases) {
    it(`locates ${c.name}`, () => {
      const at = geo.locate(c.ip);
      if (c.want === undefined) {
        assert.equal(at, undefined);
        return;
      }
      assert.ok(at, 'expected a location');
      assert.equal(at.lat, c.want.lat);
      assert.equal(at.lon, c.want.lon);
      assert.equal(at.country, c.want.country);
      assert.equal(at.continent, c.want.continent);
      assert.equal(at.accuracyRadiusKm, 50);
    });
  }

  it('reports the database type', () => {
    assert.equal(geo.databaseType, 'GeoLite2-City');
  });

  it('open() of a missing or malformed file fails with ROUTING_ERR_GEOIP', async () => {
    await assert.rejects(GeoLocator.open(join(tmpdir(), 'fm-no-such-file.mmdb')), (e: unknown) => e instanceof RoutingError && e.code === 'ROUTING_ERR_GEOIP');
    const dir = mkdtempSync(join(tmpdir(), 'fm-geo-bad-'));
    try {
      const bad = join(dir, 'bad.mmdb');
      writeFileSync(bad, Buffer.from('this is not a MaxMind database'));
      await assert.rejects(GeoLocator.open(bad), (e: unknown) => e instanceof RoutingError && e.code === 'ROUTING_ERR_GEOIP');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('distances', () => {
  it('haversineKm matches known great-circle distances within 0.5%', () => {
    const table = [
      { a: { lat: 51.5074, lon: -0.1278 }, b: { lat: 48.8566, lon: 2.3522 }, km: 344 }, // London-Paris
      { a: { lat: 40.7128, lon: -74.006 }, b: { lat: 51.5074, lon: -0.1278 }, km: 5570 }, // New York-London
      { a: { lat: 0, lon: 0 }, b: { lat: 0, lon: 180 }, km: 20_016 }, // half the equator
      { a: { lat: 10, lon: 10 }, b: { lat: 10, lon: 10 }, km: 0 },
    ];
    for (const t of table) {
      const d = haversineKm(t.a, t.b);
      assert.ok(Math.abs(d - t.km) <= Math.max(1, t.km * 0.005), `${JSON.stringify(t)}: got ${d}`);
    }
  });

  it('nearest() picks the closest region for each test caller', () => {
    assert.equal(nearest(CALLERS.paris, REGIONS)?.name, 'eu-west');
    assert.equal(nearest(CALLERS.newYork, REGIONS)?.name, 'us-east');
    assert.equal(nearest(CALLERS.tokyo, REGIONS)?.name, 'ap-southeast');
    assert.equal(nearest(CALLERS.sydneyV6, REGIONS)?.name, 'ap-southeast');
    assert.equal(nearest(CALLERS.paris, []), undefined);
  });
});
