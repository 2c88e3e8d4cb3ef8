// The node's one floor for the counters of the dots it mints (see newEvent's
// minCounter in version/dvv.ts).
//
// A replica derives the counter of a new dot from what it holds for the
// key, which is sound as long as it never forgets a key. A node does forget
// a key in two ways. A fallback deletes a hint once the owner has
// acknowledged it (Dynamo §4.6, handoff.ts), and with it the fallback's
// memory of the counters it used for that key; tombstone collection
// (antientropy/collection.ts) removes a key every replica holds as
// tombstones. Minting for the same key again, the node would reuse a dot, for
// a different value, and one of the two writes would silently vanish
// wherever both meet. So before a key is forgotten its highest own counter
// is folded into this floor, and every later mint starts above it.
//
// The floor is persisted as a lease, as Riak persists its vnode counters: the
// stored value runs ahead of what is needed by `slack`, so that most raises
// cost nothing and a crash can only leave a gap in the counters, never a
// repeat.


/** Where a node's store keeps its metadata (ReplicaStore's getMeta/putMeta). */
export interface MetaStore {
  getMeta<T>(key: string): T | undefined;
  putMeta(key: string, value: unknown): Promise<void>;
}

export const DOT_FLOOR_META = 'handoff.dotFloor';

export class DotFloor {
  private persisted: number;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly meta: MetaStore,
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
