// The bucket catalog over the control state (control/bucket-catalog.ts):
// linearizable creation and the ReadIndex before NoSuchBucket on three Raft
// drivers on virtual time; deletion and ACLs by bucket id; objects stored
// under the bucket id, so a bucket deleted while a node is down and made
// again never shows what that node kept; and the upgrade of a data folder
// from before the control plane (control/legacy-import.ts).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { ControlBucketCatalog } from '../../src/control/bucket-catalog.js';
import { RaftDriver, type DriverStorage, type DriverWrite } from '../../src/control/driver.js';
import { importLegacyBuckets, legacyBucketCommands } from '../../src/control/legacy-import.js';
import { LocalControlPlane, type ControlPlane } from '../../src/control/plane.js';
import { ControlState } from '../../src/control/state.js';
import { storageBucket } from '../../src/coordinator/buckets-types.js';
import { BUCKET_ACL_KEY_PREFIX, BUCKET_KEY_PREFIX, SYSTEM_BUCKET } from '../../src/coordinator/buckets.js';
import type { Message } from '../../src/raft/messages.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { NodeClock, Scheduler } from '../../src/sim/scheduler.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SeededRandom } from '../../src/util/runtime.js';
import { EMPTY_SET, newEvent } from '../../src/version/dvv.js';
import { currentBucket } from '../../src/node/catalog-wiring.js';
import { OTHER, s3Failure, startHarness } from './s3-harness.js';

// ------------------------------------------------ three Raft drivers, virtual time

/** A ControlPlane that counts the ReadIndex barriers asked of it. */
class Counting implements ControlPlane {
  confirms = 0;
  constructor(readonly inner: ControlPlane) {}
  get state(): ControlState {
    return this.inner.state;
  }
  propose(cmd: Parameters<ControlPlane['propose']>[0]) {
    return this.inner.propose(cmd);
  }
  confirm(): Promise<void> {
    this.confirms++;
    return this.inner.confirm();
  }
  onApplied(l: (index: number) => void) {
    return this.inner.onApplied(l);
  }
}

class Disk extends MemoryStorage implements DriverStorage {
  save(w: DriverWrite): Promise<void> {
    if (w.snapshot !== undefined) this.applySnapshot(w.snapshot);
    if (w.entries !== undefined) this.append(w.entries);
    if (w.hardState !== undefined) this.setHardState(w.hardState);
    return Promise.resolve();
  }
}

interface Raft3 {
  sched: Scheduler;
  drivers: Map<string, RaftDriver>;
  /** Messages to these nodes wait here until released. */
  held: Map<string, Message[]>;
  release(id: string): void;
  until<T>(p: Promise<T>, ms?: number): Promise<T>;
}

async function raft3(): Promise<Raft3> {
  const sched = new Scheduler();
  const random = new SeededRandom(11);
  const ids = ['a', 'b', 'c'];
  const drivers = new Map<string, RaftDriver>();
  const held = new Map<string, Message[]>();
  const deliver = (m: Message): void => {
    const queue = held.get(m.to);
    if (queue !== undefined) queue.push(m);
    else drivers.get(m.to)?.receive(m);
  };
  for (const id of ids) {
    const disk = new Disk();
    const b = MemoryStorage.bootstrap({ voters: ids, learners: [] });
    disk.applySnapshot(b.snapshot());
    disk.setHardState(b.hardState());
    const d = new RaftDriver({
      id,
      storage: disk,
      clock: new NodeClock(sched, id, 0, 1),
      random,
      tickMs: 10,
      electionTick: 10,
      heartbeatTick: 1,
      timeoutMs: 2000,
      compactEvery: 1000,
      send: (msgs) => {
        for (const m of msgs) sched.schedule(1 + random.next(), 'net', () => deliver(m));
      },
    });
    drivers.set(id, d);
    d.start();
  }
  const r: Raft3 = {
    sched,
    drivers,
    held,
    release(id) {
      const queue = held.get(id) ?? [];
      held.delete(id);
      for (const m of queue) sched.schedule(1, 'net', () => drivers.get(m.to)?.receive(m));
    },
    async until(p, ms = 5000) {
      let done = false;
      p.then(
        () => (done = true),
        () => (done = true),
      );
      await sched.runUntil(sched.now + ms, () => done);
      return p;
    },
  };
  await sched.runUntil(2000, () => [...drivers.values()].some((d) => d.status().role === 'leader'));
  return r;
}

