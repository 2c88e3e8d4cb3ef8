// The anti-entropy exchange and tombstone collection on in-memory replicas
// (src/antientropy/antientropy.ts): replicas that differ in random keys
// converge to the join of their sets; repair is paced by the rate limit;
// tombstones are collected only when every replica holds them and the grace
// period has passed, and a replica that missed a delete cannot undo it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AntiEntropy, type AntiEntropyConfig } from '../../src/antientropy/antientropy.js';
import { DOT_FLOOR_META } from '../../src/version/dot-floor.js';
import { StaleDataError } from '../../src/util/errors.js';
import { MerkleTrackingStore } from '../../src/antientropy/tracking-store.js';
import { buildTree, hashHex, type TreeShape } from '../../src/antientropy/merkle.js';
import type { AeRequest, AeResponseFor } from '../../src/antientropy/protocol.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { Ring } from '../../src/ring/ring.js';
import type { Liveness } from '../../src/membership/liveness.js';
import type { Clock, Timer } from '../../src/util/runtime.js';
import { EMPTY_SET, dotKey, isTombstoneOnly, newEvent, setClock, sync, type SiblingSet } from '../../src/version/dvv.js';

/** Virtual time: timers fire only when the test advances the clock. */
class ManualClock implements Clock {
  t = 1_000_000;
  private timers: { at: number; fn: () => void; live: boolean }[] = [];
  now(): number {
    return this.t;
  }
  setTimer(ms: number, fn: () => void): Timer {
    const entry = { at: this.t + ms, fn, live: true };
    this.timers.push(entry);
    return { cancel: () => void (entry.live = false) };
  }
  /** Fires the earliest live timer (advancing time to it); false when none is pending. */
  fireNext(): boolean {
    this.timers = this.timers.filter((x) => x.live);
    if (this.timers.length === 0) return false;
    this.timers.sort((a, b) => a.at - b.at);
    const next = this.timers.shift()!;
    this.t = Math.max(this.t, next.at);
    next.fn();
    return true;
  }
  /** Waits for `p`, firing timers whenever everything else is idle. */
  async drive<T>(p: Promise<T>): Promise<T> {
    let done = false;
    const out = p.finally(() => void (done = true));
    while (!done) {
      await new Promise((r) => setImmediate(r));
      if (!done) this.fireNext();
    }
    return out;
  }
}

class Down implements Liveness {
  readonly down = new Set<string>();
  isAlive(node: string): boolean {
    return !this.down.has(node);
  }
  reportSuccess(): void {}
  reportFailure(): void {}
}

interface Cluster {
  ring: Ring;
  clock: ManualClock;
  liveness: Down;
  stores: Map<string, MerkleTrackingStore>;
  ae: Map<string, AntiEntropy>;
  messages: Map<string, number>;
}

const BUCKET = 'b';
/** Between collection's two confirmations (data-age.ts): twice maxDataAgeMs, no skew. */
const GAP_MS = 2000;

function cluster(ids: string[], opts: { partitions?: number; n?: number; config?: Partial<AntiEntropyConfig>; shape?: TreeShape; pendingHint?: (node: string, key: string) => boolean } = {}): Cluster {
  const ring = new Ring({ epoch: 1, partitions: opts.partitions ?? 8, nodes: ids.map((id) => ({ id, zone: id, weight: 1 })) });
  const clock = new ManualClock();
  const liveness = new Down();
  const stores = new Map<string, MerkleTrackingStore>();
  const ae = new Map<string, AntiEntropy>();
  const messages = new Map<string, number>();
  for (const self of ids) {
    const store = new MerkleTrackingStore(new MemoryStore(), opts.shape);
    stores.set(self, store);
    ae.set(
      self,
      new AntiEntropy({
        self,
        store,
        clock,
        ring: () => ring,
        liveness,
        n: opts.n ?? ids.length,
        config: { keysPerSec: Infinity, tombstoneGraceMs: 10_000, gcIntervalMs: 0, maxDataAgeMs: GAP_MS / 2, maxClockSkewMs: 0, ...opts.config },
        ...(opts.pendingHint ? { pendingHint: (_b: string, k: string) => opts.pendingHint!(self, k) } : {}),
        transport: {
          async request<R extends AeRequest>(to: string, req: R): Promise<AeResponseFor[R['type']]> {
            messages.set(req.type, (messages.get(req.type) ?? 0) + 1);
            if (liveness.down.has(to) || liveness.down.has(self)) throw new Error(`${to} unreachable from ${self}`);
            // Cloned both ways, as a wire would.
            const resp = await ae.get(to)!.handle(self, structuredClone(req));
            return structuredClone(resp) as AeResponseFor[R['type']];
          },
        },
      }),
    );
  }
  return { ring, clock, liveness, stores, ae, messages };
}

