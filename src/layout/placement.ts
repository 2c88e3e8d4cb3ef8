// The data path's placement read from the layout history (issue 10,
// docs/layout.md "The rules the data path follows"): one AssignedRing per
// live version; writes go to every live version, reads to the read version,
// anti-entropy to the owners from the read version up, collection waits for
// every owner in any live version. Built once per history the control state
// holds (the control plane replaces the history object on every change), so
// a request pays for none of this.

import { AssignedRing } from '../ring/assigned.js';
import type { Placement, Preference } from '../ring/view.js';
import type { NodeId } from '../version/dvv.js';
import { readVersion, type LayoutBugs, type LayoutHistory } from './history.js';
import { compareIds } from './types.js';

export class HistoryPlacement implements Placement {
  readonly version: number;
  readonly readVersion: number;
  readonly liveVersions: number;
  readonly partitions: number;
  readonly nodes: readonly NodeId[];
  /** Live versions, oldest first. */
  readonly #rings: readonly AssignedRing[];
  /** Index into #rings of the read version. */
  readonly #read: number;
  readonly #bugs: LayoutBugs;
  /** partitionsOf is asked per anti-entropy round and per root listing: cache it per (node, n). */
  readonly #held = new Map<string, number[]>();

  constructor(history: LayoutHistory, bugs: LayoutBugs = {}) {
    if (history.versions.length === 0) throw new Error('layout placement: the history has no version yet');
    this.#bugs = bugs;
    this.#rings = history.versions.map((v) => new AssignedRing(v.assignment));
    this.version = history.versions[history.versions.length - 1]!.version;
    this.readVersion = readVersion(history, bugs);
    this.#read = Math.max(0, history.versions.findIndex((v) => v.version === this.readVersion));
    this.liveVersions = history.versions.length;
    this.partitions = history.partitions;
    this.nodes = [...new Set(history.versions.flatMap((v) => v.assignment.nodes))].sort(compareIds);
  }

  partitionOf(bucket: string, key: string): number {
    return this.#rings[0]!.partitionOf(bucket, key);
  }

  preference(partition: number, n: number): Preference {
    return this.#rings[this.#read]!.preference(partition, n);
  }

  writeSets(partition: number, n: number): { sets: NodeId[][]; fallbacks: NodeId[] } {
    const live = this.#bugs.writeNewestOnly === true ? this.#rings.slice(-1) : this.#rings;
    const sets = live.map((r) => r.preference(partition, n).owners);
    const owning = new Set(sets.flat());
    const fallbacks = this.#rings[this.#rings.length - 1]!.preference(partition, n).fallbacks.filter((x) => !owning.has(x));
    return { sets, fallbacks };
  }

  partitionsOf(node: NodeId, n: number): number[] {
    const k = `${n}\u0000${node}`;
    let out = this.#held.get(k);
    if (out === undefined) {
      const s = new Set<number>();
      for (const r of this.#rings) for (const p of r.partitionsOf(node, n)) s.add(p);
      out = [...s].sort((a, b) => a - b);
      this.#held.set(k, out);
    }
    return out;
  }

  peers(partition: number, node: NodeId, n: number): NodeId[] {
    if (!this.allOwners(partition, n).includes(node)) return [];
    const s = new Set<NodeId>();
    for (const r of this.#rings.slice(this.#read)) for (const o of r.preference(partition, n).owners) if (o !== node) s.add(o);
    return [...s].sort(compareIds);
  }

  allOwners(partition: number, n: number): NodeId[] {
    const s = new Set<NodeId>();
    for (const r of this.#rings) for (const o of r.preference(partition, n).owners) s.add(o);
    return [...s].sort(compareIds);
  }

  primaryOwner(partition: number): NodeId {
    return this.#rings[this.#rings.length - 1]!.primaryOwner(partition);
  }
}
