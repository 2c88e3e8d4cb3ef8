// The layout history (src/layout/history.ts): staging, apply, progress
// reports, the read version, retirement, and the sets the data path follows
// while several versions are live (Garage 1.0's model; docs/layout.md).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  allOwners,
  antiEntropyPeers,
  applyVersion,
  collectionParticipants,
  currentVersion,
  emptyHistory,
  handoffStillOwned,
  heldPartitions,
  maySync,
  ownsNothing,
  proposeNext,
  readSet,
  readVersion,
  report,
  revert,
  skipDead,
  stage,
  stagedMembers,
  writeSets,
  type LayoutHistory,
  type Outcome,
} from '../../src/layout/history.js';
import { planLayout } from '../../src/layout/plan.js';
import type { Member } from '../../src/layout/types.js';

const P = 16;

function storage(id: string, zone = `z-${id}`, capacity = 100): Member {
  return { id, zone, capacity, role: 'storage' };
}

function ok(o: Outcome): LayoutHistory {
  if (!o.ok) assert.fail(`${o.refusal.code}: ${o.refusal.message}`);
  return o.history;
}

/** Stages `members` and applies the plan, as the CLI would. */
function change(h: LayoutHistory, add: Member[], remove: string[] = []): LayoutHistory {
  for (const m of add) h = ok(stage(h, { op: 'assign', member: m }));
  for (const id of remove) h = ok(stage(h, { op: 'remove', id }));
  const next = proposeNext(h);
  return ok(applyVersion(h, next.version, h.stagingSeq, next.result.assignment));
}

/** Every tracked node reports what a healthy node would, in order: seen, synced, readSeen. */
function settle(h: LayoutHistory, ids: string[]): LayoutHistory {
  for (const id of ids) h = ok(report(h, id, { seen: currentVersion(h) }));
  for (const id of ids) h = ok(report(h, id, { synced: currentVersion(h) }));
  for (const id of ids) h = ok(report(h, id, { readSeen: readVersion(h) }));
  return h;
}

test('staging collects one change per node; a change back to the current layout is no change; revert drops them all', () => {
  let h = change(emptyHistory(P, 3), [storage('a'), storage('b'), storage('c')]);
  const seq = h.stagingSeq;
  h = ok(stage(h, { op: 'assign', member: storage('d') }));
  h = ok(stage(h, { op: 'assign', member: storage('a', 'z-a', 200) }));
  h = ok(stage(h, { op: 'assign', member: storage('a') }));
  h = ok(stage(h, { op: 'remove', id: 'b' }));
  assert.deepEqual(h.staged.map((c) => (c.op === 'assign' ? `+${c.member.id}` : `-${c.id}`)), ['-b', '+d']);
  assert.deepEqual(stagedMembers(h).map((m) => m.id), ['a', 'c', 'd']);
  h = ok(stage(h, { op: 'remove', id: 'd' }));
  assert.deepEqual(h.staged.map((c) => (c.op === 'assign' ? `+${c.member.id}` : `-${c.id}`)), ['-b'], 'removing a node only staged drops its assign');
  const missing = stage(h, { op: 'remove', id: 'zz' });
  assert.ok(!missing.ok && missing.refusal.code === 'NoSuchNode');
  h = revert(h);
  assert.equal(h.staged.length, 0);
  assert.ok(h.stagingSeq > seq);
});

test('apply is refused unless it names version current + 1, the staging it was planned from, and a well-formed assignment over the staged storage nodes', () => {
  let h = change(emptyHistory(P, 3), [storage('a'), storage('b'), storage('c')]);
  h = ok(stage(h, { op: 'assign', member: storage('d') }));
  const next = proposeNext(h);
  const wrongVersion = applyVersion(h, next.version + 1, h.stagingSeq, next.result.assignment);
  assert.ok(!wrongVersion.ok && wrongVersion.refusal.code === 'LayoutVersionMismatch' && wrongVersion.refusal.message.includes('current 1'));
  const stale = applyVersion(ok(stage(h, { op: 'assign', member: storage('e') })), next.version, h.stagingSeq, next.result.assignment);
  assert.ok(!stale.ok && stale.refusal.code === 'StagingChanged');
  const broken = applyVersion(h, next.version, h.stagingSeq, { ...next.result.assignment, owners: next.result.assignment.owners.map(() => 0) });
  assert.ok(!broken.ok && broken.refusal.code === 'InvalidLayout');
  const otherNodes = applyVersion(h, next.version, h.stagingSeq, { ...next.result.assignment, nodes: ['a', 'b', 'c', 'x'] });
  assert.ok(!otherNodes.ok && otherNodes.refusal.code === 'InvalidLayout');
  h = ok(applyVersion(h, next.version, h.stagingSeq, next.result.assignment));
  assert.equal(currentVersion(h), 2);
  assert.equal(h.staged.length, 0);
  assert.equal(h.versions.length, 2, 'version 1 stays live while data moves');
});

