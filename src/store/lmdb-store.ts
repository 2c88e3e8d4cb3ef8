// The LMDB-backed ReplicaStore and HintStore that servers run. One LMDB
// environment per node directory, with named sub-databases:
//
//   data, byBucket          the node's replicas (lmdb-replicas.ts)
//   hints, hintsByKey       the hints it holds for other owners (lmdb-hints.ts)
//   meta      name -> any msgpack value
//
// and big values in blob files beside it (blobs.ts, lmdb-blob-refs.ts). This
// file opens the environment (durability settings, format version) and puts
// the parts behind the store interfaces.

import { open, type Database, type RootDatabase } from 'lmdb';
import type { HintKey, HintStore, HintTotals, ReplicaStore, StoredHint, StoredKey } from './store.js';
import type { NodeId, SiblingSet } from '../version/dvv.js';
import { BlobDir } from './blobs.js';
import { LmdbHints } from './lmdb-hints.js';
import { LmdbReplicas } from './lmdb-replicas.js';

/** 1: values inline; 2: big values may be in blob files (blobs.ts). A format-1 store is upgraded on open. */
const FORMAT_VERSION = 2;
const FORMAT_META_KEY = 'store.format';

export interface LmdbStoreOptions {
  /** Initial map size. Default: lmdb-js chooses and grows the map as needed. */
  mapSizeBytes?: number;
}

export async function openLmdbStore(dir: string, opts: LmdbStoreOptions = {}): Promise<LmdbStore> {
  const env = open({
    path: dir,
    // Durability: an update/remove/putMeta promise must mean "fsynced".
    //
    // lmdb-js's default on Linux/macOS is `overlappingSync: true`, and its
    // README says of that mode: "The write actions return a promise for when
    // they are committed", while "the database includes a `flushed` property
    // with a promise-like object that resolves when the last commit is fully
    // flushed/synced to disk and is durable". So with the default, the promise
    // we would await resolves *before* fsync.
    //
    // With `overlappingSync: false` (and no `noSync`), the write thread opens
    // each batch transaction without MDB_NOSYNC and calls mdb_txn_commit,
    // which in LMDB writes the pages, fdatasyncs them, writes the meta page
    // and syncs it before returning; lmdb-js sets the TXN_COMMITTED flag that
    // resolves the JS promises only after mdb_txn_commit returns (see
    // WriteWorker::Write in lmdb's src/writer.cpp). The README's own summary:
    // transactions "return a simple promise that resolves once data is written
    // and flushed to disk". So with this setting, resolution == durable.
    //
    // Throughput comes from batching, not from skipping fsync: every
    // transaction callback queued while a commit is in flight runs in the next
    // batch transaction, so one commit (two fdatasyncs: pages, then meta)
    // covers all of them. Measured on the dev VM: 8k-20k 4 KiB updates/s with
    // 64 in flight, ~60 updates per commit (test/integration/store-crash).
    // Upper bound on a slow disk is about in-flight / (2 x fsync latency).
    overlappingSync: false,
    // Plain msgpack maps (no msgpackr record extension), so the bytes are
    // standard msgpack any tool can read. lmdb-js copies embedded binary
    // (copyBuffers) since it decodes from unsafe shared buffers, so values
    // returned to callers stay valid.
    encoder: { useRecords: false },
    maxDbs: 8,
    ...(opts.mapSizeBytes !== undefined ? { mapSize: opts.mapSizeBytes } : {}),
  });
  const format = (env.openDB<unknown, string>({ name: 'meta' }).get(FORMAT_META_KEY) as number | undefined) ?? FORMAT_VERSION;
  if (format !== FORMAT_VERSION && format !== 1) {
    await env.close();
    throw new Error(`ringstore: ${dir} has store format ${String(format)}, this build reads 1 and ${FORMAT_VERSION}`);
  }
  const store = new LmdbStore(env, dir);
  // Format 2 may hold blob references, which format-1 builds would misread.
  if (format !== FORMAT_VERSION || store.getMeta<number>(FORMAT_META_KEY) === undefined) await store.putMeta(FORMAT_META_KEY, FORMAT_VERSION);
  store.removeOrphanBlobs();
  return store;
}

