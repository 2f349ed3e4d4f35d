import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegionConfig } from '../../src/routing/regions.ts';
import { cityRecord, writeMmdb, type MmdbNetwork } from './mmdb-writer.ts';

/** Three ingest regions, at their data centres' coordinates. */
export const REGIONS: readonly RegionConfig[] = [
  { name: 'eu-west', lat: 53.35, lon: -6.26, ingestHost: 'ingest-eu.example.test', ingestHostSecure: 'ingest-eu.example.test:443' },
  { name: 'us-east', lat: 38.95, lon: -77.45, ingestHost: 'ingest-us.example.test', ingestHostSecure: 'ingest-us.example.test:443' },
  { name: 'ap-southeast', lat: 1.29, lon: 103.85, ingestHost: 'ingest-ap.example.test' },
];

/** Callers, by documentation address ranges (RFC 5737, RFC 3849), placed in cities. */
export const CALLERS = {
  paris: { ip: '198.51.100.7', lat: 48.86, lon: 2.35, country: 'FR', continent: 'EU' },
  newYork: { ip: '203.0.113.20', lat: 40.71, lon: -74.01, country: 'US', continent: 'NA' },
  tokyo: { ip: '192.0.2.99', lat: 35.68, lon: 139.69, country: 'JP', continent: 'AS' },
  sydneyV6: { ip: '2001:db8:abcd::1', lat: -33.87, lon: 151.21, country: 'AU', continent: 'OC' },
  /** In no network of the database. */
  unknown: { ip: '100.64.0.1' },
} as const;

export const NETWORKS: readonly MmdbNetwork[] = [
  { network: '198.51.100.0/24', data: cityRecord(CALLERS.paris) },
  { network: '203.0.113.0/24', data: cityRecord(CALLERS.newYork) },
  { network: '192.0.2.0/25', data: cityRecord(CALLERS.tokyo) },
  { network: '2001:db8:abcd::/48', data: cityRecord(CALLERS.sydneyV6) },
];

/** Writes the test database to a temp dir; `remove` deletes it. */
export function writeTestDatabase(): { path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'fm-geo-'));
  const path = join(dir, 'test-city.mmdb');
  writeFileSync(path, writeMmdb(NETWORKS));
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
