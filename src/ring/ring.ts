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
// Rank 0 (the primary) and every rank below BALANCED_RANKS are chosen by one
// capacity-constrained matching per rank:
//
//   * each node gets a quota of about P*w/W partitions at that rank: the
//     (r+1)*P slots of ranks 0..r are apportioned by largest remainder (ties
//     by node id) and what the node already holds at ranks 0..r-1 is
//     subtracted. At rank 0 that is plain largest remainder of P; later, the
//     odd remainder seats rotate over nodes, so the first n ranks together
//     are as balanced as one rank (apportioning each rank alone gives the
//     same lowest ids the extra seat at every rank: with 9 nodes on 64
//     partitions one node replicated 24 partitions against a fair 21.3);
//   * every (partition, node) pair gets a weighted rendezvous (HRW) score,
//     -w / ln(u) with u = (h + 0.5) / 2^32 and h = murmur3(utf8(nodeId) ++
//     u32le(p)) (the same idea as murmur3(`${p}:${nodeId}`), cheaper: the id
//     is encoded once);
//   * the matching is what this greedy gives: walk all pairs by score,
//     highest first (ties by partition, then node id), take a pair when its
//     partition has no node at this rank yet, the node still has quota at
//     this rank and the node is eligible for the partition (not chosen at a
//     lower rank; zone rule below). With one total order on pairs the stable
//     matching is unique and equals this greedy, so it is computed as
//     partition-proposing deferred acceptance instead, which needs only each
//     partition's own N nodes sorted, not all P*N pairs.
//
// At rank 0 there are no eligibility limits, every node gets exactly its quota
// and a new node takes the partitions it scores highest, so movement on a
// layout change stays small (figures below).
//
// At later ranks a partition can be left without a match: every node with
// quota left is already in its list or in a zone it has used. Such a
// partition p first tries one swap: a node x with quota left takes the
// partition q it scores best among those held at this rank by some y that
// could serve p, and y takes p; so quotas stay exact when they are feasible
// (this matters for weighted nodes: without it a weight-2 node among 13
// weight units ended up with 1.73x a weight-1 node's replicas, not 2x). Only
// when no swap exists (typically zones of unequal size or weight, where the
// zone rule makes exact node balance impossible) the eligible node with the
// most quota left takes p, then the best score, then the lowest id; a node
// pushed over (or kept under) its share there gets correspondingly less (or
// more) quota at the next rank.
//
// Why not the Dynamo clockwise walk for ranks 1..n-1 (take the primary of
// p+1, p+2, ... skipping duplicates): measured on quota-balanced primaries,
// the walk leaves replica ownership (partitions where a node is among the
// first 3) at 1.09-1.13x the fair share for 5-32 nodes on 256
// partitions and up to 1.23x with 4 zones, because how many partitions a node
// replicates depends on the random gaps before its primaries. A matching per
// rank keeps the first n ranks together within a partition or two of
// n*P*w/W when feasible (replica max/fair at most 1.02 over 400 random
// layouts of 3-40 nodes on 256-4096 partitions) and moves about as many
// replicas as the walk when a node joins.
//
// Ranks from BALANCED_RANKS on (deep fallbacks, used only when that many
// nodes are down) are plain HRW order under the same zone rule: uniform in
// expectation and no extra pass per rank, which keeps large clusters cheap.
//
// Zone rule: a node is eligible at a rank only if its zone has been used the
// fewest times so far among the zones that still have unchosen nodes. So the
// first picks cover distinct zones while any unused zone remains; once all
// zones are used, repeats are allowed, spread round-robin over zones.
//
// Known trade-off of a stateless, exactly balanced ring: when one node joins
// an n-node cluster the new node takes exactly its quota, but each old node's
// quota shrinks by about P/(n(n+1)) while what the new node takes from it
// varies randomly around that, and the differences cascade. Measured moved
// primaries / (P/(n+1)), mean (max) over 8 layouts: P=1024: n=10 1.19 (1.25),
// n=20 1.48 (1.62), n=30 1.71 (1.85), n=40 2.06 (2.16); P=4096: n=10 1.12
// (1.16), n=20 1.22 (1.29), n=30 1.37 (1.43), n=40 1.49 (1.58); replica
// slots moved (n=3) are within a few percent of these. Roughly
// 1 + 0.7 n / sqrt(P): choose P well above n^2.
//
// Determinism: integer hashing, sorts with total orders (ids compared by
// UTF-16 code units, never by locale) and Math.log, which V8 computes with
// its own port of fdlibm and so gives the same bits on every platform.

