// The write path (Dynamo §4.5, §4.6): choose the replicas, let one of them
// (the origin) mint the write's dot, ship the origin's whole sibling set to
// the others, and answer once W hold it. Owners left without a copy get a
// hint on this node so that handoff brings the write to them later.
//
// Writes follow Riak's "coordinating vnode" scheme rather than Dynamo's
// letter: one replica of the key (the origin, preferably this node) mints
// the write's dot against its own state; the resulting whole sibling set is
// then merged into the other replicas. When this node is the origin it ships
// the set before its own commit, and that commit counts toward W like any
// replica's, so a write waits for one durable commit, not two in sequence
// (origin.ts and version/counter-lease.ts say why that is safe); another
// node's mint answers once it is durable there. Shipping the whole set
// (not just the new sibling) is what makes a version vector context sound:
// any replica that holds dot (X, k) also holds every X-event X knew of when
// it minted k, so a context covering k never hides a write it did not see.

import { QuorumError, type HintedWrite, type PutRequest, type PutResult, type ReplicaFailure } from './types.js';
import type { CoordinatorEnv } from './deps.js';
import type { HintTable } from './hint-table.js';
import { resolveQuorum } from './quorum.js';
import { certainlyNotApplied, chooseTargets, replicaFailure, standIn, type Target } from './targets.js';
import { gatherUntil } from './gather.js';
import { TransportError } from '../transport/transport.js';
import { InsufficientStorageError, TooManySiblingsError } from '../util/errors.js';
import type { ReplicaSide } from './replica.js';
import { EMPTY_SET, setClock, sync, type NodeId, type SiblingSet, type VersionVector } from '../version/dvv.js';

