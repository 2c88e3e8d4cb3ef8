// Placement: every partition's full ranking of the nodes (ring.ts).
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
import type { NodeSpec } from './layout.js';

/** Ranks (0-based) below this are quota-balanced; deeper fallbacks are HRW-ordered. */
const BALANCED_RANKS = 8;
const TWO_32 = 4294967296;

const encoder = new TextEncoder();

export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Every partition's full ranking of node indices (into `nodes`, sorted by id): order[p * N + rank]. */
export function rankAll(P: number, nodes: readonly NodeSpec[]): Int32Array {
  const N = nodes.length;
  if (N === 0) return new Int32Array(0);
  const score = rendezvousScores(P, nodes);
  const prefs = preferences(P, N, score);
  const rankings = new Rankings(P, nodes);

  const balanced = Math.min(N, BALANCED_RANKS);
  const held = new Int32Array(N); // partitions each node holds at ranks already filled
  const holdings = new Holdings(N, P, score);
  for (let rank = 0; rank < balanced; rank++) {
    const quota = rankQuota(rank, P, nodes, held);
    holdings.reset(quota);
    const unmatched = matchRank(P, N, prefs, rankings, quota, holdings);
    const atRank = holdings.holders(P);
    if (unmatched.length > 0) placeUnmatched(unmatched, P, N, score, rankings, quota, holdings, atRank);
    for (let p = 0; p < P; p++) {
      rankings.take(p, atRank[p]!);
      held[atRank[p]!]!++;
    }
  }
  if (balanced < N) fillDeepFallbacks(P, N, prefs, rankings);
  return rankings.order;
}

/** Weighted rendezvous scores, score[p * N + i] = -w / ln(u), u from murmur3(utf8(id) ++ u32le(p)). */
function rendezvousScores(P: number, nodes: readonly NodeSpec[]): Float64Array {
  const N = nodes.length;
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
  return score;
}

