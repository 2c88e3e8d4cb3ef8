// What the checkers agree the final state should be, computed from the
// history alone (never from what the system says about itself).
//
// Supersession with dotted version vectors: every write is one event named by
// its dot and carries the context its client sent. A write w (dot d) is
// superseded iff some other event that exists carries a context covering d.
// "Exists" means some store persisted it, or the coordinator acknowledged it
// (an acknowledged write that no store holds is itself a lost write). The
// context used is the one the client recorded sending, not the past stored
// with the sibling, so a system that drops or rewrites contexts is caught
// (except for S3-style writes, whose context is the origin's own clock and
// known only from the stored sibling).
// Covering is transitive through existing events: contexts are read clocks,
// which include the pasts of everything read, so if x's context covers y and
// y's covers d, x's covers d as well; the checkers still follow chains, so
// that they never demand more than the semantics do.

import { covers, dotKey, type Dot, type NodeId, type SiblingSet, type VersionVector } from '../../version/dvv.js';
import type { RunConfig } from '../config.js';
import type { History, WriteOp } from '../history.js';
import type { KeyState, StateProblem } from '../world.js';

export interface FinalState {
  readonly keys: readonly string[];
  readonly byKey: ReadonlyMap<string, KeyState>;
  /** Hints still waiting in some node's hint table. */
  readonly pendingHints: number;
  /** Merkle roots that differ among owners, trees out of step with their store, replicas outside their owners (World.stateProblems). */
  readonly problems: readonly StateProblem[];
}

export interface CheckInput {
  readonly config: RunConfig;
  readonly history: History;
  readonly final: FinalState;
  /** Problems the run itself hit (a healing read that never succeeded...). */
  readonly runErrors: readonly string[];
}

export interface Violation {
  readonly checker: string;
  readonly message: string;
}

export interface Checker {
  readonly name: string;
  check(input: CheckInput): Violation[];
}

export interface KeyEvent {
  readonly dot: Dot;
  readonly id: string;
  readonly writeId: number;
  /** The context the event's write was sent with ({} for none). */
  readonly context: VersionVector;
  readonly tombstone: boolean;
  readonly persisted: boolean;
}

/** The events of one key and who supersedes whom. */
export class KeyModel {
  readonly events = new Map<string, KeyEvent>();
  /** Tombstones of this key that tombstone collection removed somewhere. */
  readonly collected: ReadonlySet<string>;

  constructor(
    readonly key: string,
    history: History,
  ) {
    this.collected = history.collectedDots(key);
    // An S3-style write's context is the origin's clock at the time, and a
    // read-first write's the clock of its read, which only the persisted
    // sibling records; every other write's is what its client sent.
    const ctxOf = (writeId: number, stored: VersionVector): VersionVector => {
      const w = history.writes.get(writeId);
      if (w === undefined || w.supersedeVisible || w.readFirst !== null) return stored;
      return w.context ?? {};
    };
    for (const e of history.persisted.values()) {
      if (e.key !== key) continue;
      const id = dotKey(e.dot);
      this.events.set(id, { dot: e.dot, id, writeId: e.writeId, context: ctxOf(e.writeId, e.past), tombstone: e.tombstone, persisted: true });
    }
    for (const w of history.writes.values()) {
      if (w.key !== key || w.outcome !== 'ok') continue;
      for (const d of w.dots) {
        const id = dotKey(d);
        if (!this.events.has(id)) this.events.set(id, { dot: d, id, writeId: w.writeId, context: w.context ?? {}, tombstone: w.kind === 'delete', persisted: false });
      }
    }
  }

  /** The existing events whose context covers `dot` (direct supersession). */
  supersedersOf(dot: Dot): KeyEvent[] {
    const id = dotKey(dot);
    return [...this.events.values()].filter((e) => e.id !== id && covers(e.context, dot));
  }

  isSuperseded(dot: Dot): boolean {
    return this.supersedersOf(dot).length > 0;
  }

  /** Does event `from` supersede `dot`, directly or through a chain of existing events? */
  reaches(from: KeyEvent, dot: Dot): boolean {
    const target = dotKey(dot);
    if (from.id === target) return true;
    const seen = new Set<string>([from.id]);
    const stack: KeyEvent[] = [from];
    while (stack.length > 0) {
      const e = stack.pop() as KeyEvent;
      if (covers(e.context, dot)) return true;
      for (const f of this.events.values()) {
        if (!seen.has(f.id) && covers(e.context, f.dot)) {
          seen.add(f.id);
          stack.push(f);
        }
      }
    }
    return false;
  }

  /**
   * Whether an expected event may be missing from an owner: a tombstone that
   * tombstone collection removed (a fully deleted key may vanish; what the
   * tombstone superseded must still not come back).
   */
  mayVanish(id: string): boolean {
    return this.events.get(id)?.tombstone === true && this.collected.has(id);
  }

  /**
   * Layout changes: a write that was never acknowledged may be held only by
   * a node that then gave its partition up. The new owners synced from a
   * read quorum of the old ones (docs/layout.md), which need not include
   * that node, so the event may leave with its drop: an event of an
   * unacknowledged write that some node dropped, that no owner holds at the
   * end and that was never collected is taken as never having existed.
   */
  forgetDropped(history: History, heldByOwners: ReadonlySet<string>): void {
    for (const id of history.droppedDots(this.key)) {
      const e = this.events.get(id);
      // Collected somewhere: every owner held it then (collection waits for all of them).
      if (e === undefined || heldByOwners.has(id) || this.collected.has(id) || history.writes.get(e.writeId)?.outcome === 'ok') continue;
      this.events.delete(id);
    }
  }

  /** The sibling dots every owner must hold after healing (tombstones that were collected may be gone: mayVanish). */
  expected(): Set<string> {
    const out = new Set<string>();
    for (const e of this.events.values()) if (!this.isSuperseded(e.dot)) out.add(e.id);
    return out;
  }
}

/**
 * The dots of a write: those in its answer, or (when a concurrent write had
 * already superseded it by the time the answer was merged, so the answer
 * holds none) those any store persisted for it.
 */
export function dotsOfWrite(history: History, w: WriteOp): Dot[] {
  if (w.dots.length > 0) return w.dots;
  return [...history.persisted.values()].filter((e) => e.writeId === w.writeId).map((e) => e.dot);
}

export function dotsOf(set: SiblingSet | undefined): Set<string> {
  return new Set((set?.siblings ?? []).map((s) => dotKey(s.dot)));
}

export function showSet(set: SiblingSet | undefined): string {
  if (set === undefined) return '(nothing)';
  return '[' + set.siblings.map((s) => `${s.value === null ? 'del' : 'val'}:${dotKey(s.dot)}`).join(' ') + ']';
}

export function showWrite(w: WriteOp): string {
  return `${w.kind} w${w.writeId} on ${w.key} (c${w.client} via ${w.node}, invoked@${w.invokedAt.toFixed(0)}, ${w.outcome}@${w.completedAt.toFixed(0)})`;
}

export function ownersState(input: CheckInput, key: string): { owners: readonly NodeId[]; sets: Map<NodeId, SiblingSet | undefined> } {
  const ks = input.final.byKey.get(key);
  if (ks === undefined) return { owners: [], sets: new Map() };
  const sets = new Map<NodeId, SiblingSet | undefined>();
  for (const o of ks.owners) sets.set(o, ks.byNode.get(o));
  return { owners: ks.owners, sets };
}
