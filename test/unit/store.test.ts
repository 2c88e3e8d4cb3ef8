// One compliance suite for ReplicaStore, run against LmdbStore and MemoryStore.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { ReplicaStore, StoredKey } from '../../src/store/store.js';
import { openLmdbStore } from '../../src/store/lmdb-store.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { compareCodePoints } from '../../src/store/key-order.js';
import { EMPTY_SET, type Sibling, type SiblingSet } from '../../src/version/dvv.js';

interface Harness {
  store: ReplicaStore;
  /** Closes the store and opens a new one on the same data. */
  reopen(): Promise<ReplicaStore>;
  cleanup(): Promise<void>;
}

type Make = () => Promise<Harness>;

function sib(node: string, counter: number, value: Uint8Array | null, extra: Partial<Sibling> = {}): Sibling {
  return { dot: { node, counter }, past: {}, value, meta: { ts: 1_700_000_000_000 + counter }, ...extra };
}

function set(...siblings: Sibling[]): SiblingSet {
  return { siblings };
}

function bytes(...xs: number[]): Uint8Array {
  return new Uint8Array(xs);
}

/** Plain-data view of a set: binary as number arrays, so Buffer vs Uint8Array does not matter. */
function plain(s: SiblingSet | undefined): unknown {
  if (s === undefined) return undefined;
  return s.siblings.map((x) => {
    if (x.value !== null) assert.ok(x.value instanceof Uint8Array, 'value must be a Uint8Array');
    return { ...x, value: x.value === null ? null : [...x.value] };
  });
}

function keysOf(it: Iterable<StoredKey>): string[] {
  return [...it].map((e) => e.key);
}

