// The quorum rule (coordinator/quorum.ts) that every API and the config share.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clampQuorum, InvalidQuorumError, quorumProblem, resolveQuorum, sameQuorum } from '../../src/coordinator/quorum.js';

const D = { n: 3, r: 2, w: 2 };

test('defaults are clamped to the n in force, so n=1 alone is a valid request', () => {
  assert.deepEqual(resolveQuorum(D, {}, 3), D);
  assert.deepEqual(resolveQuorum(D, { n: 1 }, 3), { n: 1, r: 1, w: 1 });
  assert.deepEqual(resolveQuorum(D, {}, 2), { n: 2, r: 2, w: 2 });
  assert.deepEqual(resolveQuorum(D, { r: 3 }, 5), { n: 3, r: 3, w: 2 });
});

test('explicit values outside 1 <= r, w <= n <= nodes are refused with InvalidQuorum and what was asked', () => {
  for (const [given, nodes] of [[{ n: 4 }, 3], [{ n: 2, r: 3 }, 3], [{ w: 4 }, 5], [{ r: 0 }, 3], [{ n: 1.5 }, 3]] as const) {
    assert.throws(
      () => resolveQuorum(D, given, nodes),
      (e: unknown) => e instanceof InvalidQuorumError && e.code === 'InvalidQuorum' && e.details['nodes'] === nodes,
      JSON.stringify(given),
    );
  }
});

test('quorumProblem without a cluster size checks only the numbers and their order', () => {
  assert.equal(quorumProblem({ n: 9, r: 5, w: 5 }), undefined);
  assert.match(quorumProblem({ n: 2, r: 3, w: 1 }) ?? '', /r=3 is more than n=2/);
  assert.match(quorumProblem({ n: 3, r: 2, w: 2 }, 2) ?? '', /n=3 is more than the 2 nodes/);
});

test('a cluster default is clamped to a small cluster, and equal quorums compare equal', () => {
  assert.deepEqual(clampQuorum(D, 1), { n: 1, r: 1, w: 1 });
  assert.deepEqual(clampQuorum(D, 0), { n: 1, r: 1, w: 1 });
  assert.ok(sameQuorum(clampQuorum(D, 5), D));
  assert.ok(!sameQuorum({ n: 3, r: 1, w: 3 }, D));
});
