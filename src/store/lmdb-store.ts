// The LMDB-backed ReplicaStore and HintStore that servers run. One LMDB
// environment per node directory, with named sub-databases:
//
//   data, byBucket          the node's replicas (lmdb-replicas.ts)
//   hints, hintsByKey       the hints it holds for other owners (lmdb-hints.ts)
//   meta      name -> any msgpack value
//
// and big values in blob files beside it (blobs.ts, lmdb-blob-refs.ts). With
// the `log` option, small replica writes go first to a group-committed write
// log in wal/ and reach LMDB in the background (write-log.ts,
// logged-replicas.ts); hints, meta and the Raft log always commit to LMDB
// directly. This file opens the environment (durability settings, format
// version), replays the log, and puts the parts behind the store interfaces.

import { open, type Database, type RootDatabase } from 'lmdb';
import type { HintKey, HintStore, HintTotals, ReplicaStore, StoredHint, StoredKey } from './store.js';
import type { NodeId, SiblingSet } from '../version/dvv.js';
import { BlobDir } from './blobs.js';
import { LmdbHints } from './lmdb-hints.js';
import { LmdbReplicas } from './lmdb-replicas.js';
import { LoggedReplicas, type LoggedReplicasOptions } from './logged-replicas.js';
import { WriteLog, type WriteLogOptions } from './write-log.js';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';

/** 1: values inline; 2: big values may be in blob files (blobs.ts). A format-1 store is upgraded on open. */
const FORMAT_VERSION = 2;
const FORMAT_META_KEY = 'store.format';
/** The write log's checkpoint: every record up to `applied` is in LMDB; writing resumed at `resumedAt` after the last open. */
const LOG_META_KEY = 'store.log';
const LOG_DIR = 'wal';

/**
 * Whether the write log is on when openLmdbStore's options do not say. Off:
 * measured on a 3-node dev cluster sharing one disk, the log's extra write
 * stream and its background LMDB commits cost more than the fdatasync it
 * saves (puts/s at c16 and c64 lower in both pairs, CPU per put up 6-37%;
 * BENCHMARKS.md, session 6). It is there for a node whose disk rewards one
 * sequential sync per batch, opted into with storeLog.
 */
export const DEFAULT_STORE_LOG = false;

interface LogCheckpoint {
  readonly applied: number;
  readonly resumedAt: number;
}

export interface LmdbStoreOptions {
  /** Initial map size. Default: lmdb-js chooses and grows the map as needed. */
  mapSizeBytes?: number;
  /**
   * issue 13 §2: small replica updates and removes go through the write log
   * (write-log.ts, logged-replicas.ts) and are acknowledged after its
   * fdatasync. Default DEFAULT_STORE_LOG. Whatever the setting, a log left
   * by an earlier run is replayed on open (and removed when the log is off).
   */
  log?: boolean | (WriteLogOptions & LoggedReplicasOptions);
}

