// A hand-built scenario for tombstone collection (src/antientropy/): the
// production AntiEntropy components of three replicas over the in-memory
// network, on the simulator's virtual time, with one slow link.
//
// The design's argument (README "Deletes that stay deleted") is that once
// every replica holds the tombstone set and the grace period has passed, no
// old version can come back: the grace period covers messages in flight.
// But the grace period is measured from the tombstone's write, and an old
// version can be put on the wire long after that write, by a replica that
// had not received the tombstone yet. Here replica B (stale: it holds v)
// pushes v to C (which holds nothing) in its anti-entropy exchange, over a
// slow link; meanwhile A pushes the tombstone to B, C pulls it from A, and A
// collects it everywhere (every replica holds it, the grace period is long
// past). Then B's push arrives and C takes v: a deleted value is live again,
// and anti-entropy spreads it back to A and B.
//
// Found by reading the exchange against the collection while building the
// simulator (the random simulation has not hit the window). Reported, not
// fixed here (the remedy is a change to the collection protocol: confirm
// that every replica holds the set twice, the longest request deadline
// apart, or keep a collected key's clock for that long and refuse merges it
// covers). The test is marked todo so that it documents the bug without
// failing the suite; drop the todo once collection is fixed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AntiEntropy } from '../../src/antientropy/antientropy.js';
import { isAeRequest } from '../../src/antientropy/protocol.js';
import { MerkleTrackingStore } from '../../src/antientropy/tracking-store.js';
import type { Liveness } from '../../src/membership/liveness.js';
import { Ring } from '../../src/ring/ring.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { Request, ResponseFor } from '../../src/transport/messages.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { SeededRandom, type Clock, type Timer } from '../../src/util/runtime.js';
import type { NodeId, SiblingSet } from '../../src/version/dvv.js';
import { Scheduler } from '../../src/sim/scheduler.js';

const BUCKET = 'b';
const KEY = 'k';
const HOUR_MS = 3_600_000;

class SchedClock implements Clock {
  constructor(private readonly sched: Scheduler) {}
  now(): number {
    // Far from zero, so that a tombstone written "an hour ago" has a positive timestamp.
    return 10 * HOUR_MS + this.sched.now;
  }
  setTimer(ms: number, fn: () => void): Timer {
    return this.sched.schedule(ms, '', fn);
  }
}

const alive: Liveness = { isAlive: () => true, reportSuccess: () => undefined, reportFailure: () => undefined };

test(
  'an old version pushed by a replica that had not yet received the tombstone does not come back after collection',
  { todo: 'known bug: collection can complete while a stale anti-entropy push is on the wire (see the file comment)' },
  async () => {
    const sched = new Scheduler();
    const clock = new SchedClock(sched);
    const ring = new Ring({ epoch: 1, partitions: 16, nodes: ['n1', 'n2', 'n3'].map((id) => ({ id, zone: id, weight: 1 })) });
    const partition = ring.partitionOf(BUCKET, KEY);
    const [a, b, c] = ring.preference(partition, 3).owners as [NodeId, NodeId, NodeId];
    const net = new MemoryNetwork({ clock, random: new SeededRandom(1), minLatencyMs: 2, maxLatencyMs: 2 });
    // B's link to C is slow for anti-entropy pushes (a slow node, a congested link).
    net.setFilter((from, to, msg) => (from === b && to === c && msg.type === 'aePush' ? { delayMs: 1000 } : 'pass'));
    const nodes = new Map<NodeId, { store: MerkleTrackingStore; ae: AntiEntropy }>();
    for (const id of [a, b, c]) {
      const store = new MerkleTrackingStore(new MemoryStore());
      const transport = net.transport(id);
      const ae = new AntiEntropy({ self: id, store, transport, clock, ring: () => ring, liveness: alive, n: 3, config: { tombstoneGraceMs: HOUR_MS, keysPerSec: Infinity } });
      transport.serve(async (from, req: Request) => {
        if (isAeRequest(req)) return (await ae.handle(from, req)) as ResponseFor[Request['type']];
        throw new Error(`unexpected ${req.type}`);
      });
      nodes.set(id, { store, ae });
    }
    const node = (id: NodeId) => nodes.get(id)!;
    // v was written two hours ago; the tombstone t, which saw v, an hour and a
    // minute ago. A holds t; B missed t and holds v; C missed both.
    const v: SiblingSet = { siblings: [{ dot: { node: b, counter: 1 }, past: {}, value: new Uint8Array([1]), meta: { ts: clock.now() - 2 * HOUR_MS } }] };
    const t: SiblingSet = { siblings: [{ dot: { node: a, counter: 1 }, past: { [b]: 1 }, value: null, meta: { ts: clock.now() - HOUR_MS - 60_000 } }] };
    await node(a).store.update(partition, BUCKET, KEY, () => t);
    await node(b).store.update(partition, BUCKET, KEY, () => v);

    // Lets what the test just started reach the network first (it runs on microtasks), then advances time.
    const run = async (ms: number): Promise<void> => {
      await new Promise((resolve) => setImmediate(resolve));
      await sched.runUntil(sched.now + ms);
    };
    // B's exchange with C (B's cyclic partner): C has nothing, so B pushes v (slowly).
    void node(b).ae.exchangePartition(c, partition);
    await run(50);
    // A's exchange with B: B takes the tombstone. C's with A: C pulls it.
    void node(a).ae.exchangePartition(b, partition);
    await run(50);
    void node(c).ae.exchangePartition(a, partition);
    await run(50);
    for (const id of [a, b, c]) assert.equal(node(id).store.read(BUCKET, KEY)?.siblings[0]?.value, null, `${id} holds the tombstone`);
    // Every replica holds t, and its grace period is long past: A (the primary) collects it.
    let collected = 0;
    void node(a).ae.collectTombstones().then((n) => void (collected = n));
    await run(300);
    assert.equal(collected, 1);
    for (const id of [a, b, c]) assert.equal(node(id).store.read(BUCKET, KEY), undefined, `${id} collected the tombstone`);
    // B's push of v arrives at C.
    await run(2000);
    for (const id of [a, b, c]) {
      const live = (node(id).store.read(BUCKET, KEY)?.siblings ?? []).filter((s) => s.value !== null);
      assert.deepEqual(live, [], `${id} holds a value the collected tombstone deleted`);
    }
  },
);
