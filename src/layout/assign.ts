// The assignment: every partition's N owners, computed from the previous
// assignment so that a layout change moves as little as it must (issue 10,
// "An assignment that moves little"; docs/layout.md).
//
// Today's ring (ring/placement.ts) is a stateless function of the member
// list: on a join every old node's quota shrinks a little and the
// differences cascade, so it moves 1.2-2x the partitions a join must move.
// Here the previous assignment is an input. As in Garage's layout
// computation (doc/book, "Layout computation": a flow per layout, then a
// minimal-transfer rewrite of it), the problem is a flow:
//
//   source -> partition p            capacity n (its replicas)
//   p -> (p, zone z)                 capacity min(zoneCap, nodes in z): the zone rule
//   (p, z) -> node i in z            capacity 1 (a node holds p at most once);
//                                    cost -M if i held p before, else a small
//                                    hashed cost in [0, 16) that spreads new
//                                    replicas like rendezvous hashing
//   node i -> sink                   capacity target_i (targets.ts: shares by capacity)
//
// A max flow of value P * n is an assignment meeting every target exactly;
// a min-cost one keeps the most previous (partition, node) pairs, because M
// is larger than all the hashed costs together: the number of replicas that
// move is the least any assignment with these counts can move, and the hash
// only breaks ties between equally small moves.
//
// Solving it: successive shortest paths (flow.ts). Every previous pair that
// still fits is first pushed directly (a direct old pair costs -M, which no
// residual path can beat while only old pairs carry flow, so each push is a
// shortest-path augmentation and the flow stays min-cost); the few replicas
// left (what must move, and the reroutes that make room) are then found by
// shortest paths. The pairs are pushed in a hashed order so that nodes over
// their target each give up their own spread of partitions.
//
// When the targets cannot all be met (the zone rule and a very uneven
// capacity can conflict), the targets are relaxed by a growing slack until
// every partition has its n owners; balance then suffers, never the count of
// replicas.
//
// Order within a partition: the first owner coordinates (the preferred
// replica), so leaders are balanced by capacity too, by a second flow that
// keeps as many previous leaders as it can. The other owners keep their
// previous order, and new ones follow by id.
//
// Deterministic: integer flow, fixed visiting orders, ids compared by code
// units, and the only floating point is the apportionment's IEEE arithmetic,
// which is the same on every platform.

import { Ring } from '../ring/ring.js';
import { murmur3 } from '../util/hash.js';
import { FlowGraph } from './flow.js';
import { apportionCapped, computeTargets } from './targets.js';
import { holders, type Assignment, type Member } from './types.js';

export interface AssignOptions {
  /** Partitions: a power of two, fixed for the life of the cluster. */
  readonly partitions: number;
  /** Replication factor N. */
  readonly replicas: number;
}

export interface AssignResult {
  readonly assignment: Assignment;
  /** Replicas (partition, node pairs) placed on a node that did not hold them before. */
  readonly moved: number;
  /** The fewest any assignment with the same per-node counts could move: sum over nodes of max(0, new - kept before). */
  readonly lowerBound: number;
  /** The targets the counts were meant to meet (node id -> replicas). */
  readonly targets: ReadonlyMap<string, number>;
  /** Slack the targets needed (0 when every target was met exactly). */
  readonly slack: number;
}

const HASH_COST_RANGE = 16;

