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
import { compareCodePoints } from './memory-store.js';

/** lmdb-js's default maximum key size (bytes) with the default page size. */
const MAX_KEY_BYTES = 1978;
const FORMAT_VERSION = 1;
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
  const store = new LmdbStore(env);
  const format = store.getMeta<number>(FORMAT_META_KEY);
  if (format === undefined) await store.putMeta(FORMAT_META_KEY, FORMAT_VERSION);
  else if (format !== FORMAT_VERSION) {
    await env.close();
    throw new Error(`ringstore: ${dir} has store format ${String(format)}, this build reads ${FORMAT_VERSION}`);
  }
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

  /** Use openLmdbStore. */
  constructor(private readonly env: RootDatabase) {
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
    return set === undefined ? undefined : normalizeSet(set);
  }

  async update(
    partition: number,
    bucket: string,
    key: string,
    fn: (current: SiblingSet | undefined) => SiblingSet,
  ): Promise<SiblingSet> {
    this.checkOpen();
    checkKey(partition, bucket, key);
    let result: SiblingSet = EMPTY_SET;
    // The callback runs inside lmdb-js's batched write transaction, serialized
    // with every other queued callback, so get -> fn -> put is atomic and sees
    // the effects of all updates queued before it. The returned promise
    // resolves after the batch commit (fsynced, see openLmdbStore).
    await this.data.transaction(() => {
      const indexKey: IndexKey = [bucket, key];
      const heldIn = this.byBucket.get(indexKey);
      const raw = heldIn === undefined ? undefined : this.data.get([heldIn, bucket, key]);
      const current = raw === undefined ? undefined : normalizeSet(raw);
      const next = fn(current);
      if (next === current || next === undefined) {
        result = current ?? EMPTY_SET;
        return;
      }
      const dataKey: DataKey = [partition, bucket, key];
      if (next.siblings.length === 0) {
        if (heldIn !== undefined) {
          this.data.removeSync([heldIn, bucket, key]);
          this.byBucket.removeSync(indexKey);
        }
      } else {
        // Puts first: if one throws (it should not, keys are checked above),
        // nothing of this callback has been written yet.
        this.data.putSync(dataKey, next);
        if (heldIn !== partition) {
          this.byBucket.putSync(indexKey, partition);
          if (heldIn !== undefined) this.data.removeSync([heldIn, bucket, key]);
        }
      }
      result = next;
    });
    return result;
  }

  async remove(partition: number, bucket: string, key: string): Promise<void> {
    this.checkOpen();
    checkKey(partition, bucket, key);
    await this.data.transaction(() => {
      const indexKey: IndexKey = [bucket, key];
      const heldIn = this.byBucket.get(indexKey);
      if (heldIn !== undefined) {
        this.data.removeSync([heldIn, bucket, key]);
        this.byBucket.removeSync(indexKey);
      }
      // Belt and braces: an entry under the named partition without an index
      // entry cannot be created by this class, but remove it if present.
      if (heldIn !== partition && this.data.doesExist([partition, bucket, key])) {
        this.data.removeSync([partition, bucket, key]);
      }
    });
  }

  *scanPartition(partition: number): Iterable<StoredKey> {
    this.checkOpen();
    // snapshot: false lets lmdb-js renew the read transaction while a long
    // partition stream (handoff, Merkle rebuild) is consumed across awaits, so
    // free pages can be reused; entries changed during the scan may or may
    // not be seen, which the contract allows.
    const range = this.data.getRange({ start: [partition], end: [partition + 1], snapshot: false });
    for (const { key, value } of range) {
      const [p, bucket, k] = key;
      yield { partition: p, bucket, key: k, set: normalizeSet(value) };
    }
  }

  *scanBucket(bucket: string, opts: { prefix?: string; after?: string; limit?: number }): Iterable<StoredKey> {
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
      yield { partition, bucket: b, key: k, set: normalizeSet(set) };
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
