// Replica groups as a layout mode (issue 15; docs/kvs.md): the course's
// key-value store (seed 004) partitions keys among groups of K nodes, every
// member of a group holding all of the group's keys. Here a group is a set of
// nodes that owns whole ring partitions of an ordinary Assignment (N = K), so
// the layout history, its write sets, syncs and retirement move keys between
// groups exactly as they move partitions between nodes.
//
// Group ids are derived from the assignment alone, so every node that holds
// the same layout version gives the same answer: group g is the owner set of
// ring partition g (the anchor). Groups keep their id across versions: a
// change fills the short group, opens new groups at the end, and closes only
// the last one, so ids stay 0..G-1 with G = ceil(nodes / K).
//
// Pure: no clock, no I/O, no randomness.

import { applyVersion, emptyHistory, stage, type LayoutHistory } from './history.js';
import { compareIds, holders, ownersOf, type Assignment, type Member } from './types.js';

export interface GroupLayoutOptions {
  /** Replicas per group (the course's K): the assignment's N. */
  readonly k: number;
  /** Ring partitions, a power of two, at least the number of groups. */
  readonly partitions: number;
}

function ownerKey(owners: readonly string[]): string {
  return [...owners].sort(compareIds).join('\n');
}

/**
 * The groups of a group assignment, by id: group g is the owner set of ring
 * partition g, each sorted by id. For an assignment groupAssignment made, the
 * owner sets of partitions 0..G-1 are distinct and every other partition's
 * owner set is one of them.
 */
export function groupsOf(a: Assignment): string[][] {
  const seen = new Set<string>();
  const out: string[][] = [];
  for (let p = 0; p < a.partitions; p++) {
    const owners = ownersOf(a, p).sort(compareIds);
    const key = ownerKey(owners);
    if (seen.has(key)) break;
    seen.add(key);
    out.push(owners);
  }
  return out;
}

/** Which group owns ring partition p (its index in groupsOf), or -1 when its owner set is no group's. */
export function groupOfPartition(a: Assignment, p: number, groups: readonly (readonly string[])[] = groupsOf(a)): number {
  const key = ownerKey(ownersOf(a, p));
  return groups.findIndex((g) => ownerKey(g) === key);
}

/** The group a node belongs to, or undefined when it is in none. */
export function groupOfNode(groups: readonly (readonly string[])[], node: string): number | undefined {
  const i = groups.findIndex((g) => g.includes(node));
  return i < 0 ? undefined : i;
}

/**
 * The groups for `nodes` given the previous ones: members that left are
 * taken out, the short group is filled and new groups opened at the end;
 * then members move from the last group into any other short group until
 * only the last may be short. So there are ceil(n / K) groups, every one
 * of K nodes except perhaps the last, and a group keeps its id while it
 * exists.
 */
export function nextGroups(previous: readonly (readonly string[])[], nodes: readonly string[], k: number): string[][] {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`groups: k must be an integer >= 1, got ${k}`);
  const present = new Set(nodes);
  const groups = previous.map((g) => g.filter((n) => present.has(n)).sort(compareIds));
  const placed = new Set(groups.flat());
  const pool = [...present].filter((n) => !placed.has(n)).sort(compareIds);
  for (const g of groups) while (g.length < k && pool.length > 0) g.push(pool.shift()!);
  while (pool.length > 0) groups.push(pool.splice(0, k));
  for (;;) {
    while (groups.length > 0 && groups[groups.length - 1]!.length === 0) groups.pop();
    const last = groups.length - 1;
    const short = groups.findIndex((g, i) => i < last && g.length < k);
    if (short < 0) break;
    // The last group's highest id moves: the lower ids of the last group stay where they were.
    groups[short]!.push(groups[last]!.pop()!);
  }
  for (const g of groups) g.sort(compareIds);
  return groups;
}

/** How many ring partitions group g of G gets: P/G, the remainder to the lowest ids. */
export function groupTarget(partitions: number, groupCount: number, g: number): number {
  return Math.floor(partitions / groupCount) + (g < partitions % groupCount ? 1 : 0);
}

/**
 * The group assignment for `nodes` (any order): each ring partition owned by
 * one group, partition g anchored to group g, every group within one
 * partition of P/G, and as few partitions as possible changing group from
 * `previous` (a group assignment with the same k and partitions). Owners of
 * a partition are its group's members rotated by the partition number, so
 * that coordination spreads over the group; a short group leaves its
 * partitions' last slots empty (-1), which `Assignment.groups` allows.
 */
export function groupAssignment(previous: Assignment | undefined, nodes: readonly string[], opts: GroupLayoutOptions): Assignment {
  const { k, partitions: P } = opts;
  if (!Number.isInteger(P) || P < 1 || (P & (P - 1)) !== 0) throw new RangeError(`groups: partitions must be a power of two, got ${P}`);
  if (previous !== undefined && (previous.partitions !== P || previous.replicas !== k)) throw new RangeError(`groups: the previous assignment is ${previous.partitions} x ${previous.replicas}, not ${P} x ${k}`);
  const sorted = [...new Set(nodes)].sort(compareIds);
  if (sorted.length === 0) throw new RangeError('groups: no nodes');
  const prevGroups = previous === undefined ? [] : groupsOf(previous);
  const groups = nextGroups(prevGroups, sorted, k);
  const G = groups.length;
  if (G > P) throw new RangeError(`groups: ${G} groups need at least ${G} ring partitions, there are ${P}`);

  const groupOf = new Array<number>(P).fill(-1);
  const count = new Array<number>(G).fill(0);
  for (let g = 0; g < G; g++) {
    groupOf[g] = g;
    count[g] = 1;
  }
  if (previous !== undefined) {
    // Group ids persist, so a partition that stays with its group's id keeps its data where it was.
    for (let p = G; p < P; p++) {
      const g = groupOfPartition(previous, p, prevGroups);
      if (g >= 0 && g < G && count[g]! < groupTarget(P, G, g)) {
        groupOf[p] = g;
        count[g]!++;
      }
    }
  }
  let g = 0;
  for (let p = G; p < P; p++) {
    if (groupOf[p] !== -1) continue;
    while (count[g]! >= groupTarget(P, G, g)) g++;
    groupOf[p] = g;
    count[g]!++;
  }

  const index = new Map(sorted.map((id, i) => [id, i]));
  const owners: number[] = [];
  for (let p = 0; p < P; p++) {
    const members = groups[groupOf[p]!]!;
    for (let r = 0; r < k; r++) owners.push(r < members.length ? index.get(members[(p + r) % members.length]!)! : -1);
  }
  return { partitions: P, replicas: k, nodes: sorted, owners, groups: true };
}

/**
 * A founding cluster's history in groups mode: its members staged and
 * version 1 applied with their groups, so that a course-mode cluster starts
 * in groups with nothing to move (instead of the ring's version 1 that
 * layout/founding.ts gives a normal cluster). Equal inputs give equal bytes.
 */
export function foundingGroups(members: readonly Member[], opts: GroupLayoutOptions): LayoutHistory {
  let h = emptyHistory(opts.partitions, opts.k);
  for (const m of [...members].sort((a, b) => compareIds(a.id, b.id))) {
    const r = stage(h, { op: 'assign', member: m });
    if (!r.ok) throw new Error(`founding groups: ${r.refusal.message}`);
    h = r.history;
  }
  const r = applyVersion(h, 1, h.stagingSeq, groupAssignment(undefined, holders(members).map((m) => m.id), opts));
  if (!r.ok) throw new Error(`founding groups: ${r.refusal.message}`);
  return r.history;
}
