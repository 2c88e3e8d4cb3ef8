// The replica tables with the write log in front (issue 13 §2): a small
// update or remove is appended to the log (write-log.ts) and kept in an
// in-memory overlay; its promise resolves when the log batch holding it is
// fdatasynced, one sync shared by every write of the batch. A background
// applier writes the overlay to LMDB in large batches with LMDB's normal
// synced commits, and records in the same commit the checkpoint (the seq
// applied through), after which the log's segments may be reused.
//
// What is durable when: an acknowledged write is in the log on disk (synced),
// and later in LMDB too; the checkpoint says which log records LMDB already
// holds. On open, replay puts the records after the checkpoint into LMDB in
// one synced commit (with the new checkpoint) before the store serves
// anything. Replay is idempotent: a record holds the key's whole sibling set
// (the result of the read-modify-write), not a delta.
//
// update's `fn` sees the overlay's newest entry for the key, else LMDB's
// value: JS runs one callback at a time and lmdb-js reads are synchronous,
// so overlay-or-LMDB -> fn -> overlay set is atomic, and fn sees every write
// queued before it (as in LMDB's batched transactions). Reads (read,
// scanPartition, scanBucket) see the newest entry whose log batch is synced,
// else LMDB: like LMDB's reads they see committed (durable) writes only, so
// nothing read can be lost in a crash. The applier, likewise, applies only
// synced entries.
//
// Values of SPILL_BYTES and more bypass the log: an update whose result
// holds one (or whose record would be bigger than the log takes) goes to
// LMDB directly, as without the log (blob files first, then the commit). It
// is ordered after the key's pending overlay entry (it waits until the
// applier has committed and dropped it) and before any later write of the
// key (they wait for it), so per key the writes keep their call order and
// replay never puts an older logged value over a newer direct one. Why not
// log big values: they would be copied into the log and then again into
// blob files, and a few of them would fill a segment; their cost is the
// value's own write anyway, not the commit.
//
// Bounded: once the log holds more than half its segments' bytes not yet
// checkpointed, new writes wait for the applier (back-pressure, not an
// error), and the log writer itself waits for a segment the checkpoint has
// freed.

import type { StoredKey } from './store.js';
import { EMPTY_SET, type Sibling, type SiblingSet } from '../version/dvv.js';
import { compareCodePoints, compareKeyRefs } from './key-order.js';
import { SPILL_BYTES } from './blobs.js';
import { checkKey, normalizeSet } from './lmdb-encoding.js';
import type { LmdbReplicas, LoggedWrite } from './lmdb-replicas.js';
import { RECORD_HEADER_BYTES, type WriteLog } from './write-log.js';

/**
 * A key's write in the overlay. It keeps the record's bytes, not the set:
 * every read decodes its own copy (as LMDB's reads do), so neither the
 * caller's buffers nor what a reader does with its result can change it.
 */
interface Entry {
  readonly partition: number;
  readonly bucket: string;
  readonly key: string;
  readonly removed: boolean;
  readonly payload: Buffer;
  readonly seq: number;
  readonly durable: Promise<void>;
  /** Set once the log batch holding it is fdatasynced: from then on reads see it. */
  synced: boolean;
  /**
   * Until synced, the key's entry before this one (undefined: LMDB's value),
   * which is what reads see meanwhile. Cut once synced, so chains stay as
   * long as the writes in flight.
   */
  prior: Entry | undefined;
}

/** The entry's set, decoded afresh (values copied unless `copy` is false); null if removed. */
function setOf(e: Entry, copy = true): SiblingSet | null {
  return e.removed ? null : decodeRecord(e.payload, copy).set;
}

/** What a read sees of a key with overlay entry `e`: the newest synced entry, or undefined for LMDB's value. */
function visible(e: Entry | undefined): Entry | undefined {
  while (e !== undefined && !e.synced) e = e.prior;
  return e;
}

