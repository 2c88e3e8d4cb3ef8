// Tombstone collection. A key whose sibling set is tombstones only may be
// removed only when (1) the grace period has passed since its newest
// tombstone was written, and (2) every replica holds that very set. (2) is
// checked, not assumed: the partition's primary owner asks EVERY node of the
// layout (phase 1, aeGcCheck) what it holds for the key. The
// preference-list owners must answer "same tombstone set"; every other node
// (a fallback that took a hinted copy, an extra replica of a bucket with a
// larger N) must answer "same" or "nothing", never "something else". The
// check is passed twice, by sweeps at least confirmGapMs apart (data-age.ts:
// by then no copy of an older version read before the first can still be
// merged anywhere). Only then are the copies removed (phase 2, aeGcRemove),
// each conditionally on its digest being unchanged, so a write racing the
// collection survives. A node that cannot be asked blocks collection of its
// partitions' tombstones. If a removal fails on some replica, that replica
// keeps the tombstone and anti-entropy copies it back to the others: a
// tombstone spreading again is safe, and it is collected on a later sweep.
//
// What this cannot see, and the grace period must cover (README
// "Anti-entropy and deletes"): an old version held outside the store (a hint
// waiting for delivery, unless `pendingHint` reports it) or on a node that
// is not in the layout. Hence grace period > the longest outage after which
// a node's hints may still be delivered.

import { isTombstoneOnly, maxCounter, type NodeId, type SiblingSet } from '../version/dvv.js';
import { keyDigestHex } from './merkle.js';
import { GC_SAME, GC_OTHER, type AeGcStatesOk, type AeKeyDigest } from './protocol.js';
import { confirmGapMs } from './data-age.js';
import { keyId, request, sameTombstones, type AeEnv } from './env.js';
import { errorMessage } from '../util/errors.js';
import type { Placement } from '../ring/view.js';

export class TombstoneCollector {
  /**
   * Tombstone sets every node held at a sweep's check, by key: digest and
   * when (this node's clock) the check completed. Volatile on purpose: after
   * a restart the first confirmation is simply made again.
   */
  private confirmed = new Map<string, { digest: string; atMs: number }>();

  constructor(private readonly env: AeEnv) {}

  /** The layout version of the sweep in progress, or null: a node reports having seen a newer one only once this sweep is given up. */
  private sweepVersion: number | null = null;

  /** No sweep in progress runs with a layout older than v (LayoutMover's condition for reporting seen). */
  quietBefore(v: number): boolean {
    return this.sweepVersion === null || this.sweepVersion >= v;
  }

  /** Tombstone-only keys confirmed once by the last sweep, waiting for the second confirmation. */
  get pendingConfirmation(): number {
    return this.confirmed.size;
  }

  /**
   * One sweep over the partitions this node is the primary owner of:
   * collects every tombstone-only key that is past the grace period and held
   * identically by every replica (see the file comment). Returns keys removed.
   */
  async collectTombstones(): Promise<number> {
    if (this.env.deps.confirmLayout !== undefined) await this.env.deps.confirmLayout();
    const ring = this.env.deps.ring();
    this.sweepVersion = ring.version;
    try {
      return await this.sweep(ring);
    } finally {
      this.sweepVersion = null;
    }
  }

  private async sweep(ring: Placement): Promise<number> {
    const { self, n, clock } = this.env.deps;
    const everyone = [...ring.nodes];
    this.env.totals.gcSweeps++;
    let removed = 0;
    // Confirmations carried to the next sweep: only keys this sweep confirmed (again).
    const confirmed = new Map<string, { digest: string; atMs: number }>();
    for (const p of ring.partitionsOf(self, n)) {
      if (this.env.state.stopped) break;
      // A new layout version may add owners this sweep does not wait for: give it up (docs/layout.md).
      if (this.env.deps.ring().version !== ring.version) break;
      // The newest version's first owner sweeps; every owner in any live
      // layout version must hold the very tombstone (docs/layout.md), and a
      // removed node that owns nothing is not waited for.
      if (ring.primaryOwner(p) !== self) continue;
      const owners = ring.allOwners(p, n);
      const cutoff = clock.now() - this.env.config.tombstoneGraceMs;
      let batch: AeKeyDigest[] = [];
      // The store tracks its tombstone-only keys, so a sweep reads only those.
      for (const t of this.env.deps.store.tombstoneKeys(p)) {
        const set = this.env.deps.store.read(t.bucket, t.key);
        if (set === undefined || !isTombstoneOnly(set) || newestTs(set) > cutoff) continue;
        if (this.env.deps.pendingHint?.(t.bucket, t.key) === true) continue;
        batch.push({ bucket: t.bucket, key: t.key, digest: keyDigestHex(t.bucket, t.key, set) });
        if (batch.length >= this.env.config.gcBatch) {
          if (this.env.deps.ring().version !== ring.version) break;
          removed += await this.collectBatch(p, owners, everyone, batch, confirmed);
          batch = [];
        }
      }
      if (batch.length > 0) removed += await this.collectBatch(p, owners, everyone, batch, confirmed);
    }
    if (!this.env.state.stopped) this.confirmed = confirmed;
    return removed;
  }

