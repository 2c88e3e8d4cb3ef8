import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { Ring } from '../../src/ring/ring.js';
import type { Layout, NodeSpec } from '../../src/ring/layout.js';
import { murmur3 } from '../../src/util/hash.js';

const PARTITION_CHOICES = [256, 1024, 4096] as const;

function layoutOf(partitions: number, nodes: NodeSpec[], epoch = 1): Layout {
  return { epoch, partitions, nodes };
}

/** n nodes named `${prefix}-${i}`, each in its own zone unless zones is given. */
function equalNodes(n: number, prefix: string, zones?: number): NodeSpec[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, zone: `zone-${zones === undefined ? i : i % zones}`, weight: 1 }));
}

/** How many partitions each node holds among the first n owners. */
function ownership(ring: Ring, n: number): Map<string, number> {
  const counts = new Map<string, number>(ring.layout.nodes.map((node) => [node.id, 0]));
  for (let p = 0; p < ring.partitions; p++) {
    for (const id of ring.preference(p, n).owners) counts.set(id, counts.get(id)! + 1);
  }
  return counts;
}

function fullOrder(ring: Ring, p: number): string[] {
  const { owners, fallbacks } = ring.preference(p, 0);
  assert.equal(owners.length, 0);
  return fallbacks;
}

const prefixArb = fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/);

/** A layout with equal weights where partitions >= 8 * nodes. */
const balancedLayoutArb = fc
  .record({ partitions: fc.constantFrom(...PARTITION_CHOICES), n: fc.integer({ min: 3, max: 40 }), prefix: prefixArb, sharedZones: fc.boolean() })
  .filter(({ partitions, n }) => partitions >= 8 * n)
  .map(({ partitions, n, prefix, sharedZones }) => layoutOf(partitions, equalNodes(n, prefix, sharedZones ? 1 : undefined)));

/** Any valid layout: 1..12 nodes, 1..4 zones, weights 1..3, small partition counts. */
const anyLayoutArb = fc
  .record({
    partitions: fc.constantFrom(1, 2, 16, 64, 256),
    prefix: prefixArb,
    nodes: fc.array(fc.record({ zone: fc.integer({ min: 0, max: 3 }), weight: fc.integer({ min: 1, max: 3 }) }), { minLength: 1, maxLength: 12 }),
  })
  .map(({ partitions, prefix, nodes }) =>
    layoutOf(
      partitions,
      nodes.map((spec, i) => ({ id: `${prefix}${i}`, zone: `z${spec.zone}`, weight: spec.weight })),
    ),
  );

test('balance: with equal weights no node is primary for more than 1.10x its fair share of partitions, nor among the first 3 owners of more than 1.10x its fair share', () => {
  fc.assert(
    fc.property(balancedLayoutArb, (layout) => {
      const ring = new Ring(layout);
      const P = layout.partitions;
      const n = layout.nodes.length;
      const primaries = ownership(ring, 1);
      const replicas = ownership(ring, 3);
      // Quotas are exact (floor or ceil of P/n per rank, and of 3P/n over the
      // first 3 ranks), so no slack is needed: ceil(P/n) <= 1.10 * P/n for
      // every P, n here (worst 256/28: 10 against 9.14).
      for (const [id, count] of primaries) assert.ok(count <= 1.1 * (P / n), `${id} is primary for ${count} of ${P} partitions with ${n} nodes`);
      for (const [id, count] of replicas) assert.ok(count <= 1.1 * ((3 * P) / n), `${id} replicates ${count} of ${P} partitions with ${n} nodes`);
      // And from below: every node does its share.
      for (const [id, count] of primaries) assert.ok(count >= Math.floor(P / n), `${id} is primary for only ${count}`);
      for (const [id, count] of replicas) assert.ok(count >= 0.9 * ((3 * P) / n), `${id} replicates only ${count}`);
      assert.equal([...primaries.values()].reduce((a, b) => a + b, 0), P);
    }),
    { numRuns: 25 },
  );
});

