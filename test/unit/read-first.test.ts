// Context-less writes that read first (coordinator/read-first.ts), on real
// Coordinators over the in-memory network: a delete covers an acknowledged
// write its origin replica never received, and a context-less put re-creates
// a deleted key without superseding values it did not see.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Coordinator } from '../../src/coordinator/coordinator.js';
import { readFirstContext, writeAfterRead } from '../../src/coordinator/read-first.js';
import type { GetResult } from '../../src/coordinator/types.js';
import { PassiveLiveness } from '../../src/membership/liveness.js';
import { systemClock } from '../../src/node/real-runtime.js';
import { Ring } from '../../src/ring/ring.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { SeededRandom } from '../../src/util/runtime.js';
import { liveSiblings, setClock, type Sibling, type SiblingSet } from '../../src/version/dvv.js';

const IDS = ['n1', 'n2', 'n3'];
let net: MemoryNetwork;
const coordinators = new Map<string, Coordinator>();
const livenesses: PassiveLiveness[] = [];
const value = (s: string) => new TextEncoder().encode(s);

// systemClock's timers do not hold the process open (a node's server does); the tests need them to fire.
let keepAlive: ReturnType<typeof setInterval>;

before(() => {
  keepAlive = setInterval(() => undefined, 1000);
  net = new MemoryNetwork({ clock: systemClock, random: new SeededRandom(3), minLatencyMs: 0, maxLatencyMs: 1 });
  const ring = new Ring({ epoch: 1, partitions: 16, nodes: IDS.map((id) => ({ id, zone: id, weight: 1 })) });
  for (const id of IDS) {
    const transport = net.transport(id);
    const liveness = new PassiveLiveness(systemClock, (node) => transport.request(node, { type: 'ping' }, 1000).then(() => true, () => false));
    livenesses.push(liveness);
    const c = new Coordinator({ self: id, store: new MemoryStore(), transport, clock: systemClock, random: new SeededRandom(id.length), ring: () => ring, liveness, config: { replicaTimeoutMs: 300 } });
    transport.serve(c.handle);
    coordinators.set(id, c);
  }
});

after(() => {
  clearInterval(keepAlive);
  for (const l of livenesses) l.stop();
});

const coord = (id: string): Coordinator => coordinators.get(id) as Coordinator;

/** Writes through n1 while every copy of a replica set bound for n3 is lost: n3 never holds the write. */
async function putMissingOnN3(key: string, text: string): Promise<void> {
  net.setFilter((_from, to, msg) => (to === 'n3' && msg.type === 'putReplica' ? 'drop' : 'pass'));
  try {
    const w = await coord('n1').put({ bucket: 'b', key, value: value(text), context: null, w: 2, sloppy: false });
    assert.deepEqual([...w.replicasWritten].sort(), ['n1', 'n2']);
  } finally {
    net.setFilter(undefined);
  }
}

test('a context-less delete through a replica that never received an acknowledged write still covers it (strict, R + W > N)', async () => {
  await putMissingOnN3('k1', 'v1');
  const d = await writeAfterRead(coord('n3'), { bucket: 'b', key: 'k1', value: null, supersede: 'everything', r: 2, w: 2, sloppy: false });
  assert.equal(d.origin, 'n3', 'the tombstone was minted on the replica that lacked the write');
  assert.equal(liveSiblings(d.set).length, 0);
  const r = await coord('n2').get({ bucket: 'b', key: 'k1', r: 3 });
  assert.deepEqual(liveSiblings(r.set), [], 'nothing live after the delete');
});

test('the old origin-only delete (bugs.deleteFromOriginOnly) leaves that write beside its tombstone', async () => {
  await putMissingOnN3('k2', 'v2');
  await writeAfterRead(coord('n3'), { bucket: 'b', key: 'k2', value: null, supersede: 'everything', r: 2, w: 2, sloppy: false }, { deleteFromOriginOnly: true });
  const r = await coord('n2').get({ bucket: 'b', key: 'k2', r: 3 });
  assert.equal(liveSiblings(r.set).length, 1, 'the acknowledged write survived the delete');
  assert.equal(r.set.siblings.filter((s) => s.value === null).length, 1, 'beside a concurrent tombstone');
});

test('a put whose read fails is written anyway, as a sibling (writes stay available on a minority side)', async () => {
  await coord('n2').put({ bucket: 'b', key: 'k4', value: value('before'), context: null, w: 3 });
  net.setFilter((from, to) => (from === 'n1' && to !== 'n1' ? 'drop' : 'pass'));
  let w;
  try {
    w = await writeAfterRead(coord('n1'), { bucket: 'b', key: 'k4', value: value('minority'), supersede: 'tombstones', r: 2, w: 1 });
  } finally {
    net.setFilter(undefined);
  }
  assert.deepEqual(w.read.replicasRead, ['n1']);
  assert.equal(liveSiblings(w.set).length, 2, 'beside the value it could not read past');
});

test('a delete whose read fails writes nothing and says so (op read)', async () => {
  net.setFilter((from, to) => (from === 'n1' && to !== 'n1' ? 'drop' : 'pass'));
  try {
    await assert.rejects(writeAfterRead(coord('n1'), { bucket: 'b', key: 'k3', value: null, supersede: 'everything', r: 3, w: 1 }), (err: Error & { op?: string }) => err.op === 'read');
  } finally {
    net.setFilter(undefined);
  }
  const r = await coord('n2').get({ bucket: 'b', key: 'k3', r: 3 });
  assert.equal(r.set.siblings.length, 0);
});

function readOf(set: SiblingSet): GetResult {
  return { coordinator: 'n1', partition: 0, preferenceList: IDS, replicasRead: IDS, vectorClocks: {}, set, context: setClock(set) };
}

const sib = (node: string, counter: number, past: Record<string, number>, live: boolean): Sibling => ({ dot: { node, counter }, past, value: live ? value('x') : null, meta: { ts: counter } });

test('a context-less put supersedes the read only when it found the key deleted: a tombstone clock would also cover earlier concurrent values', () => {
  const deleted = readOf({ siblings: [sib('n2', 6, { n2: 5 }, false)] });
  assert.deepEqual(readFirstContext(deleted, 'tombstones'), { n2: 6 });
  // n2:3 is concurrent with the tombstone n2:6 (whose past is n2:1), yet a context {n2: 6} would cover it.
  const conflict = readOf({ siblings: [sib('n2', 3, {}, true), sib('n2', 6, { n2: 1 }, false)] });
  assert.deepEqual(readFirstContext(conflict, 'tombstones'), {});
  assert.deepEqual(readFirstContext(conflict, 'everything'), { n2: 6 });
});
