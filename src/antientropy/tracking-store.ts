// A ReplicaStore decorator that keeps a MerkleForest exactly in step with
// what the store commits. Every write path of a node (coordinator puts,
// replica merges, read repair, hinted handoff, anti-entropy repair,
// tombstone collection) goes through ReplicaStore.update/remove, so wrapping
// the store once catches them all without the store implementations or the
// coordinator knowing about Merkle trees.
//
// How a change is captured: `update` wraps the caller's function; the
// wrapper sees the committed current set (`before`) and the set the caller
// returns (`after`) inside the store's atomic read-modify-write, and the
// pair is applied to the tree only once the store resolves, i.e. once the
// change is durable. A rejected update changes nothing. Because tree deltas
// are XORs (merkle.ts), the order in which resolved updates are applied does
// not matter, only that each committed change is applied exactly once. If a
// store ever ran the function more than once for one update, only the last
// run's pair is applied (the one whose result was committed).
//
// Startup: the trees are not persisted; `rebuild()` scans every partition
// once and must run before the node serves anything, so that no update is
// in flight while a partition is scanned (a change committed during the
// scan could otherwise be counted twice). The cost is one full scan of the
// store: measured in BENCHMARKS.md (section "Anti-entropy").

import type { ReplicaStore, StoredKey } from '../store/store.js';
import { assertCanonical, isTombstoneOnly, type SiblingSet } from '../version/dvv.js';
import { MerkleForest, DEFAULT_TREE_SHAPE, setDigest, type TreeShape } from './merkle.js';
import { assert } from '../util/assert.js';

export interface RebuildStats {
  readonly partitions: number;
  readonly keys: number;
}

/** A committed change of one key, as observers see it. */
export interface KeyChange {
  readonly partition: number;
  readonly bucket: string;
  readonly key: string;
  readonly before: SiblingSet | undefined;
  readonly after: SiblingSet | undefined;
}

export class MerkleTrackingStore implements ReplicaStore {
  readonly forest: MerkleForest;
  /**
   * partition -> keys whose set is tombstones only, kept like the trees: the
   * candidates of tombstone collection, so a sweep need not scan the store.
   */
  private readonly tombstones = new Map<number, Map<string, { readonly bucket: string; readonly key: string }>>();
  /** Extra observers of committed changes (metrics, the simulator's history). */
  onChange: ((change: KeyChange) => void) | undefined;

  constructor(
    readonly inner: ReplicaStore,
    shape: TreeShape = DEFAULT_TREE_SHAPE,
  ) {
    this.forest = new MerkleForest(shape);
  }

  /**
   * Builds every partition's tree from a scan of the store. Call once, before
   * the node takes requests. `partitions` is the ring's partition count.
   */
  rebuild(partitions: number): RebuildStats {
    let keys = 0;
    let touched = 0;
    for (let p = 0; p < partitions; p++) {
      const entries: StoredKey[] = [];
      for (const e of this.inner.scanPartition(p)) entries.push(e);
      this.tombstones.delete(p);
      if (entries.length === 0) continue;
      this.forest.rebuild(p, entries);
      for (const e of entries) this.noteTombstone(p, e.bucket, e.key, e.set);
      keys += entries.length;
      touched++;
    }
    return { partitions: touched, keys };
  }

  read(bucket: string, key: string): SiblingSet | undefined {
    return this.inner.read(bucket, key);
  }

  /** Keys of a partition whose set is tombstones only (a snapshot). */
  tombstoneKeys(partition: number): { readonly bucket: string; readonly key: string }[] {
    return [...(this.tombstones.get(partition)?.values() ?? [])];
  }

  /** How many tombstone-only keys this node holds. */
  tombstoneCount(): number {
    let n = 0;
    for (const m of this.tombstones.values()) n += m.size;
    return n;
  }

  async update(partition: number, bucket: string, key: string, fn: (current: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet> {
    let before: SiblingSet | undefined;
    let after: SiblingSet | undefined;
    let ran = false;
    const result = await this.inner.update(partition, bucket, key, (current) => {
      const next = fn(current);
      // What goes to disk is a sibling set in canonical form, or nothing.
      if (next !== current && next.siblings.length > 0) assertCanonical(next, `store update of ${bucket}/${key}`);
      ran = true;
      before = current;
      // Returning the same object means "write nothing"; an empty set removes the key.
      after = next === current || next === undefined ? current : next.siblings.length === 0 ? undefined : next;
      return next;
    });
    // The store answers with what it committed; the tree records the same.
    assert(!ran || setDigest(result) === setDigest(after), `store update of ${bucket}/${key} answered ${setDigest(result) ?? 'nothing'}, committed ${setDigest(after) ?? 'nothing'}`);
    if (ran) this.commit(partition, bucket, key, before, after);
    return result;
  }

  /** Removes a key, tracked like any update (the store's update removes a key whose new set is empty). */
  async remove(partition: number, bucket: string, key: string): Promise<void> {
    await this.update(partition, bucket, key, () => ({ siblings: [] }));
  }

  scanPartition(partition: number, after?: { readonly bucket: string; readonly key: string }): Iterable<StoredKey> {
    return this.inner.scanPartition(partition, after);
  }

  scanBucket(bucket: string, opts: { prefix?: string; after?: string; limit?: number }): Iterable<StoredKey> {
    return this.inner.scanBucket(bucket, opts);
  }

  getMeta<T>(name: string): T | undefined {
    return this.inner.getMeta<T>(name);
  }

  putMeta(name: string, value: unknown): Promise<void> {
    return this.inner.putMeta(name, value);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private commit(partition: number, bucket: string, key: string, before: SiblingSet | undefined, after: SiblingSet | undefined): void {
    if (before === after) return;
    this.forest.record(partition, bucket, key, before, after);
    this.noteTombstone(partition, bucket, key, after);
    this.onChange?.({ partition, bucket, key, before, after });
  }

  private noteTombstone(partition: number, bucket: string, key: string, set: SiblingSet | undefined): void {
    const id = `${bucket}\u0000${key}`;
    let m = this.tombstones.get(partition);
    if (set !== undefined && isTombstoneOnly(set)) {
      if (m === undefined) this.tombstones.set(partition, (m = new Map()));
      m.set(id, { bucket, key });
    } else if (m !== undefined) {
      m.delete(id);
      if (m.size === 0) this.tombstones.delete(partition);
    }
  }
}