test('balance: a node of weight 2 owns about twice what a node of weight 1 owns, as primary and as one of 3 replicas', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(1024, 4096),
      fc.array(fc.constantFrom(1, 2), { minLength: 4, maxLength: 16 }),
      prefixArb,
      (partitions, weights, prefix) => {
        const all = [1, 2, ...weights];
        const W = all.reduce((a, b) => a + b, 0);
        fc.pre(partitions >= 32 * W);
        const nodes = all.map((weight, i) => ({ id: `${prefix}-${i}`, zone: `z${i}`, weight }));
        const ring = new Ring(layoutOf(partitions, nodes));
        // A node can hold a partition only once, so replica shares are only
        // proportional to weight while 3 * 2/W <= 1; keep well inside that.
        for (const n of W >= 12 ? [1, 3] : [1]) {
          const counts = ownership(ring, n);
          const ones = nodes.filter((x) => x.weight === 1).map((x) => counts.get(x.id)!);
          const twos = nodes.filter((x) => x.weight === 2).map((x) => counts.get(x.id)!);
          for (const two of twos) {
            for (const one of ones) {
              const ratio = two / one;
              assert.ok(ratio >= 1.8 && ratio <= 2.2, `n=${n}: weight 2 owns ${two}, weight 1 owns ${one} (W=${W}, P=${partitions})`);
            }
          }
        }
      },
    ),
    { numRuns: 15 },
  );
});

function movement(P: number, n: number, prefix: string): { moved: number; slots: number; newQuota: number } {
  const before = new Ring(layoutOf(P, equalNodes(n, prefix)));
  const after = new Ring(layoutOf(P, equalNodes(n + 1, prefix)));
  let moved = 0;
  let slots = 0;
  for (let p = 0; p < P; p++) {
    const a = before.preference(p, 3).owners;
    const b = after.preference(p, 3).owners;
    if (a[0] !== b[0]) moved++;
    const old = new Set(a);
    slots += b.filter((id) => !old.has(id)).length; // replicas that must be streamed
  }
  return { moved, slots, newQuota: after.partitionsOf(`${prefix}-${n}`, 1).length };
}

test('minimal movement: adding one node to n moves about P/(n+1) primaries, never more than 2P/(n+1), and fewer than 2 * 3P/(n+1) replicas', () => {
  // Moved/(P/(n+1)) grows like 1 + 0.7 n / sqrt(P) (see ring/placement.ts), so n <= 30
  // is checked on 4096 partitions and n <= 16 on 1024.
  fc.assert(
    fc.property(
      fc.oneof(
        fc.record({ P: fc.constant(4096), n: fc.integer({ min: 3, max: 30 }) }),
        fc.record({ P: fc.constant(1024), n: fc.integer({ min: 3, max: 16 }) }),
      ),
      prefixArb,
      ({ P, n }, prefix) => {
        const { moved, slots, newQuota } = movement(P, n, prefix);
        const share = P / (n + 1);
        // Everything the new node now owns had to move to it.
        assert.ok(newQuota >= Math.floor(share) && moved >= newQuota, `moved ${moved}, new node owns ${newQuota}`);
        assert.ok(moved <= 2 * share, `n=${n} P=${P}: ${moved} primaries moved, share ${share.toFixed(1)}`);
        assert.ok(slots < 2 * 3 * share, `n=${n} P=${P}: ${slots} replica slots moved, 3 * share ${(3 * share).toFixed(1)}`);
      },
    ),
    { numRuns: 12 },
  );
});

test('minimal movement: the figures for a few cluster sizes stay near the ideal', () => {
  // Pinned layouts, so this reports exact numbers; ratios to the ideal P/(n+1).
  for (const [P, n, maxRatio] of [
    [1024, 3, 1.3],
    [1024, 10, 1.5],
    [4096, 20, 1.5],
    [4096, 30, 1.7],
  ] as const) {
    const { moved, slots } = movement(P, n, 'fixed');
    const share = P / (n + 1);
    assert.ok(moved / share <= maxRatio, `P=${P} n=${n}: moved ${(moved / share).toFixed(2)}x`);
    assert.ok(slots / (3 * share) <= maxRatio + 0.1, `P=${P} n=${n}: replica slots ${(slots / (3 * share)).toFixed(2)}x`);
  }
});

