// The origin replica's mint (Riak's coordinating vnode): the new dot, and
// the whole sibling set it yields, computed here without waiting for this
// node's own commit, so that the coordinator ships the set to the other
// replicas at once and every replica, this one included, commits in
// parallel (one durable commit on the critical path, not two).
//
// What keeps that sound (version/counter-lease.ts says why the origin used
// to commit first):
// - dots are minted as the lease's actor, with counters under its durable
//   reservation: a crash before the local commit can only leave a gap, and
//   the next process mints as a new actor whose vector entries cover
//   nothing the lost events were;
// - within a process, each key's minted-but-uncommitted set stays in
//   `pending` until its commit, and the next mint for the key starts from
//   it: a set carrying (actor, k) holds every earlier event of the actor for
//   the key, which is what lets a context cover by counter (dvv.ts).
//   A failed local commit keeps its entry for the life of the process and
//   taints the lease, so the next start takes a new actor.

import { capSiblings } from './sibling-cap.js';
import type { CoordinatorEnv } from './deps.js';
import type { Request } from '../transport/messages.js';
import { CounterLease } from '../version/counter-lease.js';
import { EMPTY_SET, maxCounter, mergeInto, newEvent, setClock, sync, vvGet, vvJoin, type SiblingSet, type VersionVector } from '../version/dvv.js';

type PutOrigin = Extract<Request, { type: 'putOrigin' }>;

/**
 * The context the origin replica mints a write with (its own copy or a hint
 * it holds for the owner): the client's context, joined with everything the
 * origin holds when the write supersedes what it can see (S3 replace, a
 * read-first delete).
 */
export function originContext(config: CoordinatorEnv['config'], req: PutOrigin, known: SiblingSet): VersionVector {
  if (config.bugs?.ignoreContext === true) return {};
  return req.supersedeLocal ? vvJoin(req.context ?? {}, setClock(known)) : req.context ?? {};
}

export interface Minted {
  /** The origin's whole set with the new event: what the other replicas merge. */
  readonly set: SiblingSet;
  /** This node's own commit of it: resolves with the stored set once durable. */
  readonly committed: Promise<SiblingSet>;
}

export class Origin {
  readonly lease: CounterLease;
  /** bucket\0key -> the set last minted here for it, until that set's commit. */
  private readonly pending = new Map<string, SiblingSet>();

  constructor(private readonly env: CoordinatorEnv) {
    this.lease = env.deps.counterLease ?? new CounterLease(env.deps.store, env.self);
  }

  /** This node's own copy of a key as its next mint sees it: committed state joined with its uncommitted mints. */
  view(bucket: string, key: string): SiblingSet | undefined {
    const committed = this.env.deps.store.read(bucket, key);
    const mine = this.env.config.bugs?.mintFromCommitted === true ? undefined : this.pending.get(pendingKey(bucket, key));
    if (mine === undefined) return committed;
    return committed === undefined ? mine : sync(committed, mine);
  }

  /**
   * The counter of a new dot: above what this node and the context know of
   * the actor for the key, above every counter minted since the lease was
   * taken, and above the dot floors (keys forgotten by handoff or
   * collection, minted before the lease existed).
   */
  nextCounter(known: SiblingSet, context: VersionVector, floor: number): number {
    const actor = this.lease.actor;
    return Math.max(maxCounter(known, actor), vvGet(context, actor), floor, this.lease.floor()) + 1;
  }

  /** Mints a write into this node's own replica of the key and starts its commit (not awaited). */
  async mint(partition: number, req: PutOrigin, persist: (fn: (cur: SiblingSet | undefined) => SiblingSet) => Promise<SiblingSet>): Promise<Minted> {
    const { deps, config } = this.env;
    const k = pendingKey(req.bucket, req.key);
    for (;;) {
      // Everything from here to `pending.set` is synchronous: two mints for a key cannot interleave.
      const known = this.view(req.bucket, req.key) ?? EMPTY_SET;
      const context = originContext(config, req, known);
      const counter = this.nextCounter(known, context, deps.dotFloor?.() ?? 0);
      if (!this.lease.covers(counter)) {
        await this.lease.reserve(counter);
        continue;
      }
      const { set, sibling } = newEvent(known, this.lease.actor, context, req.value, req.meta, deps.clock.now(), counter - 1);
      capSiblings(config, req.bucket, req.key, known, set); // limits: refused before anything is stored or leased
      this.lease.use(sibling.dot.counter);
      this.pending.set(k, set);
      const committed = persist((cur) => mergeInto(cur, set)).then(
        (stored) => {
          if (this.pending.get(k) === set) this.pending.delete(k);
          return stored;
        },
        (err: unknown) => {
          this.lease.taint();
          throw err;
        },
      );
      return { set, committed };
    }
  }
}

function pendingKey(bucket: string, key: string): string {
  return `${bucket}\u0000${key}`;
}
