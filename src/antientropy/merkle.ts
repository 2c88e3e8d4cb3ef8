// Merkle trees for anti-entropy (Dynamo §4.7), one per partition per node,
// kept up to date as writes land instead of being rebuilt for each exchange.
//
// Shape: a fixed-depth, fixed-fanout hash tree. Leaves are buckets of keys
// chosen by a hash of (bucket, key) that is independent of the partition
// hash (the ring uses the top bits of murmur3 seed 0; leaves use seed
// LEAF_SEED), so a partition's keys spread evenly over its leaves.
//
// Node values are XORs: a key contributes keyHash(bucket, key, digest of its
// sibling set) to its leaf and to every ancestor, and an absent key
// contributes nothing. Because XOR is its own inverse and commutes, a write
// that changes a key's set from `old` to `new` is applied as one delta,
// keyHash(old) ^ keyHash(new), along the leaf-to-root path: O(depth), and the
// order in which deltas are applied does not matter, so trees stay exact as
// long as every committed change is applied exactly once.
//
// A plain XOR of key hashes is not collision-resistant against an adversary
// (a chosen set of keys can cancel out), which is acceptable here: the
// hashes only decide what to compare, and keys are written by the cluster's
// own clients. Hashes are 64 bits (two independent murmur3 words), so two
// different partitions agree by accident with probability ~2^-64.

import { murmur3 } from '../util/hash.js';
import { dotKey, type SiblingSet } from '../version/dvv.js';
import { assert } from '../util/assert.js';

/** Leaf placement must not correlate with the ring's partition hash (murmur3 seed 0). */
const LEAF_SEED = 0x5bd1e995;
const HASH_SEED_HI = 0x2545f491;
const HASH_SEED_LO = 0x9e3779b9;

export interface TreeShape {
  /** Children per inner node: a power of two (default 16). */
  readonly fanout: number;
  /** Levels below the root (default 2: 16 x 16 = 256 leaves per partition). */
  readonly depth: number;
}

export const DEFAULT_TREE_SHAPE: TreeShape = { fanout: 16, depth: 2 };

/** A 64-bit hash as two unsigned 32-bit words; [0, 0] means "nothing". */
export type Hash64 = readonly [number, number];

export const ZERO_HASH: Hash64 = [0, 0];

export function hashHex(h: Hash64): string {
  return h[0].toString(16).padStart(8, '0') + h[1].toString(16).padStart(8, '0');
}

export function hashFromHex(s: string): Hash64 {
  if (!/^[0-9a-f]{16}$/.test(s)) throw new RangeError(`bad hash ${JSON.stringify(s)}`);
  return [parseInt(s.slice(0, 8), 16) >>> 0, parseInt(s.slice(8), 16) >>> 0];
}

export function hashEquals(a: Hash64, b: Hash64): boolean {
  return a[0] === b[0] && a[1] === b[1];
}

/**
 * The digest of a sibling set: its dots, in the set's canonical (sorted)
 * order. One dot names one event, so two replicas hold the same set exactly
 * when they hold the same dots; this is the same equality `sameSet` uses on
 * the write path, so a set a replica refuses to rewrite (because sync left
 * its dots unchanged) never shows up as a difference forever.
 */
export function setDigest(set: SiblingSet | undefined): string | undefined {
  if (set === undefined || set.siblings.length === 0) return undefined;
  return set.siblings.map((s) => dotKey(s.dot)).join(',');
}

/** What one key contributes to its leaf: hash of (bucket, key, set digest); zero for no set. */
export function keyHash(bucket: string, key: string, digest: string | undefined): Hash64 {
  if (digest === undefined) return ZERO_HASH;
  const text = `${bucket}\u0000${key}\u0000${digest}`;
  const hi = murmur3(text, HASH_SEED_HI);
  const lo = murmur3(text, HASH_SEED_LO);
  // Keep "nothing" unambiguous: a present key never contributes exactly zero.
  return hi === 0 && lo === 0 ? [0, 1] : [hi, lo];
}

