// The LMDB-backed ReplicaStore that servers run. One LMDB environment per
// node directory, three named sub-databases:
//
//   data      [partition, bucket, key] -> SiblingSet (msgpack)
//   byBucket  [bucket, key]            -> partition  (listing index)
//   meta      name                     -> any msgpack value
//   hints     [owner, partition, bucket, key] -> { set, updatedMs }  (HintStore)
//   hintsByKey [bucket, key, owner]           -> partition  (reads and listings of hints)
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

import { open, type Database, type RootDatabase } from 'lmdb';
import { hintBytes, type HintKey, type HintStore, type HintTotals, type ReplicaStore, type StoredHint, type StoredKey } from './store.js';
import { EMPTY_SET, sameSet, type NodeId, type Sibling, type SiblingSet } from '../version/dvv.js';
import { compareCodePoints } from './key-order.js';
import { BlobDir, SPILL_BYTES } from './blobs.js';

/** lmdb-js's default maximum key size (bytes) with the default page size. */
const MAX_KEY_BYTES = 1978;
/** 1: values inline; 2: big values may be in blob files (blobs.ts). A format-1 store is upgraded on open. */
const FORMAT_VERSION = 2;
const FORMAT_META_KEY = 'store.format';

type DataKey = [number, string, string];
type IndexKey = [string, string];
type HintDbKey = [NodeId, number, string, string];
type HintIndexKey = [string, string, NodeId];
interface HintRecord {
  set: SiblingSet;
  updatedMs: number;
}

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
  private readonly data: Database<SiblingSet, DataKey>;
  private readonly byBucket: Database<number, IndexKey>;
  private readonly meta: Database<unknown, string>;
  private readonly hints: Database<HintRecord, HintDbKey>;
  private readonly hintsByKey: Database<number, HintIndexKey>;
  /** Per-owner hint totals, counted by one scan on first use, then kept in step. */
  private totals: Map<NodeId, { hints: number; bytes: number }> | undefined;
  private closed = false;

  private readonly blobs: BlobDir;

  /** Use openLmdbStore. */
  constructor(
    private readonly env: RootDatabase,
    dir: string,
  ) {
    this.blobs = new BlobDir(dir);
    this.data = env.openDB<SiblingSet, DataKey>({ name: 'data' });
    this.byBucket = env.openDB<number, IndexKey>({ name: 'byBucket' });
    this.meta = env.openDB<unknown, string>({ name: 'meta' });
    this.hints = env.openDB<HintRecord, HintDbKey>({ name: 'hints' });
    this.hintsByKey = env.openDB<number, HintIndexKey>({ name: 'hintsByKey' });
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

  getMeta<T>(name: string): T | undefined {
    this.checkOpen();
    return this.meta.get(name) as T | undefined;
  }

  // ---- hints (HintStore) ---------------------------------------------------

  async updateHint(h: HintKey, nowMs: number, fn: (current: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet> {
    this.checkOpen();
    checkKey(h.partition, h.bucket, h.key, h.owner);
    const totals = this.hintTotalsMap();
    let result: SiblingSet = EMPTY_SET;
    let delta: { hints: number; bytes: number } = { hints: 0, bytes: 0 };
    // Same batched, serialized write transaction as update(): get -> fn ->
    // put is atomic, and the promise resolves once the commit is fsynced.
    await this.hints.transaction(() => {
      delta = { hints: 0, bytes: 0 };
      const k: HintDbKey = [h.owner, h.partition, h.bucket, h.key];
      const raw = this.hints.get(k);
      const current = raw === undefined ? undefined : normalizeSet(raw.set);
      const next = fn(current);
      if (next === current || next === undefined) {
        result = current ?? EMPTY_SET;
        return;
      }
      if (current !== undefined) delta = { hints: -1, bytes: -hintBytes(h, current) };
      if (next.siblings.length === 0) {
        if (current !== undefined) {
          this.hints.removeSync(k);
          this.hintsByKey.removeSync([h.bucket, h.key, h.owner]);
        }
      } else {
        this.hints.putSync(k, { set: next, updatedMs: nowMs });
        if (current === undefined) this.hintsByKey.putSync([h.bucket, h.key, h.owner], h.partition);
        delta = { hints: delta.hints + 1, bytes: delta.bytes + hintBytes(h, next) };
      }
      result = next;
    });
    addTotals(totals, h.owner, delta);
    return result;
  }

  readHints(bucket: string, key: string): StoredHint[] {
    this.checkOpen();
    const out: StoredHint[] = [];
    for (const { key: k, value: partition } of this.hintsByKey.getRange({ start: [bucket, key] })) {
      if (k[0] !== bucket || k[1] !== key) break;
      const rec = this.hints.get([k[2], partition, bucket, key]);
      if (rec !== undefined) out.push({ owner: k[2], partition, bucket, key, set: normalizeSet(rec.set), updatedMs: rec.updatedMs });
    }
    return out;
  }

  *scanHints(owner: NodeId, opts: { after?: HintKey; limit?: number } = {}): Iterable<StoredHint> {
    this.checkOpen();
    const limit = opts.limit ?? Infinity;
    if (limit <= 0) return;
    const a = opts.after;
    const range =
      a !== undefined && a.owner === owner
        ? this.hints.getRange({ start: [owner, a.partition, a.bucket, a.key], exclusiveStart: true, snapshot: false })
        : this.hints.getRange({ start: [owner], snapshot: false });
    let n = 0;
    for (const { key: k, value } of range) {
      if (k[0] !== owner) return;
      yield { owner, partition: k[1], bucket: k[2], key: k[3], set: normalizeSet(value.set), updatedMs: value.updatedMs };
      if (++n >= limit) return;
    }
  }

  *scanBucketHints(bucket: string, opts: { prefix?: string; after?: string; limit?: number }): Iterable<StoredHint> {
    this.checkOpen();
    const prefix = opts.prefix ?? '';
    const limit = opts.limit ?? Infinity;
    if (limit <= 0) return;
    const start: [string, string] = opts.after !== undefined && compareCodePoints(opts.after, prefix) >= 0 ? [bucket, opts.after] : [bucket, prefix];
    let keys = 0;
    let last: string | undefined;
    for (const { key: k, value: partition } of this.hintsByKey.getRange({ start })) {
      const [b, key, owner] = k;
      if (b !== bucket || !key.startsWith(prefix)) return;
      if (opts.after !== undefined && compareCodePoints(key, opts.after) <= 0) continue;
      if (key !== last) {
        if (keys >= limit) return;
        keys++;
        last = key;
      }
      const rec = this.hints.get([owner, partition, bucket, key]);
      if (rec !== undefined) yield { owner, partition, bucket, key, set: normalizeSet(rec.set), updatedMs: rec.updatedMs };
    }
  }

  async removeHint(h: HintKey, expected: SiblingSet): Promise<boolean> {
    this.checkOpen();
    const totals = this.hintTotalsMap();
    let removed: SiblingSet | undefined;
    await this.hints.transaction(() => {
      removed = undefined;
      const k: HintDbKey = [h.owner, h.partition, h.bucket, h.key];
      const raw = this.hints.get(k);
      if (raw === undefined || !sameSet(normalizeSet(raw.set), expected)) return;
      this.hints.removeSync(k);
      this.hintsByKey.removeSync([h.bucket, h.key, h.owner]);
      removed = raw.set;
    });
    if (removed === undefined) return false;
    addTotals(totals, h.owner, { hints: -1, bytes: -hintBytes(h, removed) });
    return true;
  }

  hintTotals(): HintTotals[] {
    this.checkOpen();
    return [...this.hintTotalsMap()]
      .filter(([, t]) => t.hints > 0)
      .map(([owner, t]) => ({ owner, hints: t.hints, bytes: t.bytes }))
      .sort((a, b) => compareCodePoints(a.owner, b.owner));
  }

  private hintTotalsMap(): Map<NodeId, { hints: number; bytes: number }> {
    if (this.totals !== undefined) return this.totals;
    const totals = new Map<NodeId, { hints: number; bytes: number }>();
    for (const { key: k, value } of this.hints.getRange({ snapshot: false })) {
      addTotals(totals, k[0], { hints: 1, bytes: hintBytes({ owner: k[0], partition: k[1], bucket: k[2], key: k[3] }, value.set) });
    }
    this.totals = totals;
    return totals;
  }

  async putMeta(name: string, value: unknown): Promise<void> {
    this.checkOpen();
    if (value === undefined) await this.meta.remove(name);
    else await this.meta.put(name, value);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Waits for queued writes to commit before closing the environment.
    await this.env.close();
    await this.blobs.flush();
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

  private checkOpen(): void {
    if (this.closed) throw new Error('LmdbStore is closed');
  }
}

function checkKey(partition: number, bucket: string, key: string, owner?: string): void {
  if (!Number.isSafeInteger(partition) || partition < 0) throw new RangeError(`bad partition ${partition}`);
  // ordered-binary: 9 bytes per number in an array, 1 separator per element,
  // UTF-8 bytes, plus one escape byte per char <= 4 and per leading char < 28.
  const bytes = 9 + 2 + encodedLength(bucket) + encodedLength(key) + (owner === undefined ? 0 : encodedLength(owner));
  if (bytes > MAX_KEY_BYTES) throw new RangeError(`bucket+key too long: ${bytes} encoded bytes (max ${MAX_KEY_BYTES})`);
}

function addTotals(totals: Map<NodeId, { hints: number; bytes: number }>, owner: NodeId, d: { hints: number; bytes: number }): void {
  if (d.hints === 0 && d.bytes === 0) return;
  const t = totals.get(owner) ?? { hints: 0, bytes: 0 };
  t.hints += d.hints;
  t.bytes += d.bytes;
  if (t.hints <= 0) totals.delete(owner);
  else totals.set(owner, t);
}

function encodedLength(s: string): number {
  let n = Buffer.byteLength(s, 'utf8') + 1;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) <= 4) n++;
  return n;
}

/** A sibling as LMDB holds it: a big value is in a blob file (blobs.ts), named here, with value null. */
interface StoredSibling extends Sibling {
  blob?: string;
  size?: number;
}

const NO_BYTES = new Uint8Array(0);

/** A stored set as it is, minus its values: live ones empty (blob files not read), tombstones null. */
function withoutBlobs(stored: SiblingSet): SiblingSet {
  return {
    siblings: normalizeSet(stored).siblings.map((s) => {
      const { blob, size, ...rest } = s as StoredSibling;
      void size;
      return s.value === null && blob === undefined ? rest : { ...rest, value: NO_BYTES };
    }),
  };
}

/** The blob files a stored set refers to. */
function blobsOf(stored: SiblingSet | undefined): string[] {
  const out: string[] = [];
  for (const s of stored?.siblings ?? []) {
    const name = (s as StoredSibling).blob;
    if (name !== undefined) out.push(name);
  }
  return out;
}

/** Two stored forms of a key hold the same events and files (a dot names one event). */
function sameStored(a: SiblingSet, b: SiblingSet): boolean {
  if (a.siblings.length !== b.siblings.length) return false;
  return a.siblings.every((s, i) => {
    const t = b.siblings[i] as StoredSibling;
    return s.dot.node === t.dot.node && s.dot.counter === t.dot.counter && (s as StoredSibling).blob === t.blob;
  });
}

/** The big values of `next` that do not come from `current`: they need blob files. */
function newBigValues(next: SiblingSet, current: SiblingSet | undefined): Uint8Array[] {
  const old = new Set(current?.siblings.map((s) => s.value));
  return next.siblings.map((s) => s.value).filter((v): v is Uint8Array => v !== null && v.byteLength >= SPILL_BYTES && !old.has(v));
}

/**
 * A sibling set as stored: each big value replaced by its blob file's name
 * and size. A value from `current` keeps the file it came from (or stays
 * inline if it was stored inline); a new one uses the file written for it
 * beforehand (in `files`), or stays inline when there is none.
 */
function toStored(next: SiblingSet, current: SiblingSet | undefined, raw: SiblingSet | undefined, files: ReadonlyMap<Uint8Array, string>): SiblingSet {
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

/**
 * msgpack gives binary values back as Buffer (a Uint8Array subclass), null
 * tombstones as null. Make the shape exact: value is a Uint8Array-compatible
 * Buffer or null, never undefined.
 */
function normalizeSet(set: SiblingSet): SiblingSet {
  for (const s of set.siblings) {
    const v = (s as { value: unknown }).value;
    if (v === undefined) (s as { value: Sibling['value'] }).value = null;
    else if (v !== null && !(v instanceof Uint8Array)) throw new Error('LmdbStore: corrupt sibling value');
  }
  return set;
}