function put(c: Cluster, node: string, key: string, set: SiblingSet): Promise<SiblingSet> {
  return c.stores.get(node)!.update(c.ring.partitionOf(BUCKET, key), BUCKET, key, (cur) => (cur === undefined ? set : sync(cur, set)));
}

function dots(set: SiblingSet | undefined): string {
  return (set?.siblings ?? []).map((s) => dotKey(s.dot)).join(',');
}

function value(n: number): Uint8Array {
  return new Uint8Array([n & 255]);
}

async function roundAll(c: Cluster): Promise<void> {
  for (const ae of c.ae.values()) await c.clock.drive(ae.runRound());
}

function rootsAgree(c: Cluster): boolean {
  for (let p = 0; p < c.ring.partitions; p++) {
    const owners = c.ring.preference(p, c.stores.size).owners;
    const roots = new Set(owners.map((o) => hashHex(c.stores.get(o)!.forest.root(p))));
    if (roots.size !== 1) return false;
  }
  return true;
}

// ------------------------------------------------------------------ exchange

type Op = { kind: 'write'; at: number; key: number; ctx: boolean; del: boolean } | { kind: 'replicate'; from: number; to: number; key: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('write' as const), at: fc.nat(2), key: fc.nat(60), ctx: fc.boolean(), del: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('replicate' as const), from: fc.nat(2), to: fc.nat(2), key: fc.nat(60) }) },
);

test('property: replicas differing in random keys converge to the join of their sets, and roots agree', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { maxLength: 150 }),
      fc.constantFrom(2, 3),
      fc.constantFrom<TreeShape>({ fanout: 16, depth: 2 }, { fanout: 2, depth: 4 }),
      fc.constantFrom(1, 4, 1000),
      async (ops, size, shape, keysPerPage) => {
        const ids = ['a', 'b', 'c'].slice(0, size);
        const c = cluster(ids, { shape, config: { keysPerPage, keysPerBatch: 7, maxBatchBytes: 40 } });
        // Timestamps of now: every tombstone is within its grace period, so nothing is collected here.
        let t = c.clock.now();
        for (const op of ops) {
          const key = `k${op.key}`;
          if (op.kind === 'write') {
            const node = ids[op.at % size]!;
            const store = c.stores.get(node)!;
            await store.update(c.ring.partitionOf(BUCKET, key), BUCKET, key, (cur) => {
              const base = cur ?? EMPTY_SET;
              return newEvent(base, node, op.ctx ? setClock(base) : {}, op.del ? null : value(++t), {}, ++t).set;
            });
          } else {
            const from = c.stores.get(ids[op.from % size]!)!.read(BUCKET, key);
            if (from !== undefined) await put(c, ids[op.to % size]!, key, from);
          }
        }
        // The expected result: per key, the join of every replica's set.
        const expected = new Map<string, string>();
        for (let k = 0; k <= 60; k++) {
          let j: SiblingSet = EMPTY_SET;
          for (const s of c.stores.values()) j = sync(j, s.read(BUCKET, `k${k}`) ?? EMPTY_SET);
          expected.set(`k${k}`, dots(j));
        }
        await roundAll(c);
        await roundAll(c);
        for (const [key, want] of expected) {
          for (const id of ids) assert.equal(dots(c.stores.get(id)!.read(BUCKET, key)), want, `${key} on ${id}`);
        }
        assert.ok(rootsAgree(c), 'roots agree');
        // Trees still equal a rebuild, and a further round finds nothing to do.
        for (const [id, s] of c.stores) {
          for (let p = 0; p < c.ring.partitions; p++) assert.equal(hashHex(buildTree(s.scanPartition(p), shape).root()), hashHex(s.forest.root(p)), `${id} p${p}`);
        }
        for (const ae of c.ae.values()) {
          const r = await c.clock.drive(ae.runRound());
          assert.equal(r.partitionsDiffering, 0);
          assert.equal(r.errors, 0);
        }
      },
    ),
    { numRuns: 60 },
  );
});

