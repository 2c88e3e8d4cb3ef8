// The write log in front of LMDB (issue 13 §2: store/write-log.ts,
// store/logged-replicas.ts): replay after an unclean stop, a torn tail,
// stale records in a recycled segment, reads and scans of entries not yet
// applied (checked against MemoryStore as the oracle), write ordering around
// removes and big values, and back-pressure when the log is full.
//
// An unclean stop is a copy of the store's files taken while it runs (LMDB
// as of its last commit, the log as written): opening the copy is what a
// restart after kill -9 sees, minus what the page cache would lose, which
// test/durability/shim.test.ts covers.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { openLmdbStore, type LmdbStore } from '../../src/store/lmdb-store.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SPILL_BYTES } from '../../src/store/blobs.js';
import { RECORD_HEADER_BYTES, frame, scanSegment } from '../../src/store/write-log.js';
import type { ReplicaStore, StoredKey } from '../../src/store/store.js';
import { ConfigError, loadConfig } from '../../src/node/config.js';
import type { Sibling, SiblingSet } from '../../src/version/dvv.js';

/** Small segments; the applier waits "forever" unless a test or the log's fill level asks for a pass. */
const LOG = { segments: 3, segmentBytes: 256 * 1024, applyDelayMs: 1e9 } as const;

function sib(node: string, counter: number, value: Uint8Array | null): Sibling {
  return { dot: { node, counter }, past: {}, value, meta: { ts: counter } };
}

function val(n: number, len = 32): Uint8Array {
  return new Uint8Array(len).map((_, i) => (n * 31 + i) & 0xff);
}

function set(node: string, counter: number, len = 32): SiblingSet {
  return { siblings: [sib(node, counter, val(counter, len))] };
}

function plain(s: SiblingSet | undefined): unknown {
  return s?.siblings.map((x) => ({ ...x, value: x.value === null ? null : [...x.value] }));
}

