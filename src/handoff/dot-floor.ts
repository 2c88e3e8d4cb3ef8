// The counter floor for dots a node mints as a fallback (see newEvent's
// minCounter in version/dvv.ts and Coordinator.mintHinted).
//
// A replica derives the counter of a new dot from what it holds for the
// key, which is sound as long as it never forgets a key. A fallback node
// does forget: once the owner has acknowledged a hint, the hint is deleted
// (Dynamo §4.6), and with it the fallback's memory of the counters it used
// for that key. Should it stand in for the same key again, it would mint the
// same dot a second time, for a different value, and one of the two writes
// would silently vanish wherever both meet. So before a hint is deleted its
// highest own counter is folded into this floor, and every later fallback
// mint starts above the floor.
//
// The floor is persisted as a lease, as Riak persists its vnode counters: the
// stored value runs ahead of what is needed by `slack`, so that most raises
// cost nothing and a crash can only leave a gap in the counters, never a
// repeat.

import type { ReplicaStore } from '../store/store.js';

export const DOT_FLOOR_META = 'handoff.dotFloor';

export class DotFloor {
  private persisted: number;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly meta: Pick<ReplicaStore, 'getMeta' | 'putMeta'>,
    private readonly slack = 1024,
  ) {
    const v = meta.getMeta<number>(DOT_FLOOR_META);
    this.persisted = typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : 0;
  }

  /** The floor: at least every counter folded in so far. */
  current(): number {
    return this.persisted;
  }

  /** Makes the floor durably at least `counter`; resolves once it is on disk. */
  raise(counter: number): Promise<void> {
    if (counter <= this.persisted) return this.writing;
    const next = this.writing.then(async () => {
      if (counter <= this.persisted) return;
      const value = counter + this.slack;
      await this.meta.putMeta(DOT_FLOOR_META, value);
      this.persisted = Math.max(this.persisted, value);
    });
    this.writing = next.catch(() => undefined);
    return next;
  }
}
