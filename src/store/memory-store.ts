// The in-memory ReplicaStore the simulator runs. Same contract as LmdbStore:
//
// - update() applies `fn` on a later microtask, in call order, so like LMDB a
//   read() issued right after update() still sees the old value, and `fn`
//   sees every update queued before it. The promise resolves once applied.
// - Everything applied is "durable": a simulated crash keeps the data. Model
//   a crash/restart by dropping the node and handing `store.reopen()` (a new
//   handle on the same data, like reopening the LMDB directory) to the
//   restarted node; the old handle is closed.
// - Iteration order is (bucket, key) by Unicode code point, the order LMDB's
//   ordered-binary keys give.
// - Stored sets are copied on write (binary values too), so a caller reusing
//   its buffers cannot change what is stored; callers must not mutate what
//   read() returns (it is shared, as the types' readonly says).

import { hintBytes, type HintKey, type HintStore, type HintTotals, type ReplicaStore, type StoredHint, type StoredKey } from './store.js';
import { EMPTY_SET, sameSet, type NodeId, type SiblingSet } from '../version/dvv.js';
import { compareCodePoints, compareKeyRefs, type KeyRef } from './key-order.js';

interface Entry {
  readonly partition: number;
  set: SiblingSet;
}

class Shared {
  /** bucket -> key -> entry */
  readonly buckets = new Map<string, Map<string, Entry>>();
  /** partition -> bucket -> set of keys */
  readonly partitions = new Map<number, Map<string, Set<string>>>();
  readonly meta = new Map<string, unknown>();
  /** Sorted key lists, invalidated when a key is added or removed. */
  readonly sortedKeys = new Map<string, string[]>();
  /** Each partition's keys in (bucket, key) order, invalidated like sortedKeys. */
  readonly sortedPartitions = new Map<number, readonly KeyRef[]>();
  /** The hint table (HintStore): JSON [owner, partition, bucket, key] -> hint. */
  readonly hints = new Map<string, StoredHint>();
}

function hintId(h: HintKey): string {
  return JSON.stringify([h.owner, h.partition, h.bucket, h.key]);
}

/** (partition, bucket, key) order, the order LMDB keeps one owner's hints in. */
function compareHints(a: HintKey, b: HintKey): number {
  return a.partition - b.partition || compareCodePoints(a.bucket, b.bucket) || compareCodePoints(a.key, b.key);
}

export class MemoryStore implements ReplicaStore, HintStore {
  private closed = false;

  constructor(private readonly s: Shared = new Shared()) {}

  /** A new handle on the same data (the "disk"), closing this one. */
  reopen(): MemoryStore {
    this.closed = true;
    return new MemoryStore(this.s);
  }

  read(bucket: string, key: string): SiblingSet | undefined {
    this.checkOpen();
    return this.s.buckets.get(bucket)?.get(key)?.set;
  }

  update(
    partition: number,
    bucket: string,
    key: string,
    fn: (current: SiblingSet | undefined) => SiblingSet,
  ): Promise<SiblingSet> {
    return Promise.resolve().then(() => {
      this.checkOpen();
      const current = this.read(bucket, key);
      const next = fn(current);
      if (next === current || next === undefined) return current ?? EMPTY_SET;
      if (next.siblings.length === 0) {
        this.delete(bucket, key);
        return next;
      }
      const stored = copySet(next);
      const entry = this.s.buckets.get(bucket)?.get(key);
      if (entry !== undefined && entry.partition === partition) entry.set = stored;
      else {
        if (entry !== undefined) this.delete(bucket, key);
        this.insert(partition, bucket, key, stored);
      }
      return stored;
    });
  }

  remove(partition: number, bucket: string, key: string): Promise<void> {
    void partition; // the key's entry names its partition
    return Promise.resolve().then(() => {
      this.checkOpen();
      this.delete(bucket, key);
    });
  }

