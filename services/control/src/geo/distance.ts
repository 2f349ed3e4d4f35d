export interface LatLon {
  lat: number;
  lon: number;
}

/** Mean Earth radius (IUGG), km. */
const EARTH_RADIUS_KM = 6371.0088;

/** Great-circle distance by the haversine formula, which stays accurate for short distances. */
export function haversineKm(a: LatLon, b: LatLon): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** The place nearest to `from` (ties: the first listed), or undefined for an empty list. */
export function nearest<T extends LatLon>(from: LatLon, places: readonly T[]): T | undefined {
  let best: T | undefined;
  let bestKm = Infinity;
  for (const p of places) {
    const km = haversineKm(from, p);
    if (km < bestKm) {
      best = p;
      bestKm = km;
    }
  }
  return best;
}
