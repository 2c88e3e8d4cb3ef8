// The layout mover (src/layout/mover.ts) over injected parts: a control state
// that applies its reports, a fake exchange, a fake store. It reports seen
// only once older-view writes are done, syncs only after every node has seen
// the version, pulls only partitions whose roots differ, resumes a sync from
// what it saved, reports synced, and drops what no live version gives it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LayoutMover, type LayoutMoverDeps, type SyncState } from '../../src/layout/mover.js';
import { applyVersion, proposeNext, report, stage, progressOf, type LayoutHistory } from '../../src/layout/history.js';
import { foundingHistory } from '../../src/layout/founding.js';
import { HistoryPlacement } from '../../src/layout/placement.js';
import { Ring } from '../../src/ring/ring.js';
import type { Member } from '../../src/layout/types.js';
import type { Clock, Timer } from '../../src/util/runtime.js';

const P = 8;
const member = (id: string): Member => ({ id, zone: 'z', capacity: 100, role: 'storage' });

function ok(r: { ok: true; history: LayoutHistory } | { ok: false; refusal: { message: string } }): LayoutHistory {
  if (!r.ok) throw new Error(r.refusal.message);
  return r.history;
}

/** A clock whose timers never fire on their own: the test steps the mover by poke(). */
const frozen: Clock = { now: () => 0, setTimer: (): Timer => ({ cancel: () => undefined }) };

function world(opts: { quiet?: () => boolean; saved?: SyncState; differing?: Set<number> } = {}) {
  const ring = new Ring({ epoch: 1, partitions: P, nodes: ['n1', 'n2', 'n3'].map((id) => ({ id, zone: 'z', weight: 1 })) });
  let h = foundingHistory(['n1', 'n2', 'n3'].map(member), ring, 3);
  h = ok(stage(h, { op: 'assign', member: member('n4') }));
  h = ok(applyVersion(h, 2, h.stagingSeq, proposeNext(h).result.assignment));
  const state = { h };
  const exchanged: string[] = [];
  const compared: string[] = [];
  const dropped: number[] = [];
  let saved = opts.saved;
  const stored = new Set<number>(Array.from({ length: P }, (_, p) => p));
  const deps = (self: string): LayoutMoverDeps => ({
    self,
    clock: frozen,
    history: () => state.h,
    placement: () => new HistoryPlacement(state.h),
    report: async (p) => {
      state.h = ok(report(state.h, self, p));
    },
    quietBefore: () => opts.quiet?.() ?? true,
    isAlive: () => true,
    exchange: async (peer, p) => {
      exchanged.push(`${peer}:${p}`);
      return { bytes: 10 };
    },
    compareRoots: async (peer, ps) => {
      compared.push(`${peer}:${ps.length}`);
      return ps.filter((p) => opts.differing === undefined || opts.differing.has(p));
    },
    storedPartitions: () => [...stored],
    dropPartition: async (p) => {
      stored.delete(p);
      dropped.push(p);
      return 1;
    },
    loadSync: () => saved,
    saveSync: async (s) => {
      saved = s;
    },
  });
  return { state, deps, exchanged, compared, dropped, stored, get saved() { return saved; } };
}

async function settle(m: LayoutMover): Promise<void> {
  // poke() runs one step; wait for it to finish (it is busy until then).
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
  void m;
}

test('seen waits for older-view writes; sync waits for everyone to have seen; then synced is reported', async () => {
  let quiet = false;
  const w = world({ quiet: () => quiet });
  const m4 = new LayoutMover(w.deps('n4'), { intervalMs: 1000, bytesPerSecond: 1e9, partitionsInFlight: 2, r: 2, n: 3 });
  m4.start();
  await settle(m4);
  assert.equal(progressOf(w.state.h, 'n4').seen, 0, 'a write routed with version 1 is still in flight');
  quiet = true;
  m4.poke();
  await settle(m4);
  assert.equal(progressOf(w.state.h, 'n4').seen, 2);
  assert.equal(w.exchanged.length, 0, 'n1..n3 have not seen version 2: no sync may start');
  for (const id of ['n1', 'n2', 'n3']) w.state.h = ok(report(w.state.h, id, { seen: 2 }));
  m4.poke();
  await settle(m4);
  assert.equal(progressOf(w.state.h, 'n4').synced, 2);
  assert.ok(w.exchanged.length > 0, 'n4 pulled its new partitions');
  assert.equal(m4.status().syncing, null);
  m4.stop();
});

