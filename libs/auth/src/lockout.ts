/**
 * Brute-force protection: failed publish attempts are counted per client address across the
 * cluster, and an address with too many in a window is locked out for a while. Guessing a 256-bit
 * key is hopeless anyway; this protects weak operator-chosen secrets (webhook tokens, names used
 * as keys in other modes) and keeps a misconfigured encoder from hammering control.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { AUTH_FAILURE_SUBJECT, decodeJson, encodeJson, type AuthFailure, type Bus, type Subscription } from '@firstmile/bus';
import type { Logger } from '@firstmile/observability';
import { AuthError } from './errors.ts';

export interface FailureCounterOptions {
  /** Failures are counted over this sliding window. */
  windowMs: number;
  /** This many failures within the window lock the address out. */
  maxFailures: number;
  /** For this long. */
  lockoutMs: number;
  /** Addresses tracked at most; the least recently failed one is forgotten first, unlocked ones before locked ones. */
  maxEntries: number;
  now?: (() => number) | undefined;
}

interface Entry {
  /** Times of the failures inside the window, oldest first; at most maxFailures. */
  failures: number[];
  lockedUntil: number;
}

/** How many least-recent entries eviction looks through for an unlocked one before evicting a locked one. */
const EVICTION_SCAN = 64;
/** Longest address string accepted from a peer (an IPv6 address with a zone is under 64). */
const MAX_IP_LENGTH = 64;

/**
 * The address a failure is charged to. IPv4-mapped IPv6 is the IPv4 address; IPv6 is its /64,
 * since one host commonly holds a whole /64 and could otherwise rotate through addresses.
 */