export async function write(env: CoordinatorEnv, hints: HintTable, replica: ReplicaSide, req: PutRequest): Promise<PutResult> {
  // The origin reads the set it returns after this instant: copies of it carry this time.
  const asOf = env.deps.clock.now();
  const ring = env.deps.ring();
  const quorum = resolveQuorum(env.config.defaultQuorum, { n: req.n, w: req.w }, ring.nodes.length);
  const partition = ring.partitionOf(req.bucket, req.key);
  // Every live layout version's owners (one set unless data is moving,
  // docs/layout.md): the newest version's first, so that the origin is
  // preferably one of the owners the data is moving to.
  const { sets, fallbacks } = ring.writeSets(partition, quorum.n);
  const owners = [...new Set([...sets].reverse().flat())];
  const sloppy = req.sloppy ?? true;
  const targets = chooseTargets(env, owners, fallbacks, sloppy);
  const failed: ReplicaFailure[] = targets.failed.slice();
  // Live fallbacks not chosen yet, in ring order: they stand in for owners
  // that fail during this write (Dynamo §4.6: "if A is temporarily down or
  // unreachable during a write operation then a replica that would
  // normally have lived on A will now be sent to node D"), which covers
  // the seconds before the membership view notices a crash.
  const chosenNodes = new Set(targets.chosen.map((t) => t.node));
  const spare = sloppy ? fallbacks.filter((f) => !chosenNodes.has(f) && env.deps.liveness.isAlive(f)) : [];

  // The origin mints the dot. Prefer an owner (a fallback's dots must
  // survive its forgetting the key after handoff, see HintTable.mint in
  // hint-table.ts), this node first among owners (no network hop), then the
  // preference order.
  // Only a certainly-undelivered attempt may move on to another origin;
  // after a timeout the write may exist, and a second origin would mint a
  // second, duplicate event.
  const rank = (t: Target): number => (t.hintFor === null ? 0 : 2) + (t.node === env.self ? 0 : 1);
  const candidates = targets.chosen.map((t, i) => ({ t, i })).sort((a, b) => rank(a.t) - rank(b.t) || a.i - b.i).map((x) => x.t);
  const undelivered = new Set<Target>();
  const unhinted: NodeId[] = sloppy ? targets.failed.map((f) => f.node) : [];
  let origin: Target | undefined;
  let originSet: SiblingSet | undefined;
  // Set when this node is the origin as an owner: its own commit, started
  // but not awaited, counts toward W beside the other replicas' (origin.ts).
  let localCommit: Promise<SiblingSet> | undefined;
  for (let i = 0; i < candidates.length; i++) {
    const t = candidates[i] as Target;
    const mint = {
      type: 'putOrigin',
      bucket: req.bucket,
      key: req.key,
      value: req.value,
      meta: req.meta ?? {},
      context: req.context,
      supersedeLocal: req.supersedeVisible ?? false,
      hintFor: t.hintFor,
    } as const;
    try {
      if (t.node === env.self && t.hintFor === null) {
        const minted = await replica.mintHere(partition, mint);
        originSet = minted.set;
        localCommit = minted.committed;
      } else {
        // Another node's mint answers once it is durable there.
        originSet = (await env.call(t.node, mint)).set;
      }
      origin = t;
      break;
    } catch (err) {
      if (err instanceof TooManySiblingsError || (err instanceof TransportError && err.remote instanceof TooManySiblingsError)) throw err instanceof TransportError ? err.remote : err; // limits: the client's to resolve (sibling-cap.ts)
      failed.push(replicaFailure(t.node, err));
      if (!certainlyNotApplied(err)) {
        throw new QuorumError('write', quorum.w, [], failed, 'unknown');
      }
      undelivered.add(t);
      const stand = standIn(env, t, spare);
      if (stand !== undefined) candidates.push(stand);
      else if (sloppy) unhinted.push(t.hintFor ?? t.node);
    }
  }
  if (origin === undefined || originSet === undefined) {
    throw new QuorumError('write', quorum.w, [], failed, 'not_applied');
  }
  const shipped: SiblingSet = originSet;
  // Owners that get no copy of this write, not even through a stand-in:
  // keep a hint for each here, on the coordinator (as Cassandra does), so
  // that handoff brings it to them when they are back rather than leaving
  // it all to anti-entropy. This is what carries a minority side's writes
  // (W=1 during a partition) to the owners across the cut. It does not
  // count toward W.
  await Promise.all(unhinted.map((owner) => hints.keepLocal(owner, partition, req.bucket, req.key, shipped, asOf)));
  // W counts the origin; the rest get the origin's whole set in parallel
  // (with this node's own commit, when it is the origin), and the ones
  // beyond W still receive it after we answer.
  const rest = candidates.filter((t) => t !== origin && !undelivered.has(t));
  const byNode = new Map(rest.map((t) => [t.node, t]));
  const originTarget: Target = origin;
  const needed = quorum.w - (env.config.bugs?.quorumOffByOne === true && quorum.w > 1 ? 1 : 0);
  const sendReplica = async (t: Target): Promise<{ target: Target; set: SiblingSet }> => {
    const msg = { type: 'putReplica', bucket: req.bucket, key: req.key, set: shipped, asOf } as const;
    let target = t;
    for (;;) {
      try {
        return { target, set: (await env.call(target.node, { ...msg, hintFor: target.hintFor })).set };
      } catch (err) {
        if (!(err instanceof TransportError && (err.kind !== 'remote' || certainlyNotApplied(err)))) throw err;
        const stand = standIn(env, target, spare);
        if (stand === undefined) {
          if (sloppy) void hints.keepLocal(target.hintFor ?? target.node, partition, req.bucket, req.key, shipped, asOf);
          throw err;
        }
        target = stand;
      }
    }
  };
  const commit = localCommit;
  // W in every live version's owner set; a stand-in counts for the owner it
  // stands in for. With one version this is "W replicas answered".
  const quorate = (targets: readonly Target[]): boolean => {
    const have = new Set(targets.map((t) => t.hintFor ?? t.node));
    return sets.every((s) => s.reduce((k, o) => k + (have.has(o) ? 1 : 0), 0) >= Math.min(needed, s.length));
  };
  const replicas = gatherUntil(
    commit === undefined ? rest.map((t) => t.node) : [env.self, ...rest.map((t) => t.node)],
    (node) => (commit !== undefined && node === env.self ? commit.then((set) => ({ target: originTarget, set })) : sendReplica(byNode.get(node) as Target)),
    (ok) => quorate([...(commit === undefined ? [originTarget] : []), ...ok.map((r) => r.value.target)]),
    replicaFailure,
  );
  await replicas.quorum;
  // Snapshot now: replies still arriving must not change what we report.
  const answered: { target: Target; set: SiblingSet }[] = [...(commit === undefined ? [{ target: origin, set: shipped }] : []), ...replicas.ok.map((r) => r.value)];
  if (!quorate(answered.map((a) => a.target))) {
    const all = [...failed, ...replicas.failed];
    // limits: when every replica that failed is out of room, say so (507), not "unreachable" (503).
    if (all.length > 0 && all.every((f) => f.code === 'InsufficientStorage')) throw new InsufficientStorageError(all.map((f) => f.reason).join('; '));
    throw new QuorumError('write', needed, answered.map((a) => a.target.node), all, 'unknown');
  }
  let merged: SiblingSet = EMPTY_SET;
  const vectorClocks: Record<NodeId, VersionVector> = {};
  for (const a of answered) {
    merged = sync(merged, a.set);
    vectorClocks[a.target.node] = setClock(a.set);
  }
  // The origin's clock is reported even when its own commit is not among the first W.
  vectorClocks[origin.node] ??= setClock(shipped);
  const hinted: HintedWrite[] = answered.filter((a) => a.target.hintFor !== null).map((a) => ({ node: a.target.node, for: a.target.hintFor as NodeId }));
  return {
    coordinator: env.self,
    origin: origin.node,
    partition,
    preferenceList: owners,
    replicasWritten: answered.map((a) => a.target.node),
    hinted,
    vectorClocks,
    set: merged,
    context: setClock(merged),
  };
}