test('determinism: rings built from the same layout with the nodes listed in any order give identical preference lists', () => {
  fc.assert(
    fc.property(
      anyLayoutArb.chain((layout) =>
        fc.tuple(fc.constant(layout), fc.shuffledSubarray([...layout.nodes], { minLength: layout.nodes.length, maxLength: layout.nodes.length })),
      ),
      ([layout, shuffled]) => {
        const a = new Ring(layout);
        const b = new Ring({ ...layout, epoch: layout.epoch + 1, nodes: shuffled });
        for (let p = 0; p < layout.partitions; p++) {
          assert.deepEqual(fullOrder(b, p), fullOrder(a, p));
          assert.equal(b.primaryOwner(p), a.primaryOwner(p));
        }
      },
    ),
    { numRuns: 60 },
  );
});

test('determinism: a fixed layout keeps its placement across versions', () => {
  // Placement is part of the on-disk contract: changing it moves data in a
  // live cluster, and nodes on different versions would disagree. If this
  // fails, the change needs a ring epoch bump and a migration, not a new pin.
  const ring = new Ring(
    layoutOf(16, [
      { id: 'n1', zone: 'a', weight: 1 },
      { id: 'n2', zone: 'b', weight: 1 },
      { id: 'n3', zone: 'c', weight: 1 },
      { id: 'n4', zone: 'a', weight: 2 },
      { id: 'n5', zone: 'b', weight: 1 },
    ], 7),
  );
  const expected = [
    'n2 n4 n3 n5 n1', 'n3 n4 n5 n2 n1', 'n1 n3 n2 n4 n5', 'n4 n3 n2 n5 n1',
    'n1 n5 n3 n2 n4', 'n4 n5 n3 n1 n2', 'n2 n1 n3 n4 n5', 'n4 n2 n3 n1 n5',
    'n5 n1 n3 n4 n2', 'n4 n5 n3 n1 n2', 'n3 n4 n5 n1 n2', 'n5 n4 n3 n2 n1',
    'n3 n1 n2 n4 n5', 'n4 n2 n3 n1 n5', 'n1 n5 n3 n4 n2', 'n2 n4 n3 n1 n5',
  ];
  assert.deepEqual(
    Array.from({ length: 16 }, (_, p) => fullOrder(ring, p).join(' ')),
    expected,
  );
});

test('preference lists: the first n are distinct nodes, the owners for n are a prefix of those for n+1, and owners plus fallbacks are every node once', () => {
  fc.assert(
    fc.property(anyLayoutArb, fc.integer({ min: 0, max: 14 }), (layout, n) => {
      const ring = new Ring(layout);
      const ids = layout.nodes.map((x) => x.id).sort();
      for (let p = 0; p < layout.partitions; p++) {
        const { owners, fallbacks } = ring.preference(p, n);
        assert.equal(owners.length, Math.min(n, ids.length));
        assert.equal(new Set(owners).size, owners.length);
        assert.deepEqual([...owners, ...fallbacks].sort(), ids);
        assert.deepEqual([...owners, ...fallbacks], fullOrder(ring, p));
        assert.equal(ring.primaryOwner(p), fullOrder(ring, p)[0]);
      }
    }),
    { numRuns: 60 },
  );
});

test('preference lists: with 3 zones of 3 nodes the first 3 owners of every partition are in 3 distinct zones', () => {
  fc.assert(
    fc.property(fc.constantFrom(64, 256, 1024), prefixArb, (partitions, prefix) => {
      const layout = layoutOf(partitions, equalNodes(9, prefix, 3));
      const zoneOf = new Map(layout.nodes.map((x) => [x.id, x.zone]));
      const ring = new Ring(layout);
      for (let p = 0; p < partitions; p++) {
        const owners = ring.preference(p, 3).owners;
        assert.equal(new Set(owners.map((id) => zoneOf.get(id))).size, 3, `partition ${p}: ${owners.join(',')}`);
        // With 6 owners, each zone holds exactly 2 (zones used round-robin).
        const six = ring.preference(p, 6).owners.map((id) => zoneOf.get(id)!);
        for (const zone of ['zone-0', 'zone-1', 'zone-2']) assert.equal(six.filter((z) => z === zone).length, 2);
      }
      // Zone awareness costs no balance when zones are equal.
      for (const count of ownership(ring, 3).values()) assert.ok(count <= 1.1 * (3 * partitions) / 9);
    }),
    { numRuns: 6 },
  );
});

