// The log as Raft sees it (Raft §5.3): the stable part in Storage, then the
// unstable tail (entries, or a snapshot, handed to the driver in a Ready but
// not yet acknowledged as persisted), plus the commit and apply cursors.
//
// Invariant: applied <= committed <= lastIndex, and committed entries are
// never truncated (Log Matching + Leader Completeness, §5.4).

import { assert } from '../util/assert.js';
import type { Entry, Snapshot } from './messages.js';
import type { Storage } from './storage.js';

/** The tail not yet persisted: an optional snapshot, then entries from `offset`. */
class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  constructor(public offset: number) {}

  firstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.meta.index + 1;
  }

  lastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.meta.index;
  }

  term(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot !== undefined && this.snapshot.meta.index === i) return this.snapshot.meta.term;
      return undefined;
    }
    const last = this.lastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[i - this.offset]?.term;
  }

  stableTo(index: number, term: number): void {
    // Only if the entry is still the one handed out: a newer append may have replaced it meanwhile.
    if (this.term(index) !== term || index < this.offset) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  stableSnapTo(index: number): void {
    if (this.snapshot !== undefined && this.snapshot.meta.index === index) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = s.meta.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    const first = (ents[0] as Entry).index;
    if (first === this.offset + this.entries.length) {
      this.entries.push(...ents);
    } else if (first <= this.offset) {
      // Replaces the whole unstable tail (and, in storage, what follows `first` once persisted).
      this.offset = first;
      this.entries = [...ents];
    } else {
      this.entries = this.entries.slice(0, first - this.offset).concat(ents);
    }
  }

  slice(lo: number, hi: number): Entry[] {
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  applied: number;

  constructor(readonly storage: Storage) {
    this.unstable = new Unstable(storage.lastIndex() + 1);
    // A restarted node has applied nothing yet: its state machine starts from the snapshot.
    this.committed = storage.firstIndex() - 1;
    this.applied = storage.firstIndex() - 1;
  }

  firstIndex(): number {
    return this.unstable.firstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.lastIndex() ?? this.storage.lastIndex();
  }

  /** The term of entry i, or undefined if it is compacted (below firstIndex-1) or beyond the log. */
  term(i: number): number | undefined {
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return undefined;
    return this.unstable.term(i) ?? this.storage.term(i);
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) as number;
  }

  matchTerm(i: number, term: number): boolean {
    return this.term(i) === term;
  }

  /**
   * §5.4.1's election restriction: a candidate's log (lastIndex, lastTerm) is
   * at least as up-to-date as ours: a later last term, or the same last term
   * and at least as long.
   */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const t = this.lastTerm();
    return lastTerm > t || (lastTerm === t && lastIndex >= this.lastIndex());
  }

  /**
   * The follower side of AppendEntries (§5.3, Figure 2 receiver steps 2-5):
   * if our log holds (index, logTerm), drop any conflicting suffix, append
   * what is new and advance commit. Returns the last index now known to
   * match the leader's log, or undefined if (index, logTerm) did not match.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      assert(ci > this.committed, `entry ${ci} conflicts with committed entry ${this.committed}`);
      this.append(ents.slice(ci - index - 1));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** The index of the first entry that is new or conflicts with ours, or 0 if we hold all of them. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  /**
   * Fast backtracking (§5.3): the largest index <= `index` whose term is <=
   * `term`. Entries above it cannot match a log whose entry at `index` has
   * `term`, so the leader may skip them all in one round trip.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (;;) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
      i--;
    }
  }

  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = (ents[0] as Entry).index - 1;
    assert(after >= this.committed, `append after ${after} would truncate committed entries up to ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  unstableEntries(): readonly Entry[] {
    return this.unstable.entries;
  }

  /** Entries [lo, hi), at most maxCount, or 'compacted'. */
  entries(lo: number, hi: number, maxCount = Infinity): readonly Entry[] | 'compacted' {
    hi = Math.min(hi, this.lastIndex() + 1, lo + maxCount);
    if (lo < this.firstIndex()) return 'compacted';
    if (lo >= hi) return [];
    const out: Entry[] = [];
    const uOff = this.unstable.offset;
    if (lo < uOff) {
      const stable = this.storage.entries(lo, Math.min(hi, uOff));
      if (stable === 'compacted') return 'compacted';
      out.push(...stable);
    }
    if (hi > uOff) out.push(...this.unstable.slice(Math.max(lo, uOff), hi));
    return out;
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  /** Committed entries not yet applied, at most maxCount; none while a snapshot waits to be applied first. */
  nextCommittedEntries(maxCount: number): readonly Entry[] {
    if (this.hasPendingSnapshot()) return [];
    const lo = Math.max(this.applied + 1, this.firstIndex());
    const got = this.entries(lo, this.committed + 1, maxCount);
    assert(got !== 'compacted', `committed entries from ${lo} are compacted`);
    return got;
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  commitTo(i: number): void {
    if (this.committed >= i) return;
    assert(i <= this.lastIndex(), `commit ${i} beyond last index ${this.lastIndex()}`);
    this.committed = i;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    assert(i <= this.committed && i >= this.applied, `applied ${i} outside [${this.applied}, ${this.committed}]`);
    this.applied = i;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  /** Replaces the log by a snapshot (§7): everything up to its index is committed and, once the driver restores it, applied. */
  restore(s: Snapshot): void {
    this.committed = s.meta.index;
    // Only an installed-over-newer-entries bug (RaftBugs.snapshotOverNewer) moves applied back here.
    this.applied = Math.min(this.applied, s.meta.index);
    this.unstable.restore(s);
  }
}
