// The ring: which nodes hold which partition, in which order of preference.
//
// Dynamo §4.2 strategy 3: the key space is cut into a fixed number P of equal
// partitions (a power of two); a key's partition is the top bits of its hash.
// Which node owns which partition is a pure, stateless function of the layout,
// so every node that knows the same layout (same epoch) computes the same
// ring, whatever order the layout lists its nodes in.
//
// Placement, for every partition p, is a full ranking of all nodes. The first
// n are the preference list (the replicas); the rest, in order, are the
// fallbacks that sloppy quorum writes to when owners are down. The list for n
// is always a prefix of the list for n + 1.
//
// How the ranking is computed (quota-balanced matching per rank, rendezvous
// hashing, the zone rule) is placement.ts.

import { murmur3 } from '../util/hash.js';
import type { NodeId } from '../version/dvv.js';
import type { Layout } from './layout.js';
import { compareIds, rankAll } from './placement.js';
import type { Placement } from './view.js';

const MAX_PARTITIONS = 65536;

function validate(layout: Layout): void {
  const p = layout.partitions;
  if (!Number.isInteger(p) || p < 1 || p > MAX_PARTITIONS || (p & (p - 1)) !== 0) {
    throw new Error(`ring: partitions must be a power of two in [1, ${MAX_PARTITIONS}], got ${p}`);
  }
  const seen = new Set<NodeId>();
  for (const node of layout.nodes) {
    if (typeof node.id !== 'string' || node.id.length === 0) throw new Error('ring: node id must be a non-empty string');
    if (seen.has(node.id)) throw new Error(`ring: duplicate node id ${JSON.stringify(node.id)}`);
    seen.add(node.id);
    if (typeof node.zone !== 'string') throw new Error(`ring: node ${JSON.stringify(node.id)} has no zone`);
    if (typeof node.weight !== 'number' || !Number.isFinite(node.weight) || node.weight <= 0) {
      throw new Error(`ring: node ${JSON.stringify(node.id)} weight must be a finite number > 0, got ${node.weight}`);
    }
  }
  if (!Number.isFinite(layout.nodes.reduce((sum, n) => sum + n.weight, 0))) throw new Error('ring: total weight must be finite');
}

/**
 * System buckets whose keys are placed by their first segment (up to the
 * first '/') instead of the whole key, so that every key of one group lives
 * in one partition and has one preference list. `__users` is the per-user
 * file index (src/coordinator/user-index.ts): keys `<user>/<bucket>/<key>`, so a
 * user's listing asks that user's N replicas only. Everything else about
 * those keys (quorums, hints, Merkle trees, read repair) is unchanged: it
 * all goes through partitionOf.
 */
export const GROUPED_BUCKETS: ReadonlySet<string> = new Set(['__users']);

/** The placement group of a key in a grouped bucket: its first segment. */
export function placementGroup(key: string): string {
  const slash = key.indexOf('/');
  return slash < 0 ? key : key.slice(0, slash);
}

/** The partition of a key among 2^bits partitions: the top bits of murmur3(bucket NUL key), or of the group in a grouped bucket. */
export function partitionOfKey(bits: number, bucket: string, key: string): number {
  if (bits === 0) return 0;
  return murmur3(`${bucket}\u0000${GROUPED_BUCKETS.has(bucket) ? placementGroup(key) : key}`) >>> (32 - bits);
}

/** Today's ring: one version, computed from the member list (a Placement with nothing moving). */
export class Ring implements Placement {
  readonly version = 0;
  readonly readVersion = 0;
  readonly liveVersions = 1;
  readonly layout: Layout;
  readonly partitions: number;
  readonly #bits: number;
  /** Node ids sorted; rankings refer to nodes by index into this. */
  readonly #ids: readonly NodeId[];
  readonly #index: ReadonlyMap<NodeId, number>;
  /** order[p * N + rank]: partition p's full ranking, most preferred first. */
  readonly #order: Int32Array;

  constructor(layout: Layout) {
    validate(layout);
    this.layout = layout;
    this.partitions = layout.partitions;
    this.#bits = 31 - Math.clz32(layout.partitions);
    const nodes = [...layout.nodes].sort((a, b) => compareIds(a.id, b.id));
    this.#ids = nodes.map((n) => n.id);
    this.#index = new Map(this.#ids.map((id, i) => [id, i]));
    this.#order = rankAll(layout.partitions, nodes);
  }

  get nodes(): readonly NodeId[] {
    return this.#ids;
  }

  writeSets(partition: number, n: number): { sets: NodeId[][]; fallbacks: NodeId[] } {
    const { owners, fallbacks } = this.preference(partition, n);
    return { sets: [owners], fallbacks };
  }

  peers(partition: number, node: NodeId, n: number): NodeId[] {
    const owners = this.preference(partition, n).owners;
    return owners.includes(node) ? owners.filter((x) => x !== node) : [];
  }

  allOwners(partition: number, n: number): NodeId[] {
    return [...this.preference(partition, n).owners].sort(compareIds);
  }

  /**
   * The partition of a key: the top log2(P) bits of murmur3(bucket NUL key),
   * or of murmur3(bucket NUL group) in a GROUPED_BUCKETS bucket.
   */
  partitionOf(bucket: string, key: string): number {
    return partitionOfKey(this.#bits, bucket, key);
  }

  /** Every node, in the order partition p prefers them: first n = preference list, rest = fallbacks in order. */
  preference(partition: number, n: number): { owners: NodeId[]; fallbacks: NodeId[] } {
    this.#checkPartition(partition);
    const cut = this.#cut(n);
    const N = this.#ids.length;
    const base = partition * N;
    const owners: NodeId[] = [];
    const fallbacks: NodeId[] = [];
    for (let r = 0; r < cut; r++) owners.push(this.#ids[this.#order[base + r]!]!);
    for (let r = cut; r < N; r++) fallbacks.push(this.#ids[this.#order[base + r]!]!);
    return { owners, fallbacks };
  }

  /** Partitions for which node is among the first n owners. */
  partitionsOf(node: NodeId, n: number): number[] {
    const cut = this.#cut(n);
    const i = this.#index.get(node);
    const out: number[] = [];
    if (i === undefined) return out;
    const N = this.#ids.length;
    for (let p = 0; p < this.partitions; p++) {
      const base = p * N;
      for (let r = 0; r < cut; r++) {
        if (this.#order[base + r] === i) {
          out.push(p);
          break;
        }
      }
    }
    return out;
  }

  primaryOwner(partition: number): NodeId {
    this.#checkPartition(partition);
    if (this.#ids.length === 0) throw new Error('ring: layout has no nodes');
    return this.#ids[this.#order[partition * this.#ids.length]!]!;
  }

  #checkPartition(partition: number): void {
    if (!Number.isInteger(partition) || partition < 0 || partition >= this.partitions) {
      throw new RangeError(`ring: partition ${partition} out of range [0, ${this.partitions})`);
    }
  }

  #cut(n: number): number {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`ring: replica count must be an integer >= 0, got ${n}`);
    return Math.min(n, this.#ids.length);
  }
}
