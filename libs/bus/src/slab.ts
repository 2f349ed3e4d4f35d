/**
 * Carves buffers for one stream's frames out of larger slabs. An ingest path that allocates one
 * ArrayBuffer per message spends its time in allocation and GC; a slab per stream amortizes that,
 * and because one stream's frames are allocated in order, a slab lives only as long as the newest
 * frame in it (an edge's GOP cache spans a few slabs, not a few thousand allocations). Frames are
 * never carved from a shared pool: Node's 8 KiB pool would let one cached audio frame pin memory
 * written by unrelated code.
 */
export class SlabAllocator {
  readonly #slabSize: number;
  #slab: Buffer | undefined;
  #offset = 0;

  constructor(slabSize = 64 * 1024) {
    this.#slabSize = slabSize;
  }

  alloc(size: number): Buffer {
    if (size > this.#slabSize / 4) return Buffer.allocUnsafeSlow(size);
    if (this.#slab === undefined || this.#offset + size > this.#slab.length) {
      this.#slab = Buffer.allocUnsafeSlow(this.#slabSize);
      this.#offset = 0;
    }
    const out = this.#slab.subarray(this.#offset, this.#offset + size);
    // 8-byte alignment keeps DataView/typed-array reads of the next frame aligned.
    this.#offset += (size + 7) & ~7;
    return out;
  }
}