/** Each partition's nodes by score, best first, ties by id: prefs[p * N + k]. */
function preferences(P: number, N: number, score: Float64Array): Int32Array {
  const prefs = new Int32Array(P * N);
  const scratch: number[] = [];
  for (let p = 0; p < P; p++) {
    const base = p * N;
    scratch.length = 0;
    for (let i = 0; i < N; i++) scratch.push(i);
    scratch.sort((a, b) => score[base + b]! - score[base + a]! || a - b);
    for (let k = 0; k < N; k++) prefs[base + k] = scratch[k]!;
  }
  return prefs;
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

/**
 * Each node's quota at `rank`. Quotas apportion the (rank + 1) * P slots of
 * ranks 0..rank as a whole, less what each node already holds, so the
 * remainder seats rotate over nodes and the first n ranks together stay
 * balanced (apportioning each rank alone would give the same lowest ids the
 * extra seat every time).
 */
function rankQuota(rank: number, P: number, nodes: readonly NodeSpec[], held: Int32Array): Int32Array {
  const cumulative = apportion((rank + 1) * P, nodes);
  const quota = new Int32Array(nodes.length);
  for (let i = 0; i < nodes.length; i++) quota[i] = Math.max(0, cumulative[i]! - held[i]!);
  return quota;
}

/**
 * The rankings being built, and the zone rule over them: per partition,
 * which nodes are chosen so far and how often each zone was used.
 */
class Rankings {
  /** order[p * N + rank]: the result. */
  readonly order: Int32Array;
  private readonly N: number;
  private readonly Z: number;
  private readonly zoneOf: Int32Array;
  private readonly zoneSize: Int32Array;
  private readonly chosen: Uint8Array;
  private readonly zoneUsed: Int32Array;
  /** Fewest uses among zones that still have unchosen nodes. */
  private readonly minUse: Int32Array;
  /** How many such zones are at minUse. */
  private readonly atMin: Int32Array;
  /** Ranks filled so far. */
  readonly length: Int32Array;

  constructor(P: number, nodes: readonly NodeSpec[]) {
    const N = nodes.length;
    const zoneNames = [...new Set(nodes.map((n) => n.zone))].sort(compareIds);
    const Z = zoneNames.length;
    const zoneIndex = new Map(zoneNames.map((z, k) => [z, k]));
    this.N = N;
    this.Z = Z;
    this.zoneOf = new Int32Array(N);
    this.zoneSize = new Int32Array(Z);
    for (let i = 0; i < N; i++) {
      this.zoneOf[i] = zoneIndex.get(nodes[i]!.zone)!;
      this.zoneSize[this.zoneOf[i]!]!++;
    }
    this.order = new Int32Array(P * N);
    this.chosen = new Uint8Array(P * N);
    this.zoneUsed = new Int32Array(P * Z);
    this.minUse = new Int32Array(P);
    this.atMin = new Int32Array(P);
    this.length = new Int32Array(P);
    for (let p = 0; p < P; p++) this.recomputeMin(p);
  }

  isChosen(p: number, i: number): boolean {
    return this.chosen[p * this.N + i] === 1;
  }

  /** Node i may take p's next rank: not chosen yet, and its zone among the least used (zone rule). */
  eligible(p: number, i: number): boolean {
    return this.chosen[p * this.N + i] === 0 && this.zoneUsed[p * this.Z + this.zoneOf[i]!] === this.minUse[p];
  }

  /** Append node i (which must be eligible) to p's ranking. */
  take(p: number, i: number): void {
    this.order[p * this.N + this.length[p]!] = i;
    this.length[p]!++;
    this.chosen[p * this.N + i] = 1;
    this.zoneUsed[p * this.Z + this.zoneOf[i]!]!++;
    if (--this.atMin[p]! === 0) this.recomputeMin(p);
  }

  private recomputeMin(p: number): void {
    let m = Number.MAX_SAFE_INTEGER;
    let at = 0;
    for (let z = 0; z < this.Z; z++) {
      const used = this.zoneUsed[p * this.Z + z]!;
      if (used >= this.zoneSize[z]!) continue;
      if (used < m) {
        m = used;
        at = 1;
      } else if (used === m) at++;
    }
    this.minUse[p] = m;
    this.atMin[p] = at;
  }
}

/**
 * The partitions each node holds at the rank being matched: node i holds
 * heap[start[i] .. + len[i]), a heap with the partition worst for i on top.
 * `len` also counts partitions placed beyond the matching (placeUnmatched).
 */
class Holdings {
  readonly start: Int32Array;
  readonly len: Int32Array;
  private heap: Int32Array;

  constructor(
    private readonly N: number,
    P: number,
    private readonly score: Float64Array,
  ) {
    this.start = new Int32Array(N);
    this.len = new Int32Array(N);
    this.heap = new Int32Array(P);
  }

  /** Empties every node's holding, with room for its quota. */
  reset(quota: Int32Array): void {
    let seats = 0;
    for (let i = 0; i < this.N; i++) {
      this.start[i] = seats;
      seats += quota[i]!;
    }
    if (this.heap.length < seats) this.heap = new Int32Array(seats);
    this.len.fill(0);
  }

  /** Is partition a worse holding than b for node i? Lower score, then higher partition. */
  worse(a: number, b: number, i: number): boolean {
    const sa = this.score[a * this.N + i]!;
    const sb = this.score[b * this.N + i]!;
    return sa < sb || (sa === sb && a > b);
  }

  /** The partition node i holds that is worst for it. */
  worst(i: number): number {
    return this.heap[this.start[i]!]!;
  }

  push(i: number, p: number): void {
    const { heap } = this;
    const h = this.start[i]!;
    let k = this.len[i]!++;
    heap[h + k] = p;
    while (k > 0) {
      const parent = (k - 1) >> 1;
      if (!this.worse(heap[h + k]!, heap[h + parent]!, i)) break;
      const t = heap[h + parent]!;
      heap[h + parent] = heap[h + k]!;
      heap[h + k] = t;
      k = parent;
    }
  }

  /** Node i gives up its worst partition for p. */
  replaceWorst(i: number, p: number): void {
    const { heap } = this;
    const h = this.start[i]!;
    const len = this.len[i]!;
    heap[h] = p;
    let k = 0;
    for (;;) {
      const l = 2 * k + 1;
      if (l >= len) break;
      let c = l;
      if (l + 1 < len && this.worse(heap[h + l + 1]!, heap[h + l]!, i)) c = l + 1;
      if (!this.worse(heap[h + c]!, heap[h + k]!, i)) break;
      const t = heap[h + c]!;
      heap[h + c] = heap[h + k]!;
      heap[h + k] = t;
      k = c;
    }
  }

  /** The node holding each partition (-1: none): atRank[p]. */
  holders(P: number): Int32Array {
    const atRank = new Int32Array(P).fill(-1);
    for (let i = 0; i < this.N; i++) {
      const h = this.start[i]!;
      for (let k = 0; k < this.len[i]!; k++) atRank[this.heap[h + k]!] = i;
    }
    return atRank;
  }
}

/**
 * One balanced rank: the greedy matching described at the top, computed as
 * partition-proposing deferred acceptance, which gives the same matching
 * without sorting all P*N pairs: every partition and every node rank the
 * other side by the same (score, then partition / node id) total order, so
 * the stable matching is unique and equals the greedy one. Returns the
 * partitions no eligible node with quota left would take.
 */
function matchRank(P: number, N: number, prefs: Int32Array, rankings: Rankings, quota: Int32Array, holdings: Holdings): number[] {
  const next = new Int32Array(P); // position in prefs of the node p proposes to
  const stack = new Int32Array(P);
  const unmatched: number[] = [];
  let top = 0;
  for (let p = P - 1; p >= 0; p--) stack[top++] = p;
  while (top > 0) {
    const p = stack[--top]!;
    const base = p * N;
    let k = next[p]!;
    while (k < N && (quota[prefs[base + k]!] === 0 || !rankings.eligible(p, prefs[base + k]!))) k++;
    next[p] = k;
    if (k === N) {
      unmatched.push(p);
      continue;
    }
    const i = prefs[base + k]!;
    if (holdings.len[i]! < quota[i]!) {
      holdings.push(i, p);
      continue;
    }
    const worst = holdings.worst(i);
    if (holdings.worse(worst, p, i)) {
      holdings.replaceWorst(i, p);
      next[worst]!++;
      stack[top++] = worst;
    } else {
      next[p] = k + 1;
      stack[top++] = p;
    }
  }
  return unmatched;
}

/**
 * Places the partitions the matching left over (see the top): one swap if
 * there is any, nodes x by most quota left then id, q by x's score; else the
 * eligible node with the most quota left goes over quota. Updates atRank
 * and the holding counts.
 */
function placeUnmatched(unmatched: number[], P: number, N: number, score: Float64Array, rankings: Rankings, quota: Int32Array, holdings: Holdings, atRank: Int32Array): void {
  const held = holdings.len;
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
      if (holder >= 0 && holder !== x && rankings.eligible(q, x)) {
        lists[holder]!.items.push(q);
        any = true;
      }
    }
    for (const list of lists) list.items.sort((a, b) => score[b * N + x]! - score[a * N + x]! || a - b);
    if (!any) lists = null;
    swapLists.set(x, lists);
    return lists;
  };
  const roomy: number[] = [];
  unmatched.sort((a, b) => a - b);
  for (const p of unmatched) {
    let y = -1;
    roomy.length = 0;
    for (let i = 0; i < N; i++) if (held[i]! < quota[i]!) roomy.push(i);
    roomy.sort((a, b) => quota[b]! - held[b]! - (quota[a]! - held[a]!) || a - b);
    for (const x of roomy) {
      const lists = swapListsFor(x);
      if (lists === null) continue;
      let bestQ = -1;
      let bestY = -1;
      for (let holder = 0; holder < N; holder++) {
        const list = lists[holder]!;
        if (holder === x || list.items.length === 0 || !rankings.eligible(p, holder)) continue;
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
        held[x]!++;
        y = bestY;
        break;
      }
    }
    if (y < 0) {
      for (let i = 0; i < N; i++) {
        if (!rankings.eligible(p, i)) continue;
        if (y < 0) {
          y = i;
          continue;
        }
        const room = quota[i]! - held[i]!;
        const bestRoom = quota[y]! - held[y]!;
        if (room > bestRoom || (room === bestRoom && score[p * N + i]! > score[p * N + y]!)) y = i;
      }
      held[y]!++;
    }
    atRank[p] = y;
  }
}

/** Deep fallbacks: the remaining nodes of every partition in score order, under the zone rule. */
function fillDeepFallbacks(P: number, N: number, prefs: Int32Array, rankings: Rankings): void {
  for (let p = 0; p < P; p++) {
    const base = p * N;
    let start = 0; // prefs[base .. base + start) are all chosen
    while (rankings.length[p]! < N) {
      while (rankings.isChosen(p, prefs[base + start]!)) start++;
      let k = start;
      while (!rankings.eligible(p, prefs[base + k]!)) k++;
      rankings.take(p, prefs[base + k]!);
    }
  }
}