test('equal replicas exchange only roots: one message per peer per round', async () => {
  const c = cluster(['a', 'b', 'c'], { partitions: 64 });
  for (let i = 0; i < 200; i++) {
    const s = newEvent(EMPTY_SET, 'a', {}, value(i), {}, i + 1).set;
    for (const id of ['a', 'b', 'c']) await put(c, id, `k${i}`, s);
  }
  c.messages.clear();
  await roundAll(c);
  assert.deepEqual([...c.messages.keys()], ['aeRoots']);
  // Each node compares with the next owner of each partition: with 3 nodes, 2 peers each at most.
  assert.ok(c.messages.get('aeRoots')! <= 6);
});

test('descent: one differing key costs depth hash requests, one leaf listing, one fetch and one push', async () => {
  const c = cluster(['a', 'b'], { partitions: 1, shape: { fanout: 4, depth: 3 } });
  for (let i = 0; i < 300; i++) {
    const s = newEvent(EMPTY_SET, 'a', {}, value(i), {}, i + 1).set;
    await put(c, 'a', `k${i}`, s);
    await put(c, 'b', `k${i}`, s);
  }
  // One key differs both ways: a concurrent write on each side.
  await put(c, 'a', 'k5', newEvent(c.stores.get('a')!.read(BUCKET, 'k5')!, 'a', {}, value(1), {}, 1000).set);
  await put(c, 'b', 'k5', newEvent(c.stores.get('b')!.read(BUCKET, 'k5')!, 'b', {}, value(2), {}, 1001).set);
  c.messages.clear();
  const initiator = c.ring.preference(0, 2).owners[0]!;
  const r = await c.clock.drive(c.ae.get(initiator)!.runRound());
  assert.equal(r.partitionsDiffering, 1);
  assert.deepEqual(Object.fromEntries(c.messages), { aeRoots: 1, aeHashes: 3, aeLeafKeys: 1, aeFetch: 1, aePush: 1 });
  assert.equal(r.keysPulled, 1);
  assert.equal(r.keysPushed, 1);
  assert.ok(r.keysCompared < 30, `compared ${r.keysCompared} keys, not the whole partition`);
  assert.equal(dots(c.stores.get('a')!.read(BUCKET, 'k5')), dots(c.stores.get('b')!.read(BUCKET, 'k5')));
  assert.equal(c.stores.get('a')!.read(BUCKET, 'k5')!.siblings.length, 3);
});

test('repair is paced by keysPerSec on the injected clock', async () => {
  const c = cluster(['a', 'b'], { partitions: 4, config: { keysPerSec: 100, keysPerBatch: 10 } });
  for (let i = 0; i < 300; i++) await put(c, 'a', `k${i}`, newEvent(EMPTY_SET, 'a', {}, value(i), {}, i + 1).set);
  const t0 = c.clock.now();
  await roundAll(c);
  const elapsed = c.clock.now() - t0;
  // 300 keys at 100/s with a 25-key burst: about 2.75 s of virtual time.
  assert.ok(elapsed >= 2500 && elapsed <= 3500, `took ${elapsed} ms`);
  assert.ok(rootsAgree(c));
  const moved = [...c.ae.values()].reduce((n, ae) => n + ae.status().totals.keysPulled + ae.status().totals.keysPushed, 0);
  assert.equal(moved, 300);
});