  private async collectBatch(
    partition: number,
    owners: readonly NodeId[],
    everyone: readonly NodeId[],
    batch: readonly AeKeyDigest[],
    confirmed: Map<string, { digest: string; atMs: number }>,
  ): Promise<number> {
    const { self, liveness } = this.env.deps;
    const others = everyone.filter((x) => x !== self);
    if (others.some((x) => !liveness.isAlive(x))) {
      this.env.totals.gcBlocked += batch.length;
      return 0;
    }
    await this.env.limiter.take(batch.length);
    if (this.env.state.stopped) return 0;
    // Phase 1: every node says what it holds for each candidate.
    let answers: { node: NodeId; states: readonly number[] }[];
    try {
      answers = await Promise.all(
        others.map(async (node) => {
          // BUGGIFY gcWithoutCheck: every node is assumed to hold the very tombstone set.
          const resp: Pick<AeGcStatesOk, 'states'> =
            this.env.deps.bugs?.gcWithoutCheck === true ? { states: batch.map(() => GC_SAME) } : await request(this.env, node, { type: 'aeGcCheck', partition, entries: batch });
          if (resp.states.length !== batch.length) throw new Error(`aeGcCheck: ${node} answered ${resp.states.length} states for ${batch.length} keys`);
          return { node, states: resp.states };
        }),
      );
    } catch (err) {
      this.env.totals.gcBlocked += batch.length;
      this.env.state.lastError = `tombstone check: ${errorMessage(err)}`;
      return 0;
    }
    // Every answer is in: copies read before now are what the gap must outlive.
    const checkedMs = this.env.deps.clock.now();
    // BUGGIFY gcWithoutCheck, ignoreDataAge: one confirmation is enough.
    const once = this.env.deps.bugs?.gcWithoutCheck === true || this.env.deps.bugs?.ignoreDataAge === true;
    const gapMs = once ? 0 : confirmGapMs(this.env.config);
    const ownerSet = new Set(owners);
    const collectable: AeKeyDigest[] = [];
    const holders = new Map<NodeId, AeKeyDigest[]>();
    let waiting = 0;
    batch.forEach((e, i) => {
      for (const a of answers) {
        const s = a.states[i];
        if (s === GC_OTHER || s === undefined) return;
        if (ownerSet.has(a.node) && s !== GC_SAME) return;
      }
      // Confirmed now; collectable only if this very set was confirmed at least the gap ago.
      const k = keyId(e.bucket, e.key);
      const first = this.confirmed.get(k);
      const since = first !== undefined && first.digest === e.digest ? first : { digest: e.digest, atMs: checkedMs };
      if (checkedMs - since.atMs < gapMs) {
        confirmed.set(k, since);
        waiting++;
        return;
      }
      collectable.push(e);
      for (const a of answers) {
        if (a.states[i] !== GC_SAME) continue;
        let list = holders.get(a.node);
        if (list === undefined) holders.set(a.node, (list = []));
        list.push(e);
      }
    });
    this.env.totals.gcBlocked += batch.length - collectable.length - waiting;
    if (collectable.length === 0) return 0;
    // Phase 2: every holder removes its copy if it is still that very set.
    const [mine] = await Promise.all([
      this.removeIfSame(collectable),
      ...[...holders].map(([node, entries]) =>
        request(this.env, node, { type: 'aeGcRemove', partition, entries }).catch((err: unknown) => {
          this.env.state.lastError = `tombstone removal on ${node}: ${errorMessage(err)}`;
        }),
      ),
    ]);
    return mine;
  }

  /** Removes each key whose set is still exactly the given tombstone set; counts what it removed. */
  async removeIfSame(entries: readonly AeKeyDigest[]): Promise<number> {
    const { store, self } = this.env.deps;
    const ring = this.env.deps.ring();
    // Raise the dot floor durably before anything is forgotten. A set with
    // the same digest has the same dots, so the floor read here covers what
    // the conditional removal below may remove.
    let floor = 0;
    for (const e of entries) {
      const cur = store.read(e.bucket, e.key);
      if (sameTombstones(e, cur)) floor = Math.max(floor, maxCounter(cur, self));
    }
    // BUGGIFY gcWithoutDotFloor: forget without raising the floor.
    const noFloor = this.env.deps.bugs?.gcWithoutDotFloor === true;
    if (!noFloor) await this.env.floor.raise(floor);
    // A store may run an update function more than once (a guess, then for
    // real): what counts is the last run, the one committed.
    const done = await Promise.all(
      entries.map(async (e) => {
        let gone = false;
        await store.update(ring.partitionOf(e.bucket, e.key), e.bucket, e.key, (cur) => {
          gone = sameTombstones(e, cur) && (noFloor || maxCounter(cur, self) <= this.env.floor.current());
          return gone ? { siblings: [] } : (cur as SiblingSet);
        });
        return gone;
      }),
    );
    const removed = done.filter(Boolean).length;
    this.env.totals.tombstonesCollected += removed;
    if (removed > 0) this.env.deps.events?.collected?.(removed);
    return removed;
  }
}

/** Newest tombstone time of a set (its siblings' HLC timestamps). */
function newestTs(set: SiblingSet): number {
  let ts = 0;
  for (const s of set.siblings) if (s.meta.ts > ts) ts = s.meta.ts;
  return ts;
}