export class LmdbStore implements ReplicaStore, HintStore {
  private readonly replicas: LmdbReplicas;
  private readonly meta: Database<unknown, string>;
  private readonly hintTable: LmdbHints;
  private closed = false;
  private readonly closeHooks: (() => Promise<void>)[] = [];

  private readonly blobs: BlobDir;

  /** Use openLmdbStore. */
  constructor(
    private readonly env: RootDatabase,
    dir: string,
  ) {
    this.blobs = new BlobDir(dir);
    const checkOpen = (): void => this.checkOpen();
    this.replicas = new LmdbReplicas(env, this.blobs, checkOpen);
    this.meta = env.openDB<unknown, string>({ name: 'meta' });
    this.hintTable = new LmdbHints(env, checkOpen);
  }

  // ---- replicas (ReplicaStore) ---------------------------------------------

  read(bucket: string, key: string): SiblingSet | undefined {
    return this.replicas.read(bucket, key);
  }

  update(partition: number, bucket: string, key: string, fn: (current: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet> {
    return this.replicas.update(partition, bucket, key, fn);
  }

  remove(partition: number, bucket: string, key: string): Promise<void> {
    return this.replicas.remove(partition, bucket, key);
  }

  scanPartition(partition: number, after?: { readonly bucket: string; readonly key: string }): Iterable<StoredKey> {
    return this.replicas.scanPartition(partition, after);
  }

  scanBucket(bucket: string, opts: { prefix?: string; after?: string; limit?: number; values?: boolean }): Iterable<StoredKey> {
    return this.replicas.scanBucket(bucket, opts);
  }

  getMeta<T>(name: string): T | undefined {
    this.checkOpen();
    return this.meta.get(name) as T | undefined;
  }

  // ---- hints (HintStore) ---------------------------------------------------

  updateHint(h: HintKey, nowMs: number, fn: (current: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet> {
    return this.hintTable.updateHint(h, nowMs, fn);
  }

  readHints(bucket: string, key: string): StoredHint[] {
    return this.hintTable.readHints(bucket, key);
  }

  scanHints(owner: NodeId, opts: { after?: HintKey; limit?: number } = {}): Iterable<StoredHint> {
    return this.hintTable.scanHints(owner, opts);
  }

  scanBucketHints(bucket: string, opts: { prefix?: string; after?: string; limit?: number }): Iterable<StoredHint> {
    return this.hintTable.scanBucketHints(bucket, opts);
  }

  removeHint(h: HintKey, expected: SiblingSet): Promise<boolean> {
    return this.hintTable.removeHint(h, expected);
  }

  hintTotals(): HintTotals[] {
    return this.hintTable.hintTotals();
  }

  // ---- the store as a whole -------------------------------------------------

  async putMeta(name: string, value: unknown): Promise<void> {
    this.checkOpen();
    if (value === undefined) await this.meta.remove(name);
    else await this.meta.put(name, value);
  }

  beforeClose(fn: () => Promise<void>): void {
    this.closeHooks.push(fn);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Queued after every write already queued; lmdb-js commits in order.
    for (const fn of this.closeHooks.splice(0)) await fn();
    if (this.closed) return;
    this.closed = true;
    // Waits for queued writes to commit before closing the environment.
    await this.env.close();
    await this.blobs.flush();
  }

  /**
   * Deletes blob files no entry refers to: left by a crash between writing a
   * file and committing the entry, or before a replaced file was deleted.
   * Run at open, before any update.
   */
  removeOrphanBlobs(): number {
    return this.replicas.removeOrphanBlobs();
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('LmdbStore is closed');
  }
}