test('only partitions whose roots differ are exchanged; a saved sync resumes', async () => {
  const w = world({ differing: new Set([1, 2]), saved: { version: 2, done: [1] } });
  for (const id of ['n1', 'n2', 'n3', 'n4']) w.state.h = ok(report(w.state.h, id, { seen: 2 }));
  const m4 = new LayoutMover(w.deps('n4'), { intervalMs: 1000, bytesPerSecond: 1e9, partitionsInFlight: 2, r: 2, n: 3 });
  m4.start();
  await settle(m4);
  const parts = new Set(w.exchanged.map((e) => Number(e.split(':')[1])));
  assert.ok(!parts.has(1), 'partition 1 was done before the restart');
  assert.ok([...parts].every((p) => p === 2), `only partition 2 differs: exchanged ${w.exchanged.join(' ')}`);
  assert.equal(progressOf(w.state.h, 'n4').synced, 2);
  for (const p of new HistoryPlacement(w.state.h).partitionsOf('n4', 3)) assert.ok(w.saved?.done.includes(p), `partition ${p} recorded done`);
  m4.stop();
});

test('a node drops the partitions no live version gives it, and only those', async () => {
  const w = world();
  // Finish the change: everyone saw, synced and reads version 2, so version 1 retires.
  for (const id of ['n1', 'n2', 'n3', 'n4']) w.state.h = ok(report(w.state.h, id, { seen: 2, synced: 2 }));
  for (const id of ['n1', 'n2', 'n3', 'n4']) w.state.h = ok(report(w.state.h, id, { readSeen: 2 }));
  assert.equal(w.state.h.versions.length, 1);
  const m1 = new LayoutMover(w.deps('n1'), { intervalMs: 1000, bytesPerSecond: 1e9, partitionsInFlight: 2, r: 2, n: 3 });
  m1.start();
  await settle(m1);
  const held = new HistoryPlacement(w.state.h).partitionsOf('n1', 3);
  assert.ok(w.dropped.length > 0, 'n1 lost partitions to n4');
  for (const p of w.dropped) assert.ok(!held.includes(p), `dropped ${p}, which n1 still holds`);
  for (const p of held) assert.ok(w.stored.has(p), `kept ${p}`);
  m1.stop();
});

test('a leaving node whose own readSeen report retires its last version stops there: no sync, no refused synced report, syncing cleared', async () => {
  const ring = new Ring({ epoch: 1, partitions: P, nodes: ['n1', 'n2', 'n3', 'n4'].map((id) => ({ id, zone: 'z', weight: 1 })) });
  let h = foundingHistory(['n1', 'n2', 'n3', 'n4'].map(member), ring, 3);
  h = ok(stage(h, { op: 'remove', id: 'n4' }));
  h = ok(applyVersion(h, 2, h.stagingSeq, proposeNext(h).result.assignment));
  for (const id of ['n1', 'n2', 'n3', 'n4']) h = ok(report(h, id, { seen: 2, synced: 2 }));
  for (const id of ['n1', 'n2', 'n3']) h = ok(report(h, id, { readSeen: 2 }));
  assert.equal(h.versions.length, 2, 'version 1 waits for n4 to read version 2');
  const state = { h };
  const reports: string[] = [];
  const errors: string[] = [];
  const stored = new Set<number>(Array.from({ length: P }, (_, p) => p));
  const m4 = new LayoutMover(
    {
      self: 'n4',
      clock: frozen,
      history: () => state.h,
      placement: () => new HistoryPlacement(state.h),
      report: async (p) => {
        reports.push(JSON.stringify(p));
        state.h = ok(report(state.h, 'n4', p));
      },
      quietBefore: () => true,
      isAlive: () => true,
      exchange: async () => ({ bytes: 0 }),
      compareRoots: async () => [],
      storedPartitions: () => [...stored],
      dropPartition: async (p) => (stored.delete(p) ? 1 : 0),
      loadSync: () => ({ version: 2, done: [] }),
      saveSync: async () => undefined,
      log: (level, msg, fields) => {
        if (level === 'warn') errors.push(`${msg} ${JSON.stringify(fields)}`);
      },
    },
    { intervalMs: 1000, bytesPerSecond: 1e9, partitionsInFlight: 2, r: 2, n: 3 },
  );
  m4.start();
  await settle(m4);
  assert.equal(state.h.versions.length, 1, "n4's readSeen retired version 1");
  assert.deepEqual(reports, [JSON.stringify({ readSeen: 2 })]);
  assert.deepEqual(errors, []);
  const st = m4.status();
  assert.equal(st.syncing, null);
  assert.equal(st.ownsNothing, true);
  assert.equal(stored.size, 0, 'n4 dropped everything');
  m4.stop();
});
