// The replica tables of a node's LMDB store (lmdb-store.ts): each key's
// sibling set, under its partition, and the index that finds a key's
// partition from its bucket and name.
//
//   data      [partition, bucket, key] -> SiblingSet (msgpack)
//   byBucket  [bucket, key]            -> partition  (listing index)
//
// Keys use lmdb-js's default ordered-binary encoding, whose byte order for
// arrays of numbers and strings is element-wise numeric / Unicode code point
// order, so a partition scan is the range [p] .. [p+1] and a bucket listing
// is a range scan from [bucket, start]. `data` and `byBucket` are always
// changed in the same write transaction.
//
// A bucket/key lives under exactly one partition: the index names it. An
// update that names a different partition than the index (only possible if a
// caller's partition function changed) moves the entry, so read(bucket, key),
// which takes no partition, always finds the single copy.
//
// Values of SPILL_BYTES and more live in blob files (blobs.ts) that the
// stored set names (lmdb-blob-refs.ts).

import type { Database, RootDatabase } from 'lmdb';
import type { StoredKey } from './store.js';
import { EMPTY_SET, type SiblingSet } from '../version/dvv.js';
import { compareCodePoints } from './key-order.js';
import type { BlobDir } from './blobs.js';
import { blobsOf, newBigValues, sameStored, toStored, withoutBlobs, type StoredSibling } from './lmdb-blob-refs.js';
import { checkKey, normalizeSet } from './lmdb-encoding.js';

type DataKey = [number, string, string];
type IndexKey = [string, string];

/** One key's state as the write log holds it (logged-replicas.ts): a set, or null for removed. */
export interface LoggedWrite {
  readonly partition: number;
  readonly bucket: string;
  readonly key: string;
  readonly set: SiblingSet | null;
}

export class LmdbReplicas {
  private readonly data: Database<SiblingSet, DataKey>;
  private readonly byBucket: Database<number, IndexKey>;

  constructor(
    env: RootDatabase,
    private readonly blobs: BlobDir,
    /** Throws if the store is closed. */
    private readonly checkOpen: () => void,
  ) {
    this.data = env.openDB<SiblingSet, DataKey>({ name: 'data' });
    this.byBucket = env.openDB<number, IndexKey>({ name: 'byBucket' });
  }

  read(bucket: string, key: string): SiblingSet | undefined {
    this.checkOpen();
    const partition = this.byBucket.get([bucket, key]);
    if (partition === undefined) return undefined;
    const set = this.data.get([partition, bucket, key]);
    return set === undefined ? undefined : this.load(set);
  }

  async update(
    partition: number,
    bucket: string,
    key: string,
    fn: (current: SiblingSet | undefined) => SiblingSet,
  ): Promise<SiblingSet> {
    this.checkOpen();
    checkKey(partition, bucket, key);
    // Big new values go to blob files (blobs.ts) before the transaction that
    // refers to them. Which values are new is known only once fn has run, so
    // fn runs once outside the transaction on the current state, as a guess
    // (the coordinator's functions are pure: the same current set gives the
    // same result, with the request's value objects in it). Should the
    // transaction's run of fn still produce a big value with no file (the
    // key changed in between, or fn makes new values on every call), that
    // value is stored inline in LMDB, as every value was before blobs.
    const files = new Map<Uint8Array, string>();
    let kept: ReadonlySet<string> = new Set();
    let guess: { readonly stored: SiblingSet; readonly set: SiblingSet } | undefined;
    let toWrite: Uint8Array[] = [];
    try {
      const partitionNow = this.byBucket.get([bucket, key]);
      const stored = partitionNow === undefined ? undefined : this.data.get([partitionNow, bucket, key]);
      const set = stored === undefined ? undefined : this.load(stored);
      if (stored !== undefined && set !== undefined) guess = { stored, set };
      toWrite = newBigValues(fn(set), set);
    } catch {
      // only a guess: the transaction below decides
    }
    try {
      // Without files to write, the transaction is queued before this returns,
      // so updates without big values keep their call order.
      if (toWrite.length > 0) await this.writeBlobs(toWrite, files);
      let result: SiblingSet = EMPTY_SET;
      let released: string[] = [];
      // The callback runs inside lmdb-js's batched write transaction, serialized
      // with every other queued callback, so get -> fn -> put is atomic and sees
      // the effects of all updates queued before it. The returned promise
      // resolves after the batch commit (fsynced, see openLmdbStore).
      await this.data.transaction(() => {
        const indexKey: IndexKey = [bucket, key];
        const heldIn = this.byBucket.get(indexKey);
        const raw = heldIn === undefined ? undefined : this.data.get([heldIn, bucket, key]);
        const current = raw === undefined ? undefined : guess !== undefined && sameStored(raw, guess.stored) ? guess.set : this.load(raw);
        const next = fn(current);
        if (next === current || next === undefined) {
          result = current ?? EMPTY_SET;
          return;
        }
        const toStore = toStored(next, current, raw, files);
        const dataKey: DataKey = [partition, bucket, key];
        if (next.siblings.length === 0) {
          if (heldIn !== undefined) {
            this.data.removeSync([heldIn, bucket, key]);
            this.byBucket.removeSync(indexKey);
          }
        } else {
          // Puts first: if one throws (it should not, keys are checked above),
          // nothing of this callback has been written yet.
          this.data.putSync(dataKey, toStore);
          if (heldIn !== partition) {
            this.byBucket.putSync(indexKey, partition);
            if (heldIn !== undefined) this.data.removeSync([heldIn, bucket, key]);
          }
        }
        kept = new Set(next.siblings.length === 0 ? [] : blobsOf(toStore));
        released = blobsOf(raw).filter((n) => !kept.has(n));
        result = next;
      });
      // The replaced version's files, once no reader can still be on its way to them.
      this.blobs.release(released);
      return result;
    } finally {
      // Files written for values the committed set did not keep (or for a failed update).
      this.blobs.removeNow([...files.values()].filter((n) => !kept.has(n)));
    }
  }