export interface LoggedReplicasOptions {
  /** How long the applier lets the overlay fill before a pass. Default 100 ms. */
  readonly applyDelayMs?: number;
  /**
   * Entries one applier pass writes at most. Default 256. A pass's LMDB
   * transaction runs on the main thread (decode, encode, put per entry), so
   * an unbounded pass stalls every request for tens of milliseconds.
   */
  readonly applyBatchMax?: number;
}

/** Writes the checkpoint into the applier's transaction (the store's meta table). */
export type CheckpointWriter = (applied: number) => void;

/** How long the applier waits before it retries a failed pass. */
const APPLY_RETRY_MS = 1000;

function idOf(bucket: string, key: string): string {
  return `${bucket.length}:${bucket}${key}`;
}

// ---- record payload ---------------------------------------------------------
//
// u32 length of a JSON header, the header [partition, bucket, key, siblings
// or null] where each sibling's value is its byte length (-1: tombstone),
// then the values' bytes one after the other.

type HeaderSibling = [Sibling['dot'], Sibling['past'], Sibling['meta'], number];

/** The record's payload, after `headroom` blank bytes (the log's header goes there). */
export function encodeRecord(w: LoggedWrite, headroom = 0): Buffer {
  const values: Uint8Array[] = [];
  const sibs =
    w.set === null
      ? null
      : w.set.siblings.map((s): HeaderSibling => {
          if (s.value !== null) values.push(s.value);
          return [s.dot, s.past, s.meta, s.value === null ? -1 : s.value.byteLength];
        });
  const header = Buffer.from(JSON.stringify([w.partition, w.bucket, w.key, sibs]), 'utf8');
  let total = headroom + 4 + header.length;
  for (const v of values) total += v.byteLength;
  const out = Buffer.allocUnsafe(total);
  out.fill(0, 0, headroom);
  out.writeUInt32LE(header.length, headroom);
  let off = headroom + 4 + header.copy(out, headroom + 4);
  for (const v of values) {
    out.set(v, off);
    off += v.byteLength;
  }
  return out;
}

/**
 * The write a record's payload holds. With `copy` false the values are views
 * of `buf` (for the applier, which hands them to LMDB's encoder at once);
 * else copies, which the caller may keep or change.
 */
export function decodeRecord(buf: Buffer, copy = true): LoggedWrite {
  const hlen = buf.readUInt32LE(0);
  const [partition, bucket, key, sibs] = JSON.parse(buf.toString('utf8', 4, 4 + hlen)) as [number, string, string, HeaderSibling[] | null];
  let off = 4 + hlen;
  const set =
    sibs === null
      ? null
      : normalizeSet({
          siblings: sibs.map(([dot, past, meta, n]): Sibling => {
            if (n < 0) return { dot, past, meta, value: null };
            const value = copy ? Buffer.from(buf.subarray(off, off + n)) : buf.subarray(off, off + n);
            off += n;
            return { dot, past, meta, value };
          }),
        });
  if (off !== buf.length) throw new Error('write-log: record payload has trailing bytes');
  return { partition, bucket, key, set };
}

function holdsBigValue(set: SiblingSet): boolean {
  return set.siblings.some((s) => s.value !== null && s.value.byteLength >= SPILL_BYTES);
}

// ---- the overlay and the applier -------------------------------------------

export class LoggedReplicas {
  private readonly overlay = new Map<string, Entry>();
  private readonly byPartition = new Map<number, Map<string, Entry>>();
  private readonly byBucket = new Map<string, Map<string, Entry>>();
  /** Keys with a direct (big-value) write in progress: later writes of the key wait for it. */
  private readonly chains = new Map<string, Promise<void>>();
  private roomWaiters: (() => void)[] = [];
  private applying: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /**
   * Set while the applier's LMDB commits fail (disk or map full): new writes
   * fail with it, as they would without the log, so that the caller sees a
   * storage failure (node/limits.ts answers 507) rather than waiting for
   * room that never comes. Passes are retried every APPLY_RETRY_MS.
   */
  private applyFailure: unknown;
  private retryTimer: NodeJS.Timeout | undefined;
  /** The last checkpoint committed (0 until the first pass after open). */
  private checkpoint = 0;
  private readonly applyDelayMs: number;
  private readonly applyBatchMax: number;
  /** Applier passes run and entries they wrote (tests, metrics). */
  readonly stats = { passes: 0, applied: 0, bypassed: 0, failedPasses: 0 };

