// LmdbStore keeps big values (>= SPILL_BYTES) in blob files beside LMDB
// (src/store/blobs.ts): round trips, sharing a file across updates that keep
// the value, deleting replaced files, concurrent updates, reopening, and the
// sweep of files a crash left behind.

import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';

import { SPILL_BYTES } from '../../src/store/blobs.js';
import { openLmdbStore, type LmdbStore } from '../../src/store/lmdb-store.js';
import { sync, type Sibling, type SiblingSet } from '../../src/version/dvv.js';

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = ((i + seed) * 2654435761) >>> 24;
  return b;
}

function sib(node: string, counter: number, value: Uint8Array | null, past: Record<string, number> = {}): Sibling {
  return { dot: { node, counter }, past, value, meta: { ts: 1_700_000_000_000 + counter } };
}

const set = (...siblings: Sibling[]): SiblingSet => ({ siblings });

/** Values as Buffers (or null), so that Buffer and Uint8Array copies compare equal. */
const vals = (s: SiblingSet | undefined): (Buffer | null)[] => (s?.siblings ?? []).map((x) => (x.value === null ? null : Buffer.from(x.value)));
const buf = (v: Uint8Array | null): Buffer | null => (v === null ? null : Buffer.from(v));

/** A set with its values as Buffers, for deep comparison. */
const plain = (s: SiblingSet | undefined): unknown => s?.siblings.map((x) => ({ ...x, value: buf(x.value) }));

function blobFiles(dir: string): string[] {
  const root = path.join(dir, 'blobs');
  return readdirSync(root).flatMap((d) => readdirSync(path.join(root, d)));
}

