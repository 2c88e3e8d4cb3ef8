// The one order of keys every store keeps and every scan pages by: bucket,
// then key, each compared by Unicode code point. That is the byte order of
// their UTF-8 encodings and so the order LMDB's ordered-binary keys give, which
// lets the in-memory twin, the LMDB store, the coordinator's list merge and
// anti-entropy's paging agree without sharing a store.

export interface KeyRef {
  readonly bucket: string;
  readonly key: string;
}

/** The order of scanPartition (store.ts): bucket, then key, each by code point. */
export function compareKeyRefs(a: KeyRef, b: KeyRef): number {
  return compareCodePoints(a.bucket, b.bucket) || compareCodePoints(a.key, b.key);
}

/** Compares strings by Unicode code point (= UTF-8 byte order = ordered-binary order). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (0xD800-0xDFFF) encode code points above 0xFFFF, which sort
    // after every BMP character, including 0xE000-0xFFFF.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}
