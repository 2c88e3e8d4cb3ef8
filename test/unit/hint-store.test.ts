// Compliance suite for HintStore (the hint table of hinted handoff), run
// against LmdbStore and MemoryStore.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { HintKey, HintStore, ReplicaStore, StoredHint } from '../../src/store/store.js';
import { openLmdbStore } from '../../src/store/lmdb-store.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { sync, type Sibling, type SiblingSet } from '../../src/version/dvv.js';

type Both = ReplicaStore & HintStore;

interface Harness {
  store: Both;
  reopen(): Promise<Both>;
  cleanup(): Promise<void>;
}

function sib(node: string, counter: number, value: string | null): Sibling {
  return { dot: { node, counter }, past: {}, value: value === null ? null : new TextEncoder().encode(value), meta: { ts: 1000 + counter } };
}

function set(...siblings: Sibling[]): SiblingSet {
  return { siblings };
}

const merge = (incoming: SiblingSet) => (cur: SiblingSet | undefined) => (cur === undefined ? incoming : sync(cur, incoming));

function dots(s: SiblingSet | undefined): string[] {
  return (s?.siblings ?? []).map((x) => `${x.dot.node}:${x.dot.counter}`);
}

function where(h: StoredHint): string {
  return `${h.owner}/${h.partition}/${h.bucket}/${h.key}`;
}