import { murmur3 } from '../util/hash.js';
import type { NodeId } from '../version/dvv.js';
import type { Layout, NodeSpec } from './layout.js';

const MAX_PARTITIONS = 65536;
/** Ranks (0-based) below this are quota-balanced; deeper fallbacks are HRW-ordered. */
const BALANCED_RANKS = 8;
const TWO_32 = 4294967296;

const encoder = new TextEncoder();

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

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

/** seats * w / W for every node, rounded by largest remainder (ties by index = node id order); sums to seats. */
function apportion(seats: number, nodes: readonly NodeSpec[]): Int32Array {
  const total = nodes.reduce((sum, n) => sum + n.weight, 0);
  const exact = nodes.map((n) => (seats * n.weight) / total);
  const quota = new Int32Array(nodes.length);
  let assigned = 0;
  for (let i = 0; i < nodes.length; i++) {
    quota[i] = Math.floor(exact[i]!);
    assigned += quota[i]!;
  }
  const byRemainder = nodes.map((_, i) => i);
  byRemainder.sort((a, b) => exact[b]! - quota[b]! - (exact[a]! - quota[a]!) || a - b);
  for (let k = 0; k < seats - assigned && k < byRemainder.length; k++) quota[byRemainder[k]!]!++;
  return quota;
}

