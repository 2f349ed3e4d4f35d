/**
 * A minimal MaxMind DB (format 2.0) writer, so tests build their own GeoIP database instead of
 * shipping MaxMind's. Layout (https://maxmind.github.io/MaxMind-DB/):
 *
 *   search tree   node_count nodes of two records each (24-bit records: 6 bytes per node); bit i of
 *                 the address picks the left (0) or right (1) record; a record < node_count is a
 *                 node, == node_count is "not found", > node_count points into the data section at
 *                 (record - node_count - 16)
 *   16 zero bytes the data section separator
 *   data section  values in the MaxMind DB type encoding (control byte: 3 type bits and 5 size bits;
 *                 type 0 means "extended", with the type - 7 in the next byte)
 *   "\xAB\xCD\xEFMaxMind.com", then the metadata map
 *
 * IPv4 networks live in the IPv6 tree at ::a.b.c.d (96 zero bits first), where readers look them up.
 * Networks must not overlap (a later, shorter prefix replaces what was under it).
 */

const enum_ = {
  utf8: 2,
  double: 3,
  uint16: 5,
  uint32: 6,
  map: 7,
  uint64: 9,
  array: 11,
  boolean: 14,
} as const;

/** An unsigned integer of a given MaxMind DB type (JS numbers are written as doubles). */
export class MmdbUint {
  readonly type: 'uint16' | 'uint32' | 'uint64';
  readonly value: bigint;

  constructor(type: 'uint16' | 'uint32' | 'uint64', value: number | bigint) {
    this.type = type;
    this.value = BigInt(value);
  }
}

export type MmdbValue = string | number | boolean | MmdbUint | MmdbValue[] | { [key: string]: MmdbValue };
export type MmdbMap = { [key: string]: MmdbValue };

export const uint16 = (v: number): MmdbUint => new MmdbUint('uint16', v);
export const uint32 = (v: number): MmdbUint => new MmdbUint('uint32', v);
export const uint64 = (v: number | bigint): MmdbUint => new MmdbUint('uint64', v);

export interface MmdbNetwork {
  /** CIDR: "81.2.69.0/24" or "2001:db8::/32". */
  network: string;
  data: MmdbMap;
}

export interface MmdbOptions {
  databaseType?: string;
  description?: string;
  buildEpoch?: number;
}

const METADATA_MARKER = Buffer.from([0xab, 0xcd, 0xef, ...Buffer.from('MaxMind.com', 'latin1')]);
const RECORD_SIZE = 24;

type Child = TreeNode | { data: number } | undefined;
interface TreeNode {
  left: Child;
  right: Child;
  n: number;
}

export function writeMmdb(networks: readonly MmdbNetwork[], options: MmdbOptions = {}): Buffer {
  const root: TreeNode = { left: undefined, right: undefined, n: -1 };
  const dataIndex = new Map<string, number>();
  const values: MmdbMap[] = [];
  for (const { network, data } of networks) {
    const [bits, prefix] = parseCidr(network);
    const key = JSON.stringify(data, (_k, v: unknown) => (v instanceof MmdbUint ? `${v.type}:${v.value}` : v));
    let index = dataIndex.get(key);
    if (index === undefined) {
      index = values.length;
      values.push(data);
      dataIndex.set(key, index);
    }
    let node = root;
    for (let depth = 0; depth < prefix - 1; depth++) {
      const side = bits[depth] ? 'right' : 'left';
      let next = node[side];
      if (!next || !('left' in next)) {
        next = { left: undefined, right: undefined, n: -1 };
        node[side] = next;
      }
      node = next;
    }
    node[bits[prefix - 1] ? 'right' : 'left'] = { data: index };
  }

  // Number the nodes breadth first.
  const order: TreeNode[] = [];
  const queue: TreeNode[] = [root];
  while (queue.length > 0) {
    const node = queue.shift()!;
    node.n = order.length;
    order.push(node);
    for (const c of [node.left, node.right]) if (c && 'left' in c) queue.push(c);
  }
  const nodeCount = order.length;

  // Data section: each distinct value once.
  const dataParts: Buffer[] = [];
  const offsets: number[] = [];
  let dataSize = 0;
  for (const v of values) {
    offsets.push(dataSize);
    const b = encode(v);
    dataParts.push(b);
    dataSize += b.length;
  }

  const record = (c: Child): number => (c === undefined ? nodeCount : 'left' in c ? c.n : nodeCount + 16 + offsets[c.data]!);
  const tree = Buffer.alloc(nodeCount * ((RECORD_SIZE * 2) / 8));
  for (const node of order) {
    const at = node.n * 6;
    tree.writeUIntBE(record(node.left), at, 3);
    tree.writeUIntBE(record(node.right), at + 3, 3);
  }

  const metadata: MmdbMap = {
    binary_format_major_version: uint16(2),
    binary_format_minor_version: uint16(0),
    build_epoch: uint64(options.buildEpoch ?? Math.floor(Date.now() / 1000)),
    database_type: options.databaseType ?? 'GeoLite2-City',
    description: { en: options.description ?? 'firstmile test database' },
    ip_version: uint16(6),
    languages: ['en'],
    node_count: uint32(nodeCount),
    record_size: uint16(RECORD_SIZE),
  };
  return Buffer.concat([tree, Buffer.alloc(16), ...dataParts, METADATA_MARKER, encode(metadata)]);
}

