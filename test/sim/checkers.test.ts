// The checkers on small hand-built histories: each judges exactly what its
// rule says, no more (a false alarm would make every seed fail) and no less.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { History, encodeValue, WRITE_HEADER, type WriteOp, type ReadOp } from '../../src/sim/history.js';
import { CHECKERS, type CheckInput } from '../../src/sim/checkers/index.js';
import { lostWrites } from '../../src/sim/checkers/lost-writes.js';
import { siblingsExact } from '../../src/sim/checkers/siblings.js';
import { noResurrection } from '../../src/sim/checkers/resurrection.js';
import { readYourWrites } from '../../src/sim/checkers/read-your-writes.js';
import { convergence } from '../../src/sim/checkers/convergence.js';
import { integrity } from '../../src/sim/checkers/integrity.js';
import { deleteAfterWrite } from '../../src/sim/checkers/delete-after-write.js';
import { drawConfig } from '../../src/sim/config.js';
import type { Sibling, SiblingSet, VersionVector } from '../../src/version/dvv.js';
import type { KeyState } from '../../src/sim/world.js';

const OWNERS = ['n1', 'n2', 'n3'];
const config = { ...drawConfig(1, { faulty: false }), r: 2, w: 2, n: 3 };

function sib(node: string, counter: number, writeId: number, past: VersionVector, tombstone = false): Sibling {
  return {
    dot: { node, counter },
    past,
    value: tombstone ? null : encodeValue(writeId, 'k'),
    meta: { ts: 0, headers: { [WRITE_HEADER]: String(writeId) } },
  };
}

function write(h: History, writeId: number, opts: Partial<WriteOp> = {}): WriteOp {
  const op: WriteOp = {
    kind: 'put',
    opId: h.newOpId(),
    writeId,
    client: 1,
    node: 'n1',
    key: 'k',
    context: null,
    supersedeVisible: false,
    readFirst: null,
    readR: null,
    w: 2,
    sloppy: true,
    phase: 'safety',
    invokedAt: 0,
    completedAt: 10,
    outcome: 'ok',
    dots: [],
    replicas: ['n1', 'n2'],
    resultContext: undefined,
    error: undefined,
    ...opts,
  };
  h.addWrite(op);
  return op;
}

function input(h: History, final: SiblingSet, perNode?: Record<string, SiblingSet>, pendingHints = 0): CheckInput {
  const byNode = new Map<string, SiblingSet | undefined>(OWNERS.map((o) => [o, perNode?.[o] ?? final]));
  const ks: KeyState = { key: 'k', partition: 0, owners: OWNERS, byNode };
  return { config, history: h, final: { keys: ['k'], byKey: new Map([['k', ks]]), pendingHints, problems: [] }, runErrors: [] };
}

test('a clean history passes every checker', () => {
  const h = new History();
  const a = sib('n1', 1, 1, {});
  write(h, 1, { dots: [a.dot] });
  h.observePersisted('n1', 'k', { siblings: [a] }, 5);
  const all = CHECKERS.flatMap((c) => c.check(input(h, { siblings: [a] })));
  assert.deepEqual(all, []);
});

test('an acknowledged write superseded before its answer was merged is not lost (regression: seed 8)', () => {
  // w1's answer held none of its dots: w2 (context covering w1) reached the
  // replicas first. The checker takes w1's dot from what the stores persisted.
  const h = new History();
  const a = sib('n1', 1, 1, {});
  const b = sib('n2', 1, 2, { n1: 1 });
  write(h, 1, { dots: [] });
  write(h, 2, { context: { n1: 1 }, dots: [b.dot] });
  h.observePersisted('n1', 'k', { siblings: [a] }, 5);
  h.observePersisted('n2', 'k', { siblings: [b] }, 6);
  assert.deepEqual(lostWrites.check(input(h, { siblings: [b] })), []);
  assert.deepEqual(siblingsExact.check(input(h, { siblings: [b] })), []);
});

test('a missing acknowledged write is reported lost, and the siblings are wrong', () => {
  const h = new History();
  const a = sib('n1', 1, 1, {});
  const b = sib('n2', 1, 2, {});
  write(h, 1, { dots: [a.dot] });
  write(h, 2, { dots: [b.dot] });
  h.observePersisted('n1', 'k', { siblings: [a] }, 5);
  h.observePersisted('n2', 'k', { siblings: [b] }, 6);
  assert.equal(lostWrites.check(input(h, { siblings: [b] })).length, 3); // missing on each owner
  assert.equal(siblingsExact.check(input(h, { siblings: [b] })).length, 3);
});

