// How many replicas each storage node should hold, before any partition is
// chosen: the P * n replica slots shared by capacity, within what the zone
// rule allows. The assignment (assign.ts) then meets these counts exactly
// when it can, moving as few replicas as possible.
//
// Garage computes the largest partition size for which a flow exists and
// fills nodes up to it (doc/book, "Layout computation"); here the shares are
// apportioned directly, by water-filling: a node (or zone) whose proportional
// share exceeds what it can hold is capped there and the rest is shared
// again among the others. That gives the same result on the constraints this
// store has (a node holds a partition at most once; a zone at most
// `zoneCap` replicas of one partition), and stays integer and exact.

import type { Member } from './types.js';

/**
 * The most replicas of one partition a zone may hold: the smallest c with
 * sum over zones of min(c, nodes in the zone) >= n. So with at least n
 * zones every replica is in its own zone, with fewer zones they are spread
 * as evenly as the zones' sizes allow (Dynamo §4.2's "distinct physical
 * nodes", one level up).
 */
export function zoneCap(n: number, zoneSizes: readonly number[]): number {
  for (let c = 1; c <= n; c++) {
    let room = 0;
    for (const s of zoneSizes) room += Math.min(c, s);
    if (room >= n) return c;
  }
  return n;
}

/**
 * `seats` shared in proportion to `weights`, no item above its cap, by
 * water-filling then largest remainder (ties to the lower index). Sums to
 * min(seats, sum of caps).
 */
export function apportionCapped(seats: number, weights: readonly number[], caps: readonly number[]): number[] {
  const n = weights.length;
  const out = new Array<number>(n).fill(0);
  const capped = new Array<boolean>(n).fill(false);
  let left = seats;
  for (;;) {
    let total = 0;
    for (let i = 0; i < n; i++) if (!capped[i]) total += weights[i]!;
    if (total <= 0 || left <= 0) break;
    let changed = false;
    for (let i = 0; i < n; i++) {
      if (capped[i] || left * (weights[i]! / total) <= caps[i]!) continue;
      capped[i] = true;
      out[i] = caps[i]!;
      changed = true;
    }
    if (!changed) break;
    left = seats;
    for (let i = 0; i < n; i++) if (capped[i]) left -= out[i]!;
  }
  if (left <= 0) return out;
  let total = 0;
  for (let i = 0; i < n; i++) if (!capped[i]) total += weights[i]!;
  if (total <= 0) return out;
  const exact = new Array<number>(n).fill(0);
  let given = 0;
  for (let i = 0; i < n; i++) {
    if (capped[i]) continue;
    exact[i] = left * (weights[i]! / total);
    out[i] = Math.min(caps[i]!, Math.floor(exact[i]!));
    given += out[i]!;
  }
  const order = [...Array(n).keys()].filter((i) => !capped[i]);
  order.sort((a, b) => exact[b]! - out[b]! - (exact[a]! - out[a]!) || a - b);
  for (let k = 0; given < left && k < order.length; k++) {
    const i = order[k]!;
    if (out[i]! < caps[i]!) {
      out[i]!++;
      given++;
    }
  }
  return out;
}

export interface Targets {
  /** Replicas per partition: min(replication factor, storage nodes). */
  readonly n: number;
  /** The zone rule's cap (zoneCap). */
  readonly zoneCap: number;
  /** Zone names, sorted. */
  readonly zones: readonly string[];
  /** zoneOf[i]: index into zones of holder i. */
  readonly zoneOf: readonly number[];
  /** Replicas each holder should hold (same order as the holders given). */
  readonly perNode: readonly number[];
}

/** The targets for `nodes` (holders sorted by id, capacity > 0) on P partitions with replication factor R. */
export function computeTargets(P: number, R: number, nodes: readonly Member[]): Targets {
  const zones = [...new Set(nodes.map((m) => m.zone))].sort();
  const zoneIndex = new Map(zones.map((z, k) => [z, k]));
  const zoneOf = nodes.map((m) => zoneIndex.get(m.zone)!);
  const n = Math.min(R, nodes.length);
  const sizes = zones.map((_, z) => zoneOf.filter((x) => x === z).length);
  const cap = zoneCap(n, sizes);
  const zoneWeight = zones.map((_, z) => nodes.reduce((s, m, i) => (zoneOf[i] === z ? s + m.capacity : s), 0));
  const zoneSeats = apportionCapped(P * n, zoneWeight, sizes.map((s) => P * Math.min(cap, s)));
  const perNode = new Array<number>(nodes.length).fill(0);
  zones.forEach((_, z) => {
    const members = nodes.map((_m, i) => i).filter((i) => zoneOf[i] === z);
    const seats = apportionCapped(zoneSeats[z]!, members.map((i) => nodes[i]!.capacity), members.map(() => P));
    members.forEach((i, k) => (perNode[i] = seats[k]!));
  });
  return { n, zoneCap: cap, zones, zoneOf, perNode };
}