for (const [name, opts] of [
  ['LmdbStore without the write log', { log: false }],
  ['LmdbStore with the write log', { log: { segments: 3, segmentBytes: 1 << 20, applyDelayMs: 20 } }],
] as const) {
async function withStore(fn: (store: LmdbStore, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ringstore-blobs-'));
  const store = await openLmdbStore(dir, opts);
  try {
    await fn(store, dir);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const BIG = SPILL_BYTES + 17;

describe(`${name}: blob files`, () => {
  test('big values go to files, small ones stay in LMDB; reads give them back', () =>
    withStore(async (store, dir) => {
      const big = bytes(BIG, 1);
      const value = set(sib('a', 1, big), sib('b', 1, bytes(100, 2)), sib('c', 1, null));
      const stored = await store.update(1, 'b', 'k', () => value);
      assert.deepStrictEqual(plain(stored), plain(value));
      assert.equal(blobFiles(dir).length, 1);
      const got = store.read('b', 'k')!;
      assert.deepStrictEqual(vals(got), [buf(big), buf(bytes(100, 2)), null]);
      assert.deepStrictEqual([...store.scanBucket('b', {})].map((k) => plain(k.set)), [plain(value)]);
      assert.deepStrictEqual([...store.scanPartition(1)].map((k) => plain(k.set)), [plain(value)]);
      // The value a read returned is the caller's: changing it changes nothing stored.
      got.siblings[0]!.value!.fill(0);
      assert.deepStrictEqual(vals(store.read('b', 'k'))[0], buf(big));
    }));

  test('an update that keeps a big value keeps its file; one that drops it deletes the file (after close at the latest)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ringstore-blobs-'));
    try {
      let store = await openLmdbStore(dir, opts);
      const first = bytes(BIG, 1);
      await store.update(1, 'b', 'k', () => set(sib('a', 1, first)));
      const [file] = blobFiles(dir);
      // A concurrent sibling arrives (a replica merge): the first value's file is reused.
      const second = bytes(BIG + 1, 2);
      await store.update(1, 'b', 'k', (cur) => sync(cur!, set(sib('b', 1, second))));
      assert.equal(blobFiles(dir).length, 2);
      assert.ok(blobFiles(dir).includes(file!));
      assert.deepStrictEqual(vals(store.read('b', 'k')), [buf(first), buf(second)]);
      // A write that supersedes both: their files go, the new one stays.
      const third = bytes(BIG + 2, 3);
      await store.update(1, 'b', 'k', () => set(sib('a', 2, third, { a: 1, b: 1 })));
      assert.deepStrictEqual(vals(store.read('b', 'k')), [buf(third)]);
      await store.close();
      assert.equal(blobFiles(dir).length, 1);
      // Reopened, the value is there.
      store = await openLmdbStore(dir, opts);
      assert.deepStrictEqual(vals(store.read('b', 'k')), [buf(third)]);
      // A tombstone replacing it, then removal of the key, leave no file.
      await store.update(1, 'b', 'k', () => set(sib('a', 3, null, { a: 2 })));
      const v4 = bytes(BIG, 4);
      await store.update(1, 'b', 'k2', () => set(sib('a', 1, v4)));
      await store.remove(1, 'b', 'k2');
      assert.equal(store.read('b', 'k2'), undefined);
      await store.close();
      assert.equal(blobFiles(dir).length, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('returning the current set writes nothing and no file', () =>
    withStore(async (store, dir) => {
      const v = bytes(BIG, 1);
      await store.update(1, 'b', 'k', () => set(sib('a', 1, v)));
      const same = await store.update(1, 'b', 'k', (cur) => cur!);
      assert.deepStrictEqual(vals(same), [buf(bytes(BIG, 1))]);
      assert.equal(blobFiles(dir).length, 1);
    }));

  test('concurrent updates of one key with big values: every update is applied exactly once, one file per kept value', () =>
    withStore(async (store, dir) => {
      const values = Array.from({ length: 12 }, (_, i) => bytes(BIG + i, i));
      await Promise.all(values.map((v, i) => store.update(1, 'b', 'k', (cur) => sync(cur ?? set(), set(sib(`n${i}`, 1, v))))));
      const got = store.read('b', 'k')!;
      assert.equal(got.siblings.length, 12);
      for (const s of got.siblings) assert.deepStrictEqual(buf(s.value), buf(values[Number(s.dot.node.slice(1))]!));
      await store.close();
      assert.equal(blobFiles(dir).length, 12);
    }));

  test('a fn that makes a new value on every call still stores it (inline in LMDB)', () =>
    withStore(async (store, dir) => {
      await store.update(1, 'b', 'k', () => set(sib('a', 1, bytes(BIG, 5))));
      assert.deepStrictEqual(vals(store.read('b', 'k')), [buf(bytes(BIG, 5))]);
      await store.close();
      assert.equal(blobFiles(dir).length, 0);
    }));

  test('a failing fn writes nothing and leaves no file', () =>
    withStore(async (store, dir) => {
      const v = bytes(BIG, 1);
      let calls = 0;
      await assert.rejects(
        store.update(1, 'b', 'k', () => {
          calls++;
          if (calls > 1) throw new Error('boom');
          return set(sib('a', 1, v));
        }),
        /boom/,
      );
      assert.equal(store.read('b', 'k'), undefined);
      await store.close();
      assert.equal(blobFiles(dir).length, 0);
    }));

  test('files nothing refers to (a crash between file and commit) are removed at open', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ringstore-blobs-'));
    try {
      let store = await openLmdbStore(dir, opts);
      const v = bytes(BIG, 1);
      await store.update(1, 'b', 'k', () => set(sib('a', 1, v)));
      await store.close();
      const orphan = path.join(dir, 'blobs', 'ab', 'ab0123456789abcdef012345');
      writeFileSync(orphan, 'left by a crash');
      assert.equal(blobFiles(dir).length, 2);
      store = await openLmdbStore(dir, opts);
      assert.equal(blobFiles(dir).length, 1);
      assert.deepStrictEqual(vals(store.read('b', 'k')), [buf(bytes(BIG, 1))]);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
}
