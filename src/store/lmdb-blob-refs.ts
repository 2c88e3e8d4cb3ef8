// How an entry of a node's LMDB store refers to blob files (blobs.ts): a
// sibling whose value is SPILL_BYTES or more is stored with value null and
// the name and size of the file that holds the value, so that LMDB's single
// writer does not copy multi-MiB values inside its serialized commits.

import type { Sibling, SiblingSet } from '../version/dvv.js';
import { SPILL_BYTES } from './blobs.js';
import { normalizeSet } from './lmdb-encoding.js';

/** A sibling as LMDB holds it: a big value is in a blob file (blobs.ts), named here, with value null. */
export interface StoredSibling extends Sibling {
  blob?: string;
  size?: number;
}

const NO_BYTES = new Uint8Array(0);

/** A stored set as it is, minus its values: live ones empty (blob files not read), tombstones null. */
export function withoutBlobs(stored: SiblingSet): SiblingSet {
  return {
    siblings: normalizeSet(stored).siblings.map((s) => {
      const { blob, size, ...rest } = s as StoredSibling;
      void size;
      return s.value === null && blob === undefined ? rest : { ...rest, value: NO_BYTES };
    }),
  };
}

/** The blob files a stored set refers to. */
export function blobsOf(stored: SiblingSet | undefined): string[] {
  const out: string[] = [];
  for (const s of stored?.siblings ?? []) {
    const name = (s as StoredSibling).blob;
    if (name !== undefined) out.push(name);
  }
  return out;
}

/** Two stored forms of a key hold the same events and files (a dot names one event). */
export function sameStored(a: SiblingSet, b: SiblingSet): boolean {
  if (a.siblings.length !== b.siblings.length) return false;
  return a.siblings.every((s, i) => {
    const t = b.siblings[i] as StoredSibling;
    return s.dot.node === t.dot.node && s.dot.counter === t.dot.counter && (s as StoredSibling).blob === t.blob;
  });
}

/** The big values of `next` that do not come from `current`: they need blob files. */
export function newBigValues(next: SiblingSet, current: SiblingSet | undefined): Uint8Array[] {
  const old = new Set(current?.siblings.map((s) => s.value));
  return next.siblings.map((s) => s.value).filter((v): v is Uint8Array => v !== null && v.byteLength >= SPILL_BYTES && !old.has(v));
}

/**
 * A sibling set as stored: each big value replaced by its blob file's name
 * and size. A value from `current` keeps the file it came from (or stays
 * inline if it was stored inline); a new one uses the file written for it
 * beforehand (in `files`), or stays inline when there is none.
 */
export function toStored(next: SiblingSet, current: SiblingSet | undefined, raw: SiblingSet | undefined, files: ReadonlyMap<Uint8Array, string>): SiblingSet {
  const fromCurrent = new Map<Uint8Array, string | undefined>();
  current?.siblings.forEach((s, i) => {
    if (s.value !== null) fromCurrent.set(s.value, (raw?.siblings[i] as StoredSibling | undefined)?.blob);
  });
  let spilled = false;
  const siblings = next.siblings.map((s): Sibling => {
    if (s.value === null || s.value.byteLength < SPILL_BYTES) return s;
    const name = fromCurrent.has(s.value) ? fromCurrent.get(s.value) : files.get(s.value);
    if (name === undefined) return s;
    spilled = true;
    const stored: StoredSibling = { dot: s.dot, past: s.past, meta: s.meta, value: null, blob: name, size: s.value.byteLength };
    return stored;
  });
  return spilled ? { siblings } : next;
}