/** A record in the GeoIP2/GeoLite2 City shape. */
export function cityRecord(r: { lat: number; lon: number; country: string; continent: string; accuracyRadiusKm?: number }): MmdbMap {
  return {
    continent: { code: r.continent, names: { en: r.continent } },
    country: { iso_code: r.country, names: { en: r.country } },
    location: { latitude: r.lat, longitude: r.lon, accuracy_radius: uint16(r.accuracyRadiusKm ?? 50) },
  };
}

function encode(v: MmdbValue): Buffer {
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    return Buffer.concat([header(enum_.utf8, b.length), b]);
  }
  if (typeof v === 'number') {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(v);
    return Buffer.concat([header(enum_.double, 8), b]);
  }
  if (typeof v === 'boolean') return header(enum_.boolean, v ? 1 : 0);
  if (v instanceof MmdbUint) {
    const bytes: number[] = [];
    for (let x = v.value; x > 0n; x >>= 8n) bytes.unshift(Number(x & 0xffn));
    return Buffer.concat([header(enum_[v.type], bytes.length), Buffer.from(bytes)]);
  }
  if (Array.isArray(v)) return Buffer.concat([header(enum_.array, v.length), ...v.map(encode)]);
  const entries = Object.entries(v);
  return Buffer.concat([header(enum_.map, entries.length), ...entries.flatMap(([k, x]) => [encode(k), encode(x)])]);
}

/** Control byte (plus the extended type byte), then the size's extra bytes. */
function header(type: number, size: number): Buffer {
  const ext = type > 7;
  let sizeBits: number;
  let extra: Buffer;
  if (size < 29) {
    sizeBits = size;
    extra = Buffer.alloc(0);
  } else if (size < 29 + 256) {
    sizeBits = 29;
    extra = Buffer.from([size - 29]);
  } else if (size < 285 + 65536) {
    sizeBits = 30;
    extra = Buffer.alloc(2);
    extra.writeUInt16BE(size - 285);
  } else {
    sizeBits = 31;
    extra = Buffer.alloc(3);
    extra.writeUIntBE(size - 65821, 0, 3);
  }
  const control = Buffer.from(ext ? [sizeBits, type - 7] : [(type << 5) | sizeBits]);
  return Buffer.concat([control, extra]);
}

/** The address's 128 bits (IPv4 as ::a.b.c.d) and the prefix length in that tree. */
function parseCidr(cidr: string): [number[], number] {
  const [addr, len] = cidr.split('/');
  if (addr === undefined || len === undefined) throw new Error(`not a CIDR: ${cidr}`);
  const bytes = addr.includes(':') ? ipv6Bytes(addr) : [...new Array<number>(12).fill(0), ...ipv4Bytes(addr)];
  const prefix = Number(len) + (addr.includes(':') ? 0 : 96);
  if (!(prefix >= 1 && prefix <= 128)) throw new Error(`bad prefix in ${cidr}`);
  const bits: number[] = [];
  for (const b of bytes) for (let i = 7; i >= 0; i--) bits.push((b >> i) & 1);
  return [bits, prefix];
}

function ipv4Bytes(a: string): number[] {
  const parts = a.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) throw new Error(`bad IPv4 ${a}`);
  return parts;
}

function ipv6Bytes(a: string): number[] {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) throw new Error(`bad IPv6 ${a}`);
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}
