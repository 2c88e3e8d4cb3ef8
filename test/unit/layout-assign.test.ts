// The assignment (src/layout/assign.ts) on random layouts: every partition
// gets N distinct storage owners, counts meet the capacity targets, the zone
// rule holds, the same input gives the same output whatever order it comes
// in, and a change moves the fewest replicas possible (checked against a
// brute-force optimum on small layouts, against the count lower bound and
// against today's stateless ring on larger ones).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { assign, type AssignResult } from '../../src/layout/assign.js';
import { apportionCapped, computeTargets, zoneCap } from '../../src/layout/targets.js';
import { holders, ownersOf, pairSet, replicaCounts, type Assignment, type Member } from '../../src/layout/types.js';
import { Ring } from '../../src/ring/ring.js';

const R = 3;

const memberArb = (id: string) =>
  fc.record({
    zone: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
    capacity: fc.integer({ min: 1, max: 8 }).map((c) => c * 1000),
    gateway: fc.boolean().map((g) => g && id.endsWith('7')),
  }).map(({ zone, capacity, gateway }): Member => (gateway ? { id, zone, capacity: 0, role: 'gateway' } : { id, zone, capacity, role: 'storage' }));

/** Up to 16 candidate nodes; a layout is a random subset with random zones and capacities. */
const membersArb = (min: number, max: number) =>
  fc.uniqueArray(fc.integer({ min: 0, max: 15 }), { minLength: min, maxLength: max }).chain((ids) => fc.tuple(...ids.map((i) => memberArb(`node-${String(i).padStart(2, '0')}`))));

/** A layout and a change of it: nodes added, removed, re-zoned or re-sized. */
const changeArb = fc
  .record({ partitions: fc.constantFrom(16, 64, 256), before: membersArb(1, 12), added: membersArb(0, 3), removed: fc.integer({ min: 0, max: 3 }), resized: fc.integer({ min: 0, max: 2 }) })
  .map(({ partitions, before, added, removed, resized }) => {
    const known = new Set(before.map((m) => m.id));
    const after = [...before.slice(removed), ...added.filter((m) => !known.has(m.id))].map((m, i) => (i < resized && m.role === 'storage' ? { ...m, capacity: m.capacity * 2 } : m));
    return { partitions, before: before as Member[], after };
  });

function check(a: Assignment, members: readonly Member[]): void {
  const hs = holders(members);
  const n = Math.min(R, hs.length);
  const zoneOf = new Map(hs.map((m) => [m.id, m.zone]));
  const cap = zoneCap(n, [...new Set(hs.map((m) => m.zone))].map((z) => hs.filter((m) => m.zone === z).length));
  assert.deepEqual(a.nodes, hs.map((m) => m.id), 'the assignment lists exactly the storage nodes');
  for (let p = 0; p < a.partitions; p++) {
    const owners = ownersOf(a, p);
    assert.equal(owners.length, n, `partition ${p} has ${n} owners`);
    assert.equal(new Set(owners).size, n, `partition ${p}'s owners are distinct`);
    const perZone = new Map<string, number>();
    for (const o of owners) perZone.set(zoneOf.get(o)!, (perZone.get(zoneOf.get(o)!) ?? 0) + 1);
    for (const [z, k] of perZone) assert.ok(k <= cap, `partition ${p} puts ${k} replicas in zone ${z}, the zone rule allows ${cap}`);
  }
}

function countsMeetTargets(r: AssignResult): void {
  assert.equal(r.slack, 0);
  for (const [id, k] of replicaCounts(r.assignment)) assert.equal(k, r.targets.get(id), `${id} holds its target`);
}

test('every partition gets N distinct storage owners, within the zone rule, and every node holds exactly its target', () => {
  fc.assert(
    fc.property(changeArb, ({ partitions, before, after }) => {
      const first = assign(undefined, before, { partitions, replicas: R });
      check(first.assignment, before);
      countsMeetTargets(first);
      if (holders(after).length === 0) return;
      const next = assign(first.assignment, after, { partitions, replicas: R });
      check(next.assignment, after);
      countsMeetTargets(next);
    }),
    { numRuns: 150 },
  );
});