export function lockoutKey(ip: string): string {
  let address = ip.trim().slice(0, MAX_IP_LENGTH);
  const zone = address.indexOf('%');
  if (zone !== -1) address = address.slice(0, zone);
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && isIPv4(lower.slice(7))) return lower.slice(7);
  if (!isIPv6(lower)) return lower;
  const groups = expandIPv6(lower);
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/** The eight groups of a valid IPv6 address, without leading zeros. */
function expandIPv6(address: string): string[] {
  let text = address;
  let v4: string[] = [];
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (isIPv4(last)) {
    // An embedded IPv4 tail (`::ffff:1.2.3.4`, `64:ff9b::1.2.3.4`) is the last two groups.
    const b = last.split('.').map(Number);
    v4 = [((b[0]! << 8) | b[1]!).toString(16), ((b[2]! << 8) | b[3]!).toString(16)];
    text = text.slice(0, lastColon + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const split = (part: string) => (part === '' ? [] : part.split(':'));
  const double = text.indexOf('::');
  let groups: string[];
  if (double === -1) {
    groups = split(text);
  } else {
    const head = split(text.slice(0, double));
    const tail = split(text.slice(double + 2));
    groups = [...head, ...Array<string>(Math.max(0, 8 - v4.length - head.length - tail.length)).fill('0'), ...tail];
  }
  groups.push(...v4);
  return groups.map((g) => parseInt(g, 16).toString(16));
}

/** A sliding-window failure counter per client address, sans-I/O and bounded. */
export class FailureCounter {
  readonly #windowMs: number;
  readonly #maxFailures: number;
  readonly #lockoutMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  #lockouts = 0;

  constructor(options: FailureCounterOptions) {
    for (const [name, value] of Object.entries({ windowMs: options.windowMs, maxFailures: options.maxFailures, lockoutMs: options.lockoutMs, maxEntries: options.maxEntries })) {
      if (!Number.isFinite(value) || value < 1) throw new AuthError('AUTH_ERR_CONFIG', `lockout ${name} must be at least 1`);
    }
    this.#windowMs = options.windowMs;
    this.#maxFailures = Math.floor(options.maxFailures);
    this.#lockoutMs = options.lockoutMs;
    this.#maxEntries = Math.floor(options.maxEntries);
    this.#now = options.now ?? Date.now;
  }

  /** Counts one failure; true when this one locked the address out. Failures while locked out do not extend it. */
  record(ip: string): boolean {
    const key = lockoutKey(ip);
    const now = this.#now();
    let entry = this.#entries.get(key);
    if (entry && entry.lockedUntil > now) return false;
    if (entry) {
      this.#entries.delete(key); // re-inserted below: Map order is least recently failed first
      entry.lockedUntil = 0;
      const from = now - this.#windowMs;
      let drop = 0;
      while (drop < entry.failures.length && entry.failures[drop]! <= from) drop++;
      if (drop) entry.failures.splice(0, drop);
    } else {
      this.#evictFor(now);
      entry = { failures: [], lockedUntil: 0 };
    }
    entry.failures.push(now);
    let locked = false;
    if (entry.failures.length >= this.#maxFailures) {
      entry.failures = [];
      entry.lockedUntil = now + this.#lockoutMs;
      this.#lockouts++;
      locked = true;
    }
    this.#entries.set(key, entry);
    return locked;
  }

  isLockedOut(ip: string): boolean {
    const key = lockoutKey(ip);
    const entry = this.#entries.get(key);
    if (!entry || entry.lockedUntil === 0) return false;
    if (entry.lockedUntil > this.#now()) return true;
    this.#entries.delete(key);
    return false;
  }

  /** Addresses locked out now (a gauge). */
  lockedCount(): number {
    const now = this.#now();
    let n = 0;
    for (const e of this.#entries.values()) if (e.lockedUntil > now) n++;
    return n;
  }

  /** Addresses tracked (failing or locked). */
  trackedCount(): number {
    return this.#entries.size;
  }

  /** Lockouts started since creation (a counter). */
  get lockoutsTotal(): number {
    return this.#lockouts;
  }

  get lockoutMs(): number {
    return this.#lockoutMs;
  }

  /** Makes room for one entry: the least recently failed unlocked address goes first. */
  #evictFor(now: number): void {
    if (this.#entries.size < this.#maxEntries) return;
    let scanned = 0;
    for (const [key, e] of this.#entries) {
      if (e.lockedUntil <= now) {
        this.#entries.delete(key);
        return;
      }
      if (++scanned >= EVICTION_SCAN) break;
    }
    const oldest = this.#entries.keys().next();
    if (!oldest.done) this.#entries.delete(oldest.value);
  }
}

export interface LockoutGuardOptions {
  bus: Bus;
  counter: FailureCounter;
  /** This edge's id, stamped on its AuthFailure messages so it can recognise its own echo. */
  edgeId: string;
  logger: Logger;
  /** Told when an address gets locked out, by a local failure or one from another edge (metrics). */
  onLockout?: ((event: { ip: string; lockoutMs: number; local: boolean }) => void) | undefined;
}

const MAX_FAILURE_MESSAGE_BYTES = 1024;

function isAuthFailure(value: unknown): value is AuthFailure {
  const v = value as AuthFailure | null;
  return typeof v === 'object' && v !== null && typeof v.ip === 'string' && v.ip.length > 0 && v.ip.length <= MAX_IP_LENGTH && typeof v.edge === 'string';
}

/**
 * Shares failures across edges over AUTH_FAILURE_SUBJECT. Each edge counts its own failures at
 * once, locally (so the next attempt on this edge is refused even if the bus is slow or down), and
 * publishes them; it counts every other edge's failures as they arrive and ignores the echo of its
 * own (NATS delivers a connection's messages back to it), so each failure is counted once per edge.
 * Edge ids must therefore be unique (pod names). Delivery is at-most-once: a lost message only
 * makes the limit a little looser.
 */
export class LockoutGuard {
  readonly #bus: Bus;
  readonly #counter: FailureCounter;
  readonly #edgeId: string;
  readonly #logger: Logger;
  readonly #onLockout: LockoutGuardOptions['onLockout'];
  readonly #sub: Subscription;

  constructor(options: LockoutGuardOptions) {
    this.#bus = options.bus;
    this.#counter = options.counter;
    this.#edgeId = options.edgeId;
    this.#logger = options.logger.child({ component: 'lockout' });
    this.#onLockout = options.onLockout;
    this.#sub = this.#bus.subscribe(AUTH_FAILURE_SUBJECT, (message) => {
      if (message.data.byteLength > MAX_FAILURE_MESSAGE_BYTES) return;
      const failure = decodeJson(message.data, isAuthFailure);
      if (!failure || failure.edge === this.#edgeId) return;
      if (this.#counter.record(failure.ip)) this.#locked(failure.ip, false);
    });
  }

  get counter(): FailureCounter {
    return this.#counter;
  }

  isLockedOut(ip: string): boolean {
    return this.#counter.isLockedOut(ip);
  }

  /** A refused publish from `ip` (never call it for AUTH_UNAVAILABLE: that is our failure, not theirs). */
  recordFailure(ip: string, app: string, mode: string): void {
    if (this.#counter.record(ip)) this.#locked(ip, true);
    const failure: AuthFailure = { ip: ip.slice(0, MAX_IP_LENGTH), app: app.slice(0, 256), mode, edge: this.#edgeId, at: new Date().toISOString() };
    try {
      this.#bus.publish(AUTH_FAILURE_SUBJECT, encodeJson(failure));
    } catch (error) {
      this.#logger.warn({ err: (error as Error).message }, 'auth failure not shared');
    }
  }

  close(): void {
    this.#sub.unsubscribe();
  }

  #locked(ip: string, local: boolean): void {
    const key = lockoutKey(ip);
    this.#logger.warn({ ip: key, local }, 'client address locked out after repeated failed publishes');
    this.#onLockout?.({ ip: key, lockoutMs: this.#counter.lockoutMs, local });
  }
}
