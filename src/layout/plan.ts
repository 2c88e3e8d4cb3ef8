// The plan of a staged layout change, as data: what `ringstore layout plan`
// prints and `GET /cluster/layout` returns (the wiring step renders it).
// Pure: the history and, when known, each partition's size in bytes in; a
// plan out. Riak's `cluster plan` and Garage's `layout show` are the models:
// the operator sees what will move, to and from where, and the balance
// after, before committing anything.

import { currentVersion, proposeNext, type LayoutHistory, type StagedChange } from './history.js';
import { holders, ownersOf, type Assignment, type Member } from './types.js';

export interface NodePlan {
  readonly id: string;
  readonly zone: string;
  readonly role: Member['role'];
  readonly capacity: number;
  /** 'added', 'removed', 'changed' (zone, capacity or role) or 'same'. */
  readonly change: 'added' | 'removed' | 'changed' | 'same';
  readonly partitionsBefore: number;
  readonly partitionsAfter: number;
  /** Partition replicas this node receives / gives up. */
  readonly partitionsIn: number;
  readonly partitionsOut: number;
  /** The same in bytes, when partition sizes were given (null otherwise). */
  readonly bytesIn: number | null;
  readonly bytesOut: number | null;
  /** Replicas held after / the capacity-proportional share of all replicas (1 = exactly its share; 0 for a gateway). */
  readonly shareAfter: number;
}

export interface LayoutPlan {
  readonly currentVersion: number;
  /** The version `apply --version` must name. */
  readonly nextVersion: number;
  /** The staging the plan was computed from (`layoutApply` carries it). */
  readonly stagingSeq: number;
  readonly staged: readonly StagedChange[];
  readonly nodes: readonly NodePlan[];
  /** Partition replicas that move, and the fewest any assignment with the same counts could move. */
  readonly replicasMoved: number;
  readonly replicasMovedLowerBound: number;
  readonly bytesMoved: number | null;
  /** Highest and lowest shareAfter among storage nodes: within a few percent of 1 when zones allow. */
  readonly balanceMax: number;
  readonly balanceMin: number;
  /** Partitions whose replicas sit in fewer distinct zones than the zones allow (0 unless capacity forces it). */
  readonly partitionsUnderSpread: number;
  /** Things the operator should read before applying. */
  readonly warnings: readonly string[];
  /** The assignment `apply` commits. */
  readonly assignment: Assignment;
}

/** The plan of the staged changes. `partitionBytes[p]`, when given, is the size of one replica of partition p. */
export function planLayout(h: LayoutHistory, partitionBytes?: readonly number[]): LayoutPlan {
  const next = proposeNext(h);
  const before = h.versions[h.versions.length - 1];
  const after = next.result.assignment;
  const P = after.partitions;
  const size = (p: number): number => partitionBytes?.[p] ?? 0;
  const known = partitionBytes !== undefined;

  const beforeSets: Set<string>[] = [];
  for (let p = 0; p < P; p++) beforeSets.push(new Set(before === undefined || before.assignment.partitions !== P ? [] : ownersOf(before.assignment, p)));
  const stats = new Map<string, { before: number; after: number; in: number; out: number; bytesIn: number; bytesOut: number }>();
  const stat = (id: string) => {
    let s = stats.get(id);
    if (s === undefined) stats.set(id, (s = { before: 0, after: 0, in: 0, out: 0, bytesIn: 0, bytesOut: 0 }));
    return s;
  };
  let bytesMoved = 0;
  let underSpread = 0;
  const zoneOf = new Map(next.members.map((m) => [m.id, m.zone]));
  const zoneCount = new Set(holders(next.members).map((m) => m.zone)).size;
  for (let p = 0; p < P; p++) {
    const now = new Set(ownersOf(after, p));
    for (const id of beforeSets[p]!) {
      stat(id).before++;
      if (!now.has(id)) {
        stat(id).out++;
        stat(id).bytesOut += size(p);
      }
    }
    for (const id of now) {
      stat(id).after++;
      if (!beforeSets[p]!.has(id)) {
        stat(id).in++;
        stat(id).bytesIn += size(p);
        bytesMoved += size(p);
      }
    }
    if (new Set([...now].map((id) => zoneOf.get(id))).size < Math.min(now.size, zoneCount)) underSpread++;
  }

  const beforeMembers = new Map((before?.members ?? []).map((m) => [m.id, m]));
  const afterMembers = new Map(next.members.map((m) => [m.id, m]));
  const totalCapacity = holders(next.members).reduce((s, m) => s + m.capacity, 0);
  const replicasTotal = after.owners.filter((i) => i >= 0).length;
  const ids = [...new Set([...beforeMembers.keys(), ...afterMembers.keys()])].sort();
  const nodes: NodePlan[] = ids.map((id) => {
    const m = afterMembers.get(id) ?? beforeMembers.get(id)!;
    const old = beforeMembers.get(id);
    const neu = afterMembers.get(id);
    const change = old === undefined ? 'added' : neu === undefined ? 'removed' : old.zone !== neu.zone || old.capacity !== neu.capacity || old.role !== neu.role ? 'changed' : 'same';
    const s = stat(id);
    const holds = neu !== undefined && neu.role === 'storage' && neu.capacity > 0;
    const fair = holds ? (replicasTotal * neu.capacity) / totalCapacity : 0;
    return {
      id,
      zone: m.zone,
      role: m.role,
      capacity: neu?.capacity ?? 0,
      change,
      partitionsBefore: s.before,
      partitionsAfter: s.after,
      partitionsIn: s.in,
      partitionsOut: s.out,
      bytesIn: known ? s.bytesIn : null,
      bytesOut: known ? s.bytesOut : null,
      shareAfter: fair > 0 ? s.after / fair : 0,
    };
  });
  const shares = nodes.filter((n) => n.role === 'storage' && n.capacity > 0 && n.change !== 'removed').map((n) => n.shareAfter);

  const warnings: string[] = [];
  if (h.staged.length === 0) warnings.push('no staged changes: apply would commit the same layout again');
  const holderCount = holders(next.members).length;
  if (holderCount < h.replicas) warnings.push(`only ${holderCount} storage node(s) for ${h.replicas} replicas: partitions get ${holderCount} replica(s)`);
  if (next.result.slack > 0) warnings.push(`zones and capacities conflict: node targets relaxed by ${next.result.slack} partition(s)`);
  if (h.versions.length > 1) warnings.push(`${h.versions.length} versions are still live (data of version ${h.versions[0]!.version} still moving): another change adds to the move`);

  return {
    currentVersion: currentVersion(h),
    nextVersion: next.version,
    stagingSeq: h.stagingSeq,
    staged: h.staged,
    nodes,
    replicasMoved: next.result.moved,
    replicasMovedLowerBound: next.result.lowerBound,
    bytesMoved: known ? bytesMoved : null,
    balanceMax: shares.length === 0 ? 0 : Math.max(...shares),
    balanceMin: shares.length === 0 ? 0 : Math.min(...shares),
    partitionsUnderSpread: underSpread,
    warnings,
    assignment: after,
  };
}
