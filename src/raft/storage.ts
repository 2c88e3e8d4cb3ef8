// The stable part of the log: what a driver has persisted. Raft reads it
// synchronously (term lookups, entries to send); the driver writes it when
// it handles a Ready (raw-node.ts), before sending that Ready's messages.
// MemoryStorage serves tests and the simulator, where "the disk" is an
// object that survives a simulated crash; node/raft-log-lmdb.ts is the
// durable implementation.
//
// Layout: the log is a snapshot (index, term, conf, data) followed by the
// entries after it. firstIndex() is snapshot.index + 1; term(snapshot.index)
// is known (the "last included term" of §7) even though that entry is gone.

import { assert } from '../util/assert.js';
import { EMPTY_CONF, NONE, type ConfState, type Entry, type HardState, type Snapshot } from './messages.js';

export interface InitialState {
  readonly hardState: HardState;
  /** The configuration as of the snapshot; conf entries after it are re-applied as the log is applied again. */
  readonly conf: ConfState;
}

export interface Storage {
  initialState(): InitialState;
  /** Entries [lo, hi), or 'compacted' when lo is at or below the snapshot. */
  entries(lo: number, hi: number): readonly Entry[] | 'compacted';
  /** The term of entry i, for i in [firstIndex()-1, lastIndex()]; undefined outside. */
  term(i: number): number | undefined;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

/**
 * The state every founding member starts from (see MemoryStorage.bootstrap);
 * elections begin at term 2. `data` is the application's initial state (every
 * founding member must be given the same bytes); empty by default.
 */
export function bootstrapState(conf: ConfState, data: Uint8Array = new Uint8Array(0)): { snapshot: Snapshot; hardState: HardState } {
  return { snapshot: { meta: { index: 1, term: 1, conf }, data }, hardState: { term: 1, vote: NONE, commit: 1 } };
}

export const EMPTY_SNAPSHOT: Snapshot = { meta: { index: 0, term: 0, conf: EMPTY_CONF }, data: new Uint8Array(0) };

/**
 * A log kept in memory. The simulator keeps one per node across crashes:
 * only what a driver wrote here (persisted) survives a restart.
 */
export class MemoryStorage implements Storage {
  private hard: HardState = { term: 0, vote: NONE, commit: 0 };
  private snap: Snapshot = EMPTY_SNAPSHOT;
  /** Entries after snap.meta.index, contiguous. */
  private ents: Entry[] = [];

  /**
   * A founding member of a brand-new cluster: the initial configuration as
   * a snapshot at index 1, term 1 (empty application state). A node that
   * joins later starts empty and receives that snapshot (or a later one),
   * so it learns the configuration the way every other state arrives.
   */
  static bootstrap(conf: ConfState): MemoryStorage {
    const s = new MemoryStorage();
    const b = bootstrapState(conf);
    s.snap = b.snapshot;
    s.hard = b.hardState;
    return s;
  }

  initialState(): InitialState {
    return { hardState: this.hard, conf: this.snap.meta.conf };
  }

  firstIndex(): number {
    return this.snap.meta.index + 1;
  }

  lastIndex(): number {
    return this.snap.meta.index + this.ents.length;
  }

  term(i: number): number | undefined {
    const base = this.snap.meta.index;
    if (i === base) return this.snap.meta.term;
    if (i < base || i > this.lastIndex()) return undefined;
    return (this.ents[i - base - 1] as Entry).term;
  }

  entries(lo: number, hi: number): readonly Entry[] | 'compacted' {
    const base = this.snap.meta.index;
    if (lo <= base) return 'compacted';
    assert(hi <= this.lastIndex() + 1, `entries [${lo}, ${hi}) beyond last index ${this.lastIndex()}`);
    return this.ents.slice(lo - base - 1, hi - base - 1);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  hardState(): HardState {
    return this.hard;
  }

  setHardState(h: HardState): void {
    this.hard = h;
  }

  /** Appends entries, replacing any stored entries from entries[0].index on (a follower's conflicting suffix, §5.3). */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = (entries[0] as Entry).index;
    const base = this.snap.meta.index;
    // Entries at or below the snapshot are already covered by it.
    const fresh = entries.filter((e) => e.index > base);
    if (fresh.length === 0) return;
    const from = Math.max(first, base + 1);
    assert(from <= this.lastIndex() + 1, `append at ${from} leaves a gap after ${this.lastIndex()}`);
    this.ents = this.ents.slice(0, from - base - 1).concat(fresh);
  }

  /** Replaces the whole log by a snapshot (InstallSnapshot, §7 step 7: "discard the entire log"). Raft only installs one that its log does not already continue. */
  applySnapshot(s: Snapshot): void {
    this.snap = s;
    this.ents = [];
  }

  /**
   * Log compaction (§7): records the application's state as of `index` as
   * the snapshot and drops the entries it covers. `index` must be applied.
   */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    const base = this.snap.meta.index;
    assert(index >= base && index <= this.lastIndex(), `snapshot at ${index} outside [${base}, ${this.lastIndex()}]`);
    const term = this.term(index) as number;
    this.ents = this.ents.slice(index - base);
    this.snap = { meta: { index, term, conf }, data };
    return this.snap;
  }

  /** A copy, as a disk image survives a crash. */
  clone(): MemoryStorage {
    const c = new MemoryStorage();
    c.hard = this.hard;
    c.snap = this.snap;
    c.ents = this.ents.slice();
    return c;
  }
}