const catalogOn = (plane: ControlPlane): ControlBucketCatalog => new ControlBucketCatalog({ plane, isEmpty: async () => true });

describe('the bucket catalog on three Raft nodes', () => {
  test('concurrent creations of one name through three nodes give exactly one owner; the others are told who (linearizable creation)', async () => {
    const r = await raft3();
    const ids = ['a', 'b', 'c'];
    const catalogs = ids.map((id) => catalogOn(r.drivers.get(id)!));
    const all = Promise.all(catalogs.map((c, i) => c.create('photos', { owner: `user-${ids[i]}` })));
    const results = await r.until(all);
    const winners = results.filter((x) => x.created);
    assert.equal(winners.length, 1, JSON.stringify(results));
    const owner = winners[0]!.bucket.owner;
    for (const x of results) assert.equal(x.bucket.owner, owner, 'every loser is answered with the winner');
    for (const x of results) assert.equal(x.bucket.id, winners[0]!.bucket.id);
    await r.sched.runUntil(r.sched.now + 200);
    for (const d of r.drivers.values()) assert.equal(d.state.bucket('photos')?.owner, owner);
  });

  test('a bucket created through one node is found at once through a node that has not applied it, by one ReadIndex (Raft §6.4)', async () => {
    const r = await raft3();
    const leaderId = [...r.drivers.entries()].find(([, d]) => d.status().role === 'leader')![0];
    const [proposer, lagging] = ['a', 'b', 'c'].filter((id) => id !== leaderId) as [string, string];
    r.held.set(lagging, []);
    const created = await r.until(catalogOn(r.drivers.get(proposer)!).create('fresh', { owner: 'alice' }));
    assert.equal(created.created, true);
    const plane = new Counting(r.drivers.get(lagging)!);
    assert.equal(plane.state.bucket('fresh'), undefined, 'the lagging node has not applied the creation');
    r.release(lagging);
    const found = await r.until(catalogOn(plane).get('fresh'));
    assert.equal(found?.owner, 'alice');
    assert.equal(found?.id, created.bucket.id);
    assert.equal(plane.confirms, 1);
    // A known name is answered from memory, with no barrier.
    await r.until(catalogOn(plane).get('fresh'));
    assert.equal(plane.confirms, 1);
    // A name nobody created: one barrier, then missing.
    assert.equal(await r.until(catalogOn(plane).get('nobody')), undefined);
    assert.equal(plane.confirms, 2);
  });
});

// ----------------------------------------------------- one node, local plane

