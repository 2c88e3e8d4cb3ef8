// Sloppy quorum and hinted handoff (Dynamo §4.6) on an in-process cluster:
// production Coordinators over MemoryStores and the in-memory network, a
// virtual clock, and a liveness view the test sets by hand. Checks that a
// hinted write lives only in the fallback's hint table (and is still read
// and listed), that an owner failing during a write gets a stand-in, that
// handoff delivers and forgets, that a fallback never mints a dot twice,
// and that delivery keeps to its rate.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { Coordinator } from '../../src/coordinator/coordinator.js';
import { DotFloor } from '../../src/version/dot-floor.js';
import { HintedHandoff, type HandoffConfig } from '../../src/handoff/handoff.js';
import type { Liveness } from '../../src/membership/liveness.js';
import { Ring } from '../../src/ring/ring.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { SeededRandom } from '../../src/util/runtime.js';
import type { NodeId, SiblingSet } from '../../src/version/dvv.js';
import { VirtualClock } from '../../src/sim/scheduler.js';


/** A view set by the test: the nodes in `down` are dead. */
class ManualLiveness implements Liveness {
  readonly down = new Set<NodeId>();
  isAlive(node: NodeId): boolean {
    return !this.down.has(node);
  }
  reportSuccess(): void {}
  reportFailure(): void {}
}

const IDS = ['n1', 'n2', 'n3', 'n4'];
const BUCKET = 'b';

interface TestNode {
  id: NodeId;
  store: MemoryStore;
  floor: DotFloor;
  coordinator: Coordinator;
  handoff: HintedHandoff;
}

function cluster(handoff: Partial<HandoffConfig> = {}) {
  const clock = new VirtualClock(1_000_000);
  const net = new MemoryNetwork({ clock, random: new SeededRandom(1), minLatencyMs: 1, maxLatencyMs: 2 });
  const ring = new Ring({ epoch: 1, partitions: 64, nodes: IDS.map((id) => ({ id, zone: 'z', weight: 1 })) });
  const liveness = new ManualLiveness();
  const nodes = new Map<NodeId, TestNode>();
  for (const id of IDS) {
    const store = new MemoryStore();
    const floor = new DotFloor(store, 100);
    const transport = net.transport(id);
    const coordinator = new Coordinator({
      self: id,
      store,
      transport,
      clock,
      random: new SeededRandom(id.charCodeAt(1)),
      ring: () => ring,
      liveness,
      config: { defaultQuorum: { n: 3, r: 2, w: 2 }, replicaTimeoutMs: 500 },
      hints: { store, dotFloor: () => floor.current(), maxHints: 1000, maxHintBytes: 1 << 30 },
    });
    transport.serve(coordinator.handle);
    const h = new HintedHandoff({ self: id, clock, transport, liveness, hints: store, raiseDotFloor: (c) => floor.raise(c), config: handoff });
    nodes.set(id, { id, store, floor, coordinator, handoff: h });
  }
  const node = (id: NodeId) => nodes.get(id) as TestNode;
  /** Runs virtual time until the promise settles. */
  const run = async <T>(p: Promise<T>): Promise<T> => {
    let outcome: { ok: true; value: T } | { ok: false; err: unknown } | undefined;
    void p.then(
      (value) => (outcome = { ok: true, value }),
      (err: unknown) => (outcome = { ok: false, err }),
    );
    for (let i = 0; i < 10_000 && outcome === undefined; i++) await clock.advance(5);
    if (outcome === undefined) throw new Error('still pending after 50 s of virtual time');
    if (!outcome.ok) throw outcome.err;
    return outcome.value;
  };
  /** A key with n4 among its owners, and the owners. */
  const keyOwnedBy = (owner: NodeId, i = 0): { key: string; owners: NodeId[]; fallbacks: NodeId[] } => {
    for (let k = 0; ; k++) {
      const key = `key-${k}`;
      const p = ring.partitionOf(BUCKET, key);
      const { owners, fallbacks } = ring.preference(p, 3);
      if (owners.includes(owner) && i-- === 0) return { key, owners, fallbacks };
    }
  };
  const value = (s: string) => new TextEncoder().encode(s);
  const dots = (set: SiblingSet | undefined | null) => (set?.siblings ?? []).map((s) => `${s.dot.node}:${s.dot.counter}`).sort();
  return { clock, net, ring, liveness, nodes, node, run, keyOwnedBy, value, dots };
}