test('a peer the local view holds down is skipped, and counted', async () => {
  const c = cluster(['a', 'b', 'c']);
  await put(c, 'a', 'x', newEvent(EMPTY_SET, 'a', {}, value(1), {}, 1).set);
  c.liveness.down.add('c');
  for (const id of ['a', 'b']) await c.clock.drive(c.ae.get(id)!.runRound());
  const s = c.ae.get('a')!.status();
  assert.ok(s.lastRound!.peersSkipped + c.ae.get('b')!.status().lastRound!.peersSkipped > 0);
  assert.equal(s.inSync || c.ae.get('b')!.status().inSync, false);
  assert.equal(c.stores.get('c')!.read(BUCKET, 'x'), undefined);
  assert.ok(c.stores.get('b')!.read(BUCKET, 'x') !== undefined);
});

test('start() runs rounds on the clock; stop() ends them', async () => {
  const c = cluster(['a', 'b'], { config: { intervalMs: 500 } });
  const a = c.ae.get('a')!;
  await put(c, 'b', 'x', newEvent(EMPTY_SET, 'b', {}, value(1), {}, 1).set);
  for (const ae of c.ae.values()) ae.start();
  for (let i = 0; i < 20 && (a.status().rounds < 2 || c.ae.get('b')!.status().rounds < 2); i++) {
    await new Promise((r) => setImmediate(r));
    c.clock.fireNext();
  }
  assert.ok(a.status().rounds >= 2);
  assert.equal(dots(c.stores.get('a')!.read(BUCKET, 'x')), 'b:1');
  for (const ae of c.ae.values()) await ae.stop();
  const rounds = a.status().rounds;
  while (c.clock.fireNext()) await new Promise((r) => setImmediate(r));
  assert.equal(a.status().rounds, rounds);
});

test('a request with another tree shape is refused', async () => {
  const c = cluster(['a', 'b']);
  await assert.rejects(c.ae.get('a')!.handle('b', { type: 'aeRoots', shape: { fanout: 2, depth: 2 }, partitions: [0] }), /shape mismatch/);
});

// ---------------------------------------------------------- tombstone GC

async function everywhere(c: Cluster, key: string, set: SiblingSet): Promise<void> {
  for (const id of c.stores.keys()) await put(c, id, key, set);
}

function live(n: number, ts: number): SiblingSet {
  return newEvent(EMPTY_SET, 'a', {}, value(n), {}, ts).set;
}

/** Two sweeps by one node, the confirmation gap apart: what collection needs to remove anything. */
async function collectTwice(c: Cluster, node: string): Promise<void> {
  await c.clock.drive(c.ae.get(node)!.collectTombstones());
  c.clock.t += GAP_MS;
  await c.clock.drive(c.ae.get(node)!.collectTombstones());
}

function deleteOf(set: SiblingSet, ts: number): SiblingSet {
  return newEvent(set, 'a', setClock(set), null, {}, ts).set;
}

test('tombstones held by every replica are collected after the grace period, not before', async () => {
  const c = cluster(['a', 'b', 'c'], { partitions: 4 });
  const now = c.clock.now();
  for (let i = 0; i < 20; i++) {
    const v = live(i, now - 100);
    await everywhere(c, `old${i}`, deleteOf(v, now - 50));
    await everywhere(c, `keep${i}`, v);
  }
  // Before the grace period: nothing collected.
  await roundAll(c);
  for (const s of c.stores.values()) assert.ok(s.read(BUCKET, 'old3') !== undefined);
  c.clock.t += 10_001;
  await roundAll(c);
  // Past the grace period, every replica holding the sets: confirmed once, not yet collected.
  for (const s of c.stores.values()) assert.ok(s.read(BUCKET, 'old3') !== undefined, 'collected at the first confirmation');
  assert.equal([...c.ae.values()].reduce((n, ae) => n + ae.status().totals.gcPendingConfirmation, 0), 20);
  c.clock.t += GAP_MS - 1;
  await roundAll(c);
  for (const s of c.stores.values()) assert.ok(s.read(BUCKET, 'old3') !== undefined, 'collected before the gap had passed');
  c.clock.t += 1;
  await roundAll(c);
  for (const [id, s] of c.stores) {
    for (let i = 0; i < 20; i++) {
      assert.equal(s.read(BUCKET, `old${i}`), undefined, `old${i} still on ${id}`);
      assert.ok(s.read(BUCKET, `keep${i}`) !== undefined);
    }
  }
  const collected = [...c.ae.values()].reduce((n, ae) => n + ae.status().totals.tombstonesCollected, 0);
  assert.equal(collected, 60);
  assert.ok(rootsAgree(c));
});