export async function openLmdbStore(dir: string, opts: LmdbStoreOptions = {}): Promise<LmdbStore> {
  const env = open({
    path: dir,
    // A directory whatever its name: lmdb-js takes a path that looks like it
    // has an extension ("n1.data", "/srv/ringstore.1") for a file name, and
    // the blob and log folders inside it then fail with ENOTDIR.
    noSubdir: false,
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
  const walDir = path.join(dir, LOG_DIR);
  const log = opts.log ?? DEFAULT_STORE_LOG;
  const logOpts = log === true ? {} : log === false ? undefined : log;
  const hadLog = existsSync(walDir);
  if (logOpts !== undefined || hadLog) {
    try {
      await store.openLog(walDir, logOpts ?? {}, logOpts !== undefined);
      if (logOpts === undefined) rmSync(walDir, { recursive: true, force: true });
    } catch (err) {
      // No room for a new log's segments (a small disk): run without the log, as before it existed.
      if (!hadLog && (err as NodeJS.ErrnoException).code === 'ENOSPC') {
        rmSync(walDir, { recursive: true, force: true });
        store.logUnavailable = `no space for the write log's segments: ${(err as Error).message}`;
        return store;
      }
      await store.close();
      throw err;
    }
  }
  return store;
}

export class LmdbStore implements ReplicaStore, HintStore {
  private readonly replicas: LmdbReplicas;
  private readonly meta: Database<unknown, string>;
  private readonly hintTable: LmdbHints;
  private closed = false;
  private readonly closeHooks: (() => Promise<void>)[] = [];

  private readonly blobs: BlobDir;
  /** The write log in front of the replica tables, when on. */
  private logged: LoggedReplicas | undefined;
  /** Why the write log is off although it was asked for (the node logs it). */
  logUnavailable: string | undefined;
  /** What the last open's replay did (tests, logs). */
  replayed: { records: number; applied: number; nextSeq: number } | undefined;

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
    return (this.logged ?? this.replicas).read(bucket, key);
  }

  update(partition: number, bucket: string, key: string, fn: (current: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet> {
    return (this.logged ?? this.replicas).update(partition, bucket, key, fn);
  }

  remove(partition: number, bucket: string, key: string): Promise<void> {
    return (this.logged ?? this.replicas).remove(partition, bucket, key);
  }

  scanPartition(partition: number, after?: { readonly bucket: string; readonly key: string }): Iterable<StoredKey> {
    return (this.logged ?? this.replicas).scanPartition(partition, after);
  }

  scanBucket(bucket: string, opts: { prefix?: string; after?: string; limit?: number; values?: boolean }): Iterable<StoredKey> {
    return (this.logged ?? this.replicas).scanBucket(bucket, opts);
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
    // Every logged write already queued is synced before the hooks run.
    await this.logged?.flush();
    // Queued after every write already queued; lmdb-js commits in order.
    for (const fn of this.closeHooks.splice(0)) await fn();
    if (this.closed) return;
    // The overlay into LMDB and the last checkpoint, so that the next open replays nothing.
    if (this.logged !== undefined) {
      const logged = this.logged;
      this.logged = undefined;
      // A failure leaves the rest in the log (durable) for the next open; closing goes on.
      await logged.drain().catch(() => undefined);
    }
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

  /**
   * Opens the write log in `walDir`, replays into LMDB what it holds after
   * the checkpoint (one synced commit, with the new checkpoint), and, if
   * `serve`, puts it in front of the replica tables. Run by openLmdbStore
   * before the store is handed to anyone.
   */
  async openLog(walDir: string, opts: WriteLogOptions & LoggedReplicasOptions, serve: boolean): Promise<void> {
    const { log, scanned } = WriteLog.open(walDir, opts);
    try {
      const cp = (this.meta.get(LOG_META_KEY) as LogCheckpoint | undefined) ?? { applied: 0, resumedAt: 1 };
      let resumedAt = cp.resumedAt;
      const r = await LoggedReplicas.replay(this.replicas, log, scanned, cp, (applied, resumeAt) => {
        resumedAt = resumeAt;
        this.meta.putSync(LOG_META_KEY, { applied, resumedAt: resumeAt } satisfies LogCheckpoint);
      });
      this.replayed = { records: r.replayed, applied: r.applied, nextSeq: r.nextSeq };
      if (!serve) {
        await log.close();
        return;
      }
      const checkOpen = (): void => this.checkOpen();
      this.logged = new LoggedReplicas(this.replicas, log, (applied) => this.meta.putSync(LOG_META_KEY, { applied, resumedAt } satisfies LogCheckpoint), checkOpen, opts);
    } catch (err) {
      await log.close().catch(() => undefined);
      throw err;
    }
  }

  /** The write log's overlay and applier, when on (tests). */
  get writeLog(): LoggedReplicas | undefined {
    return this.logged;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('LmdbStore is closed');
  }
}
