// Dotted version vectors (Preguiça et al., "Dotted Version Vectors: Logical
// Clocks for Optimistic Replication", 2010), in the server-side form Riak
// uses. Every write is one event, named by a dot (node, counter), and carries
// the causal past the writer had seen (the context of its read). A sibling is
// obsolete as soon as some other sibling's past covers its dot, so siblings
// are exactly the writes that no known write has seen: concurrent writes are
// kept, superseded ones vanish, and the count of siblings is bounded by the
// number of truly concurrent writers, not by the number of writes (the
// "sibling explosion" plain vector clocks suffer from, Dynamo §4.4).

import { assert } from '../util/assert.js';

export type NodeId = string;

/**
 * What a node id may be. Version vectors are plain objects keyed by node id,
 * so an id must never be a name like `__proto__` that an object treats
 * specially; the leading letter or digit rules those out.
 */
export function isNodeId(text: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(text);
}

/** node -> the highest counter of that node's events included. */
export type VersionVector = Readonly<Record<NodeId, number>>;

export interface Dot {
  readonly node: NodeId;
  readonly counter: number;
}

export interface SiblingMeta {
  /** Hybrid-logical timestamp (ms) at the origin replica: used only to pick an S3 winner. */
  readonly ts: number;
  readonly contentType?: string;
  /** Opaque per-API metadata (S3 user metadata, etag, manifest flags...). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface Sibling {
  readonly dot: Dot;
  readonly past: VersionVector;
  /** null is a tombstone: a delete that must win over what it saw. */
  readonly value: Uint8Array | null;
  readonly meta: SiblingMeta;
}

/** Invariants: no sibling's dot is covered by another sibling's past; sorted by dot. */
export interface SiblingSet {
  readonly siblings: readonly Sibling[];
}

export const EMPTY_SET: SiblingSet = { siblings: [] };

export type Order = 'equal' | 'before' | 'after' | 'concurrent';

export function vvGet(vv: VersionVector, node: NodeId): number {
  return vv[node] ?? 0;
}

export function vvJoin(a: VersionVector, b: VersionVector): VersionVector {
  const out: Record<NodeId, number> = { ...a };
  for (const [node, c] of Object.entries(b)) if (c > (out[node] ?? 0)) out[node] = c;
  return out;
}

/** a has seen everything b has seen. */
export function vvDescends(a: VersionVector, b: VersionVector): boolean {
  for (const [node, c] of Object.entries(b)) if ((a[node] ?? 0) < c) return false;
  return true;
}

export function vvCompare(a: VersionVector, b: VersionVector): Order {
  const ab = vvDescends(a, b);
  const ba = vvDescends(b, a);
  if (ab && ba) return 'equal';
  if (ab) return 'after';
  if (ba) return 'before';
  return 'concurrent';
}

/** Canonical form: sorted node ids, zero entries dropped, so equal vectors encode equally. */
export function vvNormalize(vv: VersionVector): VersionVector {
  const out: Record<NodeId, number> = {};
  for (const node of Object.keys(vv).sort()) {
    const c = vv[node] ?? 0;
    if (c > 0) out[node] = c;
  }
  return out;
}

export function covers(vv: VersionVector, dot: Dot): boolean {
  return (vv[dot.node] ?? 0) >= dot.counter;
}

export function dotKey(dot: Dot): string {
  return `${dot.node}:${dot.counter}`;
}

function compareDots(a: Dot, b: Dot): number {
  if (a.node !== b.node) return a.node < b.node ? -1 : 1;
  return a.counter - b.counter;
}

/** The causal history of one sibling: its past plus its own dot. */
export function siblingClock(s: Sibling): VersionVector {
  return vvJoin(s.past, { [s.dot.node]: s.dot.counter });
}

/**
 * What a replica holding this set has seen: the join of every sibling's
 * history. This is both the "vector clock of the replica" the API reports and
 * the context a read hands to the client.
 */
export function setClock(set: SiblingSet): VersionVector {
  let vv: VersionVector = {};
  for (const s of set.siblings) vv = vvJoin(vv, siblingClock(s));
  return vvNormalize(vv);
}

/**
 * Merges two replicas' sibling sets. Commutative, associative and idempotent
 * (a join-semilattice), so replicas converge whatever order merges arrive in:
 * keep the union of events, drop every event some other event has seen.
 */
export function sync(a: SiblingSet, b: SiblingSet): SiblingSet {
  assertDots(a, 'sync: left');
  assertDots(b, 'sync: right');
  const byDot = new Map<string, Sibling>();
  for (const s of a.siblings) byDot.set(dotKey(s.dot), s);
  for (const s of b.siblings) {
    const k = dotKey(s.dot);
    const prev = byDot.get(k);
    // One dot names one event, so both copies should be equal; if a bug or a
    // reused counter ever made them differ, pick deterministically so that
    // merge order still cannot matter.
    if (prev === undefined || preferCopy(s, prev)) byDot.set(k, s);
  }
  const all = [...byDot.values()];
  const kept = all.filter((s) => !all.some((t) => t !== s && covers(t.past, s.dot)));
  kept.sort((x, y) => compareDots(x.dot, y.dot));
  // The result is canonical by construction (one event per dot, sorted,
  // covered events filtered out); it is checked where sets enter the store
  // (antientropy/tracking-store.ts), not again on every merge of the
  // request path.
  return { siblings: kept };
}