test('a delete while an owner is down stays deleted: after it returns, after anti-entropy, after the grace period', async () => {
  const c = cluster(['a', 'b', 'c'], { partitions: 4 });
  const v = live(7, c.clock.now());
  await everywhere(c, 'x', v);
  // c goes down; the delete lands on a and b only.
  c.liveness.down.add('c');
  const tomb = deleteOf(v, c.clock.now() + 1);
  await put(c, 'a', 'x', tomb);
  await put(c, 'b', 'x', tomb);
  // Grace passes while c is down: collection is blocked (c cannot confirm).
  c.clock.t += 20_000;
  await roundAll(c);
  assert.ok(isTombstoneOnly(c.stores.get('a')!.read(BUCKET, 'x')!));
  assert.ok([...c.ae.values()].some((ae) => ae.status().totals.gcBlocked > 0));
  // c returns with the old live value; anti-entropy brings it the tombstone (not the reverse)...
  c.liveness.down.delete('c');
  await roundAll(c);
  await roundAll(c);
  c.clock.t += GAP_MS;
  await roundAll(c);
  // ...and once every replica holds it (confirmed twice), it is collected everywhere.
  for (const [id, s] of c.stores) assert.equal(s.read(BUCKET, 'x'), undefined, `x on ${id}`);
  await roundAll(c);
  for (const [id, s] of c.stores) assert.equal(s.read(BUCKET, 'x'), undefined, `x came back on ${id}`);
});

test('a replica holding anything else (a newer write, an old value, a pending hint) blocks collection', async () => {
  const c = cluster(['a', 'b', 'c', 'd'], { partitions: 1, n: 3, pendingHint: (node, key) => node === 'b' && key === 'hinted' });
  const owners = c.ring.preference(0, 3).owners;
  const outsider = c.ring.preference(0, 3).fallbacks[0]!;
  const now = c.clock.now();
  const v = live(1, now - 100);
  const tomb = deleteOf(v, now - 50);
  for (const o of owners) {
    await put(c, o, 'plain', tomb);
    await put(c, o, 'outsider-old', tomb);
    await put(c, o, 'hinted', tomb);
  }
  // A fallback still holds the old live value of one key (say, a hinted write).
  await put(c, outsider, 'outsider-old', v);
  c.clock.t += 20_000;
  // Only the primary of the partition sweeps.
  await collectTwice(c, owners[0]!);
  for (const o of owners) {
    assert.equal(c.stores.get(o)!.read(BUCKET, 'plain'), undefined);
    assert.ok(c.stores.get(o)!.read(BUCKET, 'outsider-old') !== undefined, 'an old value elsewhere blocks collection');
    assert.ok(c.stores.get(o)!.read(BUCKET, 'hinted') !== undefined || o !== 'b', 'a pending hint blocks collection');
  }
  assert.ok(c.stores.get(owners[0]!)!.read(BUCKET, 'hinted') !== undefined);
  // A write racing the collection (digest changed between check and removal) survives: simulated by a write before the sweep.
  const w = newEvent(tomb, owners[1]!, {}, value(9), {}, now);
  await put(c, owners[1]!, 'plain2', w.set);
  for (const o of [owners[0]!, owners[2]!]) await put(c, o, 'plain2', tomb);
  await collectTwice(c, owners[0]!);
  assert.ok(c.stores.get(owners[1]!)!.read(BUCKET, 'plain2')!.siblings.some((s) => s.value !== null));
  assert.ok(c.stores.get(owners[0]!)!.read(BUCKET, 'plain2') !== undefined);
});

test('collection is off with gcEnabled false', async () => {
  const c = cluster(['a', 'b'], { config: { gcEnabled: false } });
  const now = c.clock.now();
  await everywhere(c, 'x', deleteOf(live(1, now - 100), now - 50));
  c.clock.t += 1_000_000;
  await roundAll(c);
  for (const s of c.stores.values()) assert.ok(s.read(BUCKET, 'x') !== undefined);
});

