// A hand-built scenario for tombstone collection (src/antientropy/): the
// production AntiEntropy components of three replicas over the in-memory
// network, on the simulator's virtual time, with one slow link.
//
// Replica B (stale: it holds v) pushes v to C (which holds nothing) in its
// anti-entropy exchange, over a slow link; meanwhile A pushes the tombstone
// to B, C pulls it from A, and every replica holds the tombstone, long past
// its grace period. Before data-age.ts, A then collected the tombstone
// everywhere, B's push arrived at C, and C took v: a deleted value was live
// again, and anti-entropy spread it back to A and B (this file was the
// known-bug report, marked todo).
//
// Now the push carries when v was read, C refuses a copy older than
// maxDataAgeMs, and A collects only after confirming twice, the gap apart.
// Two delays: one that lands between the confirmations (merged, and
// harmless: the tombstone covers v) and one that lands after the
// collection (refused).

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
/** How long a copy may travel here; the confirmation gap is twice that (no clock skew). */
const MAX_AGE_MS = 500;

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

for (const { delayMs, lands } of [
  { delayMs: 300, lands: 'between the two confirmations' },
  { delayMs: 3000, lands: 'after the collection' },
]) {
  test(`an old version pushed by a replica that had not yet received the tombstone does not come back (the push lands ${lands})`, async () => {
    const sched = new Scheduler();
    const clock = new SchedClock(sched);
    const ring = new Ring({ epoch: 1, partitions: 16, nodes: ['n1', 'n2', 'n3'].map((id) => ({ id, zone: id, weight: 1 })) });
    const partition = ring.partitionOf(BUCKET, KEY);
    const [a, b, c] = ring.preference(partition, 3).owners as [NodeId, NodeId, NodeId];
    const net = new MemoryNetwork({ clock, random: new SeededRandom(1), minLatencyMs: 2, maxLatencyMs: 2 });
    // B's link to C is slow for anti-entropy pushes (a slow node, a congested link).
    net.setFilter((from, to, msg) => (from === b && to === c && msg.type === 'aePush' ? { delayMs } : 'pass'));
    const nodes = new Map<NodeId, { store: MerkleTrackingStore; ae: AntiEntropy }>();
    for (const id of [a, b, c]) {
      const store = new MerkleTrackingStore(new MemoryStore());
      const transport = net.transport(id);
      const config = { tombstoneGraceMs: HOUR_MS, keysPerSec: Infinity, maxDataAgeMs: MAX_AGE_MS, maxClockSkewMs: 0 };
      const ae = new AntiEntropy({ self: id, store, transport, clock, ring: () => ring, liveness: alive, n: 3, config });
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
    void node(b).ae.exchangePartition(c, partition).catch(() => undefined);
    await run(50);
    // A's exchange with B: B takes the tombstone. C's with A: C pulls it.
    void node(a).ae.exchangePartition(b, partition);
    await run(50);
    void node(c).ae.exchangePartition(a, partition);
    await run(50);
    for (const id of [a, b, c]) assert.equal(node(id).store.read(BUCKET, KEY)?.siblings[0]?.value, null, `${id} holds the tombstone`);
    // Every replica holds t, and its grace period is long past. A (the
    // primary) confirms that once, and collects only at a sweep the gap later.
    const sweep = async (): Promise<number> => {
      let collected = -1;
      void node(a).ae.collectTombstones().then((n) => void (collected = n));
      await run(200);
      return collected;
    };
    assert.equal(await sweep(), 0, 'collected at the first confirmation');
    await run(2 * MAX_AGE_MS);
    assert.equal(await sweep(), 1);
    for (const id of [a, b, c]) assert.equal(node(id).store.read(BUCKET, KEY), undefined, `${id} collected the tombstone`);
    // Whenever B's push of v arrives at C, v does not come back.
    await run(5000);
    for (const id of [a, b, c]) {
      const live = (node(id).store.read(BUCKET, KEY)?.siblings ?? []).filter((s) => s.value !== null);
      assert.deepEqual(live, [], `${id} holds a value the collected tombstone deleted`);
    }
    // The late push was refused for its age; the early one was merged into the tombstone and changed nothing.
    assert.equal(node(c).ae.status().totals.staleRefused, delayMs > MAX_AGE_MS ? 1 : 0);
  });
}