test('the first version needs no sync: it is the read version and the only live one', () => {
  const h = change(emptyHistory(P, 3), [storage('a'), storage('b'), storage('c')]);
  assert.equal(readVersion(h), 1);
  assert.equal(h.versions.length, 1);
  for (let p = 0; p < P; p++) assert.deepEqual(writeSets(h, p).map((w) => w.version), [1]);
});

test('while a change is in progress writes go to every live version, reads to the old one until every new holder has synced, and the old version retires only when every node reads past it', () => {
  let h = change(emptyHistory(P, 3), [storage('a'), storage('b'), storage('c')]);
  h = change(h, [storage('d')]);
  const ids = ['a', 'b', 'c', 'd'];
  for (let p = 0; p < P; p++) {
    const sets = writeSets(h, p);
    assert.deepEqual(sets.map((w) => w.version), [1, 2]);
    assert.deepEqual(readSet(h, p), sets[0]!.owners, 'reads use version 1');
  }
  assert.ok(!maySync(h, 2), 'no sync before every node writes to version 2');
  for (const id of ids.slice(0, 3)) h = ok(report(h, id, { seen: 2 }));
  assert.ok(!maySync(h, 2), 'd has not reported');
  h = ok(report(h, 'd', { seen: 2 }));
  assert.ok(maySync(h, 2));
  for (const id of ids.slice(0, 3)) h = ok(report(h, id, { synced: 2 }));
  assert.equal(readVersion(h), 1, 'd has not synced');
  h = ok(report(h, 'd', { synced: 2 }));
  assert.equal(readVersion(h), 2);
  for (const id of ids.slice(0, 3)) h = ok(report(h, id, { readSeen: 2 }));
  assert.equal(h.versions.length, 2, 'd may still read version 1');
  h = ok(report(h, 'd', { readSeen: 2 }));
  assert.deepEqual(h.versions.map((v) => v.version), [2], 'version 1 retired');
});

test('reports only rise and never claim more than is true', () => {
  let h = change(emptyHistory(P, 3), [storage('a'), storage('b'), storage('c')]);
  h = change(h, [storage('d')]);
  h = ok(report(h, 'a', { seen: 9, synced: 9, readSeen: 9 }));
  assert.deepEqual(h.progress.a, { seen: 2, synced: 2, readSeen: 1 });
  h = ok(report(h, 'a', { seen: 1, synced: 0 }));
  assert.deepEqual(h.progress.a, { seen: 2, synced: 2, readSeen: 1 });
  const stranger = report(h, 'zz', { seen: 1 });
  assert.ok(!stranger.ok && stranger.refusal.code === 'NoSuchNode');
});

test('two changes in a row: three versions live, writes reach all three, and reads jump to the newest once it is synced even if the middle one never was', () => {
  let h = change(emptyHistory(P, 3), [storage('a'), storage('b'), storage('c')]);
  h = change(h, [storage('d')]);
  h = change(h, [storage('e')]);
  assert.deepEqual(h.versions.map((v) => v.version), [1, 2, 3]);
  for (let p = 0; p < P; p++) assert.equal(writeSets(h, p).length, 3);
  const ids = ['a', 'b', 'c', 'd', 'e'];
  for (const id of ids) h = ok(report(h, id, { seen: 3 }));
  for (const id of ids) h = ok(report(h, id, { synced: 3 }));
  assert.equal(readVersion(h), 3);
  for (const id of ids) h = ok(report(h, id, { readSeen: 3 }));
  assert.deepEqual(h.versions.map((v) => v.version), [3]);
});

