import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  EMPTY_SET,
  covers,
  dotKey,
  lwwWinner,
  newEvent,
  setClock,
  sync,
  vvCompare,
  vvJoin,
  type SiblingSet,
  type VersionVector,
} from '../../src/version/dvv.js';
import { CONTEXT_MAX_COUNTER, ContextError, decodeContext as decodeWith, encodeContext as encodeWith } from '../../src/version/context.js';
import { contextMac } from '../../src/api/context-mac.js';
import { hash64hex } from '../../src/util/hash.js';
import { randomBytes } from 'node:crypto';

const MAC = contextMac([{ id: 'k1', key: randomBytes(32) }]);
const encodeContext = (vv: Record<string, number>, bucket: string, key: string): string => encodeWith(vv, bucket, key, MAC);
const decodeContext = (token: string, bucket: string, key: string): Record<string, number> => decodeWith(token, bucket, key, MAC);

// Realistic sibling sets come from histories, not from arbitrary structs: a
// few replicas take writes (with or without a context read from some
// replica) and sync with each other in a random order.
type Op =
  | { kind: 'write'; at: number; readFrom: number | null }
  | { kind: 'sync'; from: number; to: number };

const NODES = ['a', 'b', 'c'];
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), at: fc.nat(2), readFrom: fc.option(fc.nat(2), { nil: null }) }),
  fc.record({ kind: fc.constant('sync' as const), from: fc.nat(2), to: fc.nat(2) }),
);

function run(ops: readonly Op[]): SiblingSet[] {
  const replicas: SiblingSet[] = NODES.map(() => EMPTY_SET);
  let t = 0;
  for (const op of ops) {
    if (op.kind === 'write') {
      const ctx = op.readFrom === null ? {} : setClock(replicas[op.readFrom]!);
      replicas[op.at] = newEvent(replicas[op.at]!, NODES[op.at]!, ctx, new Uint8Array([t & 255]), {}, ++t).set;
    } else {
      replicas[op.to] = sync(replicas[op.to]!, replicas[op.from]!);
    }
  }
  return replicas;
}

const dots = (s: SiblingSet) => s.siblings.map((x) => dotKey(x.dot));
const setsArb = fc.array(opArb, { maxLength: 40 }).map(run);

test('sync is commutative, associative and idempotent', () => {
  fc.assert(
    fc.property(setsArb, ([x, y, z]) => {
      assert.deepEqual(dots(sync(x!, y!)), dots(sync(y!, x!)));
      assert.deepEqual(dots(sync(sync(x!, y!), z!)), dots(sync(x!, sync(y!, z!))));
      assert.deepEqual(dots(sync(x!, x!)), dots(x!));
    }),
    { numRuns: 300 },
  );
});

test('no sibling dominated by another survives a sync', () => {
  fc.assert(
    fc.property(setsArb, ([x, y]) => {
      const s = sync(x!, y!);
      for (const a of s.siblings) for (const b of s.siblings) if (a !== b) assert.ok(!covers(b.past, a.dot));
    }),
    { numRuns: 300 },
  );
});

test('a write with a read context supersedes exactly what the read returned, and nothing written concurrently since', () => {
  fc.assert(
    fc.property(setsArb, fc.nat(2), fc.nat(2), fc.boolean(), (sets, readAt, writeAt, concurrent) => {
      const replicas = sets.slice();
      const seen = replicas[readAt]!;
      const ctx = setClock(seen);
      // Optionally, someone else writes without having seen the read.
      let other: string | undefined;
      if (concurrent) {
        const e = newEvent(replicas[writeAt]!, NODES[writeAt]!, {}, new Uint8Array([7]), {}, 1000);
        replicas[writeAt] = e.set;
        other = dotKey(e.sibling.dot);
      }
      // The replica that coordinates the write first catches up with the reader.
      const base = sync(replicas[writeAt]!, seen);
      const w = newEvent(base, NODES[writeAt]!, ctx, new Uint8Array([9]), {}, 2000);
      const after = dots(w.set);
      for (const s of seen.siblings) assert.ok(!after.includes(dotKey(s.dot)), 'read sibling must be superseded');
      assert.ok(after.includes(dotKey(w.sibling.dot)));
      if (other !== undefined) assert.ok(after.includes(other), 'concurrent write must survive as a sibling');
      for (const d of after) {
        if (d === dotKey(w.sibling.dot) || d === other) continue;
        // Anything else left must be a sibling the reader did not see.
        assert.ok(!seen.siblings.some((s) => dotKey(s.dot) === d));
      }
    }),
    { numRuns: 300 },
  );
});

test('two writes without context are siblings; a write with the read context replaces both', () => {
  const v = (b: number) => new Uint8Array([b]);
  const one = newEvent(EMPTY_SET, 'a', {}, v(1), {}, 1).set;
  const two = newEvent(one, 'a', {}, v(2), {}, 2).set;
  assert.equal(two.siblings.length, 2);
  const three = newEvent(two, 'b', setClock(two), v(3), {}, 3).set;
  assert.equal(three.siblings.length, 1);
  assert.deepEqual([...three.siblings[0]!.value!], [3]);
});

test('newEvent counters never repeat for a node, even after its siblings were superseded', () => {
  const a1 = newEvent(EMPTY_SET, 'a', {}, null, {}, 1).set;
  const b1 = newEvent(a1, 'b', setClock(a1), null, {}, 2).set; // a:1 now only in b's past
  const a2 = newEvent(b1, 'a', {}, null, {}, 3);
  assert.equal(a2.sibling.dot.counter, 2);
});