test('targets share replicas by capacity: a node is within one replica of its exact share when the zone rule does not bind', () => {
  // With one zone, or with at least N zones none of which holds more than 1/N of the capacity, the zone rule costs nothing.
  fc.assert(
    fc.property(fc.constantFrom(64, 256, 1024), membersArb(3, 14), fc.boolean(), (P, ms, oneZone) => {
      const members = oneZone ? ms.map((m) => ({ ...m, zone: 'a' })) : ms;
      const hs = holders(members);
      if (hs.length < R) return;
      const total = hs.reduce((s, m) => s + m.capacity, 0);
      const zones = [...new Set(hs.map((m) => m.zone))];
      const zoneFree = zones.length === 1 || (zones.length >= R && zones.every((z) => hs.filter((m) => m.zone === z).reduce((s, m) => s + m.capacity, 0) * R <= total));
      if (!zoneFree || hs.some((m) => (P * R * m.capacity) / total > P)) return;
      const t = computeTargets(P, R, hs);
      hs.forEach((m, i) => {
        const exact = (P * R * m.capacity) / total;
        assert.ok(Math.abs(t.perNode[i]! - exact) < 1, `${m.id}: target ${t.perNode[i]} vs exact share ${exact.toFixed(2)}`);
      });
      const r = assign(undefined, members, { partitions: P, replicas: R });
      countsMeetTargets(r);
      // Balance as the issue asks: every node within a few percent of its share (1 replica of rounding on 64 * 3 is 1.6%).
      for (const [id, k] of replicaCounts(r.assignment)) {
        const m = hs.find((x) => x.id === id)!;
        const share = (P * R * m.capacity) / total;
        assert.ok(Math.abs(k - share) <= Math.max(1, 0.03 * share), `${id} holds ${k}, its share is ${share.toFixed(1)}`);
      }
    }),
    { numRuns: 100 },
  );
});

test('the same members in any order, computed twice, give the same assignment (every node computes alike)', () => {
  fc.assert(
    fc.property(changeArb, fc.integer(), ({ partitions, before, after }, seed) => {
      const a = assign(undefined, before, { partitions, replicas: R }).assignment;
      const shuffled = [...before].sort((x, y) => ((x.id.charCodeAt(5) * 31 + seed) % 7) - ((y.id.charCodeAt(5) * 31 + seed) % 7));
      assert.deepEqual(assign(undefined, shuffled, { partitions, replicas: R }).assignment, a);
      if (holders(after).length === 0) return;
      const b1 = assign(a, after, { partitions, replicas: R });
      const b2 = assign(JSON.parse(JSON.stringify(a)) as Assignment, [...after].reverse(), { partitions, replicas: R });
      assert.deepEqual(b2.assignment, b1.assignment);
      assert.equal(JSON.stringify(b2.assignment), JSON.stringify(b1.assignment), 'byte for byte');
    }),
    { numRuns: 60 },
  );
});

/** The fewest replicas any assignment meeting `targets` under the zone rule can move from `prev`, by exhaustive search. */
function bruteForceMoves(prev: Assignment, members: readonly Member[], P: number, targets: ReadonlyMap<string, number>): number {
  const hs = holders(members);
  const n = Math.min(R, hs.length);
  const zones = [...new Set(hs.map((m) => m.zone))];
  const cap = zoneCap(n, zones.map((z) => hs.filter((m) => m.zone === z).length));
  const sets: number[][] = [];
  const pick = (start: number, acc: number[]) => {
    if (acc.length === n) {
      const perZone = new Map<string, number>();
      for (const i of acc) perZone.set(hs[i]!.zone, (perZone.get(hs[i]!.zone) ?? 0) + 1);
      if ([...perZone.values()].every((k) => k <= cap)) sets.push([...acc]);
      return;
    }
    for (let i = start; i < hs.length; i++) pick(i + 1, [...acc, i]);
  };
  pick(0, []);
  const held = Array.from({ length: P }, (_, p) => new Set(ownersOf(prev, p)));
  const left = hs.map((m) => targets.get(m.id)!);
  let best = Infinity;
  const dfs = (p: number, moved: number) => {
    if (moved >= best) return;
    if (p === P) {
      if (left.every((x) => x === 0)) best = moved;
      return;
    }
    let remaining = 0;
    for (const x of left) remaining += x;
    if (remaining !== (P - p) * n) return;
    for (const s of sets) {
      if (s.some((i) => left[i]! === 0)) continue;
      for (const i of s) left[i]!--;
      dfs(p + 1, moved + s.filter((i) => !held[p]!.has(hs[i]!.id)).length);
      for (const i of s) left[i]!++;
    }
  };
  dfs(0, 0);
  return best;
}

test('a change moves exactly as few replicas as the best possible assignment (exhaustive search on small layouts)', () => {
  fc.assert(
    fc.property(fc.constantFrom(4, 8), membersArb(2, 5), membersArb(1, 2), fc.integer({ min: 0, max: 2 }), (P, before, added, removed) => {
      const known = new Set(before.map((m) => m.id));
      const after = [...before.slice(removed), ...added.filter((m) => !known.has(m.id))];
      if (holders(before).length === 0 || holders(after).length === 0 || holders(after).length > 5) return;
      const prev = assign(undefined, before, { partitions: P, replicas: R }).assignment;
      const r = assign(prev, after, { partitions: P, replicas: R });
      if (r.slack !== 0) return;
      assert.equal(r.moved, pairSet(r.assignment).size - [...pairSet(r.assignment)].filter((x) => pairSet(prev).has(x)).length, 'moved counts the new pairs');
      assert.equal(r.moved, bruteForceMoves(prev, after, P, r.targets));
      assert.ok(r.moved >= r.lowerBound);
    }),
    { numRuns: 80 },
  );
});