/** Every partition's full ranking of node indices (into `nodes`, sorted by id): order[p * N + rank]. */
function rankAll(P: number, nodes: readonly NodeSpec[]): Int32Array {
  const N = nodes.length;
  const order = new Int32Array(P * N);
  if (N === 0) return order;

  // Weighted rendezvous scores, score[p * N + i].
  const score = new Float64Array(P * N);
  for (let i = 0; i < N; i++) {
    const node = nodes[i]!;
    const id = encoder.encode(node.id);
    const buf = new Uint8Array(id.length + 4);
    buf.set(id);
    const at = id.length;
    for (let p = 0; p < P; p++) {
      buf[at] = p & 0xff;
      buf[at + 1] = (p >>> 8) & 0xff;
      buf[at + 2] = (p >>> 16) & 0xff;
      buf[at + 3] = (p >>> 24) & 0xff;
      const u = (murmur3(buf) + 0.5) / TWO_32;
      score[p * N + i] = -node.weight / Math.log(u);
    }
  }

  // Each partition's nodes by score, best first, ties by id: prefs[p * N + k].
  const prefs = new Int32Array(P * N);
  const scratch: number[] = [];
  for (let p = 0; p < P; p++) {
    const base = p * N;
    scratch.length = 0;
    for (let i = 0; i < N; i++) scratch.push(i);
    scratch.sort((a, b) => score[base + b]! - score[base + a]! || a - b);
    for (let k = 0; k < N; k++) prefs[base + k] = scratch[k]!;
  }

  const zoneNames = [...new Set(nodes.map((n) => n.zone))].sort(compareIds);
  const Z = zoneNames.length;
  const zoneIndex = new Map(zoneNames.map((z, k) => [z, k]));
  const zoneOf = new Int32Array(N);
  const zoneSize = new Int32Array(Z);
  for (let i = 0; i < N; i++) {
    zoneOf[i] = zoneIndex.get(nodes[i]!.zone)!;
    zoneSize[zoneOf[i]!]!++;
  }

  // Per-partition state while ranks are filled in.
  const chosen = new Uint8Array(P * N);
  const zoneUsed = new Int32Array(P * Z);
  const minUse = new Int32Array(P); // fewest uses among zones that still have unchosen nodes
  const atMin = new Int32Array(P); // how many such zones are at minUse
  const length = new Int32Array(P); // ranks filled so far

  const recomputeMin = (p: number): void => {
    let m = Number.MAX_SAFE_INTEGER;
    let at = 0;
    for (let z = 0; z < Z; z++) {
      const used = zoneUsed[p * Z + z]!;
      if (used >= zoneSize[z]!) continue;
      if (used < m) {
        m = used;
        at = 1;
      } else if (used === m) at++;
    }
    minUse[p] = m;
    atMin[p] = at;
  };
  const eligible = (p: number, i: number): boolean =>
    chosen[p * N + i] === 0 && zoneUsed[p * Z + zoneOf[i]!] === minUse[p];
  /** Append node i (which must be eligible) to p's ranking. */
  const take = (p: number, i: number): void => {
    order[p * N + length[p]!] = i;
    length[p]!++;
    chosen[p * N + i] = 1;
    zoneUsed[p * Z + zoneOf[i]!]!++;
    if (--atMin[p]! === 0) recomputeMin(p);
  };
  for (let p = 0; p < P; p++) recomputeMin(p);

  // Balanced ranks: per rank, the greedy matching described at the top. It is
  // computed as partition-proposing deferred acceptance, which gives the same
  // matching without sorting all P*N pairs: every partition and every node
  // rank the other side by the same (score, then partition / node id) total
  // order, so the stable matching is unique and equals the greedy one.
  const balanced = Math.min(N, BALANCED_RANKS);
  const quota = new Int32Array(N);
  const held = new Int32Array(N); // partitions each node holds at ranks already filled
  const heapStart = new Int32Array(N); // node i holds heap[heapStart[i] .. + heapLen[i]), worst on top
  const heapLen = new Int32Array(N);
  let heap = new Int32Array(P);
  const next = new Int32Array(P); // position in prefs of the node p proposes to
  const stack = new Int32Array(P);
  const unmatched: number[] = [];
  const atRank = new Int32Array(P); // node chosen for p at the rank being filled
  const roomy: number[] = [];
  // Swap candidates for node x, by holder y: the partitions y holds at this
  // rank that x could take, best score for x first, consumed from `at` on;
  // null when there are none at all (then x is skipped at once).
  type SwapList = { items: number[]; at: number };
  const swapLists = new Map<number, SwapList[] | null>();
  const swapListsFor = (x: number): SwapList[] | null => {
    let lists = swapLists.get(x);
    if (lists !== undefined) return lists;
    lists = Array.from({ length: N }, () => ({ items: [] as number[], at: 0 }));
    let any = false;
    for (let q = 0; q < P; q++) {
      const holder = atRank[q]!;
      if (holder >= 0 && holder !== x && eligible(q, x)) {
        lists[holder]!.items.push(q);
        any = true;
      }
    }
    for (const list of lists) list.items.sort((a, b) => score[b * N + x]! - score[a * N + x]! || a - b);
    if (!any) lists = null;
    swapLists.set(x, lists);
    return lists;
  };
  // Is partition a worse holding than b for node i? Lower score, then higher partition.
  const worse = (a: number, b: number, i: number): boolean => {
    const sa = score[a * N + i]!;
    const sb = score[b * N + i]!;
    return sa < sb || (sa === sb && a > b);
  };
  const siftDown = (i: number, from: number): void => {
    const h = heapStart[i]!;
    const len = heapLen[i]!;
    let k = from;
    for (;;) {
      const l = 2 * k + 1;
      if (l >= len) break;
      let c = l;
      if (l + 1 < len && worse(heap[h + l + 1]!, heap[h + l]!, i)) c = l + 1;
      if (!worse(heap[h + c]!, heap[h + k]!, i)) break;
      const t = heap[h + c]!;
      heap[h + c] = heap[h + k]!;
      heap[h + k] = t;
      k = c;
    }
  };
  const push = (i: number, p: number): void => {
    const h = heapStart[i]!;
    let k = heapLen[i]!++;
    heap[h + k] = p;
    while (k > 0) {
      const parent = (k - 1) >> 1;
      if (!worse(heap[h + k]!, heap[h + parent]!, i)) break;
      const t = heap[h + parent]!;
      heap[h + parent] = heap[h + k]!;
      heap[h + k] = t;
      k = parent;
    }
  };

  for (let rank = 0; rank < balanced; rank++) {
    // Quotas apportion the (rank + 1) * P slots of ranks 0..rank as a whole,
    // less what each node already holds, so the remainder seats rotate over
    // nodes and the first n ranks together stay balanced (apportioning each
    // rank alone would give the same lowest ids the extra seat every time).
    const cumulative = apportion((rank + 1) * P, nodes);
    let seats = 0;
    for (let i = 0; i < N; i++) {
      quota[i] = Math.max(0, cumulative[i]! - held[i]!);
      heapStart[i] = seats;
      seats += quota[i]!;
    }
    if (heap.length < seats) heap = new Int32Array(seats);
    heapLen.fill(0);
    next.fill(0);
    unmatched.length = 0;
    let top = 0;
    for (let p = P - 1; p >= 0; p--) stack[top++] = p;
    while (top > 0) {
      const p = stack[--top]!;
      const base = p * N;
      let k = next[p]!;
      while (k < N && (quota[prefs[base + k]!] === 0 || !eligible(p, prefs[base + k]!))) k++;
      next[p] = k;
      if (k === N) {
        unmatched.push(p);
        continue;
      }
      const i = prefs[base + k]!;
      if (heapLen[i]! < quota[i]!) {
        push(i, p);
        continue;
      }
      const h = heapStart[i]!;
      const worst = heap[h]!;
      if (worse(worst, p, i)) {
        heap[h] = p;
        siftDown(i, 0);
        next[worst]!++;
        stack[top++] = worst;
      } else {
        next[p] = k + 1;
        stack[top++] = p;
      }
    }
    atRank.fill(-1);
    for (let i = 0; i < N; i++) {
      const h = heapStart[i]!;
      for (let k = 0; k < heapLen[i]!; k++) atRank[heap[h + k]!] = i;
    }
    if (unmatched.length > 0) {
      // No eligible node with quota left for these partitions (see the top):
      // try one swap, nodes x by most quota left then id, q by x's score;
      // else the eligible node with the most quota left goes over quota.
      unmatched.sort((a, b) => a - b);
      swapLists.clear();
      for (const p of unmatched) {
        let y = -1;
        roomy.length = 0;
        for (let i = 0; i < N; i++) if (heapLen[i]! < quota[i]!) roomy.push(i);
        roomy.sort((a, b) => quota[b]! - heapLen[b]! - (quota[a]! - heapLen[a]!) || a - b);
        for (const x of roomy) {
          const lists = swapListsFor(x);
          if (lists === null) continue;
          let bestQ = -1;
          let bestY = -1;
          for (let holder = 0; holder < N; holder++) {
            const list = lists[holder]!;
            if (holder === x || list.items.length === 0 || !eligible(p, holder)) continue;
            while (list.at < list.items.length && atRank[list.items[list.at]!] !== holder) list.at++;
            if (list.at === list.items.length) continue;
            const q = list.items[list.at]!;
            if (bestQ < 0 || score[q * N + x]! > score[bestQ * N + x]! || (score[q * N + x] === score[bestQ * N + x] && q < bestQ)) {
              bestQ = q;
              bestY = holder;
            }
          }
          if (bestQ >= 0) {
            atRank[bestQ] = x;
            heapLen[x]!++;
            y = bestY;
            break;
          }
        }
        if (y < 0) {
          for (let i = 0; i < N; i++) {
            if (!eligible(p, i)) continue;
            if (y < 0) {
              y = i;
              continue;
            }
            const room = quota[i]! - heapLen[i]!;
            const bestRoom = quota[y]! - heapLen[y]!;
            if (room > bestRoom || (room === bestRoom && score[p * N + i]! > score[p * N + y]!)) y = i;
          }
          heapLen[y]!++;
        }
        atRank[p] = y;
      }
    }
    for (let p = 0; p < P; p++) {
      take(p, atRank[p]!);
      held[atRank[p]!]!++;
    }
  }

  // Deep fallbacks: the remaining nodes in score order, under the zone rule.
  for (let p = 0; p < P && balanced < N; p++) {
    const base = p * N;
    let start = 0; // prefs[base .. base + start) are all chosen
    while (length[p]! < N) {
      while (chosen[base + prefs[base + start]!] === 1) start++;
      let k = start;
      while (!eligible(p, prefs[base + k]!)) k++;
      take(p, prefs[base + k]!);
    }
  }
  return order;
}

/**
 * System buckets whose keys are placed by their first segment (up to the
 * first '/') instead of the whole key, so that every key of one group lives
 * in one partition and has one preference list. `__users` is the per-user
 * file index (src/files/user-index.ts): keys `<user>/<bucket>/<key>`, so a
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

export class Ring {
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

  /**
   * The partition of a key: the top log2(P) bits of murmur3(bucket NUL key),
   * or of murmur3(bucket NUL group) in a GROUPED_BUCKETS bucket.
   */
  partitionOf(bucket: string, key: string): number {
    if (this.#bits === 0) return 0;
    return murmur3(`${bucket}\u0000${GROUPED_BUCKETS.has(bucket) ? placementGroup(key) : key}`) >>> (32 - this.#bits);
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