  *scanPartition(partition: number, after?: KeyRef): Iterable<StoredKey> {
    this.checkOpen();
    // Sorted once and kept while no key comes or goes, so that paging with
    // `after` (anti-entropy's key lists) costs a binary search, not a sort.
    const refs = this.sortedPartition(partition);
    let i = 0;
    if (after !== undefined) {
      let hi = refs.length;
      while (i < hi) {
        const mid = (i + hi) >>> 1;
        if (compareKeyRefs(refs[mid]!, after) <= 0) i = mid + 1;
        else hi = mid;
      }
    }
    for (; i < refs.length; i++) {
      const { bucket, key } = refs[i]!;
      const entry = this.s.buckets.get(bucket)?.get(key);
      // Changed during the scan: skip what moved away or was removed.
      if (entry === undefined || entry.partition !== partition) continue;
      yield { partition, bucket, key, set: entry.set };
    }
  }

  *scanBucket(bucket: string, opts: { prefix?: string; after?: string; limit?: number }): Iterable<StoredKey> {
    this.checkOpen();
    const prefix = opts.prefix ?? '';
    const limit = opts.limit ?? Infinity;
    if (limit <= 0) return;
    const keys = this.sorted(bucket);
    // First index whose key is >= prefix, or > after, whichever is later.
    let i = lowerBound(keys, prefix);
    if (opts.after !== undefined) {
      let j = lowerBound(keys, opts.after);
      if (j < keys.length && keys[j] === opts.after) j++;
      if (j > i) i = j;
    }
    let n = 0;
    for (; i < keys.length; i++) {
      const key = keys[i]!;
      if (!key.startsWith(prefix)) return;
      const entry = this.s.buckets.get(bucket)?.get(key);
      if (entry === undefined) continue; // removed during the scan
      yield { partition: entry.partition, bucket, key, set: entry.set };
      if (++n >= limit) return;
    }
  }

  getMeta<T>(name: string): T | undefined {
    this.checkOpen();
    const v = this.s.meta.get(name);
    return v === undefined ? undefined : (structuredClone(v) as T);
  }