function utf8Order(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** A counter kept in a sibling's meta.ts and value, for read-modify-write tests. */
function increment(cur: SiblingSet | undefined): SiblingSet {
  const n = cur?.siblings[0]?.meta.ts ?? 0;
  return set(sib('n1', n + 1, bytes(n & 0xff), { meta: { ts: n + 1 } }));
}

function suite(name: string, make: Make): void {
  describe(`ReplicaStore compliance: ${name}`, () => {
    async function withStore(fn: (h: Harness) => Promise<void>): Promise<void> {
      const h = await make();
      try {
        await fn(h);
      } finally {
        await h.cleanup();
      }
    }

    test('update/read round-trip: binary values, empty values, tombstones, meta', () =>
      withStore(async ({ store }) => {
        const all = new Uint8Array(256).map((_, i) => i);
        const big = new Uint8Array(70_000).map((_, i) => (i * 31) & 0xff);
        const value: SiblingSet = set(
          sib('a', 1, all, { past: { b: 2, 'node/x': 9 }, meta: { ts: 5, contentType: 'application/octet-stream', headers: { etag: '"x"', 'x-amz-meta-ü': 'ö' } } }),
          sib('b', 3, null),
          sib('c', 1, new Uint8Array(0)),
          sib('d', 7, big),
        );
        assert.equal(store.read('b1', 'k'), undefined);
        const stored = await store.update(3, 'b1', 'k', (cur) => {
          assert.equal(cur, undefined);
          return value;
        });
        assert.deepEqual(plain(stored), plain(value));
        const got = store.read('b1', 'k');
        assert.deepEqual(plain(got), plain(value));
        assert.equal(got!.siblings[1]!.value, null);
        assert.equal(got!.siblings[2]!.value!.length, 0);

        // What is stored is a copy: changing the caller's buffer later does not change it.
        all[0] = 99;
        // Many later writes must not disturb a value already read (no aliasing of lmdb buffers).
        for (let i = 0; i < 50; i++) await store.update(3, 'b1', `other${i}`, () => set(sib('z', i + 1, new Uint8Array(100).fill(i))));
        assert.equal(got!.siblings[0]!.value![0], 0);
        assert.equal(store.read('b1', 'k')!.siblings[0]!.value![0], 0);
        assert.deepEqual([...store.read('b1', 'k')!.siblings[3]!.value!], [...big]);

        // fn sees the stored value; returning it unchanged writes nothing and resolves with it.
        const same = await store.update(3, 'b1', 'k', (cur) => {
          assert.equal(cur!.siblings.length, 4);
          assert.equal(cur!.siblings[0]!.value![0], 0);
          assert.deepEqual(cur!.siblings[0]!.past, { b: 2, 'node/x': 9 });
          return cur!;
        });
        assert.equal(same.siblings.length, 4);

        // A tombstone-only set is a value like any other (it is not removal).
        await store.update(3, 'b1', 'k', () => set(sib('a', 2, null, { past: { a: 1 } })));
        assert.deepEqual(plain(store.read('b1', 'k')), plain(set(sib('a', 2, null, { past: { a: 1 } }))));
      }));

    test('read does not see an update before it resolves; fn sees updates queued before it', () =>
      withStore(async ({ store }) => {
        const p1 = store.update(0, 'b', 'k', () => set(sib('a', 1, bytes(1))));
        assert.equal(store.read('b', 'k'), undefined);
        const p2 = store.update(0, 'b', 'k', (cur) => {
          assert.deepEqual(plain(cur), plain(set(sib('a', 1, bytes(1)))));
          return set(sib('a', 2, bytes(2)));
        });
        await Promise.all([p1, p2]);
        assert.deepEqual(plain(store.read('b', 'k')), plain(set(sib('a', 2, bytes(2)))));
      }));

    test('200 concurrent increments of one key are all applied', () =>
      withStore(async ({ store }) => {
        const results = await Promise.all(Array.from({ length: 200 }, () => store.update(7, 'ctr', 'c', increment)));
        assert.equal(store.read('ctr', 'c')!.siblings[0]!.meta.ts, 200);
        // Each update saw a distinct predecessor: the resolved values are 1..200.
        const seen = results.map((r) => r.siblings[0]!.meta.ts).sort((a, b) => a - b);
        assert.deepEqual(seen, Array.from({ length: 200 }, (_, i) => i + 1));
        // Interleaved with other keys, in several waves.
        for (let wave = 0; wave < 3; wave++) {
          await Promise.all(
            Array.from({ length: 100 }, (_, i) =>
              i % 2 === 0 ? store.update(7, 'ctr', 'c', increment) : store.update(i % 5, 'ctr', `x${i}`, increment),
            ),
          );
        }
        assert.equal(store.read('ctr', 'c')!.siblings[0]!.meta.ts, 350);
        assert.equal(store.read('ctr', 'x1')!.siblings[0]!.meta.ts, 3);
      }));

    test('a throwing fn rejects its update only', () =>
      withStore(async ({ store }) => {
        const ok1 = store.update(1, 'b', 'a', () => set(sib('n', 1, bytes(1))));
        const bad = store.update(1, 'b', 'bad', () => {
          throw new Error('boom');
        });
        const ok2 = store.update(1, 'b', 'c', () => set(sib('n', 1, bytes(3))));
        await assert.rejects(bad, /boom/);
        await ok1;
        await ok2;
        assert.equal(store.read('b', 'bad'), undefined);
        assert.deepEqual(keysOf(store.scanBucket('b', {})), ['a', 'c']);
      }));

    test('scanPartition returns only that partition, in (bucket, key) order', () =>
      withStore(async ({ store }) => {
        const writes: [number, string, string][] = [
          [2, 'beta', 'z'],
          [2, 'alpha', 'b'],
          [1, 'alpha', 'a'],
          [2, 'alpha', 'a/1'],
          [3, 'alpha', 'c'],
          [2, 'alpha', 'a'],
          [10, 'alpha', 'd'],
          [2, 'alpha', 'é'],
          [2, 'alpha', '😀'],
          [2, 'alpha', '\uff5a'],
          [0, 'alpha', 'e'],
        ];
        // Distinct keys per bucket: 'alpha/a' is written twice, the later partition wins.
        await Promise.all(writes.map(([p, b, k], i) => store.update(p, b, k, () => set(sib('n', i + 1, bytes(i))))));
        const p2 = [...store.scanPartition(2)];
        assert.deepEqual(
          p2.map((e) => [e.partition, e.bucket, e.key]),
          [
            [2, 'alpha', 'a'],
            [2, 'alpha', 'a/1'],
            [2, 'alpha', 'b'],
            [2, 'alpha', 'é'],
            [2, 'alpha', '\uff5a'],
            [2, 'alpha', '😀'],
            [2, 'beta', 'z'],
          ],
        );
        assert.deepEqual(plain(p2[0]!.set), plain(set(sib('n', 6, bytes(5)))));
        assert.deepEqual(keysOf(store.scanPartition(1)), []); // 'alpha/a' moved to partition 2
        assert.deepEqual(keysOf(store.scanPartition(3)), ['c']);
        assert.deepEqual(keysOf(store.scanPartition(10)), ['d']);
        assert.deepEqual(keysOf(store.scanPartition(0)), ['e']);
        assert.deepEqual(keysOf(store.scanPartition(4)), []);
        assert.equal(store.read('alpha', 'a')!.siblings[0]!.dot.counter, 6);
      }));

    test('scanPartition(p, after) is exactly the suffix of the full scan strictly after `after`', () =>
      withStore(async ({ store }) => {
        type Ref = { bucket: string; key: string };
        const order = (a: Ref, b: Ref): number => compareCodePoints(a.bucket, b.bucket) || compareCodePoints(a.key, b.key);
        const show = (r: Ref | undefined): string => JSON.stringify(r === undefined ? r : [r.bucket, r.key]);
        // Bucket/key boundaries ('a' + '\u0000...' vs 'a\u0000' + ...), prefixes, the
        // escaped low characters and the leading-character escape of ordered-binary,
        // BMP private use above the surrogate range, astral characters, a long key.
        const keys = ['', 'a', 'a\u0000', 'a\u0001', 'a\u0004', 'a\u0005', 'a/b', 'ab', 'b', '\u0001', '\u001b', '\u001c', 'é',
          '\uE000', '\uFFFD', '\uFFFF', '\u{1F600}', '\u{1F600}x', '\u{10FFFF}', 'x'.repeat(70), `${'x'.repeat(70)}\u{1F600}`];
        const buckets = ['\u0001', 'a', 'a\u0000', 'ab', '\uE000', '\u{1F600}'];
        const present: Ref[] = [];
        let i = 0;
        for (const bucket of buckets) {
          for (const key of keys) {
            // The partition in the middle, with neighbours on both sides that must not show.
            const p = [3, 2, 3, 4][i % 4]!;
            const value = set(sib('n', ++i, bytes(i & 0xff)));
            await store.update(p, bucket, key, () => value);
            if (p === 3) present.push({ bucket, key });
          }
        }
        // A bucket of its own at each end of the partition.
        await store.update(3, '', '\u0001', () => set(sib('n', 1, bytes(1))));
        await store.update(3, '\u{10FFFF}', 'z', () => set(sib('n', 1, bytes(1))));
        present.push({ bucket: '', key: '\u0001' }, { bucket: '\u{10FFFF}', key: 'z' });

        /** `all`: every `after` below; otherwise the present keys only (quicker). */
        const check = (what: string, all: boolean): void => {
          const full = [...store.scanPartition(3)];
          const expected = [...present].sort(order);
          assert.deepEqual(full.map((e) => [e.partition, e.bucket, e.key]), expected.map((r) => [3, r.bucket, r.key]), `${what}: full scan`);
          // Present keys, keys absent between them (a char appended or dropped, or a
          // key of another partition), before the first and after the last.
          const afters: Ref[] = [{ bucket: '', key: '' }, { bucket: '', key: '\u0000' }, { bucket: '\u{10FFFF}', key: 'z\u0000' }, { bucket: '\u{10FFFF}\u0000', key: '' }];
          for (const bucket of all ? [...buckets, '', '\u{10FFFF}', 'a\u0000\u0000', '\u{1F600}\u0000', '\uFFFF'] : []) {
            for (const key of keys) {
              const cps = [...key];
              afters.push({ bucket, key }, { bucket, key: cps.slice(0, -1).join('') });
              // Appended to short keys only: see the long-key limit in lmdb-store.ts.
              if (key.length < 60) for (const c of ['\u0000', '\u0001', '\u0005', '0', '\uFFFF', '\u{1F600}']) afters.push({ bucket, key: key + c });
            }
          }
          for (const after of [...afters, ...present]) {
            const from = expected.findIndex((r) => order(r, after) > 0);
            const suffix = from < 0 ? [] : full.slice(from);
            const got = [...store.scanPartition(3, after)];
            assert.deepEqual(got.map((e) => [e.partition, e.bucket, e.key]), suffix.map((e) => [e.partition, e.bucket, e.key]), `${what}: after ${show(after)}`);
            for (const [j, e] of got.entries()) assert.deepEqual(plain(e.set), plain(suffix[j]!.set));
          }
          // Paging with after = the last key of the previous page visits everything once.
          const paged: Ref[] = [];
          for (let after: Ref | undefined; ; ) {
            const page = [...store.scanPartition(3, after)].slice(0, 5);
            if (page.length === 0) break;
            paged.push(...page.map((e) => ({ bucket: e.bucket, key: e.key })));
            after = paged[paged.length - 1];
          }
          assert.deepEqual(paged, expected, `${what}: paging`);
        };
        check('written', true);

        // Keys that come, go and move after a scan are seen by the next one.
        const at = (bucket: string, key: string): number => present.findIndex((r) => r.bucket === bucket && r.key === key);
        assert.ok(at('a', 'ab') >= 0 && at('ab', 'a') >= 0 && at('\u{1F600}', '\u{1F600}') < 0);
        await store.update(3, 'a', 'a\u0002', () => set(sib('n', 1, bytes(2))));
        present.push({ bucket: 'a', key: 'a\u0002' });
        check('added', false);
        await store.remove(3, 'a', 'ab');
        present.splice(at('a', 'ab'), 1);
        check('removed', false);
        await store.update(2, 'ab', 'a', () => set(sib('n', 1, bytes(3))));
        present.splice(at('ab', 'a'), 1);
        check('moved out', false);
        await store.update(3, '\u{1F600}', '\u{1F600}', () => set(sib('n', 1, bytes(4))));
        present.push({ bucket: '\u{1F600}', key: '\u{1F600}' });
        check('moved in', true);
      }));

    test('scanBucket: key order with "/", unicode and control characters; prefix, after, limit', () =>
      withStore(async ({ store }) => {
        const keys = [
          'a', 'a/', 'a/b', 'a/b/c', 'a/b0', 'a/bz', 'a0', 'ab', 'b', 'b/é', 'b/e', 'b/z', 'b/😀', 'b/\uff5a',
          'b/\u00ff', 'c\u0001', 'c', 'c\u0004x', 'c\u0005', '\u0001lead', ' space', '', 'zz/日本/語', 'zz/日本',
          'photos/2024/01/a.jpg', 'photos/2024/01/b.jpg', 'photos/2024/02/a.jpg', 'photos/2025/a.jpg',
        ];
        await Promise.all(keys.map((k, i) => store.update(i % 4, 'bkt', k, () => set(sib('n', i + 1, bytes(i))))));
        // Neighbouring buckets must not leak into the listing.
        await store.update(0, 'bk', 'a', () => set(sib('n', 1, bytes(1))));
        await store.update(0, 'bkt0', 'a', () => set(sib('n', 1, bytes(1))));
        await store.update(0, 'bkt\u0000', 'a', () => set(sib('n', 1, bytes(1))));
        await store.update(0, 'bkt/', 'a', () => set(sib('n', 1, bytes(1))));

        const sorted = [...keys].sort(utf8Order);
        assert.deepEqual([...keys].sort(compareCodePoints), sorted);
        const all = [...store.scanBucket('bkt', {})];
        assert.deepEqual(all.map((e) => e.key), sorted);
        for (const e of all) {
          assert.equal(e.bucket, 'bkt');
          assert.equal(e.partition, keys.indexOf(e.key) % 4);
          assert.equal(e.set.siblings[0]!.dot.counter, keys.indexOf(e.key) + 1);
        }

        const list = (opts: { prefix?: string; after?: string; limit?: number }): string[] => keysOf(store.scanBucket('bkt', opts));
        const expect = (opts: { prefix?: string; after?: string; limit?: number }): string[] =>
          sorted
            .filter((k) => k.startsWith(opts.prefix ?? ''))
            .filter((k) => opts.after === undefined || utf8Order(k, opts.after) > 0)
            .slice(0, opts.limit ?? Infinity);

        const cases: { prefix?: string; after?: string; limit?: number }[] = [
          { prefix: 'a/' },
          { prefix: 'a/b' },
          { prefix: 'b/' },
          { prefix: 'photos/2024/' },
          { prefix: 'photos/2024/', after: 'photos/2024/01/a.jpg' },
          { prefix: 'photos/2024/', after: 'photos/2024/01/b.jpg', limit: 1 },
          { prefix: 'photos/', after: 'a' }, // after before the prefix range
          { prefix: 'photos/', after: 'zzz' }, // after past the prefix range
          { prefix: 'a', after: 'a/b' },
          { after: '' },
          { after: 'a/b/c' },
          { after: 'a/b/c!' }, // not a stored key
          { after: 'b/😀' },
          { prefix: 'c' },
          { prefix: 'zz/日本' },
          { prefix: 'nomatch' },
          { limit: 3 },
          { limit: 0 },
          { prefix: '', after: 'c\u0001', limit: 2 },
        ];
        for (const c of cases) assert.deepEqual(list(c), expect(c), JSON.stringify(c));

        // Paging with after = last key of the previous page visits everything once.
        const paged: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = list(after === undefined ? { limit: 4 } : { limit: 4, after });
          if (page.length === 0) break;
          paged.push(...page);
          after = page[page.length - 1];
        }
        assert.deepEqual(paged, sorted);

        assert.deepEqual(keysOf(store.scanBucket('nope', {})), []);
        assert.deepEqual(keysOf(store.scanBucket('bk', {})), ['a']);
      }));

    test('writing an empty set removes the key and its index entry', () =>
      withStore(async ({ store }) => {
        await store.update(5, 'b', 'k', () => set(sib('a', 1, bytes(1))));
        await store.update(5, 'b', 'k2', () => set(sib('a', 1, bytes(2))));
        const r = await store.update(5, 'b', 'k', (cur) => {
          assert.ok(cur);
          return EMPTY_SET;
        });
        assert.equal(r.siblings.length, 0);
        assert.equal(store.read('b', 'k'), undefined);
        assert.deepEqual(keysOf(store.scanBucket('b', {})), ['k2']);
        assert.deepEqual(keysOf(store.scanPartition(5)), ['k2']);
        // Removing what is absent is a no-op; fn sees undefined again afterwards.
        await store.update(5, 'b', 'k', () => ({ siblings: [] }));
        await store.update(5, 'b', 'k', (cur) => {
          assert.equal(cur, undefined);
          return set(sib('a', 2, bytes(3)));
        });
        assert.deepEqual(keysOf(store.scanBucket('b', {})), ['k', 'k2']);
      }));

    test('remove deletes the key, its index entry, and is idempotent', () =>
      withStore(async ({ store }) => {
        await store.update(5, 'b', 'k', () => set(sib('a', 1, bytes(1))));
        await store.update(6, 'b', 'j', () => set(sib('a', 1, bytes(1))));
        await store.remove(5, 'b', 'k');
        await store.remove(5, 'b', 'k');
        await store.remove(9, 'b', 'never');
        assert.equal(store.read('b', 'k'), undefined);
        assert.deepEqual(keysOf(store.scanBucket('b', {})), ['j']);
        assert.deepEqual(keysOf(store.scanPartition(5)), []);
        assert.deepEqual(keysOf(store.scanPartition(6)), ['j']);
      }));

    test('meta round-trip', () =>
      withStore(async ({ store }) => {
        assert.equal(store.getMeta('nodeId'), undefined);
        await store.putMeta('nodeId', 'n-1');
        await store.putMeta('counters', { dot: 41, hlc: 1_700_000_000_123, list: [1, 'x', null, true] });
        await store.putMeta('num', 7);
        assert.equal(store.getMeta<string>('nodeId'), 'n-1');
        assert.deepEqual(store.getMeta('counters'), { dot: 41, hlc: 1_700_000_000_123, list: [1, 'x', null, true] });
        assert.equal(store.getMeta<number>('num'), 7);
        await store.putMeta('num', 8);
        assert.equal(store.getMeta<number>('num'), 8);
        await store.putMeta('num', undefined);
        assert.equal(store.getMeta('num'), undefined);
        // Meta does not show up as data.
        assert.deepEqual(keysOf(store.scanPartition(0)), []);
      }));

    test('reopen keeps data, index and meta', () =>
      withStore(async (h) => {
        await Promise.all(
          Array.from({ length: 300 }, (_, i) => h.store.update(i % 7, 'r', `k/${String(i).padStart(3, '0')}`, () => set(sib('n', i + 1, new Uint8Array(64).fill(i & 0xff))))),
        );
        await h.store.update(0, 'r', 'tomb', () => set(sib('n', 1, null)));
        await h.store.update(0, 'r', 'k/000', () => EMPTY_SET);
        await h.store.putMeta('nodeId', 'abc');
        const before = [...h.store.scanBucket('r', {})].map((e) => [e.partition, e.key, plain(e.set)]);
        const store = await h.reopen();
        h.store = store;
        assert.equal(store.getMeta('nodeId'), 'abc');
        assert.deepEqual([...store.scanBucket('r', {})].map((e) => [e.partition, e.key, plain(e.set)]), before);
        assert.equal(before.length, 300);
        assert.equal(store.read('r', 'k/000'), undefined);
        assert.deepEqual(plain(store.read('r', 'tomb')), plain(set(sib('n', 1, null))));
        assert.deepEqual([...store.read('r', 'k/299')!.siblings[0]!.value!], new Array(64).fill(299 & 0xff));
        let n = 0;
        for (let p = 0; p < 7; p++) n += [...store.scanPartition(p)].length;
        assert.equal(n, 300);
        // Still writable.
        await store.update(1, 'r', 'after', increment);
        assert.equal(store.read('r', 'after')!.siblings[0]!.meta.ts, 1);
      }));

    test('closed store refuses operations', () =>
      withStore(async (h) => {
        await h.store.close();
        assert.throws(() => h.store.read('b', 'k'), /closed/);
        await assert.rejects(async () => h.store.update(0, 'b', 'k', increment), /closed/);
      }));
  });
}