test('a superseded version that lingers is an extra sibling; the context the client sent is what counts', () => {
  const h = new History();
  const a = sib('n1', 1, 1, {});
  // The system dropped w2's context (stored past {}), as bugs.ignoreContext does.
  const b = sib('n2', 1, 2, {});
  write(h, 1, { dots: [a.dot] });
  write(h, 2, { context: { n1: 1 }, dots: [b.dot] });
  h.observePersisted('n1', 'k', { siblings: [a, b] }, 5);
  const v = siblingsExact.check(input(h, { siblings: [a, b] }));
  assert.equal(v.length, 3);
  assert.match(v[0]!.message, /extra n1:1\/w1 \(superseded by n2:1\/w2\)/);
});

test('unknown writes count iff some store persisted them; failed writes must never be persisted', () => {
  const h = new History();
  const a = sib('n1', 1, 1, {});
  write(h, 1, { outcome: 'unknown', dots: [] });
  write(h, 2, { outcome: 'unknown', dots: [] }); // never persisted: may be absent
  h.observePersisted('n1', 'k', { siblings: [a] }, 5);
  assert.deepEqual(siblingsExact.check(input(h, { siblings: [a] })), []);
  assert.equal(siblingsExact.check(input(h, { siblings: [] })).length, 3);
  const h2 = new History();
  write(h2, 1, { outcome: 'failed', dots: [], error: 'not applied' });
  h2.observePersisted('n1', 'k', { siblings: [a] }, 5);
  assert.match(siblingsExact.check(input(h2, { siblings: [a] }))[0]!.message, /reported not applied/);
});

test('a value an acknowledged delete covered must not come back', () => {
  const h = new History();
  const a = sib('n1', 1, 1, {});
  const d = sib('n2', 1, 2, { n1: 1 }, true);
  write(h, 1, { dots: [a.dot] });
  write(h, 2, { kind: 'delete', context: { n1: 1 }, dots: [d.dot], invokedAt: 20, completedAt: 30 });
  h.observePersisted('n1', 'k', { siblings: [a] }, 5);
  h.observePersisted('n2', 'k', { siblings: [d] }, 25);
  assert.deepEqual(noResurrection.check(input(h, { siblings: [d] })), []);
  const v = noResurrection.check(input(h, { siblings: [a, d] }));
  assert.ok(v.length >= 3);
  assert.match(v[0]!.message, /is live although delete w2/);
});

test('read-your-writes: a later read through a replica that stored the write must see it', () => {
  const h = new History();
  const a = sib('n1', 1, 1, {});
  write(h, 1, { dots: [a.dot], replicas: ['n1', 'n2'], completedAt: 10 });
  h.observePersisted('n1', 'k', { siblings: [a] }, 5);
  const read = (replicas: string[], siblings: ReadOp['siblings']): ReadOp => ({
    kind: 'get',
    opId: h.newOpId(),
    client: 2,
    node: 'n3',
    key: 'k',
    r: 2,
    phase: 'safety',
    invokedAt: 20,
    completedAt: 25,
    outcome: 'ok',
    siblings,
    context: {},
    replicas,
  } as ReadOp);
  h.addRead(read(['n2', 'n3'], []));
  assert.equal(readYourWrites.check(input(h, { siblings: [a] })).length, 1);
  const h2 = new History();
  write(h2, 1, { dots: [a.dot], replicas: ['n1', 'n2'], completedAt: 10 });
  h2.observePersisted('n1', 'k', { siblings: [a] }, 5);
  h2.addRead({ ...read(['n2', 'n3'], [{ dot: a.dot, writeId: 1, tombstone: false }]), opId: 9 });
  assert.deepEqual(readYourWrites.check(input(h2, { siblings: [a] })), []);
});

