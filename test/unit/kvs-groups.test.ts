// Replica groups (src/layout/groups.ts) on random sequences of view changes:
// ceil(n/K) groups, all of K nodes but the last, every ring partition owned
// by exactly one whole group, partition g anchored to group g, balance within
// one partition, the same answer whatever the input order, ids kept across
// changes, and the assignment accepted by the control state's check.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { groupAssignment, groupOfPartition, groupsOf, groupTarget, nextGroups } from '../../src/layout/groups.js';
import { assignmentProblem, ownersOf, type Assignment } from '../../src/layout/types.js';
import { applyVersion, emptyHistory, stage } from '../../src/layout/history.js';
import { AssignedRing } from '../../src/ring/assigned.js';

const id = (i: number): string => `127.0.0.${i}_8080`;

function check(a: Assignment, nodes: readonly string[], k: number): void {
  assert.equal(assignmentProblem(a), undefined);
  const groups = groupsOf(a);
  const n = new Set(nodes).size;
  assert.equal(groups.length, Math.ceil(n / k), 'ceil(n/K) groups');
  assert.deepEqual(groups.flat().sort(), [...new Set(nodes)].sort(), 'every node in exactly one group');
  groups.forEach((g, i) => {
    if (i < groups.length - 1) assert.equal(g.length, k, `group ${i} is full`);
    assert.ok(g.length >= 1 && g.length <= k);
  });
  const counts = new Array<number>(groups.length).fill(0);
  for (let p = 0; p < a.partitions; p++) {
    const g = groupOfPartition(a, p, groups);
    assert.ok(g >= 0, `partition ${p} owned by a whole group`);
    if (p < groups.length) assert.equal(g, p, 'anchor');
    assert.equal(ownersOf(a, p).length, groups[g]!.length);
    counts[g]!++;
  }
  counts.forEach((c, g) => assert.equal(c, groupTarget(a.partitions, groups.length, g)));
}

const changesArb = fc.record({
  k: fc.integer({ min: 1, max: 4 }),
  partitions: fc.constantFrom(16, 64, 256),
  start: fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 12 }),  // at most 12 groups: fewer than the 16 partitions
  steps: fc.array(fc.record({ add: fc.boolean(), pick: fc.integer({ min: 1, max: 40 }) }), { maxLength: 12 }),
});

test('groups: every step of random adds and removes gives valid groups, ids kept, one group change at most per step', () => {
  fc.assert(
    fc.property(changesArb, ({ k, partitions, start, steps }) => {
      let nodes = start.map(id);
      let a = groupAssignment(undefined, nodes, { k, partitions });
      check(a, nodes, k);
      for (const s of steps) {
        const before = groupsOf(a);
        const node = id(s.pick);
        // At most one group per ring partition (groupAssignment refuses more: the last test below).
        if (s.add && !nodes.includes(node) && Math.ceil((nodes.length + 1) / k) <= partitions) nodes = [...nodes, node];
        else if (!s.add && nodes.includes(node) && nodes.length > 1) nodes = nodes.filter((x) => x !== node);
        else continue;
        const next = groupAssignment(a, nodes, { k, partitions });
        check(next, nodes, k);
        const after = groupsOf(next);
        // An add or a remove opens or closes at most one group, at the end.
        assert.ok(Math.abs(after.length - before.length) <= 1);
        // A group that exists before and after keeps most members: at most two change (the node, and one moved from the last group).
        for (let g = 0; g < Math.min(before.length, after.length) - 1; g++) {
          const kept = before[g]!.filter((x) => after[g]!.includes(x)).length;
          assert.ok(kept >= before[g]!.length - 1, `group ${g} kept its members`);
        }
        // Partitions move only as far as the counts require.
        let moved = 0;
        for (let p = 0; p < partitions; p++) if (groupOfPartition(next, p, after) !== groupOfPartition(a, p, before)) moved++;
        let need = 0;
        for (let g = 0; g < after.length; g++) need += Math.max(0, groupTarget(partitions, after.length, g) - (g < before.length ? groupTarget(partitions, before.length, g) : 0));
        const changedGroups = after.filter((g, i) => before[i] === undefined || before[i]!.join() !== g.join()).length;
        assert.ok(moved <= need + changedGroups * Math.ceil(partitions / after.length) + after.length, `moved ${moved}, need ${need}`);
        a = next;
      }
    }),
    { numRuns: 300 },
  );
});