/** Every dot names one event: a node id and a counter from 1 up. */
function assertDots(set: SiblingSet, where: string): void {
  for (const s of set.siblings) assert(typeof s.dot.node === 'string' && Number.isSafeInteger(s.dot.counter) && s.dot.counter >= 1, `${where}: malformed dot ${JSON.stringify(s.dot)}`);
}

/** The SiblingSet invariants: sorted by dot, each dot once, no sibling's dot covered by another's past. */
export function assertCanonical(set: SiblingSet, where: string): void {
  assertDots(set, where);
  const sibs = set.siblings;
  for (let i = 1; i < sibs.length; i++) assert(compareDots(sibs[i - 1]!.dot, sibs[i]!.dot) < 0, `${where}: siblings out of order or repeated at ${dotKey(sibs[i]!.dot)}`);
  for (const s of sibs) for (const t of sibs) assert(t === s || !covers(t.past, s.dot), `${where}: sibling ${dotKey(s.dot)} is obsolete (covered by ${dotKey(t.dot)})`);
}

function preferCopy(candidate: Sibling, current: Sibling): boolean {
  const a = JSON.stringify(vvNormalize(candidate.past)) + candidate.meta.ts;
  const b = JSON.stringify(vvNormalize(current.past)) + current.meta.ts;
  return a > b;
}

/** The largest counter of `node` this set knows of, in dots or pasts. */
export function maxCounter(set: SiblingSet, node: NodeId): number {
  let max = 0;
  for (const s of set.siblings) {
    if (s.dot.node === node && s.dot.counter > max) max = s.dot.counter;
    const p = s.past[node] ?? 0;
    if (p > max) max = p;
  }
  return max;
}

export interface NewEvent {
  readonly set: SiblingSet;
  readonly sibling: Sibling;
}

/**
 * A write applied at the replica `node` that coordinates it (its origin).
 * The new dot's counter is above anything this replica or the context knows
 * for `node`, so it is unique; siblings the context covers become obsolete;
 * everything else stays beside the new value as a sibling.
 *
 * `minCounter` is a floor for the counter, for a replica that may have
 * forgotten dots it minted for this key: a fallback node hands its hinted
 * copy to the owner and deletes it (Dynamo §4.6), so its own set no longer
 * shows the counters it used; without the floor it could mint the same dot
 * twice for two different values.
 */
export function newEvent(
  current: SiblingSet,
  node: NodeId,
  context: VersionVector,
  value: Uint8Array | null,
  meta: Omit<SiblingMeta, 'ts'>,
  nowMs: number,
  minCounter = 0,
): NewEvent {
  const counter = Math.max(maxCounter(current, node), vvGet(context, node), minCounter) + 1;
  assert(Number.isSafeInteger(counter), `newEvent: counter ${counter} for ${node} is not a safe integer`);
  let ts = nowMs;
  for (const s of current.siblings) if (s.meta.ts >= ts) ts = s.meta.ts + 1;
  const sibling: Sibling = { dot: { node, counter }, past: vvNormalize(context), value, meta: { ...meta, ts } };
  const set = sync(current, { siblings: [sibling] });
  // A fresh dot is above everything known, so nothing can have seen it: the new write is a sibling of the result.
  assert(set.siblings.includes(sibling), `newEvent: the new event ${dotKey(sibling.dot)} did not survive its own merge`);
  return { set, sibling };
}

export function isTombstoneOnly(set: SiblingSet): boolean {
  return set.siblings.length > 0 && set.siblings.every((s) => s.value === null);
}

/** Live values only: what a reader sees (an all-tombstone set reads as not found). */
export function liveSiblings(set: SiblingSet): Sibling[] {
  return set.siblings.filter((s) => s.value !== null);
}

export function sameSet(a: SiblingSet, b: SiblingSet): boolean {
  if (a.siblings.length !== b.siblings.length) return false;
  for (let i = 0; i < a.siblings.length; i++) {
    if (dotKey(a.siblings[i]!.dot) !== dotKey(b.siblings[i]!.dot)) return false;
  }
  return true;
}

/**
 * What a replica holds after merging a set computed elsewhere (a shipped
 * write, a repair, an anti-entropy push): `current` itself when the merge
 * adds nothing, so that a store update can tell "no change" by identity and
 * write nothing.
 */
export function mergeInto(current: SiblingSet | undefined, incoming: SiblingSet): SiblingSet {
  if (current === undefined || current.siblings.length === 0) return incoming;
  const next = sync(current, incoming);
  return sameSet(next, current) ? current : next;
}

/**
 * The deterministic winner among siblings for APIs that cannot show
 * siblings (S3): latest hybrid-logical timestamp, then node id, then counter.
 */
export function lwwWinner(set: SiblingSet): Sibling | undefined {
  let best: Sibling | undefined;
  for (const s of set.siblings) {
    if (
      best === undefined ||
      s.meta.ts > best.meta.ts ||
      (s.meta.ts === best.meta.ts && compareDots(s.dot, best.dot) > 0)
    )
      best = s;
  }
  return best;
}