/** The 64-bit digest of a key's set as 16 hex digits (what exchanges ship). */
export function keyDigestHex(bucket: string, key: string, set: SiblingSet | undefined): string {
  return hashHex(keyHash(bucket, key, setDigest(set)));
}

function checkShape(shape: TreeShape): void {
  const { fanout, depth } = shape;
  if (!Number.isInteger(fanout) || fanout < 2 || (fanout & (fanout - 1)) !== 0 || fanout > 256) {
    throw new RangeError(`merkle fanout must be a power of two in [2, 256], got ${fanout}`);
  }
  if (!Number.isInteger(depth) || depth < 1 || Math.log2(fanout) * depth > 20) {
    throw new RangeError(`merkle depth must be >= 1 with at most 2^20 leaves, got depth ${depth} with fanout ${fanout}`);
  }
}

export function leafCount(shape: TreeShape): number {
  return shape.fanout ** shape.depth;
}

/** The leaf of a key in a tree of this shape. */
export function leafOf(bucket: string, key: string, shape: TreeShape): number {
  const bits = Math.log2(shape.fanout) * shape.depth;
  return murmur3(`${bucket}\u0000${key}`, LEAF_SEED) >>> (32 - bits);
}

/**
 * One partition's tree. Level 0 is the root, level `depth` the leaves;
 * level l has fanout^l nodes, and node i of level l has children
 * i*fanout .. i*fanout+fanout-1 at level l+1.
 */
export class MerkleTree {
  readonly shape: TreeShape;
  /** Two words per node, levels stored one after another from the root. */
  private readonly words: Uint32Array;
  private readonly offsets: number[];
  private readonly bitsPerLevel: number;
  /** fanout^depth, kept for the leaf-range check on every write. */
  private readonly leaves: number;
  /** Keys currently contributing (present with a non-empty set). */
  keys = 0;

  constructor(shape: TreeShape = DEFAULT_TREE_SHAPE) {
    checkShape(shape);
    this.shape = shape;
    this.bitsPerLevel = Math.log2(shape.fanout);
    this.offsets = [];
    let offset = 0;
    for (let l = 0; l <= shape.depth; l++) {
      this.offsets.push(offset);
      offset += shape.fanout ** l;
    }
    this.words = new Uint32Array(offset * 2);
    this.leaves = leafCount(shape);
  }

  /** XORs `delta` into `leaf` and every ancestor up to the root. */
  applyDelta(leaf: number, delta: Hash64): void {
    if (delta[0] === 0 && delta[1] === 0) return;
    // Checked on every tracked write: the message is built only when it fails.
    if (!(Number.isInteger(leaf) && leaf >= 0 && leaf < this.leaves)) assert(false, `merkle: leaf ${leaf} outside a ${this.shape.fanout}^${this.shape.depth} tree`);
    assert(delta[0] >>> 0 === delta[0] && delta[1] >>> 0 === delta[1], 'merkle: a delta word is not an unsigned 32-bit number');
    const { depth } = this.shape;
    for (let l = depth; l >= 0; l--) {
      const idx = leaf >>> (this.bitsPerLevel * (depth - l));
      const w = (this.offsets[l]! + idx) * 2;
      this.words[w] = (this.words[w]! ^ delta[0]) >>> 0;
      this.words[w + 1] = (this.words[w + 1]! ^ delta[1]) >>> 0;
    }
  }

  /** Records that bucket/key's set digest went from `before` to `after` (undefined: absent). */
  update(bucket: string, key: string, before: string | undefined, after: string | undefined): void {
    if (before === after) return;
    const a = keyHash(bucket, key, before);
    const b = keyHash(bucket, key, after);
    this.applyDelta(leafOf(bucket, key, this.shape), [(a[0] ^ b[0]) >>> 0, (a[1] ^ b[1]) >>> 0]);
    if (before === undefined) this.keys++;
    else if (after === undefined) this.keys--;
    // A key removed that was never added, or added twice, shows here.
    if (this.keys < 0) assert(false, `merkle: ${bucket}/${key} removed from a tree that counted no keys`);
    // With no key contributing, the XOR of nothing is zero: a delta applied twice or missed shows here.
    if (this.keys === 0 && !this.isZero()) assert(false, `merkle: a tree with no keys has root ${hashHex(this.root())}`);
  }