/** The new assignment for `members` given the previous one (undefined for a brand-new cluster). */
export function assign(previous: Assignment | undefined, members: readonly Member[], opts: AssignOptions): AssignResult {
  const P = opts.partitions;
  const nodes = holders(members);
  const ids = nodes.map((m) => m.id);
  if (nodes.length === 0) {
    return { assignment: { partitions: P, replicas: opts.replicas, nodes: [], owners: new Array<number>(P * opts.replicas).fill(-1) }, moved: 0, lowerBound: 0, targets: new Map(), slack: 0 };
  }
  const t = computeTargets(P, opts.replicas, nodes);
  const index = new Map(ids.map((id, i) => [id, i]));
  // A brand-new cluster starts from today's stateless ring, so its first assignment is the ring's, adjusted to exact targets.
  const prior = previous !== undefined && previous.partitions === P ? previousOwners(previous, index) : ringOwners(P, t.n, nodes);

  let slack = 0;
  for (;;) {
    const caps = t.perNode.map((x) => Math.min(P, x + slack));
    const sets = solve(P, t.n, t.zoneCap, t.zoneOf, t.zones.length, ids, caps, prior);
    if (sets !== undefined) {
      const assignment = order(P, opts.replicas, ids, nodes, sets, prior);
      // A brand-new cluster moves everything it places (the ring it started from held nothing).
      const { moved, lowerBound } = previous === undefined || previous.partitions !== P ? { moved: P * t.n, lowerBound: P * t.n } : movement(P, ids.length, sets, prior);
      return { assignment, moved, lowerBound, targets: new Map(ids.map((id, i) => [id, t.perNode[i]!])), slack };
    }
    slack = slack === 0 ? 1 : slack * 2;
  }
}

/** prior[p]: the node indices (into the new holders) that held p, in their previous order. */
function previousOwners(prev: Assignment, index: ReadonlyMap<string, number>): number[][] {
  const out: number[][] = [];
  for (let p = 0; p < prev.partitions; p++) {
    const list: number[] = [];
    for (let r = 0; r < prev.replicas; r++) {
      const k = prev.owners[p * prev.replicas + r]!;
      const i = k < 0 ? undefined : index.get(prev.nodes[k]!);
      if (i !== undefined) list.push(i);
    }
    out.push(list);
  }
  return out;
}

function ringOwners(P: number, n: number, nodes: readonly Member[]): number[][] {
  const ring = new Ring({ epoch: 0, partitions: P, nodes: nodes.map((m) => ({ id: m.id, zone: m.zone, weight: m.capacity })) });
  const index = new Map(nodes.map((m, i) => [m.id, i]));
  const out: number[][] = [];
  for (let p = 0; p < P; p++) out.push(ring.preference(p, n).owners.map((id) => index.get(id)!));
  return out;
}

/** Each partition's owner set (sorted node indices), or undefined if the caps leave some partition short. */
function solve(P: number, n: number, zoneCap: number, zoneOf: readonly number[], Z: number, ids: readonly string[], caps: readonly number[], prior: readonly number[][]): number[][] | undefined {
  const H = ids.length;
  const S = 0;
  const T = 1;
  const partV = (p: number) => 2 + p;
  const pairV = (p: number, z: number) => 2 + P + p * Z + z;
  const nodeV = (i: number) => 2 + P + P * Z + i;
  const g = new FlowGraph(2 + P + P * Z + H, P * (1 + Z + H) + H);
  const zoneSize = new Array<number>(Z).fill(0);
  for (const z of zoneOf) zoneSize[z]!++;
  const M = HASH_COST_RANGE * P * n + 1;
  const encoded = ids.map((id) => new TextEncoder().encode(`${id}\u0000`));

  const sourceEdge: number[] = [];
  const zoneEdge: number[] = [];
  const pairEdge = new Int32Array(P * H).fill(-1);
  const sinkEdge: number[] = [];
  const held = (p: number, i: number) => prior[p]!.includes(i);
  for (let p = 0; p < P; p++) {
    sourceEdge.push(g.addEdge(S, partV(p), n, 0));
    for (let z = 0; z < Z; z++) zoneEdge.push(g.addEdge(partV(p), pairV(p, z), Math.min(zoneCap, zoneSize[z]!), 0));
    for (let i = 0; i < H; i++) {
      const cost = held(p, i) ? -M : pairHash(encoded[i]!, p) % HASH_COST_RANGE;
      pairEdge[p * H + i] = g.addEdge(pairV(p, zoneOf[i]!), nodeV(i), 1, cost);
    }
  }
  for (let i = 0; i < H; i++) sinkEdge.push(g.addEdge(nodeV(i), T, caps[i]!, 0));

  // Previous pairs first, each a direct shortest path while it fits.
  const keep: { p: number; i: number; h: number }[] = [];
  for (let p = 0; p < P; p++) for (const i of prior[p]!) keep.push({ p, i, h: pairHash(encoded[i]!, p ^ 0x5bd1e995) });
  keep.sort((a, b) => a.h - b.h || a.p - b.p || a.i - b.i);
  let flow = 0;
  for (const { p, i } of keep) {
    const path = [sourceEdge[p]!, zoneEdge[p * Z + zoneOf[i]!]!, pairEdge[p * H + i]!, sinkEdge[i]!];
    if (path.every((e) => g.residual(e) > 0)) {
      g.push(path);
      flow++;
    }
  }
  flow += g.augment(S, T, P * n - flow);
  if (flow < P * n) return undefined;

  const sets: number[][] = [];
  for (let p = 0; p < P; p++) {
    const set: number[] = [];
    for (let i = 0; i < H; i++) if (g.flow(pairEdge[p * H + i]!) > 0) set.push(i);
    sets.push(set);
  }
  return sets;
}

