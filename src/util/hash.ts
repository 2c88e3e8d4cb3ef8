// MurmurHash3 (x86, 32-bit) over UTF-8 strings and bytes. Pure JavaScript so
// that ring placement and integrity checks stay inside the pure pieces.

const encoder = new TextEncoder();

export function murmur3(input: string | Uint8Array, seed = 0): number {
  const data = typeof input === 'string' ? encoder.encode(input) : input;
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed >>> 0;
  const blocks = data.length >>> 2;
  for (let i = 0; i < blocks; i++) {
    const o = i << 2;
    let k = (data[o]! | (data[o + 1]! << 8) | (data[o + 2]! << 16) | (data[o + 3]! << 24)) >>> 0;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  }
  const tail = blocks << 2;
  // The 1-3 trailing bytes, little-endian, as the reference tail switch does.
  const rem = data.length & 3;
  if (rem > 0) {
    let k1 = 0;
    for (let i = rem - 1; i >= 0; i--) k1 = (k1 << 8) | data[tail + i]!;
    k1 = Math.imul(k1, c1);
    k1 = (k1 << 15) | (k1 >>> 17);
    k1 = Math.imul(k1, c2);
    h ^= k1;
  }
  h ^= data.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Two independent 32-bit hashes: a 64-bit check value, as 16 hex digits. */
export function hash64hex(input: string | Uint8Array): string {
  const a = murmur3(input, 0x1234567);
  const b = murmur3(input, 0x7654321);
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}