  private isZero(): boolean {
    for (let i = 0; i < this.words.length; i++) if (this.words[i] !== 0) return false;
    return true;
  }

  root(): Hash64 {
    return this.node(0, 0);
  }

  node(level: number, index: number): Hash64 {
    if (!Number.isInteger(level) || level < 0 || level > this.shape.depth) throw new RangeError(`merkle level ${level} out of range`);
    if (!Number.isInteger(index) || index < 0 || index >= this.shape.fanout ** level) throw new RangeError(`merkle index ${index} out of range at level ${level}`);
    const w = (this.offsets[level]! + index) * 2;
    return [this.words[w]!, this.words[w + 1]!];
  }

  /** The hashes of the children (at level+1) of node `index` of `level`. */
  children(level: number, index: number): Hash64[] {
    const out: Hash64[] = [];
    const first = index * this.shape.fanout;
    for (let i = 0; i < this.shape.fanout; i++) out.push(this.node(level + 1, first + i));
    return out;
  }

  isEmpty(): boolean {
    const r = this.root();
    return r[0] === 0 && r[1] === 0 && this.keys === 0;
  }

  /** Structural equality with another tree (tests, self-checks). */
  equals(other: MerkleTree): boolean {
    if (other.words.length !== this.words.length) return false;
    for (let i = 0; i < this.words.length; i++) if (this.words[i] !== other.words[i]) return false;
    return true;
  }
}

/** A tree built from scratch from a scan: the reference the incremental one must equal. */
export function buildTree(entries: Iterable<{ readonly bucket: string; readonly key: string; readonly set: SiblingSet }>, shape: TreeShape = DEFAULT_TREE_SHAPE): MerkleTree {
  const t = new MerkleTree(shape);
  for (const e of entries) t.update(e.bucket, e.key, undefined, setDigest(e.set));
  return t;
}

/**
 * The trees of every partition one node holds data for, created on first
 * use. Memory: 8 bytes per tree node, (1 + 16 + 256) x 8 bytes = 2.2 KB per
 * partition with the default shape, 2.2 MB for 1024 partitions.
 */
export class MerkleForest {
  private readonly trees = new Map<number, MerkleTree>();

  constructor(readonly shape: TreeShape = DEFAULT_TREE_SHAPE) {
    checkShape(shape);
  }

  tree(partition: number): MerkleTree {
    let t = this.trees.get(partition);
    if (t === undefined) this.trees.set(partition, (t = new MerkleTree(this.shape)));
    return t;
  }

  /** The tree of a partition if it was ever touched; an untouched partition's tree is all zeros. */
  peek(partition: number): MerkleTree | undefined {
    return this.trees.get(partition);
  }

  root(partition: number): Hash64 {
    return this.trees.get(partition)?.root() ?? ZERO_HASH;
  }

  /** Applies a committed change of one key. */
  record(partition: number, bucket: string, key: string, before: SiblingSet | undefined, after: SiblingSet | undefined): void {
    const b = setDigest(before);
    const a = setDigest(after);
    if (a === b) return;
    this.tree(partition).update(bucket, key, b, a);
  }

  /** Replaces a partition's tree with one built from a scan of it. */
  rebuild(partition: number, entries: Iterable<{ readonly bucket: string; readonly key: string; readonly set: SiblingSet }>): void {
    this.trees.set(partition, buildTree(entries, this.shape));
  }

  partitions(): number[] {
    return [...this.trees.keys()].sort((a, b) => a - b);
  }

  totalKeys(): number {
    let n = 0;
    for (const t of this.trees.values()) n += t.keys;
    return n;
  }
}
