// The counter lease (version/counter-lease.ts) and the origin's mint before
// its own commit (coordinator/origin.ts): a write waits for W durable
// commits in parallel, the origin's own among them; a crash between shipping
// and committing leaves the next process minting as a new actor above every
// counter used before.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { Coordinator } from '../../src/coordinator/coordinator.js';
import type { Liveness } from '../../src/membership/liveness.js';
import { Ring } from '../../src/ring/ring.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { SeededRandom } from '../../src/util/runtime.js';
import { VirtualClock } from '../../src/sim/scheduler.js';
import { actorId, CounterLease, isActorId, LEASE_META } from '../../src/version/counter-lease.js';
import { decodeContext, encodeContext } from '../../src/version/context.js';
import { ephemeralContextMac } from '../../src/api/context-mac.js';
import { setClock, type NodeId, type SiblingSet } from '../../src/version/dvv.js';

describe('CounterLease', () => {
  test('a fresh store mints as the node id, and only counters the durable reservation covers', async () => {
    const store = new MemoryStore();
    const lease = new CounterLease(store, 'n1', { block: 10 });
    assert.equal(lease.actor, 'n1');
    assert.equal(lease.covers(1), false, 'nothing may be minted before the lease is on disk');
    await lease.reserve();
    assert.equal(lease.covers(10), true);
    assert.equal(lease.covers(11), false);
    assert.deepEqual(store.getMeta(LEASE_META), { epoch: 0, reserved: 10, open: true });
    assert.throws(() => lease.use(11), /beyond the reservation/);
  });

  test('a restart without a clean close takes a new actor and starts above the whole old reservation', async () => {
    const store = new MemoryStore();
    const first = new CounterLease(store, 'n1', { block: 10 });
    await first.reserve();
    first.use(3);
    // kill -9: no close.
    const again = new CounterLease(store.reopen(), 'n1', { block: 10 });
    assert.equal(again.actor, 'n1~1');
    assert.equal(again.floor(), 10, 'the unused rest of the old reservation is skipped');
    await again.reserve();
    assert.deepEqual(again.covers(20), true);
  });

  test('a clean close keeps the actor; a tainted one (a local commit failed) does not', async () => {
    const store = new MemoryStore();
    const a = new CounterLease(store, 'n1', { block: 10 });
    await a.reserve();
    await a.close();
    const b = new CounterLease(store, 'n1', { block: 10 });
    assert.equal(b.actor, 'n1');
    await b.reserve();
    b.taint();
    await b.close();
    assert.equal(new CounterLease(store, 'n1').actor, 'n1~1');
  });

  test('using half the reservation extends it in the background, so minting rarely waits', async () => {
    const store = new MemoryStore();
    const lease = new CounterLease(store, 'n1', { block: 10 });
    await lease.reserve();
    lease.use(6);
    await new Promise<void>((r) => setTimeout(r, 10));
    assert.equal(lease.covers(16), true);
  });

  test('actor ids are node ids, or node ids with an epoch that no node id can spell, and contexts carry them', () => {
    assert.equal(actorId('n1', 0), 'n1');
    assert.equal(actorId('n1', 7), 'n1~7');
    for (const ok of ['n1', 'n1~7', 'a.b-c_d~123']) assert.ok(isActorId(ok), ok);
    for (const bad of ['n1~0', '~3', 'n1~', 'n1~x', '__proto__', 'n1~3~4']) assert.ok(!isActorId(bad), bad);
    const mac = ephemeralContextMac();
    const token = encodeContext({ 'n1~2': 5, n2: 1 }, 'b', 'k', mac);
    assert.deepEqual(decodeContext(token, 'b', 'k', mac), { 'n1~2': 5, n2: 1 });
  });
});

