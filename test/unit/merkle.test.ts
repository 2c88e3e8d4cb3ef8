// Merkle trees (src/antientropy/merkle.ts) and the store decorator that
// keeps them in step with writes (tracking-store.ts): whatever sequence of
// writes, merges and removals lands, the incrementally maintained tree is
// exactly the tree a fresh scan builds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../../src/store/memory-store.js';
import { openLmdbStore } from '../../src/store/lmdb-store.js';
import { MerkleTrackingStore } from '../../src/antientropy/tracking-store.js';
import { buildTree, hashEquals, hashFromHex, hashHex, keyDigestHex, leafCount, leafOf, MerkleTree, setDigest, ZERO_HASH, type TreeShape } from '../../src/antientropy/merkle.js';
import { EMPTY_SET, isTombstoneOnly, newEvent, setClock, sync, type SiblingSet } from '../../src/version/dvv.js';

function write(cur: SiblingSet | undefined, node: string, value: number | null, withContext: boolean, ts: number): SiblingSet {
  const c = cur ?? EMPTY_SET;
  return newEvent(c, node, withContext ? setClock(c) : {}, value === null ? null : new Uint8Array([value]), {}, ts).set;
}

test('leaves spread keys evenly and independently of the partition hash', () => {
  const shape: TreeShape = { fanout: 16, depth: 2 };
  const counts = new Array<number>(leafCount(shape)).fill(0);
  for (let i = 0; i < 25_600; i++) counts[leafOf('b', `key-${i}`, shape)]!++;
  // 100 per leaf on average; no leaf empty or wildly overfull.
  assert.ok(Math.min(...counts) > 50, `min ${Math.min(...counts)}`);
  assert.ok(Math.max(...counts) < 160, `max ${Math.max(...counts)}`);
});

test('a tree is order-independent and an update to the same digest is a no-op', () => {
  const a = new MerkleTree();
  const b = new MerkleTree();
  a.update('b', 'x', undefined, 'n1:1');
  a.update('b', 'y', undefined, 'n1:2');
  b.update('b', 'y', undefined, 'n1:2');
  b.update('b', 'x', undefined, 'n1:1');
  b.update('b', 'x', 'n1:1', 'n1:1');
  assert.ok(a.equals(b));
  assert.equal(a.keys, 2);
  a.update('b', 'x', 'n1:1', undefined);
  a.update('b', 'y', 'n1:2', undefined);
  assert.ok(hashEquals(a.root(), ZERO_HASH));
  assert.equal(a.keys, 0);
  assert.ok(a.equals(new MerkleTree()));
});

test('a difference in one key shows on exactly its leaf path', () => {
  const shape: TreeShape = { fanout: 4, depth: 3 };
  const a = new MerkleTree(shape);
  const b = new MerkleTree(shape);
  for (let i = 0; i < 200; i++) {
    a.update('b', `k${i}`, undefined, `n1:${i + 1}`);
    b.update('b', `k${i}`, undefined, `n1:${i + 1}`);
  }
  assert.ok(a.equals(b));
  b.update('b', 'k7', 'n1:8', 'n1:8,n2:1');
  const leaf = leafOf('b', 'k7', shape);
  for (let level = 0; level <= shape.depth; level++) {
    for (let i = 0; i < shape.fanout ** level; i++) {
      const onPath = i === leaf >>> (2 * (shape.depth - level));
      assert.equal(!hashEquals(a.node(level, i), b.node(level, i)), onPath, `level ${level} index ${i}`);
    }
  }
  assert.equal(a.children(0, 0).length, 4);
});

test('hash hex round-trips; digests name the dots', () => {
  const h = [0xdeadbeef, 0x00000001] as const;
  assert.equal(hashHex(h), 'deadbeef00000001');
  assert.deepEqual(hashFromHex('deadbeef00000001'), h);
  assert.throws(() => hashFromHex('xyz'));
  const s = write(undefined, 'n1', 1, false, 1);
  assert.equal(setDigest(s), 'n1:1');
  assert.equal(setDigest(EMPTY_SET), undefined);
  assert.equal(keyDigestHex('b', 'k', undefined), '0000000000000000');
  assert.notEqual(keyDigestHex('b', 'k', s), keyDigestHex('b', 'k2', s));
});

test('bad shapes are refused', () => {
  assert.throws(() => new MerkleTree({ fanout: 3, depth: 2 }));
  assert.throws(() => new MerkleTree({ fanout: 16, depth: 0 }));
  assert.throws(() => new MerkleTree({ fanout: 256, depth: 3 }));
  assert.throws(() => new MerkleTree().node(3, 0));
  assert.throws(() => new MerkleTree().node(1, 16));
});

// ------------------------------------------------------------------------
// Property: incremental maintenance through the store == rebuild from a scan.

type Op =
  | { kind: 'write'; key: number; node: number; value: number | null; ctx: boolean }
  | { kind: 'merge'; key: number; node: number }
  | { kind: 'remove'; key: number }
  | { kind: 'noop'; key: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('write' as const), key: fc.nat(40), node: fc.nat(2), value: fc.option(fc.nat(255), { nil: null }), ctx: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('merge' as const), key: fc.nat(40), node: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), key: fc.nat(40) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('noop' as const), key: fc.nat(40) }) },
);

