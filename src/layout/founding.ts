// A brand-new cluster's first layout version (issue 10): exactly today's
// stateless ring (src/ring/ring.ts) over the founding members, so that a
// data folder written before layouts existed sits on the owners version 1
// names, and nothing moves or is dropped on upgrade. Every later version is
// computed by assign() from the previous one, moving as little as it can.

import type { Ring } from '../ring/ring.js';
import { applyVersion, emptyHistory, stage, type LayoutHistory } from './history.js';
import { holders, type Assignment, type Member } from './types.js';

/** The owner table of `ring` for `replicas` owners per partition. */
export function assignmentFromRing(ring: Ring, replicas: number): Assignment {
  const nodes = [...ring.nodes];
  const index = new Map(nodes.map((id, i) => [id, i]));
  const owners: number[] = [];
  for (let p = 0; p < ring.partitions; p++) {
    const o = ring.preference(p, replicas).owners;
    for (let r = 0; r < replicas; r++) owners.push(r < o.length ? index.get(o[r]!)! : -1);
  }
  return { partitions: ring.partitions, replicas, nodes, owners };
}

/**
 * The history a founding cluster starts with: its members staged and
 * version 1 applied with `ring`'s owners (ring must be over exactly the
 * members' storage nodes). Deterministic: equal inputs give equal bytes.
 */
export function foundingHistory(members: readonly Member[], ring: Ring, replicas: number): LayoutHistory {
  let h = emptyHistory(ring.partitions, replicas);
  for (const m of [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const r = stage(h, { op: 'assign', member: m });
    if (!r.ok) throw new Error(`founding layout: ${r.refusal.message}`);
    h = r.history;
  }
  const ids = holders(members).map((m) => m.id);
  if (ids.length !== ring.nodes.length || ids.some((id, i) => ring.nodes[i] !== id)) throw new Error('founding layout: the ring is not over the storage members');
  const r = applyVersion(h, 1, h.stagingSeq, assignmentFromRing(ring, replicas));
  if (!r.ok) throw new Error(`founding layout: ${r.refusal.message}`);
  return r.history;
}
