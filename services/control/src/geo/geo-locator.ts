import { isIP } from 'node:net';
import { open, type CityResponse, type Reader } from 'maxmind';
import { nullLogger, type Logger } from '@firstmile/observability';
import { RoutingError } from '../routing/errors.ts';
import type { LatLon } from './distance.ts';

/** Where an IP address is, as far as a GeoIP2/GeoLite2 City database knows. */
export interface GeoLocation extends LatLon {
  /** ISO 3166-1 alpha-2 (`country.iso_code`). */
  country: string | undefined;
  /** Two-letter continent code (`continent.code`): AF, AN, AS, EU, NA, OC, SA. */
  continent: string | undefined;
  /** `location.accuracy_radius`, km, when the database gives one. */
  accuracyRadiusKm: number | undefined;
}

export interface GeoLocatorOptions {
  /** Lookups kept in the reader's LRU cache. Default 10000. */
  cacheMax?: number;
  /**
   * Reload the file when it changes (geoipupdate replacing it). Uses fs.watchFile, which polls;
   * the watcher is not persistent, so it never keeps the process alive.
   */
  watchForUpdates?: boolean;
  logger?: Logger;
}

/**
 * IP to location through a MaxMind DB file (GeoIP2/GeoLite2 City shape: location.latitude and
 * longitude, country.iso_code, continent.code), read with the `maxmind` package.
 */
export class GeoLocator {
  readonly #reader: Reader<CityResponse>;
  readonly #log: Logger;

  private constructor(reader: Reader<CityResponse>, log: Logger) {
    this.#reader = reader;
    this.#log = log;
  }

  static async open(path: string, options: GeoLocatorOptions = {}): Promise<GeoLocator> {
    const log = options.logger ?? nullLogger;
    let reader: Reader<CityResponse>;
    try {
      reader = await open<CityResponse>(path, {
        cache: { max: options.cacheMax ?? 10_000 },
        ...(options.watchForUpdates ? { watchForUpdates: true, watchForUpdatesNonPersistent: true, watchForUpdatesHook: () => log.info({ path }, 'GeoIP database reloaded') } : {}),
      });
    } catch (error) {
      throw new RoutingError('ROUTING_ERR_GEOIP', `cannot open GeoIP database ${path}: ${(error as Error).message}`, { cause: error });
    }
    const type = reader.metadata.databaseType;
    if (!/city/i.test(type)) log.warn({ path, databaseType: type }, 'GeoIP database is not a City database: callers may have no coordinates');
    return new GeoLocator(reader, log);
  }

  get databaseType(): string {
    return this.#reader.metadata.databaseType;
  }

  /** The IP's location, or undefined when it is not an IP, not in the database, or has no coordinates. */
  locate(ip: string): GeoLocation | undefined {
    const address = unmapIPv4(ip);
    if (isIP(address) === 0) return undefined;
    let r: CityResponse | null;
    try {
      r = this.#reader.get(address);
    } catch (error) {
      // An IPv6 address against an IPv4-only database throws; that caller is simply unknown.
      this.#log.debug({ err: error }, 'GeoIP lookup failed');
      return undefined;
    }
    const lat = r?.location?.latitude;
    const lon = r?.location?.longitude;
    if (typeof lat !== 'number' || typeof lon !== 'number' || !Number.isFinite(lat) || !Number.isFinite(lon)) return undefined;
    return {
      lat,
      lon,
      country: r?.country?.iso_code,
      continent: r?.continent?.code,
      accuracyRadiusKm: r?.location?.accuracy_radius,
    };
  }
}

/** Node reports IPv4 peers of a dual-stack socket as ::ffff:a.b.c.d; the database keys them as IPv4. */
function unmapIPv4(ip: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  return m ? m[1] : ip;
}
