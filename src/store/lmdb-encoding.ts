// How a node's LMDB store encodes keys and reads sets back: the limits of
// lmdb-js's ordered-binary keys, and the exact shape of a decoded set.

import type { Sibling, SiblingSet } from '../version/dvv.js';

/** lmdb-js's default maximum key size (bytes) with the default page size. */
const MAX_KEY_BYTES = 1978;

export function checkKey(partition: number, bucket: string, key: string, owner?: string): void {
  if (!Number.isSafeInteger(partition) || partition < 0) throw new RangeError(`bad partition ${partition}`);
  // ordered-binary: 9 bytes per number in an array, 1 separator per element,
  // UTF-8 bytes, plus one escape byte per char <= 4 and per leading char < 28.
  const bytes = 9 + 2 + encodedLength(bucket) + encodedLength(key) + (owner === undefined ? 0 : encodedLength(owner));
  if (bytes > MAX_KEY_BYTES) throw new RangeError(`bucket+key too long: ${bytes} encoded bytes (max ${MAX_KEY_BYTES})`);
}

function encodedLength(s: string): number {
  let n = Buffer.byteLength(s, 'utf8') + 1;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) <= 4) n++;
  return n;
}

/**
 * msgpack gives binary values back as Buffer (a Uint8Array subclass), null
 * tombstones as null. Make the shape exact: value is a Uint8Array-compatible
 * Buffer or null, never undefined.
 */
export function normalizeSet(set: SiblingSet): SiblingSet {
  for (const s of set.siblings) {
    const v = (s as { value: unknown }).value;
    if (v === undefined) (s as { value: Sibling['value'] }).value = null;
    else if (v !== null && !(v instanceof Uint8Array)) throw new Error('LmdbStore: corrupt sibling value');
  }
  return set;
}