describe('the bucket catalog on a local control plane', () => {
  test('delete is refused while the bucket holds objects, and deletes exactly the bucket it found empty', async () => {
    const plane = new LocalControlPlane(() => 1000);
    let empty = false;
    const checked: string[] = [];
    const catalog = new ControlBucketCatalog({ plane, isEmpty: async (s) => (checked.push(s), empty) });
    const { bucket } = await catalog.create('logs', { owner: 'alice', quorum: { n: 3, r: 1, w: 3 } });
    assert.deepEqual(bucket.quorum, { n: 3, r: 1, w: 3 });
    await assert.rejects(catalog.remove('logs'), (e: Error & { code?: string }) => e.code === 'BucketNotEmpty');
    assert.deepEqual(checked, [storageBucket(bucket)], 'emptiness is asked of the storage name, not the bucket name');
    empty = true;
    await catalog.remove('logs');
    assert.equal(await catalog.get('logs'), undefined);
    await assert.rejects(catalog.remove('logs'), (e: Error & { code?: string }) => e.code === 'NoSuchBucket');
    // The state machine deletes by id: a later bucket of the same name survives a stale delete.
    const again = await catalog.create('logs', { owner: 'bob' });
    const stale = await plane.propose({ type: 'deleteBucket', name: 'logs', id: bucket.id });
    assert.equal(stale.ok, false);
    assert.equal((await catalog.get('logs'))?.id, again.bucket.id);
  });

  test('a canned ACL belongs to one bucket id: a bucket made again under the name starts private', async () => {
    const plane = new LocalControlPlane(() => 1000);
    const catalog = catalogOn(plane);
    const first = await catalog.create('pub', { owner: 'alice', acl: 'public-read' });
    assert.equal(first.bucket.acl, 'public-read');
    await catalog.setAcl(first.bucket, 'authenticated-read');
    assert.equal((await catalog.get('pub'))?.acl, 'authenticated-read');
    await catalog.remove('pub');
    const second = await catalog.create('pub', { owner: 'bob' });
    assert.equal(second.bucket.acl, 'private');
    await assert.rejects(catalog.setAcl(first.bucket, 'public-read'), (e: Error & { code?: string }) => e.code === 'NoSuchBucket');
    assert.equal((await catalog.get('pub'))?.acl, 'private');
    // Ids are never reused, and storage names follow them.
    assert.notEqual(first.bucket.id, second.bucket.id);
    assert.notEqual(storageBucket(first.bucket), storageBucket(second.bucket));
  });
});

// -------------------------------------- delete while a node is down, recreate

describe('bucket ids as the storage namespace', () => {
  test('a bucket deleted while a node is down and made again by another user never shows the objects that node kept', async () => {
    const h = await startHarness();
    try {
      const alice = h.client();
      const mallory = h.client(OTHER);
      await alice.send(new CreateBucketCommand({ Bucket: 'reused' }));
      await alice.send(new PutObjectCommand({ Bucket: 'reused', Key: 'secret.txt', Body: 'alice only' }));
      const oldStorage = await h.storage('reused');
      // n3 is down from here on: it keeps its replica of the object and misses the delete.
      const kept = h.stores.get('n3')!.read(oldStorage, 'secret.txt');
      assert.ok(kept !== undefined && kept.siblings.some((s) => s.value !== null), 'n3 holds the object');
      await alice.send(new DeleteObjectCommand({ Bucket: 'reused', Key: 'secret.txt' }));
      await alice.send(new DeleteBucketCommand({ Bucket: 'reused' }));
      // n3 comes back with what it had: the old live version, under the old bucket's storage name.
      await h.stores.get('n3')!.update(0, oldStorage, 'secret.txt', () => kept);
      await mallory.send(new CreateBucketCommand({ Bucket: 'reused' }));
      assert.notEqual(await h.storage('reused'), oldStorage, 'the new bucket stores under a new id');
      const listed = await mallory.send(new ListObjectsV2Command({ Bucket: 'reused' }));
      assert.equal(listed.KeyCount ?? 0, 0, JSON.stringify(listed.Contents));
      assert.equal((await s3Failure(mallory.send(new GetObjectCommand({ Bucket: 'reused', Key: 'secret.txt' })))).code, 'NoSuchKey');
      // The old copy is still on n3 (anti-entropy keeps it among garbage of a gone id), but under no bucket.
      assert.ok(h.stores.get('n3')!.read(oldStorage, 'secret.txt') !== undefined);
    } finally {
      await h.close();
    }
  });

  test('the user index lists only entries of the bucket that has the name now', () => {
    const plane = new LocalControlPlane(() => 1);
    const current = currentBucket(plane);
    assert.equal(current('gone', 3), false, 'no bucket of that name');
    void plane.propose({ type: 'createBucket', name: 'b', owner: 'x' });
    const id = plane.state.bucket('b')!.id;
    assert.equal(current('b', id), true);
    assert.equal(current('b', id + 100), false, 'an entry of an older bucket of the same name');
    assert.equal(current('b', undefined), false, 'an entry from before ids belongs only to an imported bucket');
  });
});

