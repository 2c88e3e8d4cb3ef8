// A run-time oracle for the invariant that lets a version vector cover by
// counter (dvv.ts, coordinator/origin.ts): a replica set that holds the
// event (A, k) of a key accounts for every event A minted for that key
// before it, by holding it or a sibling whose past covers it. An origin that
// forgot one of its own events (a crash between shipping and committing, a
// mint that did not see the one before it) and minted again as the same
// actor breaks it; the lost event is then covered, by counter, in every
// context handed out from the new set, and the next write through such a
// context supersedes it unseen. The lost-write checker cannot tell that from
// a real supersession, since it judges by the same coverage.
//
// Events minted into a hint table are left out: a fallback forgets a hint
// after handoff by design and then mints for the key again (its dot floor
// keeps the dots unique), which this invariant does not cover.

import { covers, dotKey, type Dot, type SiblingSet } from '../version/dvv.js';

export class ActorHistory {
  /** key -> actor -> counters of events first persisted in a replica store. */
  private readonly minted = new Map<string, Map<string, Set<number>>>();
  /** key NUL dotKey of every event seen, so that a hint-minted event is never counted as an owner's. */
  private readonly seen = new Set<string>();

  /**
   * A set some store persisted: `hint` for a hint table. Returns what is
   * wrong with it; `collected` says whether tombstone collection removed the
   * event (or something superseding it) somewhere.
   */
  observe(key: string, set: SiblingSet, hint: boolean, collected: (dot: Dot) => boolean): string[] {
    const out: string[] = [];
    let actors = this.minted.get(key);
    if (!hint && actors !== undefined) {
      for (const s of set.siblings) {
        const earlier = actors.get(s.dot.node);
        if (earlier === undefined) continue;
        for (const j of earlier) {
          if (j >= s.dot.counter) continue;
          const d = { node: s.dot.node, counter: j };
          if (set.siblings.some((t) => (t.dot.node === d.node && t.dot.counter === j) || covers(t.past, d))) continue;
          if (collected(d)) continue;
          out.push(`a replica of ${key} holds ${dotKey(s.dot)} without ${dotKey(d)}, an earlier event of the same actor, or anything superseding it`);
        }
      }
    }
    for (const s of set.siblings) {
      const id = `${key}\u0000${dotKey(s.dot)}`;
      if (this.seen.has(id)) continue;
      this.seen.add(id);
      if (hint) continue;
      if (actors === undefined) this.minted.set(key, (actors = new Map()));
      let counters = actors.get(s.dot.node);
      if (counters === undefined) actors.set(s.dot.node, (counters = new Set()));
      counters.add(s.dot.counter);
    }
    return out;
  }
}
