// The additional checksums S3 clients send and ask for (x-amz-checksum-*):
// CRC32 (zlib, native), CRC32C and CRC64/NVME (table-driven, here), SHA-1 and
// SHA-256 (OpenSSL). Values travel base64-encoded, big-endian, as S3 does.

import { createHash, type Hash } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';

export type ChecksumAlgorithm = 'crc32' | 'crc32c' | 'crc64nvme' | 'sha1' | 'sha256';
export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'];

export function isChecksumAlgorithm(s: string): s is ChecksumAlgorithm {
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(s);
}

export interface Checksummer {
  update(data: Uint8Array): void;
  /** base64 of the big-endian digest. Call once. */
  digest(): string;
}

// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), slicing-by-8.
const C32C = (() => {
  const t = new Uint32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    for (let s = 1; s < 8; s++) t[s * 256 + i] = (t[(s - 1) * 256 + i]! >>> 8) ^ t[t[(s - 1) * 256 + i]! & 0xff]!;
  }
  return t;
})();

export function crc32c(data: Uint8Array, prev = 0): number {
  let c = ~prev >>> 0;
  let i = 0;
  const n = data.length;
  const t = C32C;
  for (; i + 8 <= n; i += 8) {
    const a = (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    c =
      t[7 * 256 + (a & 0xff)]! ^
      t[6 * 256 + ((a >>> 8) & 0xff)]! ^
      t[5 * 256 + ((a >>> 16) & 0xff)]! ^
      t[4 * 256 + (a >>> 24)]! ^
      t[3 * 256 + data[i + 4]!]! ^
      t[2 * 256 + data[i + 5]!]! ^
      t[256 + data[i + 6]!]! ^
      t[data[i + 7]!]!;
  }
  for (; i < n; i++) c = (c >>> 8) ^ t[(c ^ data[i]!) & 0xff]!;
  return ~c >>> 0;
}

// CRC64/NVME (reflected polynomial 0x9A6C9329AC4BC9B5), as two 32-bit halves.
const C64 = (() => {
  const lo = new Uint32Array(256);
  const hi = new Uint32Array(256);
  const polyLo = 0xac4bc9b5;
  const polyHi = 0x9a6c9329;
  for (let i = 0; i < 256; i++) {
    let l = i;
    let h = 0;
    for (let k = 0; k < 8; k++) {
      const bit = l & 1;
      l = ((l >>> 1) | ((h & 1) << 31)) >>> 0;
      h = h >>> 1;
      if (bit) {
        l = (l ^ polyLo) >>> 0;
        h = (h ^ polyHi) >>> 0;
      }
    }
    lo[i] = l;
    hi[i] = h;
  }
  return { lo, hi };
})();

class Crc64Nvme implements Checksummer {
  private lo = 0xffffffff;
  private hi = 0xffffffff;
  update(data: Uint8Array): void {
    let lo = this.lo;
    let hi = this.hi;
    const { lo: tl, hi: th } = C64;
    for (let i = 0; i < data.length; i++) {
      const idx = (lo ^ data[i]!) & 0xff;
      lo = (((lo >>> 8) | (hi << 24)) ^ tl[idx]!) >>> 0;
      hi = ((hi >>> 8) ^ th[idx]!) >>> 0;
    }
    this.lo = lo;
    this.hi = hi;
  }
  digest(): string {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(~this.hi >>> 0, 0);
    b.writeUInt32BE(~this.lo >>> 0, 4);
    return b.toString('base64');
  }
}

class Crc32Like implements Checksummer {
  private c = 0;
  constructor(private readonly fn: (d: Uint8Array, prev: number) => number) {}
  update(data: Uint8Array): void {
    this.c = this.fn(data, this.c);
  }
  digest(): string {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(this.c >>> 0, 0);
    return b.toString('base64');
  }
}

class Hashed implements Checksummer {
  private readonly h: Hash;
  constructor(algo: string) {
    this.h = createHash(algo);
  }
  update(data: Uint8Array): void {
    this.h.update(data);
  }
  digest(): string {
    return this.h.digest('base64');
  }
}

export function newChecksummer(algo: ChecksumAlgorithm): Checksummer {
  switch (algo) {
    case 'crc32':
      return new Crc32Like((d, p) => zlibCrc32(d, p));
    case 'crc32c':
      return new Crc32Like(crc32c);
    case 'crc64nvme':
      return new Crc64Nvme();
    case 'sha1':
      return new Hashed('sha1');
    case 'sha256':
      return new Hashed('sha256');
  }
}

export function checksumOf(algo: ChecksumAlgorithm, data: Uint8Array): string {
  const c = newChecksummer(algo);
  c.update(data);
  return c.digest();
}

/** Expected digest length in bytes, to reject malformed header values early. */
export const DIGEST_BYTES: Readonly<Record<ChecksumAlgorithm, number>> = { crc32: 4, crc32c: 4, crc64nvme: 8, sha1: 20, sha256: 32 };
