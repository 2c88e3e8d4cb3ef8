// The hint table as the coordinator uses it (Dynamo §4.6): a fallback keeps
// a write for an owner it stands in for apart from its own replicas, "in a
// separate local database", until handoff (handoff/handoff.ts) delivers it.
// Bounded: hints for new keys are refused beyond maxHints/maxHintBytes.

import { capSiblings } from './sibling-cap.js';
import type { CoordinatorEnv, HintDeps } from './deps.js';
import type { Request } from '../transport/messages.js';
import { EMPTY_SET, mergeInto, newEvent, sync, type NodeId, type SiblingSet } from '../version/dvv.js';
import { originContext, type Origin } from './origin.js';
import { refuseIfStale } from '../antientropy/data-age.js';
import { HintsFullError } from '../util/errors.js';

export { HintsFullError };

export class HintTable {
  /** Serializes dot minting into the hint table per key (see mint). */
  private readonly mints = new Map<string, Promise<unknown>>();

  constructor(private readonly env: CoordinatorEnv) {}

  /** The hint table, if hinted writes for `owner` go there (never for this node itself). */
  for(owner: NodeId): HintDeps | undefined {
    return owner === this.env.self ? undefined : this.env.deps.hints;
  }

  store(owner: NodeId, partition: number, bucket: string, key: string, fn: (cur: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet> {
    const hints = this.env.deps.hints as HintDeps;
    const at = { owner, partition, bucket, key };
    if (!hints.store.readHints(bucket, key).some((h) => h.owner === owner)) {
      let count = 0;
      let bytes = 0;
      for (const t of hints.store.hintTotals()) {
        count += t.hints;
        bytes += t.bytes;
      }
      if (count >= hints.maxHints || bytes >= hints.maxHintBytes) {
        return Promise.reject(new HintsFullError(`${this.env.self}: hint table full (${count} hints, ${bytes} bytes); not standing in for ${owner}`));
      }
    }
    return hints.store.updateHint(at, this.env.deps.clock.now(), fn);
  }

  /**
   * A write for which this node is the origin as a fallback for `owner`. The
   * dot is minted against everything this node knows of the key (its own
   * replica, should it have one, and every owner's hint), with a counter
   * above the dot floor, since hints handed off and deleted no longer show
   * the counters this node used for the key. Mints for one key run one at a
   * time, as the knowledge spans several hint records.
   */
  mint(owner: NodeId, partition: number, req: Extract<Request, { type: 'putOrigin' }>, now: number, origin: Origin): Promise<SiblingSet> {
    const { deps, config } = this.env;
    const hints = deps.hints as HintDeps;
    const lockKey = `${req.bucket}\u0000${req.key}`;
    const prev = this.mints.get(lockKey) ?? Promise.resolve();
    // Minted as the counter lease's actor (origin.ts); a counter the lease
    // does not cover yet writes nothing, and the mint runs again once it does.
    const once = async (): Promise<SiblingSet> => {
      let short = 0;
      const set = await this.store(owner, partition, req.bucket, req.key, (cur) => {
        let known = cur ?? EMPTY_SET;
        const own = origin.view(req.bucket, req.key);
        if (own !== undefined) known = sync(known, own);
        for (const h of hints.store.readHints(req.bucket, req.key)) if (h.owner !== owner) known = sync(known, h.set);
        const context = originContext(config, req, known);
        const counter = origin.nextCounter(known, context, Math.max(hints.dotFloor(), deps.dotFloor?.() ?? 0));
        if (!origin.lease.covers(counter)) {
          short = counter;
          return cur ?? EMPTY_SET;
        }
        origin.lease.use(counter);
        const next = newEvent(known, origin.lease.actor, context, req.value, req.meta, now, counter - 1).set;
        return capSiblings(config, req.bucket, req.key, known, next); // limits
      });
      if (short === 0) return set;
      await origin.lease.reserve(short);
      return once();
    };
    const run = prev.then(once);
    const tail = run.catch(() => undefined);
    this.mints.set(lockKey, tail);
    void tail.then(() => {
      if (this.mints.get(lockKey) === tail) this.mints.delete(lockKey);
    });
    return run;
  }

  /**
   * Keeps a hint for `owner` in this node's own hint table, for an owner
   * that gets no copy of a write this node coordinates (best effort: a full
   * table, a failure or a stale copy only costs the hint).
   */
  async keepLocal(owner: NodeId, partition: number, bucket: string, key: string, set: SiblingSet, asOf: number): Promise<void> {
    const { deps, config } = this.env;
    if (this.for(owner) === undefined) return;
    try {
      // A hint is a copy like any other: one read too long ago is not kept (anti-entropy covers the owner).
      refuseIfStale(asOf, deps.clock, { maxDataAgeMs: config.maxDataAgeMs, ignoreDataAge: config.bugs?.ignoreDataAge === true }, `hint for ${owner}`, () =>
        deps.events?.staleRefused?.('hint'),
      );
      const stored = await this.store(owner, partition, bucket, key, (cur) => mergeInto(cur, set));
      deps.events?.hintedWrite?.(this.env.self, owner);
      await deps.onHintedWrite?.(owner, partition, bucket, key, stored);
    } catch {
      // Anti-entropy will bring the owner up to date.
    }
  }
}
