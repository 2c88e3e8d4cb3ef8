// What the data path asks of placement, whichever way it is computed: today's
// stateless ring (ring.ts, one version) or the layout history (issue 10,
// src/layout/placement.ts, several versions live while data moves).
//
// While a layout change is in progress several versions are live at once
// (docs/layout.md, after Garage 1.0's layout history): a write must reach a
// write quorum in the owner set of EVERY live version, a read asks the read
// version's owners, anti-entropy pairs with the owners from the read version
// up, and tombstone collection waits for every owner in any live version.
// With one version all of these are the one preference list, and the data
// path behaves exactly as it did before layouts existed.

import type { NodeId } from '../version/dvv.js';

export interface Preference {
  readonly owners: NodeId[];
  readonly fallbacks: NodeId[];
}

export interface Placement {
  /** The newest live layout version (0 for a ring computed from configuration). */
  readonly version: number;
  /** The read version (Placement.preference answers from it). */
  readonly readVersion: number;
  /** How many versions are live: 1 unless data is moving. */
  readonly liveVersions: number;
  readonly partitions: number;
  /** Every node that owns something in some live version, sorted: whom listings and collection ask. */
  readonly nodes: readonly NodeId[];
  partitionOf(bucket: string, key: string): number;
  /** The read version's first n owners of p, then the rest of its nodes as fallbacks: what reads ask. */
  preference(partition: number, n: number): Preference;
  /**
   * The first n owners of p in every live version, oldest first (a write
   * needs a write quorum in each), and fallbacks for sloppy quorum: nodes of
   * the newest version that own p in no live version, in its order.
   */
  writeSets(partition: number, n: number): { readonly sets: readonly NodeId[][]; readonly fallbacks: NodeId[] };
  /** Partitions node owns (among the first n) in some live version: what it keeps, exchanges and serves. */
  partitionsOf(node: NodeId, n: number): number[];
  /** The other owners of p in the live versions from the read version up: whom node pairs with for anti-entropy. */
  peers(partition: number, node: NodeId, n: number): NodeId[];
  /** Every owner of p (first n) in some live version, sorted: what tombstone collection waits for, and where a hint is still worth delivering. */
  allOwners(partition: number, n: number): NodeId[];
  /** The node that coordinates p's tombstone collection: the newest version's first owner. */
  primaryOwner(partition: number): NodeId;
}
