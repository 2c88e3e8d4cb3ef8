// One node's durable replica state. The only piece that touches disk; the
// LMDB implementation (lmdb-store.ts) is what servers run, the memory one
// (memory-store.ts) is what the simulator runs, with the same contract.

import type { SiblingSet } from '../version/dvv.js';

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
   * Resolves with the stored value only after it is durable on disk: an
   * acknowledged write survives kill -9.
   */
  update(partition: number, bucket: string, key: string, fn: (current: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet>;
  /** Removes a key entirely (tombstone collection). Durable when resolved. */
  remove(partition: number, bucket: string, key: string): Promise<void>;
  /** Every key of one partition, in (bucket, key) order. */
  scanPartition(partition: number): Iterable<StoredKey>;
  /** Keys of one bucket in key order, starting strictly after `after`, that start with `prefix`. */
  scanBucket(bucket: string, opts: { prefix?: string; after?: string; limit?: number }): Iterable<StoredKey>;
  /** Small durable node-local metadata (node identity, counters). */
  getMeta<T>(name: string): T | undefined;
  putMeta(name: string, value: unknown): Promise<void>;
  close(): Promise<void>;
}
