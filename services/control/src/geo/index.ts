export { GeoLocator } from './geo-locator.ts';
export type { GeoLocation, GeoLocatorOptions } from './geo-locator.ts';
export { haversineKm, nearest } from './distance.ts';
export type { LatLon } from './distance.ts';