test('groups: the same nodes in any order give the same bytes', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 10 }), fc.integer({ min: 1, max: 3 }), (xs, k) => {
      const a = groupAssignment(undefined, xs.map(id), { k, partitions: 64 });
      const b = groupAssignment(undefined, [...xs].reverse().map(id), { k, partitions: 64 });
      assert.deepEqual(a, b);
    }),
  );
});

test("groups: the course's example, 4 nodes K=2 -> 2; +1 -> 3; +1 -> 3; +1 -> 4; -1 -> 3; -1 -> 3; -1 -> 2", () => {
  let nodes = [1, 2, 3, 4].map(id);
  let a = groupAssignment(undefined, nodes, { k: 2, partitions: 256 });
  const counts = [groupsOf(a).length];
  for (const i of [5, 6, 7]) {
    nodes = [...nodes, id(i)];
    a = groupAssignment(a, nodes, { k: 2, partitions: 256 });
    counts.push(groupsOf(a).length);
  }
  for (const i of [2, 5, 7]) {
    nodes = nodes.filter((x) => x !== id(i));
    a = groupAssignment(a, nodes, { k: 2, partitions: 256 });
    counts.push(groupsOf(a).length);
  }
  assert.deepEqual(counts, [2, 3, 3, 4, 3, 3, 2]);
});

test('groups: an add fills the short group first', () => {
  const a = groupAssignment(undefined, [1, 2, 3].map(id), { k: 2, partitions: 64 });
  assert.deepEqual(groupsOf(a), [[id(1), id(2)], [id(3)]]);
  const b = groupAssignment(a, [1, 2, 3, 9].map(id), { k: 2, partitions: 64 });
  assert.deepEqual(groupsOf(b), [[id(1), id(2)], [id(3), id(9)]]);
  // Group 1 grew: its partitions stay its own.
  for (let p = 0; p < 64; p++) assert.equal(groupOfPartition(b, p), groupOfPartition(a, p));
});

test('groups: removing a member of a full group takes a member of the last group', () => {
  const a = groupAssignment(undefined, [1, 2, 3, 4, 5].map(id), { k: 2, partitions: 64 });
  assert.deepEqual(groupsOf(a), [[id(1), id(2)], [id(3), id(4)], [id(5)]]);
  const b = groupAssignment(a, [2, 3, 4, 5].map(id), { k: 2, partitions: 64 });
  assert.deepEqual(groupsOf(b), [[id(2), id(5)], [id(3), id(4)]]);
});

test('groups: nextGroups alone', () => {
  assert.deepEqual(nextGroups([['a', 'b'], [], ['e', 'f']], ['a', 'b', 'e', 'f'], 2), [['a', 'b'], ['e', 'f']]);
  assert.deepEqual(nextGroups([], ['c', 'a', 'b'], 5), [['a', 'b', 'c']]);
});

test('groups: the layout history applies a group assignment with a short group (the marked relaxation in types.ts)', () => {
  let h = emptyHistory(64, 2);
  const nodes = [1, 2, 3].map(id);
  for (const n of nodes) {
    const r = stage(h, { op: 'assign', member: { id: n, zone: 'default', capacity: 1, role: 'storage' } });
    assert.ok(r.ok);
    h = r.history;
  }
  const a = groupAssignment(undefined, nodes, { k: 2, partitions: 64 });
  const r = applyVersion(h, 1, h.stagingSeq, a);
  assert.ok(r.ok, r.ok ? '' : r.refusal.message);
  const { groups: _g, ...plain } = a;
  assert.match(assignmentProblem(plain) ?? '', /2 owners required/);
});

test('groups: the ring read from a group assignment gives a short group\'s partitions its members only (no stand-in owners)', () => {
  const a = groupAssignment(undefined, [1, 2, 3, 4, 5].map(id), { k: 2, partitions: 64 });
  const ring = new AssignedRing(a);
  const groups = groupsOf(a);
  for (let p = 0; p < 64; p++) {
    const g = groups[groupOfPartition(a, p, groups)]!;
    assert.deepEqual([...ring.preference(p, 2).owners].sort(), g, `partition ${p}`);
    assert.equal(ring.preference(p, 2).fallbacks.length, 5 - g.length);
  }
  assert.deepEqual(ring.partitionsOf(id(5), 2), ring.partitionsOf(id(5), 3));
  // A plain assignment still fills its owners up to n from the ranking.
  const { groups: _g, ...plain } = a;
  assert.equal(new AssignedRing(plain).preference(2, 2).owners.length, 2);
});

test('groups: more groups than ring partitions are refused', () => {
  assert.throws(() => groupAssignment(undefined, [1, 2, 3, 4, 5].map(id), { k: 1, partitions: 4 }), /5 groups need at least 5 ring partitions/);
});
