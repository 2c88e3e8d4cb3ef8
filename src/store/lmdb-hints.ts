// The hint table of a node's LMDB store (lmdb-store.ts), the HintStore:
// sibling sets a fallback holds for an owner that missed them (Dynamo §4.6,
// "a separate local database"), apart from the node's own replicas.
//
//   hints      [owner, partition, bucket, key] -> { set, updatedMs }
//   hintsByKey [bucket, key, owner]            -> partition  (reads and listings of hints)

import type { Database, RootDatabase } from 'lmdb';
import { hintBytes, type HintKey, type HintTotals, type StoredHint } from './store.js';
import { EMPTY_SET, sameSet, type NodeId, type SiblingSet } from '../version/dvv.js';
import { compareCodePoints } from './key-order.js';
import { checkKey, normalizeSet } from './lmdb-encoding.js';

type HintDbKey = [NodeId, number, string, string];
type HintIndexKey = [string, string, NodeId];
interface HintRecord {
  set: SiblingSet;
  updatedMs: number;
}

export class LmdbHints {
  private readonly hints: Database<HintRecord, HintDbKey>;
  private readonly hintsByKey: Database<number, HintIndexKey>;
  /** Per-owner hint totals, counted by one scan on first use, then kept in step. */
  private totals: Map<NodeId, { hints: number; bytes: number }> | undefined;

  constructor(
    env: RootDatabase,
    /** Throws if the store is closed. */
    private readonly checkOpen: () => void,
  ) {
    this.hints = env.openDB<HintRecord, HintDbKey>({ name: 'hints' });
    this.hintsByKey = env.openDB<number, HintIndexKey>({ name: 'hintsByKey' });
  }

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
}

function addTotals(totals: Map<NodeId, { hints: number; bytes: number }>, owner: NodeId, d: { hints: number; bytes: number }): void {
  if (d.hints === 0 && d.bytes === 0) return;
  const t = totals.get(owner) ?? { hints: 0, bytes: 0 };
  t.hints += d.hints;
  t.bytes += d.bytes;
  if (t.hints <= 0) totals.delete(owner);
  else totals.set(owner, t);
}
