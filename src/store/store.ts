// One node's durable replica state. The only piece that touches disk; the
// LMDB implementation (lmdb-store.ts) is what servers run, the memory one
// (memory-store.ts) is what the simulator runs, with the same contract.

import type { NodeId, SiblingSet } from '../version/dvv.js';

export interface StoredKey {
  readonly bucket: string;
  readonly key: string;
  readonly partition: number;
  readonly set: SiblingSet;
}

export interface ReplicaStore {
  /** The sibling set held for bucket/key, or undefined. Reads committed state. */
  read(bucket: string, key: string): SiblingSet | undefined;
  /**
   * Atomic read-modify-write of one key. `fn` sees the committed current
   * value and returns the new one (or the same object to write nothing).
   * `fn` may be called more than once (the LMDB store runs it once ahead to
   * learn which big values to write to files): it must be a pure function
   * of its argument.
   * Resolves with the stored value only after it is durable on disk: an
   * acknowledged write survives kill -9.
   */
  update(partition: number, bucket: string, key: string, fn: (current: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet>;
  /** Removes a key entirely (tombstone collection). Durable when resolved. */
  remove(partition: number, bucket: string, key: string): Promise<void>;
  /**
   * Every key of one partition, in (bucket, key) order (each by Unicode code
   * point, as compareCodePoints), or with `after` only the keys strictly
   * after it, so that paging costs the page and not the partition up to it.
   */
  scanPartition(partition: number, after?: { readonly bucket: string; readonly key: string }): Iterable<StoredKey>;
  /**
   * Keys of one bucket in key order, starting strictly after `after`, that
   * start with `prefix`. With `values: false` the store may leave out the
   * values (live ones empty, tombstones null) when that saves reading them.
   */
  scanBucket(bucket: string, opts: { prefix?: string; after?: string; limit?: number; values?: boolean }): Iterable<StoredKey>;
  /** Small durable node-local metadata (node identity, counters). */
  getMeta<T>(name: string): T | undefined;
  putMeta(name: string, value: unknown): Promise<void>;
  /**
   * Runs `fn` when the store is closed cleanly, after every write queued
   * before close() has committed and before the store stops taking writes
   * (the counter lease marks itself closed: version/counter-lease.ts). A
   * crash runs nothing. Optional: stores without it never close cleanly.
   */
  beforeClose?(fn: () => Promise<void>): void;
  close(): Promise<void>;
}

/** Where a hint lives: the owner it waits for, and the key (Dynamo §4.6). */
export interface HintKey {
  readonly owner: NodeId;
  readonly partition: number;
  readonly bucket: string;
  readonly key: string;
}

export interface StoredHint extends HintKey {
  /** Everything hinted writes for this owner and key merged into one sibling set. */
  readonly set: SiblingSet;
  /** Clock ms of the last hinted write merged into it (the caller's clock). */
  readonly updatedMs: number;
}

export interface HintTotals {
  readonly owner: NodeId;
  readonly hints: number;
  /** Approximate: value bytes plus a fixed overhead per sibling and key. */
  readonly bytes: number;
}

/**
 * The hint table of a fallback node (Dynamo §4.6: hinted replicas "kept in a
 * separate local database that is scanned periodically"): writes a node
 * took in place of an owner the coordinator held down, kept apart from the
 * node's own replicas until they are handed to the owner. Kept apart so that
 * a fallback never serves, repairs from, or Merkle-hashes data it does not
 * own, and so that handing off can forget it without leaving stale copies
 * behind. Same durability contract as ReplicaStore.update.
 */
export interface HintStore {
  /**
   * Atomic read-modify-write of one hint: `fn` sees the hint's current set
   * (undefined if none) and returns the new one; returning the same object
   * writes nothing, an empty set removes the hint. Durable when resolved.
   */
  updateHint(h: HintKey, nowMs: number, fn: (current: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet>;
  /** Every hint held for bucket/key, whatever the owner (reads merge them in). */
  readHints(bucket: string, key: string): StoredHint[];
  /** Hints waiting for one owner, in (partition, bucket, key) order, strictly after `after`. */
  scanHints(owner: NodeId, opts?: { after?: HintKey; limit?: number }): Iterable<StoredHint>;
  /**
   * Hints of one bucket in key order (every owner's hint for a key, one
   * after the other), keys starting with `prefix` and strictly after
   * `after`; `limit` counts distinct keys.
   */
  scanBucketHints(bucket: string, opts: { prefix?: string; after?: string; limit?: number }): Iterable<StoredHint>;
  /**
   * Removes the hint if it still holds exactly the events of `expected` (the
   * set that was handed off), so a hinted write that arrived during the
   * handoff is kept for the next round. Resolves true if removed; durable.
   */
  removeHint(h: HintKey, expected: SiblingSet): Promise<boolean>;
  /** Hints and bytes waiting per owner (owners with none are left out), sorted by owner. */
  hintTotals(): HintTotals[];
}

/** The size a hint counts for in HintTotals. */
export function hintBytes(h: HintKey, set: SiblingSet): number {
  let n = 64 + h.bucket.length + h.key.length;
  for (const s of set.siblings) n += 64 + (s.value?.byteLength ?? 0);
  return n;
}