test('collecting raises a durable dot floor, so a key minted again cannot reuse a dot a leftover tombstone covers', async () => {
  const c = cluster(['a', 'b'], { partitions: 1 });
  const now = c.clock.now();
  // Five writes by a, then a delete by a: the tombstone is (a,6) with past {a:5}.
  let s: SiblingSet = EMPTY_SET;
  for (let i = 0; i < 5; i++) s = newEvent(s, 'a', setClock(s), value(i), {}, now - 100 + i).set;
  const tomb = newEvent(s, 'a', setClock(s), null, {}, now - 50).set;
  await everywhere(c, 'x', tomb);
  // b keeps a copy, as if its removal had failed.
  const leftover = c.stores.get('b')!.read(BUCKET, 'x')!;
  c.clock.t += 20_000;
  const primary = c.ring.preference(0, 2).owners[0]!;
  await collectTwice(c, primary);
  assert.equal(c.stores.get('a')!.read(BUCKET, 'x'), undefined);
  assert.ok(c.ae.get('a')!.dotFloor() >= 6);
  assert.equal(c.stores.get('a')!.getMeta<number>(DOT_FLOOR_META), c.ae.get('a')!.dotFloor());
  // A new write on a, minted with the floor, survives meeting the leftover tombstone; without it, it would vanish.
  const fresh = newEvent(EMPTY_SET, 'a', {}, value(42), {}, now, c.ae.get('a')!.dotFloor()).set;
  assert.ok(sync(leftover, fresh).siblings.some((x) => x.value !== null));
  const unsafe = newEvent(EMPTY_SET, 'a', {}, value(42), {}, now).set;
  assert.ok(!sync(leftover, unsafe).siblings.some((x) => x.value !== null));
});

test('a tombstone set that changes between the two confirmations is confirmed afresh', async () => {
  const c = cluster(['a', 'b', 'c'], { partitions: 1 });
  const primary = c.ring.preference(0, 3).owners[0]!;
  const now = c.clock.now();
  const v = live(1, now - 100);
  const t1 = deleteOf(v, now - 50);
  await everywhere(c, 'x', t1);
  c.clock.t += 20_000;
  await c.clock.drive(c.ae.get(primary)!.collectTombstones());
  // A second, concurrent delete reaches every replica: a new set, so the first confirmation no longer counts.
  const t2 = newEvent(v, 'b', setClock(v), null, {}, now - 40).set;
  await everywhere(c, 'x', t2);
  c.clock.t += GAP_MS;
  await c.clock.drive(c.ae.get(primary)!.collectTombstones());
  for (const [id, s] of c.stores) assert.ok(s.read(BUCKET, 'x') !== undefined, `x collected on ${id} with one confirmation of its set`);
  c.clock.t += GAP_MS;
  await c.clock.drive(c.ae.get(primary)!.collectTombstones());
  for (const [id, s] of c.stores) assert.equal(s.read(BUCKET, 'x'), undefined, `x still on ${id}`);
});

test('a pushed copy read longer ago than maxDataAgeMs is refused, not merged', async () => {
  const c = cluster(['a', 'b'], { partitions: 1 });
  const v = live(5, c.clock.now());
  const entries = [{ bucket: BUCKET, key: 'old', set: v }];
  await assert.rejects(
    c.ae.get('b')!.handle('a', { type: 'aePush', partition: 0, entries, asOf: c.clock.now() - GAP_MS / 2 - 1 }),
    (err: unknown) => err instanceof StaleDataError,
  );
  assert.equal(c.stores.get('b')!.read(BUCKET, 'old'), undefined);
  assert.equal(c.ae.get('b')!.status().totals.staleRefused, 1);
  await c.ae.get('b')!.handle('a', { type: 'aePush', partition: 0, entries, asOf: c.clock.now() - GAP_MS / 2 });
  assert.equal(dots(c.stores.get('b')!.read(BUCKET, 'old')), dots(v));
});