suite('MemoryStore', async () => {
  const h: Harness = {
    store: new MemoryStore(),
    reopen: async () => (h.store as MemoryStore).reopen(),
    cleanup: async () => {
      await h.store.close();
    },
  };
  return h;
});

suite('LmdbStore without the write log', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ringstore-store-'));
  const h: Harness = {
    store: await openLmdbStore(dir, { log: false }),
    reopen: async () => {
      await h.store.close();
      return openLmdbStore(dir, { log: false });
    },
    cleanup: async () => {
      await h.store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return h;
});

// The same contract with the write log in front (issue 13 §2), small segments so each test's preallocation is cheap.
export const TEST_LOG = { segments: 3, segmentBytes: 1 << 20, applyDelayMs: 20 } as const;

suite('LmdbStore with the write log', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ringstore-store-log-'));
  const h: Harness = {
    store: await openLmdbStore(dir, { log: TEST_LOG }),
    reopen: async () => {
      await h.store.close();
      return openLmdbStore(dir, { log: TEST_LOG });
    },
    cleanup: async () => {
      await h.store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return h;
});

describe('LmdbStore specifics', () => {
  test('a key too long for LMDB is rejected without writing anything', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ringstore-store-'));
    const store = await openLmdbStore(dir);
    try {
      await assert.rejects(async () => store.update(0, 'b', 'x'.repeat(3000), increment), RangeError);
      await assert.rejects(async () => store.update(0, 'b', '\u0001'.repeat(1000), increment), RangeError);
      await store.update(0, 'b', 'x'.repeat(1024), increment); // S3's maximum key length fits
      assert.deepEqual(keysOf(store.scanBucket('b', {})), ['x'.repeat(1024)]);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a data folder whose name looks like a file name ("n1.data") is a folder, and reopens', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'ringstore-store-'));
    const dir = join(parent, 'n1.data');
    try {
      let store = await openLmdbStore(dir);
      await store.update(0, 'b', 'k', increment);
      await store.close();
      assert.ok((await stat(dir)).isDirectory());
      store = await openLmdbStore(dir);
      assert.deepEqual(keysOf(store.scanBucket('b', {})), ['k']);
      await store.close();
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
});