test('read-your-writes: a fallback that acknowledged a write and handed it off may serve a later read without it (regression: seed 20)', () => {
  // n4 stood in for an owner: it took the write into its hint table, handed
  // it to the owner and forgot it (Dynamo §4.6); a read it answered later
  // as a stand-in again does not show the write. Not a violation: only an
  // owner that acknowledged the write must show it.
  const h = new History();
  const a = sib('n1', 1, 1, {});
  write(h, 1, { dots: [a.dot], replicas: ['n4', 'n1'], w: 2, completedAt: 10 });
  h.observePersisted('n4', 'k', { siblings: [a] }, 5);
  const read: ReadOp = { kind: 'get', opId: h.newOpId(), client: 2, node: 'n2', key: 'k', r: 1, phase: 'safety', invokedAt: 20, completedAt: 25, outcome: 'ok', siblings: [], context: {}, replicas: ['n4'], error: undefined };
  h.addRead(read);
  assert.deepEqual(readYourWrites.check(input(h, { siblings: [a] })), []);
  // Through an owner that acknowledged it, the same read is a violation.
  const h2 = new History();
  write(h2, 1, { dots: [a.dot], replicas: ['n4', 'n1'], w: 2, completedAt: 10 });
  h2.observePersisted('n1', 'k', { siblings: [a] }, 5);
  h2.addRead({ ...read, replicas: ['n1'] });
  assert.equal(readYourWrites.check(input(h2, { siblings: [a] })).length, 1);
});

test('read-your-writes: a duplicated request that made the origin mint a second event does not demand it of every replica (regression: seed 968085741)', () => {
  // w1's putOrigin was delivered twice: the origin minted n1:1 and, from the
  // duplicate, n1:3. The replicas acknowledged n1:1 only, and by then w2
  // (n1:2, whose context is the origin's clock {n1: 1}) had superseded it,
  // so w1's answer named no dot. A read through a replica that acknowledged
  // w1 returns w2: it has seen w1, though not the duplicate's event.
  const h = new History();
  const a = sib('n1', 1, 1, {});
  const b = sib('n1', 2, 2, { n1: 1 });
  const dup = sib('n1', 3, 1, {});
  write(h, 1, { dots: [], replicas: ['n1', 'n2'], completedAt: 30 });
  write(h, 2, { dots: [b.dot], supersedeVisible: true, replicas: ['n1', 'n2'], completedAt: 25 });
  h.observePersisted('n1', 'k', { siblings: [a] }, 5);
  h.observePersisted('n1', 'k', { siblings: [b] }, 10);
  h.observePersisted('n1', 'k', { siblings: [b, dup] }, 20);
  const read: ReadOp = { kind: 'get', opId: h.newOpId(), client: 2, node: 'n3', key: 'k', r: 1, phase: 'safety', invokedAt: 40, completedAt: 45, outcome: 'ok', siblings: [{ dot: b.dot, writeId: 2, tombstone: false }], context: {}, replicas: ['n2'], error: undefined };
  h.addRead(read);
  assert.deepEqual(readYourWrites.check(input(h, { siblings: [b, dup] })), []);
  // A read that returned nothing at all misses w1 (and w2).
  h.addRead({ ...read, opId: h.newOpId(), siblings: [] });
  assert.equal(readYourWrites.check(input(h, { siblings: [b, dup] })).length, 3);
});

test('convergence: owners that differ, or hints left over, fail', () => {
  const h = new History();
  const a = sib('n1', 1, 1, {});
  write(h, 1, { dots: [a.dot] });
  h.observePersisted('n1', 'k', { siblings: [a] }, 5);
  assert.equal(convergence.check(input(h, { siblings: [a] }, { n3: { siblings: [] } })).length, 1);
  assert.equal(convergence.check(input(h, { siblings: [a] }, undefined, 2)).length, 1);
});

// ---------------------------------------------------------------- tombstone collection

test('a fully deleted key whose tombstone was collected may vanish from every owner', () => {
  const h = new History();
  const a = sib('n1', 1, 1, {});
  const d = sib('n2', 1, 2, { n1: 1 }, true);
  write(h, 1, { dots: [a.dot] });
  write(h, 2, { kind: 'delete', context: { n1: 1 }, dots: [d.dot], invokedAt: 20, completedAt: 30 });
  h.observePersisted('n1', 'k', { siblings: [a] }, 5);
  h.observePersisted('n2', 'k', { siblings: [d] }, 25);
  const gone: SiblingSet = { siblings: [] };
  // Not collected: the tombstone must still be there.
  assert.equal(siblingsExact.check(input(h, gone)).length, 3);
  assert.equal(lostWrites.check(input(h, gone)).length, 3);
  for (const o of OWNERS) h.observeCollected(o, 'k', { siblings: [d] }, 40);
  const all = CHECKERS.flatMap((c) => c.check(input(h, gone)));
  assert.deepEqual(all, []);
});