  /** Writes a blob file for each value (in parallel), recording its name in `files`. */
  private async writeBlobs(values: readonly Uint8Array[], files: Map<Uint8Array, string>): Promise<void> {
    await Promise.all(
      values.map(async (v) => {
        if (files.has(v)) return;
        files.set(v, await this.blobs.write(v));
      }),
    );
  }

  /** A stored set with its blob files read back in (synchronously, as reads are). Leaves `stored` as it is. */
  private load(stored: SiblingSet): SiblingSet {
    const set = normalizeSet(stored);
    if (!set.siblings.some((s) => (s as StoredSibling).blob !== undefined)) return set;
    return {
      siblings: set.siblings.map((s) => {
        const { blob, size, ...rest } = s as StoredSibling;
        return blob === undefined ? s : { ...rest, value: this.blobs.readSync(blob, size ?? -1) };
      }),
    };
  }

  /**
   * Writes entries taken from the write log (logged-replicas.ts) in one
   * batched, synced transaction, with `alsoInTransaction` (the checkpoint)
   * in the same commit. A null set removes the key. The sets hold no values
   * of SPILL_BYTES or more (those never go through the log), so they are
   * stored inline; the blob files the replaced versions used are released.
   */
  async applyLogged(entries: Iterable<LoggedWrite>, alsoInTransaction: () => void): Promise<void> {
    this.checkOpen();
    let released: string[] = [];
    await this.data.transaction(() => {
      released = [];
      for (const e of entries) this.putSync(e.partition, e.bucket, e.key, e.set, released);
      alsoInTransaction();
    });
    this.blobs.release(released);
  }

  /** Inside a write transaction: the key now holds `next` (or nothing), under `partition`. */
  private putSync(partition: number, bucket: string, key: string, next: SiblingSet | null, released: string[]): void {
    const indexKey: IndexKey = [bucket, key];
    const heldIn = this.byBucket.get(indexKey);
    if (heldIn !== undefined) released.push(...blobsOf(this.data.get([heldIn, bucket, key])));
    if (next === null || next.siblings.length === 0) {
      if (heldIn !== undefined) {
        this.data.removeSync([heldIn, bucket, key]);
        this.byBucket.removeSync(indexKey);
      }
      if (heldIn !== partition && this.data.doesExist([partition, bucket, key])) {
        released.push(...blobsOf(this.data.get([partition, bucket, key])));
        this.data.removeSync([partition, bucket, key]);
      }
      return;
    }
    this.data.putSync([partition, bucket, key], next);
    if (heldIn !== partition) {
      this.byBucket.putSync(indexKey, partition);
      if (heldIn !== undefined) this.data.removeSync([heldIn, bucket, key]);
    }
  }