const PARTITIONS = 4;
const partitionOf = (key: number): number => key % PARTITIONS;

test('property: a tracked store\'s trees equal trees rebuilt from a scan, after any writes, merges and removals', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { maxLength: 120 }), fc.constantFrom<TreeShape>({ fanout: 16, depth: 2 }, { fanout: 2, depth: 3 }, { fanout: 4, depth: 1 }), async (ops, shape) => {
      const store = new MerkleTrackingStore(new MemoryStore(), shape);
      let t = 0;
      // Issue the updates without awaiting each, as concurrent requests do: the store applies them in order.
      const pending: Promise<unknown>[] = [];
      for (const op of ops) {
        const key = `k${op.key}`;
        const p = partitionOf(op.key);
        t++;
        const ts = t;
        if (op.kind === 'write') pending.push(store.update(p, 'b', key, (cur) => write(cur, `n${op.node}`, op.value, op.ctx, ts)));
        else if (op.kind === 'merge') {
          const other = write(undefined, `m${op.node}`, ts & 255, false, ts);
          pending.push(store.update(p, 'b', key, (cur) => (cur === undefined ? other : sync(cur, other))));
        } else if (op.kind === 'remove') pending.push(store.remove(p, 'b', key));
        else pending.push(store.update(p, 'b', key, (cur) => cur as SiblingSet));
      }
      await Promise.all(pending);
      for (let p = 0; p < PARTITIONS; p++) {
        const rebuilt = buildTree(store.scanPartition(p), shape);
        const tracked = store.forest.peek(p) ?? new MerkleTree(shape);
        assert.ok(tracked.equals(rebuilt), `partition ${p}`);
        assert.equal(tracked.keys, rebuilt.keys);
        // The tombstone index follows too.
        const tombs = [...store.scanPartition(p)].filter((e) => isTombstoneOnly(e.set)).map((e) => e.key).sort();
        assert.deepEqual(store.tombstoneKeys(p).map((t) => t.key).sort(), tombs);
      }
      // And rebuild() at "startup" gives the same trees.
      const reopened = new MerkleTrackingStore(store.inner, shape);
      reopened.rebuild(PARTITIONS);
      for (let p = 0; p < PARTITIONS; p++) assert.ok(hashEquals(reopened.forest.root(p), store.forest.root(p)));
    }),
    { numRuns: 150 },
  );
});

test('a rejected update leaves the tree untouched', async () => {
  const store = new MerkleTrackingStore(new MemoryStore());
  await store.update(0, 'b', 'k', () => write(undefined, 'n1', 1, false, 1));
  const before = hashHex(store.forest.root(0));
  await assert.rejects(
    store.update(0, 'b', 'k', () => {
      throw new Error('boom');
    }),
  );
  assert.equal(hashHex(store.forest.root(0)), before);
});

test('over LMDB: concurrent batched updates keep the trees exact, and a rebuild after reopening agrees', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ringstore-merkle-'));
  try {
    const store = new MerkleTrackingStore(await openLmdbStore(dir));
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 2000; i++) {
      const key = `k${i % 500}`;
      const p = (i % 500) % 8;
      if (i % 97 === 0) pending.push(store.remove(p, 'b', key));
      else pending.push(store.update(p, 'b', key, (cur) => write(cur, `n${i % 3}`, i % 5 === 0 ? null : i & 255, i % 2 === 0, i)));
    }
    await Promise.all(pending);
    const roots = Array.from({ length: 8 }, (_, p) => hashHex(store.forest.root(p)));
    for (let p = 0; p < 8; p++) assert.equal(hashHex(buildTree(store.scanPartition(p)).root()), roots[p], `partition ${p}`);
    await store.close();
    const again = new MerkleTrackingStore(await openLmdbStore(dir));
    const stats = again.rebuild(8);
    assert.equal(stats.keys, again.forest.totalKeys());
    for (let p = 0; p < 8; p++) assert.equal(hashHex(again.forest.root(p)), roots[p]);
    await again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a store that runs the update function twice (a guess, then for real) still gets exact trees', async () => {
  // As the LMDB store does when it must know the new values before its transaction.
  class Guessing extends MemoryStore {
    override update(partition: number, bucket: string, key: string, fn: (current: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet> {
      fn(this.read(bucket, key) === undefined ? write(undefined, 'zz', 1, false, 1) : undefined);
      return super.update(partition, bucket, key, fn);
    }
  }
  const store = new MerkleTrackingStore(new Guessing());
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < 300; i++) {
    const key = `k${i % 37}`;
    pending.push(i % 11 === 0 ? store.remove(0, 'b', key) : store.update(0, 'b', key, (cur) => write(cur, `n${i % 3}`, i % 4 === 0 ? null : i & 255, i % 2 === 0, i)));
  }
  await Promise.all(pending);
  assert.ok(buildTree(store.scanPartition(0)).equals(store.forest.peek(0)!));
});
