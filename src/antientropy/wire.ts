// How anti-entropy's payloads are encoded and sized on the wire.

import type { SiblingSet } from '../version/dvv.js';
import type { Hash64 } from './merkle.js';

const HASH_BYTES = 8;

export function encodeHashes(hashes: readonly Hash64[]): Uint8Array {
  const out = new Uint8Array(hashes.length * HASH_BYTES);
  const view = new DataView(out.buffer);
  hashes.forEach((h, i) => {
    view.setUint32(i * HASH_BYTES, h[0]);
    view.setUint32(i * HASH_BYTES + 4, h[1]);
  });
  return out;
}

export function decodeHashes(bytes: Uint8Array, count: number): Hash64[] {
  if (bytes.length !== count * HASH_BYTES) throw new Error(`anti-entropy: expected ${count} hashes, got ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Hash64[] = [];
  for (let i = 0; i < count; i++) out.push([view.getUint32(i * HASH_BYTES), view.getUint32(i * HASH_BYTES + 4)]);
  return out;
}

/** Rough wire size of a set: enough to keep batches under a message size limit. */
export function setBytes(set: SiblingSet | null | undefined): number {
  if (set == null) return 16;
  let n = 16;
  for (const s of set.siblings) n += 64 + (s.value?.length ?? 0) + Object.keys(s.past).length * 16;
  return n;
}
