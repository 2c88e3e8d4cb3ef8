// The read path (Dynamo §4.5, §4.7): ask the key's replicas, answer with
// the reconciled siblings once R replied, and repair, after the answer,
// every replica that turned out to hold less (read repair).

import { QuorumError, type GetRequest, type GetResult, type ReplicaFailure } from './types.js';
import type { CoordinatorEnv } from './deps.js';
import { resolveQuorum } from './quorum.js';
import { chooseTargets, replicaFailure } from './targets.js';
import { gather } from './gather.js';
import { EMPTY_SET, sameSet, setClock, sync, type NodeId, type SiblingSet, type VersionVector } from '../version/dvv.js';

export class Reader {
  private repairsInFlight = 0;

  constructor(private readonly env: CoordinatorEnv) {}

  async get(req: GetRequest): Promise<GetResult> {
    // Replicas read after this instant: a read repair's copy carries this time.
    const asOf = this.env.deps.clock.now();
    const ring = this.env.deps.ring();
    const quorum = resolveQuorum(this.env.config.defaultQuorum, { n: req.n, r: req.r }, ring.nodes.length);
    const partition = ring.partitionOf(req.bucket, req.key);
    const { owners, fallbacks } = ring.preference(partition, quorum.n);
    const targets = chooseTargets(this.env, owners, fallbacks, req.sloppy ?? true);
    const hintOf = new Map(targets.chosen.map((t) => [t.node, t.hintFor]));
    const needed = quorum.r;
    if (needed === 1 && req.omitValues === true && req.oneAtATime === true) return this.getFromOne(req, partition, owners, targets.chosen.map((t) => t.node), targets.failed);
    const replies = gather(
      targets.chosen.map((t) => t.node),
      (node) => this.env.call(node, { type: 'get', bucket: req.bucket, key: req.key, ...(req.omitValues === true ? { omitValues: true } : {}) }),
      needed,
      replicaFailure,
    );
    await replies.quorum;
    const answered = replies.ok.map((r) => ({ node: r.node, set: r.value.set }));
    if (answered.length < needed) {
      throw new QuorumError('read', needed, answered.map((a) => a.node), [...targets.failed, ...replies.failed], 'none');
    }

    let merged: SiblingSet = EMPTY_SET;
    const vectorClocks: Record<NodeId, VersionVector | null> = {};
    for (const a of answered) {
      if (a.set !== null) merged = sync(merged, a.set);
      vectorClocks[a.node] = a.set === null ? null : setClock(a.set);
    }
    if (this.env.config.readRepair && req.omitValues === true) {
      // Without values there is nothing to repair with: if the replicas disagree, a full read repairs them.
      void replies.all.then(() => {
        const sets = replies.ok.map((r) => r.value.set);
        const first = sets[0] ?? null;
        const differ = (s: SiblingSet | null): boolean => (s === null || first === null ? s !== first : !sameSet(s, first));
        if (sets.some(differ)) void this.get({ ...req, omitValues: false }).catch(() => undefined);
      });
    } else if (this.env.config.readRepair) {
      void replies.all.then(() => this.readRepair(req.bucket, req.key, asOf, replies.ok.map((r) => ({ node: r.node, set: r.value.set, hintFor: hintOf.get(r.node) ?? null }))));
    }
    return {
      coordinator: this.env.self,
      partition,
      preferenceList: owners,
      replicasRead: answered.map((a) => a.node),
      vectorClocks,
      set: merged,
      context: setClock(merged),
    };
  }

  /**
   * A clocks-only read of one replica (a context-less put's look before it
   * writes, read-first.ts): ask the chosen replicas one at a time, this node
   * first when it is one, instead of all N at once. One local LMDB read
   * then replaces N messages on the write path; there is nothing to repair
   * with (no values), so no read repair follows.
   */
  private async getFromOne(req: GetRequest, partition: number, owners: NodeId[], chosen: readonly NodeId[], failedEarly: readonly ReplicaFailure[]): Promise<GetResult> {
    const order = chosen.includes(this.env.self) ? [this.env.self, ...chosen.filter((n) => n !== this.env.self)] : [...chosen];
    const failed: ReplicaFailure[] = [...failedEarly];
    for (const node of order) {
      try {
        const reply = await this.env.call(node, { type: 'get', bucket: req.bucket, key: req.key, omitValues: true });
        const set = reply.set ?? EMPTY_SET;
        return {
          coordinator: this.env.self,
          partition,
          preferenceList: owners,
          replicasRead: [node],
          vectorClocks: { [node]: reply.set === null ? null : setClock(reply.set) },
          set,
          context: setClock(set),
        };
      } catch (err) {
        failed.push(replicaFailure(node, err));
      }
    }
    throw new QuorumError('read', 1, [], failed, 'none');
  }

  /**
   * Dynamo §4.7 read repair: once every replica has answered (or failed),
   * send the reconciled set to each that answered with less. Bounded: when
   * too many repairs are in flight, skip; anti-entropy will converge them.
   */
  private async readRepair(bucket: string, key: string, asOf: number, replies: readonly { node: NodeId; set: SiblingSet | null; hintFor: NodeId | null }[]): Promise<void> {
    let merged: SiblingSet = EMPTY_SET;
    for (const r of replies) if (r.set !== null) merged = sync(merged, r.set);
    if (merged.siblings.length === 0) return;
    for (const r of replies) {
      if (r.set !== null && sameSet(r.set, merged)) continue;
      if (this.repairsInFlight >= this.env.config.maxRepairsInFlight) return;
      this.repairsInFlight++;
      this.env.deps.events?.readRepair?.(r.node, bucket, key);
      // A fallback that answered is repaired as what it is, a stand-in: the
      // repair goes to its hint table for the owner, not into its replicas.
      this.env.call(r.node, { type: 'putReplica', bucket, key, set: merged, hintFor: r.hintFor, asOf })
        .catch(() => undefined)
        .finally(() => this.repairsInFlight--);
    }
  }
}
