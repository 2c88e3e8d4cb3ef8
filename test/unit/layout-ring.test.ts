// AssignedRing (src/ring/assigned.ts): the ring's questions answered from a
// stored assignment. Owners are the assignment's, in its order; fallbacks are
// every other storage node; lists for n are prefixes of lists for n + 1; keys
// map to partitions exactly as in today's Ring.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { assign } from '../../src/layout/assign.js';
import { ownersOf, type Member } from '../../src/layout/types.js';
import { AssignedRing } from '../../src/ring/assigned.js';
import { Ring } from '../../src/ring/ring.js';

const members: Member[] = Array.from({ length: 6 }, (_, i) => ({ id: `n${i}`, zone: `z${i % 3}`, capacity: 100, role: 'storage' }));

test('owners come from the assignment in its order, fallbacks are every other storage node, and each list for n is a prefix of the list for n + 1', () => {
  const a = assign(undefined, members, { partitions: 64, replicas: 3 }).assignment;
  const ring = new AssignedRing(a);
  for (let p = 0; p < 64; p++) {
    const { owners, fallbacks } = ring.preference(p, 3);
    assert.deepEqual(owners, ownersOf(a, p));
    assert.deepEqual([...owners, ...fallbacks].sort(), members.map((m) => m.id));
    const four = ring.preference(p, 4);
    assert.deepEqual(four.owners.slice(0, 3), owners);
    assert.equal(ring.primaryOwner(p), owners[0]);
  }
  const held = ring.partitionsOf('n0', 3);
  assert.deepEqual(held, [...Array(64).keys()].filter((p) => ownersOf(a, p).includes('n0')));
  assert.throws(() => ring.preference(64, 3), RangeError);
});

test('keys map to the same partitions as in today\'s ring', () => {
  const a = assign(undefined, members, { partitions: 256, replicas: 3 }).assignment;
  const assigned = new AssignedRing(a);
  const ring = new Ring({ epoch: 1, partitions: 256, nodes: members.map((m) => ({ id: m.id, zone: m.zone, weight: 1 })) });
  for (const [b, k] of [['photos', 'cat.jpg'], ['__users', 'alice/photos/cat.jpg'], ['x', '']]) assert.equal(assigned.partitionOf(b!, k!), ring.partitionOf(b!, k!));
});