function plainScan(it: Iterable<StoredKey>): unknown[] {
  return [...it].map((e) => [e.partition, e.bucket, e.key, plain(e.set)]);
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ringstore-store-log-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The store's files as a kill -9 would leave them (page cache kept): a copy taken while it runs. */
function crashCopy(dir: string, name: string): string {
  const to = path.join(dir, name);
  cpSync(path.join(dir, 'store'), to, { recursive: true, filter: (src) => !src.endsWith('lock.mdb') });
  return to;
}

function logged(store: LmdbStore): NonNullable<LmdbStore['writeLog']> {
  const l = store.writeLog;
  assert.ok(l !== undefined, 'the write log is on');
  return l;
}

/** Segment files of a store copy, with where each record sits. */
function segments(dir: string): { file: string; records: { seq: number; offset: number; bytes: number }[] }[] {
  return [0, 1, 2].map((i) => {
    const file = path.join(dir, 'wal', `seg-${i}.wal`);
    const buf = readFileSync(file);
    return { file, records: scanSegment(buf).map((r) => ({ seq: r.seq, offset: r.payload.byteOffset - buf.byteOffset - RECORD_HEADER_BYTES, bytes: r.payload.length + RECORD_HEADER_BYTES })) };
  });
}

describe('write log: replay', () => {
  test('after an unclean stop, every acknowledged update, overwrite and remove is there, from the log alone', () =>
    withDir(async (dir) => {
      const store = await openLmdbStore(path.join(dir, 'store'), { log: LOG });
      try {
        for (let i = 0; i < 40; i++) await store.update(i % 4, 'b', `k${i}`, () => set('a', i + 1));
        await store.update(1, 'b', 'k1', () => set('a', 100));
        await store.remove(2, 'b', 'k2');
        await store.update(3, 'b', 'k3', () => ({ siblings: [] })); // an empty set removes too
        assert.equal(logged(store).stats.passes, 0, 'nothing applied yet: replay has to do it all');
        const copy = crashCopy(dir, 'crash');
        const again = await openLmdbStore(copy, { log: LOG });
        try {
          assert.equal(again.replayed?.records, 43);
          assert.deepEqual(plain(again.read('b', 'k1')), plain(set('a', 100)));
          assert.equal(again.read('b', 'k2'), undefined);
          assert.equal(again.read('b', 'k3'), undefined);
          assert.deepEqual(plain(again.read('b', 'k39')), plain(set('a', 40)));
          assert.equal([...again.scanBucket('b', {})].length, 38);
          assert.equal(again.writeLog?.pending, 0, 'replay went to LMDB, not to the overlay');
        } finally {
          await again.close();
        }
        // The replay was checkpointed: a second unclean open of it replays nothing.
        const third = await openLmdbStore(copy, { log: LOG });
        assert.equal(third.replayed?.records, 0);
        assert.deepEqual(plain(third.read('b', 'k1')), plain(set('a', 100)));
        await third.close();
        // The log switched off: the log is replayed still, then removed.
        const copy2 = crashCopy(dir, 'crash2');
        const off = await openLmdbStore(copy2);
        assert.equal(off.replayed?.records, 43);
        assert.deepEqual(plain(off.read('b', 'k1')), plain(set('a', 100)));
        await off.close();
      } finally {
        await store.close();
      }
    }));

  test('a torn tail: the torn record and what follows it are dropped, what precedes it is kept', () =>
    withDir(async (dir) => {
      const store = await openLmdbStore(path.join(dir, 'store'), { log: LOG });
      try {
        for (let i = 0; i < 10; i++) await store.update(0, 'b', `k${i}`, () => set('a', i + 1));
        const copy = crashCopy(dir, 'crash');
        const seg = segments(copy).find((s) => s.records.length > 0)!;
        assert.equal(seg.records.length, 10);
        // Tear record 8 of 10 (a byte in its middle, as a partial sector write would leave it).
        const torn = seg.records[7]!;
        const buf = readFileSync(seg.file);
        buf[torn.offset + torn.bytes - 3]! ^= 0xff;
        writeFileSync(seg.file, buf);
        const again = await openLmdbStore(copy, { log: LOG });
        try {
          assert.equal(again.replayed?.records, 7);
          for (let i = 0; i < 7; i++) assert.deepEqual(plain(again.read('b', `k${i}`)), plain(set('a', i + 1)));
          for (let i = 7; i < 10; i++) assert.equal(again.read('b', `k${i}`), undefined, `k${i} is past the torn record`);
          // Writing resumes past every seq seen, and a restart after that replays the new writes only.
          await again.update(0, 'b', 'after', () => set('z', 1));
          const copy2 = path.join(dir, 'crash2');
          cpSync(copy, copy2, { recursive: true, filter: (src) => !src.endsWith('lock.mdb') });
          const third = await openLmdbStore(copy2, { log: LOG });
          assert.equal(third.replayed?.records, 1);
          assert.deepEqual(plain(third.read('b', 'after')), plain(set('z', 1)));
          assert.equal(third.read('b', 'k8'), undefined, 'the records beyond the tear stay dead');
          await third.close();
        } finally {
          await again.close();
        }
      } finally {
        await store.close();
      }
    }));

  test('a recycled segment: its records from the previous use are not replayed over newer values', () =>
    withDir(async (dir) => {
      const first = await openLmdbStore(path.join(dir, 'store'), { log: { ...LOG, applyDelayMs: 5 } });
      // ~2 KiB records, 10 keys written over and over: the 3 x 256 KiB segments go round several times.
      for (let round = 0; round < 150; round++) await Promise.all(Array.from({ length: 10 }, (_, k) => first.update(0, 'b', `k${k}`, () => set('r', round + 1, 2000))));
      await first.close();
      // Reopened with an applier that waits, so the last round is in the log only.
      const store = await openLmdbStore(path.join(dir, 'store'), { log: LOG });
      try {
        await Promise.all(Array.from({ length: 10 }, (_, k) => store.update(0, 'b', `k${k}`, () => set('r', 1000 + k, 2000))));
        assert.equal(logged(store).stats.passes, 0);
        const copy = crashCopy(dir, 'crash');
        const segs = segments(copy);
        assert.ok(segs.every((s) => s.records.length > 0), 'every segment was used');
        const again = await openLmdbStore(copy, { log: LOG });
        try {
          assert.equal(again.replayed?.records, 10);
          for (let k = 0; k < 10; k++) assert.deepEqual(plain(again.read('b', `k${k}`)), plain(set('r', 1000 + k, 2000)));
        } finally {
          await again.close();
        }
      } finally {
        await store.close();
      }
    }));

  test('scanSegment: a record from the segment\'s previous use ends the chain even with a valid CRC; so do a tear and zeros', () => {
    const rec = (seq: number): Buffer => frame(seq, Buffer.alloc(40, seq));
    const seg = Buffer.alloc(4096);
    // Previous use: 1, 2, 3. Current use, over its start: 7, 8 (same sizes, so old record 3 starts right after 8).
    Buffer.concat([rec(1), rec(2), rec(3)]).copy(seg, 0);
    Buffer.concat([rec(7), rec(8)]).copy(seg, 0);
    assert.deepEqual(scanSegment(seg).map((r) => r.seq), [7, 8]);
    // A tear in 8: only 7.
    const torn = Buffer.from(seg);
    torn[rec(7).length + RECORD_HEADER_BYTES + 5]! ^= 1;
    assert.deepEqual(scanSegment(torn).map((r) => r.seq), [7]);
    assert.deepEqual(scanSegment(Buffer.alloc(4096)), [], 'a preallocated segment holds no record');
    assert.deepEqual(scanSegment(Buffer.concat([rec(9)]).subarray(0, 30)), [], 'a record cut short is not a record');
  });
});

describe('write log: reads and scans see what is not yet applied', () => {
  test('random updates, removes, partition moves and passes: read, scanPartition and scanBucket agree with MemoryStore', () =>
    withDir(async (dir) => {
      const store = await openLmdbStore(path.join(dir, 'store'), { log: LOG });
      const oracle = new MemoryStore();
      let seed = 42;
      const rnd = (n: number): number => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      const keys = ['', 'a', 'a/b', 'a/c', 'ab', 'b', 'b\u00e9', 'b\uffff', 'b\ud83d\ude00', 'c', 'c/1', 'c/2'];
      const buckets = ['x', 'y'];
      const check = (what: string): void => {
        for (const b of buckets)
          for (const k of keys) assert.deepEqual(plain(store.read(b, k)), plain(oracle.read(b, k)), `${what}: read ${b}/${k}`);
        for (let p = 0; p < 3; p++) {
          assert.deepEqual(plainScan(store.scanPartition(p)), plainScan(oracle.scanPartition(p)), `${what}: scanPartition ${p}`);
          assert.deepEqual(plainScan(store.scanPartition(p, { bucket: 'x', key: 'b' })), plainScan(oracle.scanPartition(p, { bucket: 'x', key: 'b' })), `${what}: scanPartition ${p} after x/b`);
        }
        for (const b of buckets) {
          for (const o of [{}, { prefix: 'a' }, { after: 'a/b' }, { prefix: 'c/', after: 'c/1' }, { limit: 3 }, { after: 'ab', limit: 2 }]) {
            assert.deepEqual(plainScan(store.scanBucket(b, o)), plainScan(oracle.scanBucket(b, o)), `${what}: scanBucket ${b} ${JSON.stringify(o)}`);
          }
        }
      };
      try {
        for (let step = 0; step < 400; step++) {
          const b = buckets[rnd(2)]!;
          const k = keys[rnd(keys.length)]!;
          // A key's partition is mostly fixed; now and then it moves (both stores move it).
          const p = (keys.indexOf(k) + (rnd(20) === 0 ? 1 : 0)) % 3;
          const op = rnd(10);
          const writes: Promise<unknown>[] = [];
          for (const s of [store, oracle] as ReplicaStore[]) {
            if (op < 2) writes.push(s.remove(p, b, k));
            else writes.push(s.update(p, b, k, (cur) => ({ siblings: [...(op < 4 ? (cur?.siblings ?? []) : []).filter((x) => x.dot.node !== `n${op}`), sib(`n${op}`, step + 1, op === 9 ? null : val(step))].sort((x, y) => (x.dot.node < y.dot.node ? -1 : 1)) })));
          }
          await Promise.all(writes);
          if (rnd(25) === 0) await logged(store).applyPass();
          if (step % 20 === 0) check(`step ${step}`);
        }
        assert.ok(logged(store).pending > 0, 'some entries were not applied when checked');
        check('end');
        await logged(store).applyPass();
        check('applied');
      } finally {
        await store.close();
      }
    }));

  test('a read does not see a logged write before it resolves; fn does', () =>
    withDir(async (dir) => {
      const store = await openLmdbStore(path.join(dir, 'store'), { log: LOG });
      try {
        await store.update(0, 'b', 'k', () => set('a', 1));
        const p = store.remove(0, 'b', 'k');
        assert.deepEqual(plain(store.read('b', 'k')), plain(set('a', 1)), 'the remove is not yet durable');
        assert.equal([...store.scanBucket('b', {})].length, 1);
        let seen: SiblingSet | undefined = set('x', 9);
        const q = store.update(0, 'b', 'k', (cur) => {
          seen = cur;
          return set('a', 2);
        });
        assert.equal(seen, undefined, 'fn saw the remove queued before it');
        await p;
        assert.equal(store.read('b', 'k'), undefined);
        await q;
        assert.deepEqual(plain(store.read('b', 'k')), plain(set('a', 2)));
      } finally {
        await store.close();
      }
    }));
});

describe('write log: ordering', () => {
  test('update, remove, update of one key in flight together: the last one wins, before and after replay', () =>
    withDir(async (dir) => {
      const store = await openLmdbStore(path.join(dir, 'store'), { log: LOG });
      try {
        await store.update(0, 'b', 'k', () => set('a', 1));
        await logged(store).applyPass(); // LMDB holds the first version
        await Promise.all([store.update(0, 'b', 'k', () => set('a', 2)), store.remove(0, 'b', 'k'), store.update(0, 'b', 'k', (cur) => (assert.equal(cur, undefined), set('a', 3)))]);
        await Promise.all([store.update(0, 'b', 'gone', () => set('a', 1)), store.remove(0, 'b', 'gone')]);
        assert.deepEqual(plain(store.read('b', 'k')), plain(set('a', 3)));
        assert.equal(store.read('b', 'gone'), undefined);
        const copy = crashCopy(dir, 'crash');
        const again = await openLmdbStore(copy, { log: LOG });
        assert.deepEqual(plain(again.read('b', 'k')), plain(set('a', 3)));
        assert.equal(again.read('b', 'gone'), undefined);
        await again.close();
      } finally {
        await store.close();
      }
    }));

  test('a big value bypasses the log after the key\'s pending small write, and before its next one', () =>
    withDir(async (dir) => {
      const store = await openLmdbStore(path.join(dir, 'store'), { log: LOG });
      try {
        const big = new Uint8Array(SPILL_BYTES + 5).fill(7);
        const add = (s: Sibling) => (cur: SiblingSet | undefined): SiblingSet => ({ siblings: [...(cur?.siblings ?? []), s] });
        const order: string[] = [];
        const p1 = store.update(0, 'b', 'k', add(sib('a', 1, val(1)))).then(() => order.push('small1'));
        const p2 = store.update(0, 'b', 'k', add(sib('b', 1, big))).then(() => order.push('big'));
        // Sees the big value (so waits for it), and drops it: a small set again, through the log.
        let sawBig = false;
        const p3 = store
          .update(0, 'b', 'k', (cur) => {
            sawBig = cur?.siblings.some((s) => s.value?.length === big.length) === true;
            return { siblings: [...(cur?.siblings ?? []).filter((s) => s.dot.node !== 'b'), sib('c', 1, val(3))] };
          })
          .then(() => order.push('small2'));
        await Promise.all([p1, p2, p3]);
        assert.deepEqual(order, ['small1', 'big', 'small2']);
        assert.ok(sawBig, 'the write after the big one saw it');
        assert.equal(logged(store).stats.bypassed, 1);
        const want = { siblings: [sib('a', 1, val(1)), sib('c', 1, val(3))] };
        assert.deepEqual(plain(store.read('b', 'k')), plain(want));
        // A write of a key whose set holds a big value bypasses the log too (the set is never logged).
        await store.update(0, 'b', 'big', () => ({ siblings: [sib('b', 1, big)] }));
        await store.update(0, 'b', 'big', (cur) => ({ siblings: [...cur!.siblings, sib('c', 1, val(4))] }));
        assert.equal(logged(store).stats.bypassed, 3);
        // The big write reached LMDB directly, after the first small one was applied; the last one is in the log only.
        assert.equal(logged(store).pending, 1);
        const copy = crashCopy(dir, 'crash');
        const again = await openLmdbStore(copy, { log: LOG });
        try {
          assert.equal(again.replayed?.records, 1, 'only the write after the big one is replayed');
          assert.deepEqual(plain(again.read('b', 'k')), plain(want));
          assert.deepEqual(plain(again.read('b', 'big')), plain({ siblings: [sib('b', 1, big), sib('c', 1, val(4))] }));
          // A small write over the big value goes through the log; the applier releases the blob file.
          await again.update(0, 'b', 'big', () => set('a', 9));
          await again.writeLog!.applyPass();
          assert.deepEqual(plain(again.read('b', 'big')), plain(set('a', 9)));
        } finally {
          await again.close();
        }
      } finally {
        await store.close();
      }
    }));
});

describe('write log: back-pressure', () => {
  test('when the log is full, writers wait for the applier instead of failing, and the log stays bounded', () =>
    withDir(async (dir) => {
      // 2 x 128 KiB segments, 4 KiB values: 300 concurrent writes are ~5 times what the log holds.
      const store = await openLmdbStore(path.join(dir, 'store'), { log: { segments: 2, segmentBytes: 128 * 1024, applyDelayMs: 1e9 } });
      try {
        const l = logged(store);
        let maxPending = 0;
        const writes = Array.from({ length: 300 }, (_, i) =>
          store.update(i % 4, 'b', `k${i}`, () => set('a', i + 1, 4096)).then(() => {
            maxPending = Math.max(maxPending, l.pending);
          }),
        );
        maxPending = Math.max(maxPending, l.pending);
        assert.ok(l.pending < 300, `writes beyond the log's room wait before entering the overlay (${l.pending} entered)`);
        await Promise.all(writes);
        assert.ok(l.stats.passes >= 2, `the applier made room (${l.stats.passes} passes)`);
        assert.ok(maxPending <= 64, `overlay bounded by the log's room (max ${maxPending} entries)`);
        for (let i = 0; i < 300; i += 37) assert.deepEqual(plain(store.read('b', `k${i}`)), plain(set('a', i + 1, 4096)));
        assert.equal([...store.scanBucket('b', {})].length, 300);
      } finally {
        await store.close();
      }
    }));
});

describe('write log: the applier cannot commit', () => {
  test('a failing pass (disk or map full) fails new writes, keeps acknowledged ones readable, and is retried', () =>
    withDir(async (dir) => {
      const store = await openLmdbStore(path.join(dir, 'store'), { log: LOG });
      try {
        type Apply = (entries: unknown, also: () => void) => Promise<void>;
        const replicas = (store as unknown as { replicas: { applyLogged: Apply } }).replicas;
        const real = replicas.applyLogged.bind(replicas);
        let full = true;
        replicas.applyLogged = (entries, also) => (full ? Promise.reject(Object.assign(new Error('MDB_MAP_FULL: Environment mapsize limit reached'), { code: -30792 })) : real(entries, also));
        await store.update(0, 'b', 'k1', () => set('a', 1));
        await assert.rejects(logged(store).applyPass(), /MDB_MAP_FULL/);
        // The caller sees the storage failure (node/limits.ts turns it into 507), not a wait that never ends.
        await assert.rejects(store.update(0, 'b', 'k2', () => set('a', 2)), /MDB_MAP_FULL/);
        await assert.rejects(store.remove(0, 'b', 'k1'), /MDB_MAP_FULL/);
        assert.deepEqual(plain(store.read('b', 'k1')), plain(set('a', 1)), 'the acknowledged write is still read');
        full = false;
        const deadline = Date.now() + 10_000;
        while (logged(store).pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        assert.equal(logged(store).pending, 0, 'the retried pass applied it');
        await store.update(0, 'b', 'k2', () => set('a', 2));
        assert.deepEqual(plain(store.read('b', 'k2')), plain(set('a', 2)));
        assert.ok(logged(store).stats.failedPasses >= 1);
      } finally {
        await store.close();
      }
    }));
});

describe('write log: the node setting', () => {
  test('storeLog comes from RINGSTORE_STORE_LOG or the config file, and is left to the store when unset', () => {
    const base = { id: 'n1' };
    assert.equal(loadConfig(base, {}).storeLog, undefined);
    assert.equal(loadConfig(base, { RINGSTORE_STORE_LOG: '0' }).storeLog, false);
    assert.equal(loadConfig(base, { RINGSTORE_STORE_LOG: 'on' }).storeLog, true);
    assert.equal(loadConfig({ ...base, storeLog: false }, {}).storeLog, false);
    assert.throws(() => loadConfig(base, { RINGSTORE_STORE_LOG: 'maybe' }), ConfigError);
  });
});