test('preference lists: the first owners cover as many distinct zones as exist, and with fewer zones than n the owners are still distinct nodes', () => {
  fc.assert(
    fc.property(anyLayoutArb, fc.integer({ min: 1, max: 6 }), (layout, n) => {
      const ring = new Ring(layout);
      const zoneOf = new Map(layout.nodes.map((x) => [x.id, x.zone]));
      const zones = new Set(zoneOf.values()).size;
      for (let p = 0; p < layout.partitions; p++) {
        const owners = ring.preference(p, n).owners;
        assert.equal(new Set(owners).size, owners.length);
        const distinctZones = new Set(owners.map((id) => zoneOf.get(id))).size;
        assert.equal(distinctZones, Math.min(zones, owners.length), `partition ${p}: ${owners.join(',')}`);
      }
    }),
    { numRuns: 60 },
  );
});

test('preference lists: partitionsOf lists exactly the partitions whose first n owners include the node', () => {
  fc.assert(
    fc.property(anyLayoutArb, fc.integer({ min: 0, max: 5 }), (layout, n) => {
      const ring = new Ring(layout);
      for (const { id } of layout.nodes) {
        const expected: number[] = [];
        for (let p = 0; p < layout.partitions; p++) if (ring.preference(p, n).owners.includes(id)) expected.push(p);
        assert.deepEqual(ring.partitionsOf(id, n), expected);
      }
      assert.deepEqual(ring.partitionsOf('not-a-member', n), []);
    }),
    { numRuns: 40 },
  );
});