  putMeta(name: string, value: unknown): Promise<void> {
    // Copy now, as LMDB encodes at call time.
    const copy = value === undefined ? undefined : structuredClone(value);
    return Promise.resolve().then(() => {
      this.checkOpen();
      if (copy === undefined) this.s.meta.delete(name);
      else this.s.meta.set(name, copy);
    });
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  // ---- hints (HintStore) ---------------------------------------------------

  updateHint(h: HintKey, nowMs: number, fn: (current: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet> {
    const at: HintKey = { owner: h.owner, partition: h.partition, bucket: h.bucket, key: h.key };
    return Promise.resolve().then(() => {
      this.checkOpen();
      const id = hintId(at);
      const current = this.s.hints.get(id)?.set;
      const next = fn(current);
      if (next === current || next === undefined) return current ?? EMPTY_SET;
      if (next.siblings.length === 0) {
        this.s.hints.delete(id);
        return next;
      }
      const stored = copySet(next);
      this.s.hints.set(id, { ...at, set: stored, updatedMs: nowMs });
      return stored;
    });
  }

  readHints(bucket: string, key: string): StoredHint[] {
    this.checkOpen();
    const out = [...this.s.hints.values()].filter((h) => h.bucket === bucket && h.key === key);
    return out.sort((a, b) => compareCodePoints(a.owner, b.owner));
  }

  *scanHints(owner: NodeId, opts: { after?: HintKey; limit?: number } = {}): Iterable<StoredHint> {
    this.checkOpen();
    const limit = opts.limit ?? Infinity;
    const after = opts.after?.owner === owner ? opts.after : undefined;
    const mine = [...this.s.hints.values()].filter((h) => h.owner === owner && (after === undefined || compareHints(h, after) > 0));
    mine.sort(compareHints);
    let n = 0;
    for (const h of mine) {
      if (n++ >= limit) return;
      if (this.s.hints.has(hintId(h))) yield h;
    }
  }

  *scanBucketHints(bucket: string, opts: { prefix?: string; after?: string; limit?: number }): Iterable<StoredHint> {
    this.checkOpen();
    const prefix = opts.prefix ?? '';
    const limit = opts.limit ?? Infinity;
    const after = opts.after;
    const hits = [...this.s.hints.values()].filter(
      (h) => h.bucket === bucket && h.key.startsWith(prefix) && (after === undefined || compareCodePoints(h.key, after) > 0),
    );
    hits.sort((a, b) => compareCodePoints(a.key, b.key) || compareCodePoints(a.owner, b.owner));
    let keys = 0;
    let last: string | undefined;
    for (const h of hits) {
      if (h.key !== last) {
        if (keys >= limit) return;
        keys++;
        last = h.key;
      }
      yield h;
    }
  }

  removeHint(h: HintKey, expected: SiblingSet): Promise<boolean> {
    const id = hintId(h);
    return Promise.resolve().then(() => {
      this.checkOpen();
      const cur = this.s.hints.get(id);
      if (cur === undefined || !sameSet(cur.set, expected)) return false;
      this.s.hints.delete(id);
      return true;
    });
  }

  hintTotals(): HintTotals[] {
    this.checkOpen();
    const totals = new Map<NodeId, { hints: number; bytes: number }>();
    for (const h of this.s.hints.values()) {
      const t = totals.get(h.owner) ?? { hints: 0, bytes: 0 };
      t.hints++;
      t.bytes += hintBytes(h, h.set);
      totals.set(h.owner, t);
    }
    return [...totals]
      .map(([owner, t]) => ({ owner, hints: t.hints, bytes: t.bytes }))
      .sort((a, b) => compareCodePoints(a.owner, b.owner));
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('MemoryStore is closed');
  }

  private insert(partition: number, bucket: string, key: string, set: SiblingSet): void {
    let keys = this.s.buckets.get(bucket);
    if (keys === undefined) this.s.buckets.set(bucket, (keys = new Map()));
    keys.set(key, { partition, set });
    let byBucket = this.s.partitions.get(partition);
    if (byBucket === undefined) this.s.partitions.set(partition, (byBucket = new Map()));
    let inPartition = byBucket.get(bucket);
    if (inPartition === undefined) byBucket.set(bucket, (inPartition = new Set()));
    inPartition.add(key);
    this.s.sortedKeys.delete(bucket);
    this.s.sortedPartitions.delete(partition);
  }

  private delete(bucket: string, key: string): void {
    const keys = this.s.buckets.get(bucket);
    const entry = keys?.get(key);
    if (keys === undefined || entry === undefined) return;
    keys.delete(key);
    if (keys.size === 0) this.s.buckets.delete(bucket);
    const byBucket = this.s.partitions.get(entry.partition);
    const inPartition = byBucket?.get(bucket);
    inPartition?.delete(key);
    if (byBucket !== undefined && inPartition?.size === 0) {
      byBucket.delete(bucket);
      if (byBucket.size === 0) this.s.partitions.delete(entry.partition);
    }
    this.s.sortedKeys.delete(bucket);
    this.s.sortedPartitions.delete(entry.partition);
  }

  private sortedPartition(partition: number): readonly KeyRef[] {
    let refs = this.s.sortedPartitions.get(partition);
    if (refs === undefined) {
      const out: KeyRef[] = [];
      for (const [bucket, keys] of this.s.partitions.get(partition) ?? []) for (const key of keys) out.push({ bucket, key });
      refs = out.sort(compareKeyRefs);
      this.s.sortedPartitions.set(partition, refs);
    }
    return refs;
  }

  private sorted(bucket: string): string[] {
    let keys = this.s.sortedKeys.get(bucket);
    if (keys === undefined) {
      keys = [...(this.s.buckets.get(bucket)?.keys() ?? [])].sort(compareCodePoints);
      this.s.sortedKeys.set(bucket, keys);
    }
    return keys;
  }
}

function lowerBound(sorted: readonly string[], target: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareCodePoints(sorted[mid]!, target) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function copySet(set: SiblingSet): SiblingSet {
  return {
    siblings: set.siblings.map((s) => ({
      dot: { ...s.dot },
      past: { ...s.past },
      value: s.value === null ? null : new Uint8Array(s.value),
      meta: s.meta.headers === undefined ? { ...s.meta } : { ...s.meta, headers: { ...s.meta.headers } },
    })),
  };
}