/** A MemoryStore whose updates can be held back, like a slow fsync. */
class GatedStore extends MemoryStore {
  private held: (() => void)[] | undefined;
  hold(): void {
    this.held = [];
  }
  release(): void {
    const h = this.held ?? [];
    this.held = undefined;
    for (const go of h) go();
  }
  override update(partition: number, bucket: string, key: string, fn: (current: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet> {
    const held = this.held;
    if (held === undefined) return super.update(partition, bucket, key, fn);
    return new Promise<void>((go) => held.push(go)).then(() => super.update(partition, bucket, key, fn));
  }
}

class AllAlive implements Liveness {
  isAlive(): boolean {
    return true;
  }
  reportSuccess(): void {}
  reportFailure(): void {}
}

describe('the origin mints before its own commit', () => {
  const IDS = ['n1', 'n2', 'n3'];
  function cluster() {
    const clock = new VirtualClock(1_000_000);
    const net = new MemoryNetwork({ clock, random: new SeededRandom(1), minLatencyMs: 1, maxLatencyMs: 2 });
    const ring = new Ring({ epoch: 1, partitions: 16, nodes: IDS.map((id) => ({ id, zone: 'z', weight: 1 })) });
    const stores = new Map<NodeId, GatedStore>();
    const coordinators = new Map<NodeId, Coordinator>();
    const start = (id: NodeId, store: MemoryStore) => {
      const transport = net.transport(id);
      const c = new Coordinator({ self: id, store, transport, clock, random: new SeededRandom(id.charCodeAt(1)), ring: () => ring, liveness: new AllAlive(), config: { defaultQuorum: { n: 3, r: 2, w: 2 }, replicaTimeoutMs: 500 } });
      transport.serve(c.handle);
      coordinators.set(id, c);
      return c;
    };
    for (const id of IDS) {
      const s = new GatedStore();
      stores.set(id, s);
      start(id, s);
    }
    const run = async <T>(p: Promise<T>): Promise<T> => {
      let outcome: { ok: true; value: T } | { ok: false; err: unknown } | undefined;
      void p.then(
        (value) => (outcome = { ok: true, value }),
        (err: unknown) => (outcome = { ok: false, err }),
      );
      for (let i = 0; i < 10_000 && outcome === undefined; i++) await clock.advance(1);
      if (outcome === undefined) throw new Error('still pending after 10 s of virtual time');
      if (!outcome.ok) throw outcome.err;
      return outcome.value;
    };
    const value = (s: string) => new TextEncoder().encode(s);
    const dots = (set: SiblingSet | undefined) => (set?.siblings ?? []).map((s) => `${s.dot.node}:${s.dot.counter}`).sort();
    return { net, stores, coordinators, start, run, value, dots, store: (id: NodeId) => stores.get(id) as GatedStore, coord: (id: NodeId) => coordinators.get(id) as Coordinator };
  }

  test('with the origin\'s disk stalled, the two other replicas\' commits acknowledge W=2, and the next mint there sees the first', async () => {
    const c = cluster();
    c.store('n1').hold();
    const first = await c.run(c.coord('n1').put({ bucket: 'b', key: 'k', value: c.value('one'), context: null }));
    assert.equal(first.origin, 'n1');
    assert.deepEqual([...first.replicasWritten].sort(), ['n2', 'n3'], 'acknowledged by the replicas whose commits finished');
    assert.equal(c.store('n1').read('b', 'k'), undefined, 'the origin has not committed yet');
    const second = await c.run(c.coord('n1').put({ bucket: 'b', key: 'k', value: c.value('two'), context: null }));
    const [d1] = c.dots(first.set);
    assert.ok(d1 !== undefined && c.dots(second.set).includes(d1), `the second mint's set ${c.dots(second.set).join(' ')} carries the uncommitted first ${d1}`);
    c.store('n1').release();
    await c.run(new Promise<void>((r) => setTimeout(r, 5)));
    assert.deepEqual(c.dots(c.store('n1').read('b', 'k')), c.dots(second.set));
  });

  test('a crash before the origin\'s commit: the restarted node mints as a new actor, so the lost event stays a sibling', async () => {
    const c = cluster();
    // n1's first lease is durable before the crash, as it is before any mint.
    await c.run(c.coord('n1').put({ bucket: 'b', key: 'warm', value: c.value('w'), context: null }));
    c.store('n1').hold();
    const lost = await c.run(c.coord('n1').put({ bucket: 'b', key: 'k', value: c.value('lost here'), context: null }));
    const [lostDot] = c.dots(lost.set);
    // kill -9: the held commit never happens; a new process over the same data.
    c.net.crash('n1');
    const reopened = c.store('n1').reopen();
    c.net.restart('n1');
    const again = c.start('n1', reopened);
    assert.equal(reopened.read('b', 'k'), undefined);
    const next = await c.run(again.put({ bucket: 'b', key: 'k', value: c.value('after'), context: null }));
    const nextDot = next.set.siblings.find((s) => new TextDecoder().decode(s.value ?? new Uint8Array()) === 'after')?.dot;
    assert.equal(nextDot?.node, 'n1~1', 'a new actor after a crash');
    // What a read of the restarted node's own copy hands out does not cover the lost event.
    await c.run(new Promise<void>((r) => setTimeout(r, 5)));
    const own = reopened.read('b', 'k');
    assert.ok(own !== undefined && lostDot !== undefined);
    const cut = lostDot.lastIndexOf(':');
    const clock = setClock(own);
    assert.ok((clock[lostDot.slice(0, cut)] ?? 0) < Number(lostDot.slice(cut + 1)), `n1's clock ${JSON.stringify(clock)} covers the lost ${lostDot} without holding it`);
    // And the replicas that hold the lost event keep both as siblings.
    assert.equal(c.dots(c.store('n2').read('b', 'k')).length, 2);
  });
});