function pairHash(prefix: Uint8Array, p: number): number {
  const buf = new Uint8Array(prefix.length + 4);
  buf.set(prefix);
  buf[prefix.length] = p & 0xff;
  buf[prefix.length + 1] = (p >>> 8) & 0xff;
  buf[prefix.length + 2] = (p >>> 16) & 0xff;
  buf[prefix.length + 3] = (p >>> 24) & 0xff;
  return murmur3(buf);
}

/**
 * Orders each partition's owners: a leader, then previous owners in their
 * order, then new ones by id. Leaders are a second, smaller flow: partition
 * -> one of its owners (cost -1 for its previous leader) -> node, capacity
 * its leader quota (P shared by capacity), relaxed by a growing slack when
 * the owner sets make exact quotas impossible.
 */
function order(P: number, R: number, ids: readonly string[], nodes: readonly Member[], sets: readonly number[][], prior: readonly number[][]): Assignment {
  const H = ids.length;
  const quota = apportionCapped(P, nodes.map((m) => m.capacity), nodes.map(() => P));
  let leader: number[] | undefined;
  for (let slack = 0; leader === undefined; slack = slack === 0 ? 1 : slack * 2) {
    const g = new FlowGraph(2 + P + H, P * (2 + R) + H);
    const edges: { p: number; i: number; e: number }[] = [];
    for (let p = 0; p < P; p++) {
      g.addEdge(0, 2 + p, 1, 0);
      for (const i of sets[p]!) edges.push({ p, i, e: g.addEdge(2 + p, 2 + P + i, 1, prior[p]![0] === i ? -1 : 0) });
    }
    for (let i = 0; i < H; i++) g.addEdge(2 + P + i, 1, Math.min(P, quota[i]! + slack), 0);
    if (g.augment(0, 1, P) < P) continue;
    leader = new Array<number>(P).fill(-1);
    for (const { p, i, e } of edges) if (g.flow(e) > 0) leader[p] = i;
  }
  const owners = new Array<number>(P * R).fill(-1);
  for (let p = 0; p < P; p++) {
    const set = sets[p]!;
    const rest = prior[p]!.filter((i) => i !== leader[p] && set.includes(i));
    for (const i of set) if (i !== leader[p] && !rest.includes(i)) rest.push(i);
    [leader[p]!, ...rest].forEach((i, r) => (owners[p * R + r] = i));
  }
  return { partitions: P, replicas: R, nodes: [...ids], owners };
}

function movement(P: number, H: number, sets: readonly number[][], prior: readonly number[][]): { moved: number; lowerBound: number } {
  const count = new Array<number>(H).fill(0);
  const kept = new Array<number>(H).fill(0);
  let moved = 0;
  for (let p = 0; p < P; p++) {
    for (const i of sets[p]!) {
      count[i]!++;
      if (prior[p]!.includes(i)) kept[i]!++;
      else moved++;
    }
  }
  const before = new Array<number>(H).fill(0);
  for (let p = 0; p < P; p++) for (const i of prior[p]!) before[i]!++;
  let lowerBound = 0;
  for (let i = 0; i < H; i++) lowerBound += Math.max(0, count[i]! - before[i]!);
  return { moved, lowerBound };
}