  async remove(partition: number, bucket: string, key: string): Promise<void> {
    this.checkOpen();
    checkKey(partition, bucket, key);
    let released: string[] = [];
    await this.data.transaction(() => {
      const indexKey: IndexKey = [bucket, key];
      const heldIn = this.byBucket.get(indexKey);
      if (heldIn !== undefined) {
        released = blobsOf(this.data.get([heldIn, bucket, key]));
        this.data.removeSync([heldIn, bucket, key]);
        this.byBucket.removeSync(indexKey);
      }
      // Belt and braces: an entry under the named partition without an index
      // entry cannot be created by this class, but remove it if present.
      if (heldIn !== partition && this.data.doesExist([partition, bucket, key])) {
        released.push(...blobsOf(this.data.get([partition, bucket, key])));
        this.data.removeSync([partition, bucket, key]);
      }
    });
    this.blobs.release(released);
  }

  *scanPartition(partition: number, after?: { readonly bucket: string; readonly key: string }): Iterable<StoredKey> {
    this.checkOpen();
    // snapshot: false lets lmdb-js renew the read transaction while a long
    // partition stream (handoff, Merkle rebuild) is consumed across awaits, so
    // free pages can be reused; entries changed during the scan may or may
    // not be seen, which the contract allows.
    //
    // A range start rather than skipping up to `after`, so a page costs its
    // own entries, not the partition before it. exclusiveStart skips only an
    // entry whose bytes equal the start's, and the bytes order as
    // compareCodePoints does on (bucket, key): strings are UTF-8 (code point
    // order, astral after U+E000-U+FFFF) with U+0000-U+0004 escaped as 4, c,
    // and the 0 byte between array elements is below every byte a string
    // starts a character with, so "a" sorts before "a" + anything, as bucket
    // and as key. Exception: ordered-binary writes strings of 64+ UTF-16
    // units with Buffer.utf8Write, leaving U+0001-U+0004 unescaped; such
    // keys neither read back nor sort right, which is why the APIs refuse
    // them (store.ts keyProblem).
    const range =
      after === undefined
        ? this.data.getRange({ start: [partition], end: [partition + 1], snapshot: false })
        : this.data.getRange({ start: [partition, after.bucket, after.key], exclusiveStart: true, end: [partition + 1], snapshot: false });
    for (const { key, value } of range) {
      const [p, bucket, k] = key;
      yield { partition: p, bucket, key: k, set: this.load(value) };
    }
  }

  *scanBucket(bucket: string, opts: { prefix?: string; after?: string; limit?: number; values?: boolean }): Iterable<StoredKey> {
    this.checkOpen();
    const prefix = opts.prefix ?? '';
    const limit = opts.limit ?? Infinity;
    if (limit <= 0) return;
    // Start at whichever is later in key order: the prefix or `after`
    // (exclusive). Keys are ordered by code point, matching ordered-binary.
    let start: IndexKey = [bucket, prefix];
    let exclusiveStart = false;
    if (opts.after !== undefined && compareCodePoints(opts.after, prefix) >= 0) {
      start = [bucket, opts.after];
      exclusiveStart = true;
    }
    let n = 0;
    for (const { key, value: partition } of this.byBucket.getRange({ start, exclusiveStart })) {
      const [b, k] = key;
      if (b !== bucket || !k.startsWith(prefix)) return;
      const set = this.data.get([partition, b, k]);
      if (set === undefined) continue; // removed between index and data read
      yield { partition, bucket: b, key: k, set: opts.values === false ? withoutBlobs(set) : this.load(set) };
      if (++n >= limit) return;
    }
  }

  /**
   * Deletes blob files no entry refers to: left by a crash between writing a
   * file and committing the entry, or before a replaced file was deleted.
   * Run at open, before any update: one scan of the entries' (small) stored forms.
   */
  removeOrphanBlobs(): number {
    this.checkOpen();
    if (this.blobs.names()[Symbol.iterator]().next().done === true) return 0;
    const referenced = new Set<string>();
    for (const { value } of this.data.getRange({ snapshot: false })) for (const n of blobsOf(value)) referenced.add(n);
    return this.blobs.removeUnreferenced(referenced);
  }
}
