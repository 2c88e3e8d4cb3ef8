// The read cache of small objects (chunks have their own, by content hash,
// in chunks.ts). A value is cached under the dot of the version it belongs
// to, and a dot names one write: a cached value can be stale only in the
// sense of being an old version, never wrong for its dot. So a read still
// asks a quorum which version is current (a values-free quorum read: the
// replicas send clocks, not values) and serves the value from here only
// when the quorum's winner is the cached dot; it never answers with a
// version older than a quorum read would.
//
// Only keys read before (a cache entry for the key exists) take that path;
// the first read of a key is a plain quorum read that fills the cache, so
// cold keys cost no extra round trip.

import type { Coordinator } from '../coordinator/coordinator.js';
import { dotKey, setClock, type Sibling, type SiblingSet, type VersionVector } from '../version/dvv.js';
import { pickSibling, type Loaded, decodeObject } from './object-model.js';

/** Values up to this size are cached (inline objects are at most INLINE_MAX; manifests are small). */
export const OBJECT_CACHE_MAX_VALUE = 64 * 1024;

export interface ObjectCacheStats {
  hits: number;
  misses: number;
  /** Values-free reads whose winner was not the cached version (the object changed). */
  stale: number;
  entries: number;
  bytes: number;
}

/** A byte-bounded LRU of object values by (bucket, key), each for one dot. */
export class ObjectCache {
  readonly stats: ObjectCacheStats = { hits: 0, misses: 0, stale: 0, entries: 0, bytes: 0 };
  private readonly map = new Map<string, { dot: string; value: Uint8Array }>();

  constructor(private readonly maxBytes: number) {}

  private static id(bucket: string, key: string): string {
    return `${bucket}\u0000${key}`;
  }

  has(bucket: string, key: string): boolean {
    return this.map.has(ObjectCache.id(bucket, key));
  }

  /** The cached value of bucket/key if it is the value of `dot`. */
  get(bucket: string, key: string, dot: string): Uint8Array | undefined {
    const id = ObjectCache.id(bucket, key);
    const e = this.map.get(id);
    if (e === undefined || e.dot !== dot) return undefined;
    this.map.delete(id);
    this.map.set(id, e);
    return e.value;
  }

  set(bucket: string, key: string, dot: string, value: Uint8Array): void {
    if (value.byteLength > OBJECT_CACHE_MAX_VALUE || value.byteLength > this.maxBytes / 8) return;
    const id = ObjectCache.id(bucket, key);
    this.drop(id);
    this.map.set(id, { dot, value });
    this.stats.bytes += value.byteLength + id.length;
    for (const [k] of this.map) {
      if (this.stats.bytes <= this.maxBytes) break;
      this.drop(k);
    }
    this.stats.entries = this.map.size;
  }

  /** Forgets bucket/key (it changed or was deleted through this node). */
  forget(bucket: string, key: string): void {
    this.drop(ObjectCache.id(bucket, key));
    this.stats.entries = this.map.size;
  }

  private drop(id: string): void {
    const e = this.map.get(id);
    if (e === undefined) return;
    this.map.delete(id);
    this.stats.bytes -= e.value.byteLength + id.length;
  }
}

/**
 * loadObject through the cache: for a key read before, a values-free quorum
 * read, then the cached value if it belongs to the winner; otherwise (and
 * for keys not cached) a full quorum read, whose winner's value is cached.
 */
export async function loadObjectCached(
  cache: ObjectCache | undefined,
  coordinator: Coordinator,
  bucket: string,
  key: string,
  versionId: string | undefined,
  quorum: { n?: number; r?: number },
): Promise<Loaded> {
  const full = async (): Promise<Loaded> => {
    const read = await coordinator.get({ bucket, key, n: quorum.n, r: quorum.r });
    const s = pickSibling(read.set, versionId);
    if (cache !== undefined) {
      if (s !== undefined && s.value !== null) cache.set(bucket, key, dotKey(s.dot), s.value);
      else if (s === undefined) cache.forget(bucket, key);
    }
    return loaded(s, read.set, read.context);
  };
  if (cache === undefined || !cache.has(bucket, key)) {
    if (cache !== undefined) cache.stats.misses++;
    return full();
  }
  const read = await coordinator.get({ bucket, key, n: quorum.n, r: quorum.r, omitValues: true });
  const s = pickSibling(read.set, versionId);
  if (s === undefined || s.value === null) return loaded(s, read.set, read.context);
  const value = cache.get(bucket, key, dotKey(s.dot));
  if (value === undefined) {
    cache.stats.stale++;
    cache.stats.misses++;
    return full();
  }
  cache.stats.hits++;
  // The values-free set stands in for the read set: what callers use of it
  // is its versions (context, sibling count), never the other values.
  return loaded({ ...s, value }, read.set, read.context);
}

function loaded(s: Sibling | undefined, set: SiblingSet, context: VersionVector): Loaded {
  if (s === undefined) return { object: undefined, set, context, deleteMarker: undefined };
  if (s.value === null) return { object: undefined, set, context, deleteMarker: s };
  return { object: decodeObject(s), set, context: context ?? setClock(set), deleteMarker: undefined };
}