  constructor(
    private readonly replicas: LmdbReplicas,
    private readonly log: WriteLog,
    private readonly writeCheckpoint: CheckpointWriter,
    private readonly checkOpen: () => void,
    opts: LoggedReplicasOptions = {},
  ) {
    this.applyDelayMs = opts.applyDelayMs ?? 100;
    this.applyBatchMax = Math.max(1, opts.applyBatchMax ?? 256);
    log.onNeedCheckpoint = () => this.kick();
  }

  /**
   * Replays the log records after the checkpoint into LMDB, in one synced
   * commit together with the new checkpoint. `records` are what the log's
   * segments held (write-log.ts); replay starts at the first seq after the
   * checkpoint (or at `resumedAt`, where writing resumed after the last
   * restart) and stops at the first seq missing. Returns the seq to write next.
   */
  static async replay(
    replicas: LmdbReplicas,
    log: WriteLog,
    scanned: { records: ReadonlyMap<number, Buffer>; maxSeq: number },
    checkpoint: { applied: number; resumedAt: number },
    write: (applied: number, resumeAt: number) => void,
  ): Promise<{ replayed: number; nextSeq: number; applied: number }> {
    const latest = new Map<string, LoggedWrite>();
    let seq = Math.max(checkpoint.applied + 1, checkpoint.resumedAt);
    let replayed = 0;
    for (;;) {
      const rec = scanned.records.get(seq);
      if (rec === undefined) break;
      const w = decodeRecord(rec);
      const id = idOf(w.bucket, w.key);
      latest.delete(id); // keeps the map in seq order of each key's last write
      latest.set(id, w);
      replayed++;
      seq++;
    }
    const applied = Math.max(checkpoint.applied, seq - 1);
    const nextSeq = log.resumeAfter(scanned.maxSeq, applied);
    await replicas.applyLogged(latest.values(), () => write(applied, nextSeq));
    log.start(nextSeq, applied);
    return { replayed, nextSeq, applied };
  }

  read(bucket: string, key: string): SiblingSet | undefined {
    this.checkOpen();
    const e = visible(this.overlay.get(idOf(bucket, key)));
    if (e !== undefined) return setOf(e) ?? undefined;
    return this.replicas.read(bucket, key);
  }