test('a removed node is tracked until its last version retires, then owns nothing; a dead one is let go by skipDead', () => {
  let h = change(emptyHistory(P, 3), ['a', 'b', 'c', 'd'].map((id) => storage(id)));
  h = change(h, [], ['d']);
  assert.ok(!ownsNothing(h, 'd'), 'd still owns its partitions in version 1');
  assert.ok(heldPartitions(h, 'd').length > 0);
  h = settle(h, ['a', 'b', 'c']);
  assert.equal(readVersion(h), 2);
  assert.equal(h.versions.length, 2, 'd has not said it stopped reading version 1');
  h = ok(skipDead(h, 'd'));
  assert.deepEqual(h.versions.map((v) => v.version), [2]);
  assert.ok(ownsNothing(h, 'd'));
  assert.equal(heldPartitions(h, 'd').length, 0);
  assert.equal(h.progress.d, undefined, 'its progress is forgotten with its last version');
});

test('handoff, anti-entropy and tombstone collection follow every owner of every live version', () => {
  let h = change(emptyHistory(P, 3), ['a', 'b', 'c'].map((id) => storage(id)));
  h = change(h, [storage('d')]);
  for (let p = 0; p < P; p++) {
    const union = [...new Set(writeSets(h, p).flatMap((w) => w.owners))].sort();
    assert.deepEqual(allOwners(h, p), union);
    assert.deepEqual(collectionParticipants(h, p), union);
    for (const id of union) {
      assert.ok(handoffStillOwned(h, p, id));
      assert.deepEqual(antiEntropyPeers(h, p, id), union.filter((x) => x !== id));
    }
  }
  const dOwns = heldPartitions(h, 'd');
  assert.ok(dOwns.length > 0 && dOwns.length < P);
  const notD = [...Array(P).keys()].find((p) => !dOwns.includes(p))!;
  assert.ok(!handoffStillOwned(h, notD, 'd'));
  assert.deepEqual(antiEntropyPeers(h, notD, 'd'), []);
  // Once version 2 is the read version, nothing is pulled from an owner of version 1 alone: its data is all on version 2's owners.
  for (const id of ['a', 'b', 'c', 'd']) h = ok(report(h, id, { seen: 2 }));
  for (const id of ['a', 'b', 'c', 'd']) h = ok(report(h, id, { synced: 2 }));
  assert.equal(readVersion(h), 2);
  assert.equal(h.versions.length, 2, 'still live: nobody reported readSeen');
  for (let p = 0; p < P; p++) {
    const v2 = writeSets(h, p)[1]!.owners;
    for (const id of v2) assert.deepEqual(antiEntropyPeers(h, p, id), v2.filter((x) => x !== id).sort());
  }
});

test('the plan lists what moves to and from each node and the balance after, and matches what apply commits', () => {
  let h = change(emptyHistory(64, 3), ['a', 'b', 'c', 'd'].map((id) => storage(id, 'z1')));
  h = ok(stage(h, { op: 'assign', member: storage('e', 'z1') }));
  h = ok(stage(h, { op: 'assign', member: { id: 'g', zone: 'z1', capacity: 0, role: 'gateway' } }));
  const plan = planLayout(h, Array.from({ length: 64 }, () => 1000));
  assert.equal(plan.nextVersion, 2);
  const e = plan.nodes.find((n) => n.id === 'e')!;
  const g = plan.nodes.find((n) => n.id === 'g')!;
  assert.equal(e.change, 'added');
  assert.equal(e.partitionsIn, e.partitionsAfter, 'a new node receives everything it holds');
  assert.ok(Math.abs(e.partitionsAfter - (64 * 3) / 5) < 1);
  assert.equal(g.partitionsAfter, 0);
  assert.equal(plan.replicasMoved, plan.nodes.reduce((s, n) => s + n.partitionsIn, 0));
  assert.equal(plan.replicasMoved, plan.nodes.reduce((s, n) => s + n.partitionsOut, 0));
  assert.equal(plan.bytesMoved, plan.replicasMoved * 1000);
  assert.equal(plan.replicasMoved, plan.replicasMovedLowerBound);
  assert.ok(plan.balanceMax < 1.03 && plan.balanceMin > 0.97, `balance ${plan.balanceMin}..${plan.balanceMax}`);
  assert.equal(plan.partitionsUnderSpread, 0);
  const applied = ok(applyVersion(h, plan.nextVersion, plan.stagingSeq, plan.assignment));
  assert.deepEqual(applied.versions[1]!.assignment, plan.assignment);
  assert.ok(planLayout(applied).warnings.some((w) => w.includes('no staged changes')));
});