test('a node joining moves what the lower bound says (within 2%), never more than today\'s stateless ring, and a node leaving moves only its replicas when one zone', () => {
  fc.assert(
    fc.property(fc.constantFrom(256, 1024), fc.integer({ min: 3, max: 20 }), fc.integer({ min: 1, max: 4 }), (P, n, Z) => {
      const node = (i: number): Member => ({ id: `n${String(i).padStart(2, '0')}`, zone: `z${i % Z}`, capacity: 1000, role: 'storage' });
      const before = Array.from({ length: n }, (_, i) => node(i));
      const after = [...before, node(n)];
      const prev = assign(undefined, before, { partitions: P, replicas: R }).assignment;
      const join = assign(prev, after, { partitions: P, replicas: R });
      assert.ok(join.moved <= join.lowerBound * 1.02 + 2, `join moved ${join.moved}, lower bound ${join.lowerBound}`);
      // Today's ring, stateless, on the same join.
      const ring = (ms: Member[]) => new Ring({ epoch: 1, partitions: P, nodes: ms.map((m) => ({ id: m.id, zone: m.zone, weight: m.capacity })) });
      const r0 = ring(before);
      const r1 = ring(after);
      let ringMoved = 0;
      for (let p = 0; p < P; p++) {
        const old = new Set(r0.preference(p, R).owners);
        for (const o of r1.preference(p, R).owners) if (!old.has(o)) ringMoved++;
      }
      assert.ok(join.moved <= ringMoved, `assignment moved ${join.moved}, the ring ${ringMoved}`);
      if (Z === 1) {
        const leave = assign(join.assignment, before, { partitions: P, replicas: R });
        assert.equal(leave.moved, [...replicaCounts(join.assignment)].find(([id]) => id === node(n).id)![1], 'only the leaving node\'s replicas move');
      }
    }),
    { numRuns: 25 },
  );
});

test('a gateway or a capacity-0 node holds nothing; fewer storage nodes than N give every partition all of them', () => {
  const ms: Member[] = [
    { id: 'a', zone: 'z1', capacity: 100, role: 'storage' },
    { id: 'b', zone: 'z2', capacity: 100, role: 'storage' },
    { id: 'g', zone: 'z1', capacity: 0, role: 'gateway' },
    { id: 'd', zone: 'z3', capacity: 0, role: 'storage' },
  ];
  const r = assign(undefined, ms, { partitions: 16, replicas: 3 });
  assert.deepEqual(r.assignment.nodes, ['a', 'b']);
  for (let p = 0; p < 16; p++) assert.deepEqual(new Set(ownersOf(r.assignment, p)), new Set(['a', 'b']));
  assert.ok(r.assignment.owners.filter((i) => i === -1).length === 16, 'the third replica slot is empty');
});

test('leaders (first owners) are balanced by capacity too, and partitions keep their leader where the counts allow', () => {
  const ms = (k: number): Member[] => Array.from({ length: k }, (_, i) => ({ id: `n${i}`, zone: `z${i % 3}`, capacity: 1000, role: 'storage' }));
  const a = assign(undefined, ms(6), { partitions: 256, replicas: R }).assignment;
  const b = assign(a, ms(7), { partitions: 256, replicas: R }).assignment;
  const leadsBefore = new Map<string, number>();
  const leads = new Map<string, number>();
  let changed = 0;
  let leaderLeft = 0;
  for (let p = 0; p < 256; p++) {
    const was = ownersOf(a, p)[0]!;
    const now = ownersOf(b, p)[0]!;
    leadsBefore.set(was, (leadsBefore.get(was) ?? 0) + 1);
    leads.set(now, (leads.get(now) ?? 0) + 1);
    if (was !== now) changed++;
    if (!ownersOf(b, p).includes(was)) leaderLeft++;
  }
  for (const [id, k] of leads) assert.ok(Math.abs(k - 256 / 7) < 1, `${id} leads ${k} partitions`);
  // A leader changes where it left the partition, or where its node must lead fewer: no more than those two counts.
  const quota = apportionCapped(256, ms(7).map((m) => m.capacity), ms(7).map(() => 256));
  let overQuota = 0;
  for (const [id, k] of leadsBefore) overQuota += Math.max(0, k - quota[Number(id.slice(1))]!);
  assert.ok(changed <= leaderLeft + overQuota, `${changed} leaders changed; ${leaderLeft} left their partition, ${overQuota} over quota`);
  assert.ok(changed >= Math.max(leaderLeft, 256 / 7 - 1));
});