  update(partition: number, bucket: string, key: string, fn: (current: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet> {
    try {
      this.checkOpen();
      checkKey(partition, bucket, key);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.inTurn(idOf(bucket, key), () => this.updateNow(partition, bucket, key, fn));
  }

  remove(partition: number, bucket: string, key: string): Promise<void> {
    try {
      this.checkOpen();
      checkKey(partition, bucket, key);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.inTurn(idOf(bucket, key), () => this.logWrite({ partition, bucket, key, set: null }).then(() => undefined));
  }

  /**
   * Runs `run` synchronously now if the key has no direct write in progress
   * and the log has room, else once both hold (in arrival order per key).
   */
  private inTurn<T>(id: string, run: () => Promise<T>): Promise<T> {
    if (this.applyFailure !== undefined) return Promise.reject(this.applyFailure as Error);
    if (!this.chains.has(id) && this.roomWaiters.length === 0 && this.log.hasRoom()) return run();
    return (async () => {
      for (;;) {
        const chain = this.chains.get(id);
        if (chain !== undefined) {
          await chain;
          continue;
        }
        if (this.applyFailure !== undefined) throw this.applyFailure;
        if (!this.log.hasRoom()) {
          this.kick();
          await new Promise<void>((ok) => this.roomWaiters.push(ok));
          continue;
        }
        this.checkOpen();
        return run();
      }
    })();
  }

  private updateNow(partition: number, bucket: string, key: string, fn: (current: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet> {
    const id = idOf(bucket, key);
    const e = this.overlay.get(id);
    let current: SiblingSet | undefined;
    let next: SiblingSet;
    try {
      current = e !== undefined ? (setOf(e) ?? undefined) : this.replicas.read(bucket, key);
      next = fn(current);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (next === current || next === undefined) {
      // Nothing to write; what fn saw may still be on its way to the disk.
      const seen = current ?? EMPTY_SET;
      return e === undefined ? Promise.resolve(seen) : e.durable.then(() => seen);
    }
    const w: LoggedWrite = { partition, bucket, key, set: next.siblings.length === 0 ? null : next };
    if (w.set !== null && holdsBigValue(w.set)) return this.direct(id, partition, bucket, key, fn);
    const record = encodeRecord(w, RECORD_HEADER_BYTES);
    if (record.byteLength - RECORD_HEADER_BYTES > this.log.maxPayloadBytes) return this.direct(id, partition, bucket, key, fn);
    return this.logWrite(w, record).then(() => next);
  }

  /** Appends the write (its record encoded with the log's header room) and puts it in the overlay. */
  private logWrite(w: LoggedWrite, record: Buffer = encodeRecord(w, RECORD_HEADER_BYTES)): Promise<void> {
    let appended: { seq: number; durable: Promise<void> };
    try {
      appended = this.log.append(record);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const payload = record.subarray(RECORD_HEADER_BYTES);
    const e: Entry = { partition: w.partition, bucket: w.bucket, key: w.key, removed: w.set === null, payload, seq: appended.seq, durable: appended.durable, synced: false, prior: this.overlay.get(idOf(w.bucket, w.key)) };
    this.put(e);
    this.schedule();
    // Registered before the caller's continuation, so the caller's next read sees it.
    return appended.durable.then(() => {
      e.synced = true;
      e.prior = undefined;
    });
  }

  /** A write that bypasses the log: after the key's overlay entry is in LMDB, before the key's next write. */
  private direct(id: string, partition: number, bucket: string, key: string, fn: (current: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet> {
    this.stats.bypassed++;
    const pending = this.overlay.get(id);
    const done = (async () => {
      if (pending !== undefined) await pending.durable;
      while (this.overlay.has(id)) await this.applyPass();
      return this.replicas.update(partition, bucket, key, fn);
    })();
    const chain = done.then(
      () => undefined,
      () => undefined,
    );
    this.chains.set(id, chain);
    void chain.then(() => {
      if (this.chains.get(id) === chain) this.chains.delete(id);
    });
    return done;
  }

  private put(e: Entry): void {
    const id = idOf(e.bucket, e.key);
    const old = this.overlay.get(id);
    if (old !== undefined) {
      this.unindex(id, old);
      // Moved to the end: the overlay iterates in the order of each key's last write, oldest first.
      this.overlay.delete(id);
    }
    this.overlay.set(id, e);
    let p = this.byPartition.get(e.partition);
    if (p === undefined) this.byPartition.set(e.partition, (p = new Map()));
    p.set(id, e);
    let b = this.byBucket.get(e.bucket);
    if (b === undefined) this.byBucket.set(e.bucket, (b = new Map()));
    b.set(e.key, e);
  }

  private unindex(id: string, e: Entry): void {
    const p = this.byPartition.get(e.partition);
    p?.delete(id);
    if (p?.size === 0) this.byPartition.delete(e.partition);
    const b = this.byBucket.get(e.bucket);
    b?.delete(e.key);
    if (b?.size === 0) this.byBucket.delete(e.bucket);
  }

  /** Entries waiting to be applied (tests). */
  get pending(): number {
    return this.overlay.size;
  }

  /** Starts a pass soon: at once when the log is filling, else after applyDelayMs to gather a big batch. */
  private schedule(): void {
    if (this.stopped) return;
    if (this.log.pendingBytes * 4 >= this.log.admitBytes * 2) {
      this.kick();
      return;
    }
    if (this.timer !== undefined || this.applying !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, this.applyDelayMs);
    this.timer.unref();
  }

  /** A pass now, unless one is running (it reschedules when it ends and more is pending). */
  private kick(): void {
    if (this.applying !== undefined || this.stopped || this.retryTimer !== undefined) return;
    void this.applyPass().catch(() => undefined);
  }

  /**
   * One applier pass: applyBatchMax of the entries reads see (each key's
   * newest synced one; the keys written least recently first) are written to LMDB with the
   * checkpoint in one synced commit; then the entries that did not change
   * meanwhile leave the overlay and the log may reuse the covered segments.
   * Resolves when this pass (or the one running) has ended.
   *
   * The checkpoint X is the synced seq, or, when entries are left for a later
   * pass, one less than the oldest of those. Every record up to X is then in
   * LMDB or superseded by a key's newer entry that is not; the latter has a
   * seq above X, so a replay from X + 1 writes it again over whatever older
   * state LMDB holds for the key.
   */
  applyPass(): Promise<void> {
    if (this.applying !== undefined) return this.applying;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    // Each key's newest synced entry: every record up to the log's synced seq
    // is one of them or superseded by one.
    const synced = this.log.syncedSeq;
    const entries: [string, Entry][] = [];
    let through = synced;
    for (const [id, latest] of this.overlay) {
      let e: Entry | undefined = latest;
      while (e !== undefined && e.seq > synced) e = e.prior;
      if (e === undefined) continue;
      if (entries.length < this.applyBatchMax) entries.push([id, e]);
      else if (e.seq <= through) through = e.seq - 1;
    }
    // A checkpoint never moves back: the segments past it may be reused already.
    if (through < this.checkpoint) return Promise.reject(new Error(`logged-replicas: checkpoint would move back from ${this.checkpoint} to ${through}`));
    this.applying = (async () => {
      try {
        await this.replicas.applyLogged(
          entries.map(([, e]) => ({ partition: e.partition, bucket: e.bucket, key: e.key, set: setOf(e, false) })),
          () => this.writeCheckpoint(through),
        );
        this.stats.passes++;
        this.stats.applied += entries.length;
        for (const [id, e] of entries) {
          const latest = this.overlay.get(id);
          if (latest === e) {
            this.overlay.delete(id);
            this.unindex(id, e);
            continue;
          }
          // LMDB now holds e: newer entries need not reach back past it.
          for (let n = latest; n !== undefined; n = n.prior) {
            if (n.prior === e) n.prior = undefined;
          }
        }
        this.checkpoint = through;
        this.log.checkpointed(through);
        this.applyFailure = undefined;
      } catch (err) {
        this.applyFailure = err;
        this.stats.failedPasses++;
        if (!this.stopped && this.retryTimer === undefined) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.kick();
          }, APPLY_RETRY_MS);
          this.retryTimer.unref();
        }
        throw err;
      } finally {
        this.applying = undefined;
        for (const w of this.roomWaiters.splice(0)) w();
        if (this.applyFailure !== undefined) {
          // the retry timer runs the next pass
        } else if (this.overlay.size >= this.applyBatchMax) setImmediate(() => this.kick());
        else if (this.overlay.size > 0 && !this.stopped) this.schedule();
      }
    })();
    return this.applying;
  }

  /**
   * Waits for every append to be synced, then applies everything (close).
   * If LMDB cannot take it, what is left stays in the log, durable, for the
   * next open's replay.
   */
  async drain(): Promise<void> {
    await this.log.idle();
    while (this.applying !== undefined) await this.applying.catch(() => undefined);
    while (this.chains.size > 0) await Promise.all(this.chains.values());
    try {
      await this.applyPass();
      while (this.overlay.size > 0) await this.applyPass();
    } finally {
      this.stopped = true;
      if (this.timer !== undefined) clearTimeout(this.timer);
      if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
      await this.log.close();
    }
  }

  /** Waits for every append so far to be synced (close hooks run after it). */
  flush(): Promise<void> {
    return this.log.idle();
  }

  // ---- scans: LMDB's range merged with the overlay's sorted entries ---------

  *scanPartition(partition: number, after?: { readonly bucket: string; readonly key: string }): Iterable<StoredKey> {
    this.checkOpen();
    const snap = visibleOf(this.byPartition.get(partition))
      .filter((e) => e.partition === partition && (after === undefined || compareKeyRefs(e, after) > 0))
      .sort(compareKeyRefs);
    const inSnap = new Set(snap.map((e) => idOf(e.bucket, e.key)));
    const fromLmdb = this.filtered(this.replicas.scanPartition(partition, after), inSnap, (e) => e.partition === partition);
    yield* mergeSorted(fromLmdb, snap, compareKeyRefs, Infinity);
  }

  *scanBucket(bucket: string, opts: { prefix?: string; after?: string; limit?: number; values?: boolean }): Iterable<StoredKey> {
    this.checkOpen();
    const prefix = opts.prefix ?? '';
    const limit = opts.limit ?? Infinity;
    if (limit <= 0) return;
    const snap = visibleOf(this.byBucket.get(bucket))
      .filter((e) => e.key.startsWith(prefix) && (opts.after === undefined || compareCodePoints(e.key, opts.after) > 0))
      .sort((a, b) => compareCodePoints(a.key, b.key));
    const inSnap = new Set(snap.map((e) => idOf(e.bucket, e.key)));
    const lmdbOpts = { prefix, ...(opts.after !== undefined ? { after: opts.after } : {}), ...(opts.values !== undefined ? { values: opts.values } : {}) };
    const fromLmdb = this.filtered(this.replicas.scanBucket(bucket, lmdbOpts), inSnap, () => true);
    yield* mergeSorted(fromLmdb, snap, (a, b) => compareCodePoints(a.key, b.key), limit);
  }

  /**
   * LMDB's entries minus those the overlay decides: keys in the scan's
   * snapshot of the overlay are yielded from it; a key that entered the
   * overlay since is yielded with the overlay's set (or not at all if it was
   * removed, or moved to another partition for a partition scan).
   */
  private *filtered(it: Iterable<StoredKey>, inSnap: ReadonlySet<string>, samePlace: (e: Entry) => boolean): Iterable<StoredKey> {
    for (const sk of it) {
      const id = idOf(sk.bucket, sk.key);
      if (inSnap.has(id)) continue;
      const e = visible(this.overlay.get(id));
      if (e === undefined) yield sk;
      else if (!e.removed && samePlace(e)) yield { partition: e.partition, bucket: e.bucket, key: e.key, set: setOf(e)! };
    }
  }
}

/** The entries reads see, of those indexed (keys whose reads see LMDB left out). */
function visibleOf(index: ReadonlyMap<string, Entry> | undefined): Entry[] {
  const out: Entry[] = [];
  for (const e of index?.values() ?? []) {
    const v = visible(e);
    if (v !== undefined) out.push(v);
  }
  return out;
}

/** Merges LMDB's ordered entries with the overlay's (disjoint keys), removed overlay entries left out, up to `limit`. */
function* mergeSorted(lmdb: Iterable<StoredKey>, snap: readonly Entry[], cmp: (a: StoredKey | Entry, b: StoredKey | Entry) => number, limit: number): Iterable<StoredKey> {
  const it = lmdb[Symbol.iterator]();
  let a = it.next();
  let i = 0;
  let n = 0;
  while (n < limit) {
    const b = snap[i];
    if (a.done === true && b === undefined) return;
    if (b === undefined || (a.done !== true && cmp(a.value, b) < 0)) {
      yield a.value as StoredKey;
      n++;
      a = it.next();
      continue;
    }
    i++;
    if (b.removed) continue;
    yield { partition: b.partition, bucket: b.bucket, key: b.key, set: setOf(b)! };
    n++;
  }
  it.return?.();
}