test('hybrid timestamps grow along causality even when the wall clock goes back', () => {
  const first = newEvent(EMPTY_SET, 'a', {}, new Uint8Array([1]), {}, 5000).set;
  const second = newEvent(first, 'b', setClock(first), new Uint8Array([2]), {}, 10).set;
  assert.ok(second.siblings[0]!.meta.ts > 5000);
});

test('the LWW winner is deterministic whatever the merge order', () => {
  fc.assert(
    fc.property(setsArb, ([x, y]) => {
      const l = lwwWinner(sync(x!, y!));
      const r = lwwWinner(sync(y!, x!));
      assert.equal(l && dotKey(l.dot), r && dotKey(r.dot));
    }),
    { numRuns: 200 },
  );
});

test('vector clock comparison is consistent with join', () => {
  const vv = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), fc.integer({ min: 1, max: 5 }));
  fc.assert(
    fc.property(vv, vv, (x: VersionVector, y: VersionVector) => {
      const j = vvJoin(x, y);
      assert.ok(['after', 'equal'].includes(vvCompare(j, x)));
      assert.ok(['after', 'equal'].includes(vvCompare(j, y)));
      const c = vvCompare(x, y);
      const back = vvCompare(y, x);
      const mirror = { after: 'before', before: 'after', equal: 'equal', concurrent: 'concurrent' } as const;
      assert.equal(back, mirror[c]);
    }),
  );
});

test('a context round-trips through its token', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,11}$/), fc.integer({ min: 1, max: 2 ** 40 }), { maxKeys: 20 }), fc.string(), (vv, key) => {
      const token = encodeContext(vv, 'bucket', key);
      assert.deepEqual(decodeContext(token, 'bucket', key), Object.fromEntries(Object.entries(vv).sort(([a], [b]) => (a < b ? -1 : 1))));
    }),
  );
});

test('a context token that was edited, truncated, oversized or made for another key is refused', () => {
  const token = encodeContext({ n1: 3, n2: 5 }, 'photos', 'cat.jpg');
  const flip = (t: string, i: number) => t.slice(0, i) + (t[i] === 'A' ? 'B' : 'A') + t.slice(i + 1);
  assert.throws(() => decodeContext(flip(token, 10), 'photos', 'cat.jpg'), ContextError);
  assert.throws(() => decodeContext(token.slice(0, -3), 'photos', 'cat.jpg'), ContextError);
  assert.throws(() => decodeContext(token, 'photos', 'dog.jpg'), ContextError);
  assert.throws(() => decodeContext('not a token!', 'photos', 'cat.jpg'), ContextError);
  assert.throws(() => decodeContext('A'.repeat(5000), 'photos', 'cat.jpg'), ContextError);
  const big: Record<string, number> = {};
  for (let i = 0; i < 65; i++) big[`n${i}`] = 1;
  assert.throws(() => decodeContext(encodeContext(big, 'photos', 'cat.jpg'), 'photos', 'cat.jpg'), ContextError);
  // The check value is a keyed MAC: a token rebuilt with an unkeyed hash
  // (what the review forged, with a counter of 2^53-1) is refused.
  const real = Buffer.from(encodeContext({ n1: 2 }, 'photos', 'cat.jpg'), 'base64url').toString('utf8').split('|');
  const body = `${real[0]}|${real[1]}|${real[2]}|n1=${2 ** 53 - 1}`;
  const forged = Buffer.from(`${body}|${hash64hex(body)}`, 'utf8').toString('base64url');
  assert.throws(() => decodeContext(forged, 'photos', 'cat.jpg'), /MAC does not match/);
});

test('context tokens are MACed with a cluster key whose id travels in the token, so keys rotate', () => {
  const oldKey = { id: 'old', key: randomBytes(32) };
  const newKey = { id: 'new', key: randomBytes(32) };
  const before = contextMac([oldKey]);
  const during = contextMac([newKey, oldKey]);
  const after = contextMac([newKey]);
  const other = contextMac([{ id: 'old', key: randomBytes(32) }]);
  const t = encodeWith({ n1: 4 }, 'b', 'k', before);
  assert.deepEqual(decodeWith(t, 'b', 'k', during), { n1: 4 }, 'a token of the retiring key is still accepted');
  assert.throws(() => decodeWith(t, 'b', 'k', after), /MAC does not match/, 'and refused once the key is gone');
  assert.throws(() => decodeWith(t, 'b', 'k', other), /MAC does not match/, 'another cluster with the same key id cannot forge it');
  assert.deepEqual(decodeWith(encodeWith({ n1: 4 }, 'b', 'k', during), 'b', 'k', after), { n1: 4 });
});

test('a context whose counters leave room for no +1 is refused even with a valid MAC', () => {
  assert.deepEqual(decodeContext(encodeContext({ n1: CONTEXT_MAX_COUNTER }, 'b', 'k'), 'b', 'k'), { n1: CONTEXT_MAX_COUNTER });
  assert.throws(() => decodeContext(encodeContext({ n1: CONTEXT_MAX_COUNTER + 1 }, 'b', 'k'), 'b', 'k'), /counter above/);
  assert.throws(() => decodeContext(encodeContext({ n1: 2 ** 53 - 1 }, 'b', 'k'), 'b', 'k'), /counter above/);
});
