// A replica refuses to merge a copy of a sibling set read longer ago than
// maxDataAgeMs (src/antientropy/data-age.ts): the bound tombstone
// collection relies on. Anti-entropy's side is in antientropy.test.ts and
// test/sim/gc-in-flight.test.ts; this is the coordinator's (putReplica,
// which carries writes to replicas, read repairs and hint deliveries).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from './s3-harness.js';
import { DEFAULT_MAX_DATA_AGE_MS, confirmGapMs, StaleDataError, staleDataError } from '../../src/antientropy/data-age.js';
import type { SiblingSet } from '../../src/version/dvv.js';

test('a putReplica whose set was read too long ago is refused with StaleDataError and changes nothing', async () => {
  const h = await startHarness({ nodes: 3 });
  try {
    const [id, c] = [...h.coordinators][0]!;
    const set: SiblingSet = { siblings: [{ dot: { node: id, counter: 1 }, past: {}, value: new Uint8Array([7]), meta: { ts: Date.now() } }] };
    const old = { type: 'putReplica', bucket: 'b', key: 'k', set, hintFor: null, asOf: Date.now() - DEFAULT_MAX_DATA_AGE_MS - 5_000 } as const;
    await assert.rejects(c.handle('n-other', old), (err: unknown) => err instanceof StaleDataError && err.code === 'StaleData');
    const read = await c.handle('n-other', { type: 'get', bucket: 'b', key: 'k' });
    assert.equal(read.type === 'getOk' ? read.set : 'not getOk', null);
    // The same copy, read just now, is merged.
    await c.handle('n-other', { ...old, asOf: Date.now() });
    const again = await c.handle('n-other', { type: 'get', bucket: 'b', key: 'k' });
    assert.deepEqual(again.type === 'getOk' ? again.set?.siblings.map((s) => s.dot) : [], [{ node: id, counter: 1 }]);
  } finally {
    await h.close();
  }
});

test('the age bound: at most maxDataAgeMs, judged on the receiver clock; the gap is twice it plus the skew', () => {
  assert.equal(staleDataError(1000, 1500, 500, 'x'), undefined);
  assert.match(staleDataError(1000, 1501, 500, 'x')?.message ?? '', /older than the 500 ms/);
  assert.ok(staleDataError(1000, 1501, 500, 'x') instanceof StaleDataError);
  // A sender clock ahead of the receiver's makes a copy look young: never refused for that.
  assert.equal(staleDataError(5000, 1000, 500, 'x'), undefined);
  assert.equal(confirmGapMs({ maxDataAgeMs: 60_000, maxClockSkewMs: 10_000 }), 130_000);
});
