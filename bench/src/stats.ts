/** Small statistics helpers: a fixed-memory latency histogram and percentiles of arrays. */

/**
 * Latency histogram in microseconds: 10 µs buckets up to 100 ms, then 1 ms buckets up to 60 s.
 * Fixed memory whatever the sample count (a fan-out run records ~30 samples per player per second).
 */
export class Histogram {
  static readonly FINE_US = 10;
  static readonly FINE_LIMIT_US = 100_000;
  static readonly COARSE_US = 1000;
  static readonly LIMIT_US = 60_000_000;
  readonly #fine = new Float64Array(Histogram.FINE_LIMIT_US / Histogram.FINE_US);
  readonly #coarse = new Float64Array((Histogram.LIMIT_US - Histogram.FINE_LIMIT_US) / Histogram.COARSE_US + 1);
  count = 0;
  max = 0;
  sum = 0;

  record(us: number): void {
    const v = us < 0 ? 0 : us;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
    if (v < Histogram.FINE_LIMIT_US) this.#fine[Math.floor(v / Histogram.FINE_US)]!++;
    else this.#coarse[Math.min(this.#coarse.length - 1, Math.floor((v - Histogram.FINE_LIMIT_US) / Histogram.COARSE_US))]!++;
  }

  reset(): void {
    this.#fine.fill(0);
    this.#coarse.fill(0);
    this.count = 0;
    this.max = 0;
    this.sum = 0;
  }

  /** Non-empty buckets as [index, count] pairs (fine buckets first, then coarse at index + fine length). */
  toSparse(): { count: number; max: number; sum: number; buckets: [number, number][] } {
    const buckets: [number, number][] = [];
    this.#fine.forEach((c, i) => {
      if (c > 0) buckets.push([i, c]);
    });
    this.#coarse.forEach((c, i) => {
      if (c > 0) buckets.push([i + this.#fine.length, c]);
    });
    return { count: this.count, max: this.max, sum: this.sum, buckets };
  }

  /** Adds another histogram's toSparse() output. */
  merge(other: { count: number; max: number; sum: number; buckets: [number, number][] }): void {
    this.count += other.count;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
    for (const [i, c] of other.buckets) {
      if (i < this.#fine.length) this.#fine[i]! += c;
      else this.#coarse[i - this.#fine.length]! += c;
    }
  }

  /** The q-quantile (0..1) in µs (upper edge of its bucket, capped at max); NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.#fine.length; i++) {
      seen += this.#fine[i]!;
      if (seen >= rank) return Math.min(this.max, (i + 1) * Histogram.FINE_US);
    }
    for (let i = 0; i < this.#coarse.length; i++) {
      seen += this.#coarse[i]!;
      if (seen >= rank) return Math.min(this.max, Histogram.FINE_LIMIT_US + (i + 1) * Histogram.COARSE_US);
    }
    return this.max;
  }
}

/** The q-quantile of numbers (nearest rank); NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