/** The primary assignment exactly as specified: global greedy over all pairs. */
function referencePrimaries(layout: Layout): string[] {
  const P = layout.partitions;
  const nodes = [...layout.nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const N = nodes.length;
  const W = nodes.reduce((s, x) => s + x.weight, 0);
  const exact = nodes.map((x) => (P * x.weight) / W);
  const quota = exact.map(Math.floor);
  const byRemainder = nodes.map((_, i) => i).sort((a, b) => exact[b]! - quota[b]! - (exact[a]! - quota[a]!) || a - b);
  const left = P - quota.reduce((s, q) => s + q, 0);
  for (let k = 0; k < left; k++) quota[byRemainder[k]!]!++;
  const score = (p: number, i: number): number => {
    const id = new TextEncoder().encode(nodes[i]!.id);
    const bytes = new Uint8Array(id.length + 4);
    bytes.set(id);
    new DataView(bytes.buffer).setUint32(id.length, p, true);
    return -nodes[i]!.weight / Math.log((murmur3(bytes) + 0.5) / 2 ** 32);
  };
  const pairs: { p: number; i: number; s: number }[] = [];
  for (let p = 0; p < P; p++) for (let i = 0; i < N; i++) pairs.push({ p, i, s: score(p, i) });
  pairs.sort((a, b) => b.s - a.s || a.p - b.p || a.i - b.i);
  const owner: (string | undefined)[] = new Array(P).fill(undefined);
  const count = new Array<number>(N).fill(0);
  for (const { p, i } of pairs) {
    if (owner[p] === undefined && count[i]! < quota[i]!) {
      owner[p] = nodes[i]!.id;
      count[i]!++;
    }
  }
  return owner.map((x) => x!);
}

test('primary ownership is the global greedy over (partition, node) pairs by weighted rendezvous score, within quotas', () => {
  fc.assert(
    fc.property(anyLayoutArb, (layout) => {
      const ring = new Ring(layout);
      const expected = referencePrimaries(layout);
      for (let p = 0; p < layout.partitions; p++) assert.equal(ring.primaryOwner(p), expected[p], `partition ${p}`);
    }),
    { numRuns: 40 },
  );
});

test('partitionOf is in range, depends only on bucket and key, and keeps its fixed values', () => {
  // Rings without nodes are cheap to build and place keys all the same.
  const rings = [1, 2, 8, 1024, 65536].map((partitions) => [new Ring(layoutOf(partitions, [])), new Ring(layoutOf(partitions, equalNodes(3, 'y')))] as const);
  fc.assert(
    fc.property(fc.constantFrom(...rings), fc.string(), fc.string(), ([a, b], bucket, key) => {
      const p = a.partitionOf(bucket, key);
      assert.ok(Number.isInteger(p) && p >= 0 && p < a.partitions);
      assert.equal(b.partitionOf(bucket, key), p);
      assert.equal(p, Math.floor((murmur3(`${bucket}\u0000${key}`) / 2 ** 32) * a.partitions));
    }),
    { numRuns: 200 },
  );
  const r1024 = new Ring(layoutOf(1024, equalNodes(3, 'x')));
  const r65536 = new Ring(layoutOf(65536, []));
  const fixed: [string, string, number, number][] = [
    ['photos', 'cat.jpg', 962, 61624],
    ['photos', 'dog.jpg', 644, 41226],
    ['logs', '2024/01/01.log', 280, 17975],
    ['', '', 325, 20814],
    ['b', 'ключ/键', 195, 12509],
  ];
  for (const [bucket, key, p1024, p65536] of fixed) {
    assert.equal(r1024.partitionOf(bucket, key), p1024);
    assert.equal(r65536.partitionOf(bucket, key), p65536);
  }
  // The bucket/key boundary matters: ("ab", "c") and ("a", "bc") differ.
  assert.notEqual(r65536.partitionOf('ab', 'c'), r65536.partitionOf('a', 'bc'));
  assert.equal(new Ring(layoutOf(1, [])).partitionOf('any', 'key'), 0);
});

test('the constructor rejects invalid layouts and the queries reject invalid arguments', () => {
  const nodes = equalNodes(3, 'n');
  for (const partitions of [0, 3, 1000, 131072, -4, 2.5, Number.NaN]) {
    assert.throws(() => new Ring(layoutOf(partitions, nodes)), Error, `partitions ${partitions}`);
  }
  assert.throws(() => new Ring(layoutOf(64, [...nodes, { id: 'n-1', zone: 'other', weight: 1 }])), /duplicate/);
  for (const weight of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => new Ring(layoutOf(64, [{ id: 'a', zone: 'z', weight }])), /weight/);
  }
  const ring = new Ring(layoutOf(64, nodes));
  assert.equal(ring.partitions, 64);
  assert.throws(() => ring.preference(64, 3), RangeError);
  assert.throws(() => ring.preference(-1, 3), RangeError);
  assert.throws(() => ring.preference(0, -1), RangeError);
  assert.throws(() => ring.primaryOwner(1.5), RangeError);
  assert.deepEqual(ring.preference(0, 10).fallbacks, []);
  assert.equal(ring.preference(0, 10).owners.length, 3);
  // A layout without nodes is valid (a cluster being formed) but has no owners.
  const empty = new Ring(layoutOf(64, []));
  assert.deepEqual(empty.preference(5, 3), { owners: [], fallbacks: [] });
  assert.deepEqual(empty.partitionsOf('a', 3), []);
  assert.throws(() => empty.primaryOwner(0), /no nodes/);
});

test('construction is fast enough to rebuild on every layout change (1024 partitions x 50 nodes)', () => {
  const layout = layoutOf(1024, equalNodes(50, 'perf', 5));
  new Ring(layout); // warm up the JIT
  const started = performance.now();
  new Ring(layout);
  const elapsed = performance.now() - started;
  // Typically 15-35 ms; the bound only catches accidental blow-ups on a busy machine.
  assert.ok(elapsed < 500, `took ${elapsed.toFixed(0)} ms`);
});
