// The data path under a layout change (issue 10, docs/layout.md "The rules
// the data path follows"), on real Coordinators over the in-memory network:
// while two versions are live a write reaches W owners of BOTH, a read uses
// the old version until the new owners have synced, anti-entropy and
// collection follow every live version, and a node crashed in the new owner
// set makes a strict write fail rather than skip it.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Coordinator } from '../../src/coordinator/coordinator.js';
import { QuorumError } from '../../src/coordinator/types.js';
import { PassiveLiveness } from '../../src/membership/liveness.js';
import { systemClock } from '../../src/node/real-runtime.js';
import { Ring } from '../../src/ring/ring.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { SeededRandom } from '../../src/util/runtime.js';
import { foundingHistory } from '../../src/layout/founding.js';
import { HistoryPlacement } from '../../src/layout/placement.js';
import { applyVersion, antiEntropyPeers, collectionParticipants, heldPartitions, proposeNext, readSet, report, stage, writeSets, type LayoutHistory } from '../../src/layout/history.js';
import type { Member } from '../../src/layout/types.js';
import type { Placement } from '../../src/ring/view.js';

const P = 16;
const OLD = ['n1', 'n2', 'n3'];
const ALL = ['n1', 'n2', 'n3', 'n4', 'n5'];
const member = (id: string): Member => ({ id, zone: 'z', capacity: 100, role: 'storage' });
const value = (s: string) => new TextEncoder().encode(s);

function ok(r: { ok: true; history: LayoutHistory } | { ok: false; refusal: { message: string } }): LayoutHistory {
  if (!r.ok) throw new Error(r.refusal.message);
  return r.history;
}

/** Version 1 over n1..n3 (today's ring), then n4 and n5 added as version 2: two versions live, nothing synced. */
function twoVersions(): LayoutHistory {
  const ring = new Ring({ epoch: 1, partitions: P, nodes: OLD.map((id) => ({ id, zone: 'z', weight: 1 })) });
  let h = foundingHistory(OLD.map(member), ring, 3);
  h = ok(stage(h, { op: 'assign', member: member('n4') }));
  h = ok(stage(h, { op: 'assign', member: member('n5') }));
  const next = proposeNext(h);
  return ok(applyVersion(h, 2, h.stagingSeq, next.result.assignment));
}

let net: MemoryNetwork;
const coordinators = new Map<string, Coordinator>();
const stores = new Map<string, MemoryStore>();
const livenesses: PassiveLiveness[] = [];
let keepAlive: ReturnType<typeof setInterval>;
let history: LayoutHistory;
let placement: Placement;

before(() => {
  keepAlive = setInterval(() => undefined, 1000);
  history = twoVersions();
  placement = new HistoryPlacement(history);
  net = new MemoryNetwork({ clock: systemClock, random: new SeededRandom(5), minLatencyMs: 0, maxLatencyMs: 1 });
  for (const id of ALL) {
    const transport = net.transport(id);
    const liveness = new PassiveLiveness(systemClock, (node) => transport.request(node, { type: 'ping' }, 1000).then(() => true, () => false));
    livenesses.push(liveness);
    const store = new MemoryStore();
    stores.set(id, store);
    const c = new Coordinator({ self: id, store, transport, clock: systemClock, random: new SeededRandom(id.length), ring: () => placement, liveness, config: { replicaTimeoutMs: 300 } });
    transport.serve(c.handle);
    coordinators.set(id, c);
  }
});

after(() => {
  clearInterval(keepAlive);
  for (const l of livenesses) l.stop();
});

const holders = (bucket: string, key: string): string[] => ALL.filter((id) => stores.get(id)!.read(bucket, key) !== undefined);

test('HistoryPlacement answers every rule as the history functions do', () => {
  for (let p = 0; p < P; p++) {
    assert.deepEqual(placement.writeSets(p, 3).sets, writeSets(history, p).map((s) => s.owners));
    assert.deepEqual(placement.preference(p, 3).owners, readSet(history, p));
    assert.deepEqual(placement.allOwners(p, 3), collectionParticipants(history, p));
    for (const id of ALL) assert.deepEqual(placement.peers(p, id, 3), antiEntropyPeers(history, p, id));
    // Fallbacks never repeat an owner of any live version.
    const { sets, fallbacks } = placement.writeSets(p, 3);
    assert.ok(fallbacks.every((f) => !sets.flat().includes(f)));
  }
  for (const id of ALL) assert.deepEqual(placement.partitionsOf(id, 3), heldPartitions(history, id));
  assert.equal(placement.version, 2);
  assert.equal(placement.readVersion, 1, 'the new owners have not synced: reads stay on version 1');
  assert.equal(placement.liveVersions, 2);
});

test('while two versions are live, an acknowledged write is on W owners of each', async () => {
  for (let i = 0; i < 40; i++) {
    const key = `k${i}`;
    const coordinator = ALL[i % ALL.length]!;
    const r = await coordinators.get(coordinator)!.put({ bucket: 'b', key, value: value(`v${i}`), context: null, w: 2, sloppy: false });
    // What the coordinator counted when it answered, not what landed later.
    const on = new Set(r.replicasWritten);
    for (const set of writeSets(history, r.partition).map((s) => s.owners)) {
      const have = set.filter((o) => on.has(o)).length;
      assert.ok(have >= 2, `key ${key} (partition ${r.partition}) acknowledged with only ${have} of ${set.join(',')} (answered: ${[...on].join(',')})`);
    }
    for (const id of r.replicasWritten) assert.ok(holders('b', key).includes(id));
  }
});

test('a strict write fails when the new version cannot reach W, even though the old one can', async () => {
  // Find a partition whose version-2 owners include both n4 and n5, and a key in it.
  let key: string | undefined;
  for (let i = 0; i < 5000 && key === undefined; i++) {
    const p = placement.partitionOf('b', `probe${i}`);
    const [v1, v2] = placement.writeSets(p, 3).sets;
    if (v2!.includes('n4') && v2!.includes('n5') && v1!.every((o) => OLD.includes(o))) key = `probe${i}`;
  }
  assert.ok(key !== undefined, 'a partition moved to both new nodes exists');
  net.crash('n4');
  net.crash('n5');
  try {
    await assert.rejects(coordinators.get('n1')!.put({ bucket: 'b', key, value: value('x'), context: null, w: 2, sloppy: false }), (err: unknown) => err instanceof QuorumError);
  } finally {
    net.restart('n4');
    net.restart('n5');
  }
});

test('reads move to version 2 once every new holder reports synced', () => {
  let h = history;
  for (const id of ALL) h = ok(report(h, id, { seen: 2 }));
  const before = new HistoryPlacement(h);
  assert.equal(before.readVersion, 1, 'seen is not synced');
  for (const id of ALL) h = ok(report(h, id, { synced: 2 }));
  const synced = new HistoryPlacement(h);
  assert.equal(synced.readVersion, 2);
  assert.equal(synced.liveVersions, 2, 'version 1 stays live until every node reads version 2');
  for (const id of ALL) h = ok(report(h, id, { readSeen: 2 }));
  const retired = new HistoryPlacement(h);
  assert.equal(retired.liveVersions, 1, 'then version 1 retires');
  for (let p = 0; p < P; p++) assert.deepEqual(retired.writeSets(p, 3).sets.length, 1);
});