test('after collection, what the tombstone superseded must still not come back', () => {
  const h = new History();
  const a = sib('n1', 1, 1, {});
  const d = sib('n2', 1, 2, { n1: 1 }, true);
  write(h, 1, { dots: [a.dot] });
  write(h, 2, { kind: 'delete', context: { n1: 1 }, dots: [d.dot], invokedAt: 20, completedAt: 30 });
  h.observePersisted('n1', 'k', { siblings: [a] }, 5);
  h.observePersisted('n2', 'k', { siblings: [d] }, 25);
  for (const o of OWNERS) h.observeCollected(o, 'k', { siblings: [d] }, 40);
  const back: SiblingSet = { siblings: [a] };
  assert.match(noResurrection.check(input(h, back))[0]!.message, /is live although delete w2/);
  assert.match(siblingsExact.check(input(h, back))[0]!.message, /extra n1:1\/w1 \(superseded by n2:1\/w2\)/);
});

test('a write after collection stands beside the collected tombstone in the model, and the tombstone may be gone', () => {
  const h = new History();
  const d = sib('n2', 1, 1, {}, true);
  const b = sib('n2', 1030, 2, {});
  write(h, 1, { kind: 'delete', dots: [d.dot] });
  h.observePersisted('n2', 'k', { siblings: [d] }, 5);
  h.observeCollected('n2', 'k', { siblings: [d] }, 50);
  write(h, 2, { dots: [b.dot], invokedAt: 60, completedAt: 70 });
  h.observePersisted('n2', 'k', { siblings: [b] }, 65);
  assert.deepEqual(CHECKERS.flatMap((c) => c.check(input(h, { siblings: [b] }))), []);
});

test('integrity: collecting a live value, and reusing a dot after collection, are flagged', () => {
  const h = new History();
  const a = sib('n1', 1, 1, {});
  h.observePersisted('n1', 'k', { siblings: [a] }, 5);
  h.observeCollected('n1', 'k', { siblings: [a] }, 10);
  assert.match(integrityOf(h)[0]!, /removed k while it held live values n1:1\/w1/);
  // The dot floor exists to prevent this: after forgetting the key, n1 mints n1:1 again for another write.
  const h2 = new History();
  const d = sib('n1', 1, 1, {}, true);
  h2.observePersisted('n1', 'k', { siblings: [d] }, 5);
  h2.observeCollected('n1', 'k', { siblings: [d] }, 10);
  h2.observePersisted('n1', 'k', { siblings: [sib('n1', 1, 2, {})] }, 20);
  assert.match(integrityOf(h2)[0]!, /dot n1:1 of k names two events: w1 and w2/);
});

test('read-your-writes: a read after the covering tombstone was collected may find nothing', () => {
  const h = new History();
  const a = sib('n1', 1, 1, {});
  const d = sib('n1', 2, 2, { n1: 1 }, true);
  write(h, 1, { dots: [a.dot], replicas: ['n1', 'n2'], completedAt: 10 });
  write(h, 2, { kind: 'delete', context: { n1: 1 }, dots: [d.dot], replicas: ['n1', 'n2'], invokedAt: 11, completedAt: 12 });
  h.observePersisted('n1', 'k', { siblings: [d] }, 11);
  const read: ReadOp = { kind: 'get', opId: h.newOpId(), client: 2, node: 'n3', key: 'k', r: 2, phase: 'safety', invokedAt: 20, completedAt: 25, outcome: 'ok', siblings: [], context: {}, replicas: ['n1', 'n3'], error: undefined };
  h.addRead(read);
  assert.equal(readYourWrites.check(input(h, { siblings: [] })).length, 2);
  h.observeCollected('n1', 'k', { siblings: [d] }, 22);
  assert.deepEqual(readYourWrites.check(input(h, { siblings: [] })), []);
});