describe('sloppy quorum and hinted handoff', () => {
  test('a write for a dead owner lands in a fallback\'s hint table only; reads and listings still see it; handoff delivers and forgets it', async () => {
    const c = cluster();
    const { key, owners, fallbacks } = c.keyOwnedBy('n4');
    const coord = owners.find((o) => o !== 'n4') as NodeId;
    c.liveness.down.add('n4');
    c.net.crash('n4');
    const w = await c.run(c.node(coord).coordinator.put({ bucket: BUCKET, key, value: c.value('v1'), context: null, w: 3 }));
    const fallback = fallbacks[0] as NodeId;
    assert.deepEqual(w.hinted, [{ node: fallback, for: 'n4' }]);
    assert.equal(w.replicasWritten.length, 3, 'the fallback counts toward W');
    const f = c.node(fallback);
    assert.equal(f.store.read(BUCKET, key), undefined, 'not in the fallback\'s own replicas');
    assert.equal(f.store.readHints(BUCKET, key).length, 1);
    assert.deepEqual(f.store.hintTotals().map((t) => [t.owner, t.hints]), [['n4', 1]]);

    // A read that asks the fallback (R=3 with one owner dead) sees the hinted data.
    const r = await c.run(c.node(coord).coordinator.get({ bucket: BUCKET, key, r: 3 }));
    assert.ok(r.replicasRead.includes(fallback));
    assert.notEqual(r.vectorClocks[fallback], null);
    // A listing served by the fallback alone includes hinted keys.
    const listed = await c.run(c.net.transport(fallback).request(fallback, { type: 'listKeys', bucket: BUCKET, prefix: '', after: '', limit: 100 }, 1000));
    assert.deepEqual(listed.keys.map((k) => k.key), [key]);

    // The owner comes back: handoff delivers, the owners agree, the hint is gone.
    c.net.restart('n4');
    c.net.transport('n4').serve(c.node('n4').coordinator.handle);
    c.liveness.down.delete('n4');
    f.handoff.start();
    await c.clock.advance(2000);
    f.handoff.stop();
    assert.deepEqual(f.store.hintTotals(), []);
    assert.equal(f.handoff.totals().delivered, 1);
    const sets = owners.map((o) => c.dots(c.node(o).store.read(BUCKET, key)));
    for (const s of sets) assert.deepEqual(s, sets[0]);
    assert.equal(sets[0]!.length, 1);
  });

  test('an owner the view still holds alive but that is gone gets a stand-in during the write', async () => {
    const c = cluster();
    const { key, owners, fallbacks } = c.keyOwnedBy('n4', 1);
    const coord = owners.find((o) => o !== 'n4') as NodeId;
    c.net.crash('n4'); // not noticed by the membership view
    const w = await c.run(c.node(coord).coordinator.put({ bucket: BUCKET, key, value: c.value('v'), context: null, w: 3 }));
    assert.deepEqual(w.hinted, [{ node: fallbacks[0], for: 'n4' }]);
    assert.equal(w.replicasWritten.length, 3);
    assert.ok(!w.replicasWritten.includes('n4'));
    // Strict quorum (sloppy=false, Riak's pw) refuses the stand-in: W=3 cannot be met.
    await assert.rejects(c.run(c.node(coord).coordinator.put({ bucket: BUCKET, key, value: c.value('w'), context: null, w: 3, sloppy: false })), /QuorumNotReached|needed 3/);
  });

  test('a fallback minting as origin never reuses a dot after its hint was handed off and deleted', async () => {
    const c = cluster({ intervalMs: 50 });
    const { key, owners, fallbacks } = c.keyOwnedBy('n1', 2);
    const fallback = fallbacks[0] as NodeId;
    const f = c.node(fallback);
    const isolate = () => {
      for (const o of owners) {
        c.liveness.down.add(o);
        c.net.crash(o);
      }
    };
    const heal = () => {
      for (const o of owners) {
        c.net.restart(o);
        c.net.transport(o).serve(c.node(o).coordinator.handle);
        c.liveness.down.delete(o);
      }
    };
    isolate();
    const w1 = await c.run(f.coordinator.put({ bucket: BUCKET, key, value: c.value('first'), context: null, w: 1 }));
    assert.equal(w1.origin, fallback);
    assert.equal(w1.hinted.length, 1);
    heal();
    f.handoff.start();
    await c.clock.advance(1000);
    assert.deepEqual(f.store.hintTotals(), [], 'delivered and deleted');
    assert.ok(f.floor.current() >= 1);
    isolate();
    const w2 = await c.run(f.coordinator.put({ bucket: BUCKET, key, value: c.value('second'), context: null, w: 1 }));
    assert.equal(w2.origin, fallback);
    heal();
    await c.clock.advance(1000);
    f.handoff.stop();
    // Both writes survive as siblings on every owner (the one the fallback
    // stood in for, and the two it kept coordinator hints for): the second dot is new.
    assert.deepEqual(w2.hinted, w1.hinted);
    for (const o of owners) {
      const set = c.node(o).store.read(BUCKET, key);
      const values = (set?.siblings ?? []).map((s) => new TextDecoder().decode(s.value as Uint8Array)).sort();
      assert.deepEqual(values, ['first', 'second'], `owner ${o}`);
    }
  });

  test('a coordinator cut off from the other owners keeps hints for them (W=1), and handoff brings its writes across', async () => {
    const c = cluster({ intervalMs: 50 });
    const { key, owners } = c.keyOwnedBy('n2', 4);
    const others = IDS.filter((id) => id !== 'n2');
    for (const o of others) {
      c.liveness.down.add(o);
      c.net.crash(o);
    }
    const w = await c.run(c.node('n2').coordinator.put({ bucket: BUCKET, key, value: c.value('minority'), context: null, w: 1 }));
    assert.deepEqual(w.replicasWritten, ['n2']);
    assert.deepEqual(w.hinted, []);
    const kept = c.node('n2').store.readHints(BUCKET, key).map((h) => h.owner).sort();
    assert.deepEqual(kept, owners.filter((o) => o !== 'n2').sort());
    for (const o of others) {
      c.net.restart(o);
      c.net.transport(o).serve(c.node(o).coordinator.handle);
      c.liveness.down.delete(o);
    }
    c.node('n2').handoff.start();
    await c.clock.advance(1000);
    c.node('n2').handoff.stop();
    for (const o of owners) assert.deepEqual(c.dots(c.node(o).store.read(BUCKET, key)), [`n2:${w.vectorClocks['n2']!['n2']}`], o);
    assert.deepEqual(c.node('n2').store.hintTotals(), []);
  });

  test('delivery keeps to its key rate and to the owner\'s liveness', async () => {
    const c = cluster({ intervalMs: 100, keysPerSecond: 50, maxInFlight: 4 });
    const fallback = 'n1';
    const f = c.node(fallback);
    // 200 hints for n4 straight into n1's table.
    for (let i = 0; i < 200; i++) {
      const key = `k${i}`;
      const partition = c.ring.partitionOf(BUCKET, key);
      await f.store.updateHint({ owner: 'n4', partition, bucket: BUCKET, key }, 0, () => ({
        siblings: [{ dot: { node: 'n2', counter: 1 }, past: {}, value: c.value(`v${i}`), meta: { ts: 1 } }],
      }));
    }
    c.liveness.down.add('n4');
    f.handoff.start();
    await c.clock.advance(2000);
    assert.equal(f.handoff.totals().delivered, 0, 'nothing goes to an owner the view holds dead');
    c.liveness.down.delete('n4');
    await c.clock.advance(2000);
    const delivered = f.handoff.totals().delivered;
    // 2 s at 50 keys/s plus one burst of two intervals' worth.
    assert.ok(delivered >= 80 && delivered <= 2 * 50 + 10 + 4, `delivered ${delivered}`);
    await c.clock.advance(4000);
    f.handoff.stop();
    assert.equal(f.handoff.totals().delivered, 200);
    assert.deepEqual(f.store.hintTotals(), []);
    const st = f.handoff.status().find((s) => s.owner === 'n4');
    assert.equal(st?.delivered, 200);
    assert.equal(st?.hints, 0);
    assert.equal([...c.node('n4').store.scanBucket(BUCKET, {})].length, 200);
  });

  test('a full hint table refuses new keys; the write fails on that node instead of piling up', async () => {
    const c = cluster();
    const { key, owners, fallbacks } = c.keyOwnedBy('n4', 3);
    const fallback = fallbacks[0] as NodeId;
    // Fill the fallback's table to its bound (maxHints 1000 in this cluster).
    const f = c.node(fallback);
    for (let i = 0; i < 1000; i++) {
      await f.store.updateHint({ owner: 'n4', partition: 0, bucket: 'other', key: `x${i}` }, 0, () => ({
        siblings: [{ dot: { node: 'n2', counter: 1 }, past: {}, value: null, meta: { ts: 1 } }],
      }));
    }
    c.liveness.down.add('n4');
    c.net.crash('n4');
    const coord = owners.find((o) => o !== 'n4') as NodeId;
    await assert.rejects(c.run(c.node(coord).coordinator.put({ bucket: BUCKET, key, value: c.value('v'), context: null, w: 3 })), /hint table full|QuorumNotReached|needed/);
    const ok = await c.run(c.node(coord).coordinator.put({ bucket: BUCKET, key, value: c.value('v'), context: null, w: 2 }));
    assert.deepEqual(ok.hinted, []);
  });
});