function suite(name: string, make: () => Promise<Harness>): void {
  describe(`HintStore compliance: ${name}`, () => {
    async function withStore(fn: (h: Harness) => Promise<void>): Promise<void> {
      const h = await make();
      try {
        await fn(h);
      } finally {
        await h.cleanup();
      }
    }

    test('updateHint merges atomically, survives a reopen, and stays out of the main store', () =>
      withStore(async (h) => {
        const at: HintKey = { owner: 'n3', partition: 7, bucket: 'b', key: 'k' };
        const a = await h.store.updateHint(at, 100, merge(set(sib('n1', 1, 'x'))));
        assert.deepEqual(dots(a), ['n1:1']);
        // Concurrent merges: both land, whatever the order.
        const [b, c] = await Promise.all([h.store.updateHint(at, 101, merge(set(sib('n2', 1, 'y')))), h.store.updateHint(at, 102, merge(set(sib('n4', 1, 'z'))))]);
        assert.deepEqual(dots(c), ['n1:1', 'n2:1', 'n4:1']);
        assert.ok(dots(b).length >= 2);
        assert.equal(h.store.read('b', 'k'), undefined, 'a hint is not a replica');
        assert.deepEqual([...h.store.scanPartition(7)], []);
        const store = await h.reopen();
        const got = store.readHints('b', 'k');
        assert.equal(got.length, 1);
        assert.deepEqual(dots(got[0]!.set), ['n1:1', 'n2:1', 'n4:1']);
        assert.equal(got[0]!.updatedMs, 102);
        assert.equal(new TextDecoder().decode(got[0]!.set.siblings[0]!.value!), 'x');
        assert.deepEqual(store.hintTotals().map((t) => [t.owner, t.hints]), [['n3', 1]]);
      }));

    test('readHints returns every owner\'s hint for a key; scanHints one owner\'s in (partition, bucket, key) order with a cursor', () =>
      withStore(async ({ store }) => {
        const put = (owner: string, partition: number, bucket: string, key: string, c: number) =>
          store.updateHint({ owner, partition, bucket, key }, c, merge(set(sib('n1', c, `v${c}`))));
        await put('n2', 5, 'b', 'k1', 1);
        await put('n3', 5, 'b', 'k1', 2);
        await put('n2', 1, 'z', 'a', 3);
        await put('n2', 1, 'a', 'z', 4);
        await put('n2', 9, 'b', 'k0', 5);
        await put('n20', 0, 'b', 'k0', 6);
        assert.deepEqual(store.readHints('b', 'k1').map(where).sort(), ['n2/5/b/k1', 'n3/5/b/k1']);
        assert.deepEqual(store.readHints('b', 'nope'), []);
        const all = [...store.scanHints('n2')].map(where);
        assert.deepEqual(all, ['n2/1/a/z', 'n2/1/z/a', 'n2/5/b/k1', 'n2/9/b/k0']);
        const page1 = [...store.scanHints('n2', { limit: 2 })];
        assert.deepEqual(page1.map(where), ['n2/1/a/z', 'n2/1/z/a']);
        const page2 = [...store.scanHints('n2', { after: page1[1]!, limit: 10 })].map(where);
        assert.deepEqual(page2, ['n2/5/b/k1', 'n2/9/b/k0']);
        assert.deepEqual([...store.scanHints('n9')], []);
        assert.deepEqual(
          store.hintTotals().map((t) => [t.owner, t.hints]),
          [['n2', 4], ['n20', 1], ['n3', 1]],
        );
        for (const t of store.hintTotals()) assert.ok(t.bytes > 0);
      }));

    test('scanBucketHints lists a bucket\'s hinted keys in key order with prefix, after and a key limit', () =>
      withStore(async ({ store }) => {
        const put = (owner: string, key: string, c: number) => store.updateHint({ owner, partition: c, bucket: 'b', key }, c, merge(set(sib('n1', c, 'v'))));
        await put('n2', 'p/1', 1);
        await put('n3', 'p/1', 2);
        await put('n2', 'p/2', 3);
        await put('n2', 'q/1', 4);
        await store.updateHint({ owner: 'n2', partition: 0, bucket: 'c', key: 'p/0' }, 0, merge(set(sib('n1', 9, 'v'))));
        const keys = (it: Iterable<StoredHint>) => [...it].map((h) => `${h.key}@${h.owner}`);
        assert.deepEqual(keys(store.scanBucketHints('b', {})), ['p/1@n2', 'p/1@n3', 'p/2@n2', 'q/1@n2']);
        assert.deepEqual(keys(store.scanBucketHints('b', { prefix: 'p/' })), ['p/1@n2', 'p/1@n3', 'p/2@n2']);
        assert.deepEqual(keys(store.scanBucketHints('b', { after: 'p/1' })), ['p/2@n2', 'q/1@n2']);
        assert.deepEqual(keys(store.scanBucketHints('b', { limit: 1 })), ['p/1@n2', 'p/1@n3'], 'the limit counts keys, not hints');
        assert.deepEqual(keys(store.scanBucketHints('b', { prefix: 'p/', after: 'p/2' })), []);
      }));

    test('removeHint removes only what was handed off; an empty set removes; totals follow', () =>
      withStore(async ({ store }) => {
        const at: HintKey = { owner: 'n3', partition: 2, bucket: 'b', key: 'k' };
        const first = await store.updateHint(at, 1, merge(set(sib('n1', 1, 'x'))));
        // A hinted write lands while the first state is being handed off.
        await store.updateHint(at, 2, merge(set(sib('n2', 1, 'y'))));
        assert.equal(await store.removeHint(at, first), false);
        assert.equal(store.readHints('b', 'k').length, 1);
        const now = store.readHints('b', 'k')[0]!.set;
        assert.equal(await store.removeHint(at, now), true);
        assert.deepEqual(store.readHints('b', 'k'), []);
        assert.deepEqual(store.hintTotals(), []);
        assert.equal(await store.removeHint(at, now), false, 'removing twice is harmless');
        await store.updateHint(at, 3, merge(set(sib('n1', 2, 'z'))));
        assert.equal(store.hintTotals()[0]?.hints, 1);
        await store.updateHint(at, 4, () => set());
        assert.deepEqual(store.readHints('b', 'k'), []);
        assert.deepEqual(store.hintTotals(), []);
        assert.deepEqual([...store.scanBucketHints('b', {})], []);
      }));
  });
}

suite('MemoryStore', async () => {
  let store = new MemoryStore();
  return {
    get store() {
      return store;
    },
    reopen: async () => (store = store.reopen()),
    cleanup: async () => store.close(),
  };
});

suite('LmdbStore without the write log', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ringstore-hints-'));
  let store: Both = await openLmdbStore(dir, { log: false });
  return {
    get store() {
      return store;
    },
    reopen: async () => {
      await store.close();
      store = await openLmdbStore(dir, { log: false });
      return store;
    },
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

suite('LmdbStore with the write log', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ringstore-hints-'));
  let store: Both = await openLmdbStore(dir, { log: { segments: 3, segmentBytes: 1 << 20, applyDelayMs: 20 } });
  return {
    get store() {
      return store;
    },
    reopen: async () => {
      await store.close();
      store = await openLmdbStore(dir, { log: { segments: 3, segmentBytes: 1 << 20, applyDelayMs: 20 } });
      return store;
    },
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