test('convergence: owners whose Merkle roots differ fail; a tree out of step with its store is an integrity failure', () => {
  const h = new History();
  const base = input(h, { siblings: [] });
  const problems = [
    { what: 'roots' as const, message: 'partition 3: owners\' Merkle roots differ' },
    { what: 'tree' as const, message: 'n1 partition 3: Merkle root a kept up to date, b from a scan' },
  ];
  const withProblems: CheckInput = { ...base, final: { ...base.final, problems } };
  assert.deepEqual(convergence.check(withProblems).map((v) => v.message), ['partition 3: owners\' Merkle roots differ']);
  assert.match(integrity.check(withProblems)[0]!.message, /final state: n1 partition 3/);
});

function integrityOf(h: History): string[] {
  return integrity.check(input(h, { siblings: [] })).map((v) => v.message);
}

test('delete-after-write: a strict context-less delete after a strict write with R + W > N must cover it; a visible conflict otherwise passes, a hidden one fails', () => {
  const build = (strict: boolean, deleteCovers: boolean) => {
    const h = new History();
    const a = sib('n1', 1, 1, {});
    const t = sib('n3', 1, 2, deleteCovers ? { n1: 1 } : {}, true);
    write(h, 1, { dots: [a.dot], sloppy: !strict, w: 2, completedAt: 10 });
    write(h, 2, { kind: 'delete', readFirst: 'everything', readR: 2, sloppy: !strict, dots: [t.dot], replicas: ['n3', 'n2'], invokedAt: 11, completedAt: 12 });
    h.observePersisted('n1', 'k', { siblings: [a] }, 5);
    h.observePersisted('n3', 'k', { siblings: [t] }, 11);
    return { h, a, t };
  };
  // Strict, R + W > N, and the tombstone covers the write: nothing left.
  const ok = build(true, true);
  assert.deepEqual(deleteAfterWrite.check(input(ok.h, { siblings: [ok.t] })), []);
  // Strict, but the tombstone missed the write (the old origin-only delete): caught from the history alone, and again in the final state.
  const missed = build(true, false);
  const v = deleteAfterWrite.check(input(missed.h, { siblings: [missed.a, missed.t] })).map((x) => x.message);
  assert.equal(v.length, 1 + OWNERS.length);
  assert.match(v[0]!, /does not cover n1:1/);
  // Sloppy: a missed write is allowed when the conflict is visible (value and tombstone side by side)...
  const sloppy = build(false, false);
  assert.deepEqual(deleteAfterWrite.check(input(sloppy.h, { siblings: [sloppy.a, sloppy.t] })), []);
  // ...and fails when an owner holds the value without the tombstone.
  const hidden = deleteAfterWrite.check(input(sloppy.h, { siblings: [sloppy.a, sloppy.t] }, { n2: { siblings: [sloppy.a] } }));
  assert.equal(hidden.length, 1);
  assert.match(hidden[0]!.message, /conflict is hidden: owner n2/);
  // R + W <= N is judged like a sloppy pair.
  const weak = build(true, false);
  (weak.h.writes.get(2) as { readR: number }).readR = 1;
  assert.deepEqual(deleteAfterWrite.check(input(weak.h, { siblings: [weak.a, weak.t] })), []);
});

test('delete-after-write: a final read that hides a tombstone the owners hold beside a value fails', () => {
  const h = new History();
  const a = sib('n1', 1, 1, {});
  const t = sib('n2', 1, 2, {}, true);
  write(h, 1, { dots: [a.dot] });
  write(h, 2, { kind: 'delete', dots: [t.dot] });
  h.observePersisted('n1', 'k', { siblings: [a, t] }, 5);
  const read = (siblings: ReadOp['siblings']): ReadOp => ({ kind: 'get', opId: h.newOpId(), client: 0, node: 'n3', key: 'k', r: 3, phase: 'heal', invokedAt: 20, completedAt: 25, outcome: 'ok', siblings, context: {}, replicas: OWNERS, error: undefined });
  h.addRead(read([{ dot: a.dot, writeId: 1, tombstone: false }, { dot: t.dot, writeId: 2, tombstone: true }]));
  assert.deepEqual(deleteAfterWrite.check(input(h, { siblings: [a, t] })), []);
  h.addRead(read([{ dot: a.dot, writeId: 1, tombstone: false }]));
  assert.match(deleteAfterWrite.check(input(h, { siblings: [a, t] }))[0]!.message, /hid the tombstones n2:1/);
});