// -------------------------------------------------------- upgrade of old data

const enc = new TextEncoder();

async function legacyRecord(store: MemoryStore, key: string, value: unknown, ts: number): Promise<void> {
  await store.update(0, SYSTEM_BUCKET, key, (cur) => newEvent(cur ?? EMPTY_SET, 'n1', {}, value === null ? null : enc.encode(JSON.stringify(value)), {}, ts).set);
}

describe('the upgrade of a data folder from before the control plane', () => {
  test('live bucket records are imported once, keep their owner, ACL and creation time, and keep their objects under their names', async () => {
    const store = new MemoryStore();
    const q = { n: 3, r: 2, w: 2 };
    await legacyRecord(store, BUCKET_KEY_PREFIX + 'photos', { name: 'photos', owner: 'alice', createdMs: 111, quorum: q }, 111);
    await legacyRecord(store, BUCKET_ACL_KEY_PREFIX + 'photos', { bucketCreatedMs: 111, acl: 'public-read', setMs: 112 }, 112);
    await legacyRecord(store, BUCKET_KEY_PREFIX + 'docs', { name: 'docs', owner: 'bob', createdMs: 222, quorum: { n: 3, r: 1, w: 1 } }, 222);
    // An ACL record of an earlier bucket of the same name does not apply.
    await legacyRecord(store, BUCKET_ACL_KEY_PREFIX + 'docs', { bucketCreatedMs: 100, acl: 'public-read', setMs: 101 }, 101);
    // A deleted bucket (its record a tombstone) is not imported.
    await legacyRecord(store, BUCKET_KEY_PREFIX + 'old', { name: 'old', owner: 'carol', createdMs: 50, quorum: q }, 50);
    await store.update(0, SYSTEM_BUCKET, BUCKET_KEY_PREFIX + 'old', (cur) => newEvent(EMPTY_SET, 'n1', { n1: Math.max(...cur!.siblings.map((s) => s.dot.counter)) }, null, {}, 60).set);

    const cmds = legacyBucketCommands(store);
    assert.deepEqual(cmds.map((c) => c.name), ['docs', 'photos']);
    const plane = new LocalControlPlane(() => 9999);
    const first = await importLegacyBuckets(plane, cmds);
    assert.deepEqual(first.imported, ['docs', 'photos']);
    const catalog = catalogOn(plane);
    const photos = (await catalog.get('photos'))!;
    assert.equal(photos.owner, 'alice');
    assert.equal(photos.createdMs, 111);
    assert.equal(photos.acl, 'public-read');
    assert.equal(storageBucket(photos), 'photos', 'its objects stay under its old name');
    const docs = (await catalog.get('docs'))!;
    assert.deepEqual(docs.quorum, { n: 3, r: 1, w: 1 });
    assert.equal(docs.acl, 'private');

    // Another node holding the same records (or this one restarting) imports nothing twice...
    const second = await importLegacyBuckets(plane, legacyBucketCommands(store));
    assert.deepEqual(second.imported, []);
    // ...and a bucket deleted after the import is not brought back by a late import.
    await catalog.remove('docs');
    const late = await importLegacyBuckets(plane, legacyBucketCommands(store));
    assert.deepEqual(late.imported, []);
    assert.equal(await catalog.get('docs'), undefined);
    // A new bucket under the freed name is stored under its id, apart from the old objects.
    const fresh = await catalog.create('docs', { owner: 'dave' });
    assert.notEqual(storageBucket(fresh.bucket), 'docs');
    // The import survives a snapshot: restoring it refuses the records again.
    const restored = ControlState.restore(plane.state.snapshot());
    assert.equal(restored.bucket('photos')?.legacyStorage, 'photos');
    assert.deepEqual(restored.snapshot(), plane.state.snapshot());
  });
});
