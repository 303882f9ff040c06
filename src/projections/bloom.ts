/**
 * A Bloom filter of strings: `has` is never false for a key that was added, and true for one that
 * was not with a probability that depends on the size (about 1% at 10 bits a key, 7 hashes).
 * The rebuild uses it to know, without asking the database, that a key has no row yet.
 */
export class BloomFilter {
  private readonly bits: Uint32Array;
  private readonly mask: number;

  /** Sized for `expected` keys at ~1% false positives, between 2^16 and 2^28 bits. */
  constructor(
    expected: number,
    private readonly hashes = 7,
  ) {
    const wanted = Math.max(1 << 16, Math.min(2 ** 28, Math.ceil(Math.max(1, expected) * 10)));
    let size = 1 << 16;
    while (size < wanted) size *= 2;
    this.bits = new Uint32Array(size / 32);
    this.mask = size - 1;
  }

  /** Bytes the filter holds. */
  get bytes(): number {
    return this.bits.byteLength;
  }

  add(key: string): void {
    let [h1, h2] = hash2(key);
    for (let i = 0; i < this.hashes; i++) {
      const bit = h1 & this.mask;
      this.bits[bit >>> 5] |= 1 << (bit & 31);
      h1 = (h1 + h2) >>> 0;
      h2 = (h2 + i) >>> 0;
    }
  }

  has(key: string): boolean {
    let [h1, h2] = hash2(key);
    for (let i = 0; i < this.hashes; i++) {
      const bit = h1 & this.mask;
      if ((this.bits[bit >>> 5] & (1 << (bit & 31))) === 0) return false;
      h1 = (h1 + h2) >>> 0;
      h2 = (h2 + i) >>> 0;
    }
    return true;
  }
}

/** Two independent 32-bit hashes of a string (FNV-1a and a murmur-style mix), for double hashing. */
function hash2(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35);
  b ^= b >>> 16;
  return [a >>> 0, (b | 1) >>> 0];
}
