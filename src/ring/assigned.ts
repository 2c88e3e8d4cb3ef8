// A ring read from a stored assignment (issue 10; docs/layout.md) instead of
// computed from the member list: the same questions as Ring (ring.ts) —
// which partition a key is in, which nodes own it and in what order, which
// nodes to fall back to — answered from a layout version's owner table.
// Keys map to partitions exactly as in Ring, so the two agree on where a key
// lives whenever their owner tables agree. Not used by the data path yet:
// the wiring step switches the coordinator to it (one per live version).

import { murmur3 } from '../util/hash.js';
import type { NodeId } from '../version/dvv.js';
import { compareIds } from './placement.js';
import { partitionOfKey } from './ring.js';

/** The shape of a layout version's assignment (src/layout/types.ts Assignment), restated here: ring sits below layout. */
export interface OwnerTable {
  readonly partitions: number;
  readonly replicas: number;
  /** Storage node ids, sorted. */
  readonly nodes: readonly NodeId[];
  /** owners[p * replicas + r]: index into nodes, -1 for an empty slot. */
  readonly owners: readonly number[];
  /** kvs: replica groups (layout/groups.ts): a short group's partitions have fewer owners than replicas, and no one else owns them. */
  readonly groups?: true; // kvs
}

const encoder = new TextEncoder();

export class AssignedRing {
  readonly partitions: number;
  readonly #bits: number;
  readonly #table: OwnerTable;
  /** Per node id, its utf8 bytes followed by room for a partition number: fallback order is rendezvous hashing over these. */
  readonly #keys: readonly Uint8Array[];
  /** Each partition's full ranking, computed on first use: every request asks for it, and the table never changes. */
  readonly #rankings: (NodeId[] | undefined)[];
  /** How many owner slots of each partition are filled. */
  readonly #assigned: Uint8Array;

  constructor(table: OwnerTable) {
    const P = table.partitions;
    if (!Number.isInteger(P) || P < 1 || (P & (P - 1)) !== 0) throw new Error(`assigned ring: partitions must be a power of two, got ${P}`);
    if (table.owners.length !== P * table.replicas) throw new Error(`assigned ring: ${table.owners.length} owner slots for ${P} x ${table.replicas}`);
    this.partitions = P;
    this.#bits = 31 - Math.clz32(P);
    this.#table = table;
    this.#keys = table.nodes.map((id) => {
      const b = encoder.encode(id);
      const k = new Uint8Array(b.length + 4);
      k.set(b);
      return k;
    });
    this.#rankings = new Array<NodeId[] | undefined>(P);
    this.#assigned = new Uint8Array(P);
    for (let p = 0; p < P; p++) for (let r = 0; r < table.replicas; r++) if (table.owners[p * table.replicas + r]! >= 0) this.#assigned[p]!++;
  }

  partitionOf(bucket: string, key: string): number {
    return partitionOfKey(this.#bits, bucket, key);
  }

  /** The assigned owners of p in order, then every other storage node in rendezvous order: first n = owners, the rest fallbacks. */
  preference(partition: number, n: number): { owners: NodeId[]; fallbacks: NodeId[] } {
    const all = this.#ranking(partition);
    // kvs: a group assignment's partitions have no stand-in owners outside the group.
    const cut = Math.min(n, all.length, this.#table.groups === true ? this.#assigned[partition]! : all.length);
    return { owners: all.slice(0, cut), fallbacks: all.slice(cut) };
  }

  partitionsOf(node: NodeId, n: number): number[] {
    const out: number[] = [];
    const t = this.#table;
    const i = t.nodes.indexOf(node);
    if (i < 0) return out;
    if (n <= t.replicas) {
      // Only the assigned slots can hold the first n: no ranking needed.
      for (let p = 0; p < this.partitions; p++) {
        for (let r = 0; r < n; r++) {
          if (t.owners[p * t.replicas + r] === i) {
            out.push(p);
            break;
          }
        }
      }
      return out;
    }
    for (let p = 0; p < this.partitions; p++) if (this.preference(p, n).owners.includes(node)) out.push(p);
    return out;
  }

  primaryOwner(partition: number): NodeId {
    const first = this.#ranking(partition)[0];
    if (first === undefined) throw new Error('assigned ring: no storage nodes');
    return first;
  }

  #ranking(p: number): NodeId[] {
    if (!Number.isInteger(p) || p < 0 || p >= this.partitions) throw new RangeError(`assigned ring: partition ${p} out of range [0, ${this.partitions})`);
    return (this.#rankings[p] ??= this.#rank(p));
  }

  #rank(p: number): NodeId[] {
    const t = this.#table;
    const assigned: number[] = [];
    for (let r = 0; r < t.replicas; r++) {
      const i = t.owners[p * t.replicas + r]!;
      if (i >= 0) assigned.push(i);
    }
    const rest: { i: number; h: number }[] = [];
    for (let i = 0; i < t.nodes.length; i++) {
      if (assigned.includes(i)) continue;
      const k = this.#keys[i]!;
      const at = k.length - 4;
      k[at] = p & 0xff;
      k[at + 1] = (p >>> 8) & 0xff;
      k[at + 2] = (p >>> 16) & 0xff;
      k[at + 3] = (p >>> 24) & 0xff;
      rest.push({ i, h: murmur3(k) });
    }
    rest.sort((a, b) => b.h - a.h || compareIds(t.nodes[a.i]!, t.nodes[b.i]!));
    return [...assigned, ...rest.map((x) => x.i)].map((i) => t.nodes[i]!);
  }
}
