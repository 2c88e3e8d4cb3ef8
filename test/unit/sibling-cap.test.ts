// The sibling cap (coordinator/sibling-cap.ts, issue 11 §5) on real
// Coordinators over the in-memory network: a client write past the cap is
// refused with TooManySiblings and stores nothing, a write with a context
// still resolves the key, and replica merges never drop a sibling.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Coordinator } from '../../src/coordinator/coordinator.js';
import { PassiveLiveness } from '../../src/membership/liveness.js';
import { systemClock } from '../../src/node/real-runtime.js';
import { Ring } from '../../src/ring/ring.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { SeededRandom } from '../../src/util/runtime.js';
import { TooManySiblingsError } from '../../src/util/errors.js';
import { clampListLimit, MAX_LIST_KEYS } from '../../src/coordinator/sibling-cap.js';
import { httpStatus } from '../../src/api/errors.js';
import { liveSiblings, newEvent, EMPTY_SET, type SiblingSet } from '../../src/version/dvv.js';

const IDS = ['n1', 'n2', 'n3'];
const CAP = 5;
let net: MemoryNetwork;
const coordinators = new Map<string, Coordinator>();
const stores = new Map<string, MemoryStore>();
const livenesses: PassiveLiveness[] = [];
const value = (s: string) => new TextEncoder().encode(s);
let keepAlive: ReturnType<typeof setInterval>;
let ring: Ring;

before(() => {
  keepAlive = setInterval(() => undefined, 1000);
  net = new MemoryNetwork({ clock: systemClock, random: new SeededRandom(3), minLatencyMs: 0, maxLatencyMs: 1 });
  ring = new Ring({ epoch: 1, partitions: 16, nodes: IDS.map((id) => ({ id, zone: id, weight: 1 })) });
  for (const id of IDS) {
    const transport = net.transport(id);
    const liveness = new PassiveLiveness(systemClock, (node) => transport.request(node, { type: 'ping' }, 1000).then(() => true, () => false));
    livenesses.push(liveness);
    const store = new MemoryStore();
    stores.set(id, store);
    const c = new Coordinator({ self: id, store, transport, clock: systemClock, random: new SeededRandom(id.length), ring: () => ring, liveness, config: { replicaTimeoutMs: 300, maxSiblings: CAP } });
    transport.serve(c.handle);
    coordinators.set(id, c);
  }
});

after(() => {
  clearInterval(keepAlive);
  for (const l of livenesses) l.stop();
});

const coord = (id: string): Coordinator => coordinators.get(id) as Coordinator;

test('a context-less write past the cap is refused with TooManySiblings (409 on the native API) and stores nothing', async () => {
  for (let i = 0; i < CAP; i++) await coord(IDS[i % 3] as string).put({ bucket: 'b', key: 'k', value: value(`v${i}`), context: null, w: 3 });
  const before = await coord('n1').get({ bucket: 'b', key: 'k', r: 3 });
  assert.equal(liveSiblings(before.set).length, CAP);
  await assert.rejects(coord('n2').put({ bucket: 'b', key: 'k', value: value('one too many'), context: null, w: 2 }), (err: unknown) => {
    assert.ok(err instanceof TooManySiblingsError, String(err));
    assert.match((err as Error).message, /above the cap of 5.*context/);
    return true;
  });
  assert.equal(httpStatus('TooManySiblings'), 409);
  const after = await coord('n3').get({ bucket: 'b', key: 'k', r: 3 });
  assert.equal(liveSiblings(after.set).length, CAP, 'nothing was added');
  const resolved = await coord('n3').put({ bucket: 'b', key: 'k', value: value('resolved'), context: after.context, w: 3 });
  assert.equal(liveSiblings(resolved.set).length, 1, 'a write with the read context resolves the key');
});

test('replica merges never drop a sibling, even past the cap', async () => {
  // Concurrent writes minted elsewhere and merged here: all 2*CAP stay.
  let incoming: SiblingSet = EMPTY_SET;
  for (let i = 0; i < 2 * CAP; i++) incoming = { siblings: [...incoming.siblings, ...newEvent(EMPTY_SET, `x${i}`, {}, value(`m${i}`), {}, 1).set.siblings] };
  const partition = ring.partitionOf('b', 'merged');
  const resp = await net.transport('n1').request('n2', { type: 'putReplica', bucket: 'b', key: 'merged', set: incoming, hintFor: null, asOf: systemClock.now() }, 1000);
  assert.equal(resp.type, 'putOk');
  assert.equal(stores.get('n2')?.read('b', 'merged')?.siblings.length, 2 * CAP);
  void partition;
});

test('a replica clamps a listing page whatever limit a peer asks for', async () => {
  for (const k of ['l1', 'l2', 'l3']) await coord('n1').put({ bucket: 'lb', key: k, value: value(k), context: null, w: 3 });
  const tiny = await net.transport('n1').request('n2', { type: 'listKeys', bucket: 'lb', prefix: '', after: '', limit: -5 }, 1000);
  assert.equal(tiny.keys.length, 1);
  assert.equal(tiny.truncated, true);
  const nan = await net.transport('n1').request('n2', { type: 'listKeys', bucket: 'lb', prefix: '', after: '', limit: Number.NaN }, 1000);
  assert.equal(nan.keys.length, 1);
  const huge = await net.transport('n1').request('n2', { type: 'listKeys', bucket: 'lb', prefix: '', after: '', limit: 1e15 }, 1000);
  assert.equal(huge.keys.length, 3);
  assert.equal(clampListLimit(1e15), MAX_LIST_KEYS);
});
