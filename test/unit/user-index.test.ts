// The per-user file index (src/coordinator/user-index.ts) on a real in-process
// cluster (Coordinators, Ring, MemoryStores, the in-memory network), plus
// its pure parts: index keys, name matching, the gRPC API's signatures.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Coordinator } from '../../src/coordinator/coordinator.js';
import { PassiveLiveness } from '../../src/membership/liveness.js';
import { systemClock } from '../../src/node/real-runtime.js';
import { GROUPED_BUCKETS, Ring } from '../../src/ring/ring.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import type { Transport } from '../../src/transport/transport.js';
import { SeededRandom } from '../../src/util/runtime.js';
import { StaticCredentials } from '../../src/s3/credentials.js';
import { AuthError, H_DATE, NonceCache, signCall, verifyCall, MAX_SKEW_MS } from '../../src/files/auth.js';
import { fileMatcher, globToRegExp, isGlob } from '../../src/coordinator/file-match.js';
import { encodeUser, indexKey, parseIndexKey, USER_INDEX_BUCKET, UserIndex } from '../../src/coordinator/user-index.js';

const IDS = ['n1', 'n2', 'n3', 'n4', 'n5'];

interface Cluster {
  readonly net: MemoryNetwork;
  readonly ring: Ring;
  readonly stores: Map<string, MemoryStore>;
  readonly index: UserIndex;
  /** listKeys requests the index sent, by target node. */
  readonly listsTo: Map<string, number>;
}

function startCluster(pageSize?: number, waitMs?: number): Cluster {
  const clock = systemClock;
  const net = new MemoryNetwork({ clock, random: new SeededRandom(11), minLatencyMs: 0, maxLatencyMs: 0 });
  const ring = new Ring({ epoch: 1, partitions: 64, nodes: IDS.map((id) => ({ id, zone: id, weight: 1 })) });
  const stores = new Map<string, MemoryStore>();
  const coordinators = new Map<string, Coordinator>();
  for (const id of IDS) {
    const store = new MemoryStore();
    const transport = net.transport(id);
    const liveness = new PassiveLiveness(clock, (node) => transport.request(node, { type: 'ping' }, 1000).then(() => true, () => false));
    const c = new Coordinator({ self: id, store, transport, clock, random: new SeededRandom(id.length), ring: () => ring, liveness, config: { replicaTimeoutMs: 10_000 } });
    transport.serve(c.handle);
    stores.set(id, store);
    coordinators.set(id, c);
  }
  const listsTo = new Map<string, number>();
  const real = net.transport('n1');
  // Counts what the index asks of whom; the requests themselves go through unchanged.
  const counting: Pick<Transport, 'request'> = {
    request: (to, req, deadline) => {
      if (req.type === 'listKeys') listsTo.set(to, (listsTo.get(to) ?? 0) + 1);
      return real.request(to, req, deadline);
    },
  };
  const index = new UserIndex({
    self: 'n1',
    coordinator: coordinators.get('n1')!,
    transport: counting,
    ring: () => ring,
    isAlive: () => true,
    now: () => clock.now(),
    n: 3,
    r: 2,
    ...(pageSize !== undefined ? { pageSize } : {}),
    ...(waitMs !== undefined ? { waitMs, clock } : {}),
    onError: (err) => {
      if (waitMs === undefined) throw err;
    },
  });
  return { net, ring, stores, index, listsTo };
}

describe('the per-user file index', () => {
  let c: Cluster;
  // The in-memory network delivers on unref'd timers (systemClock): something must keep the process up.
  let keepAlive: NodeJS.Timeout;
  after(() => clearInterval(keepAlive));
  before(async () => {
    keepAlive = setInterval(() => undefined, 1000);
    c = startCluster(7);
    for (let i = 0; i < 30; i++) await c.index.written({ owner: 'alice', bucket: i % 2 === 0 ? 'photos' : 'docs', key: `dir${i % 3}/file-${String(i).padStart(2, '0')}.${i % 5 === 0 ? 'pdf' : 'txt'}`, size: i, contentType: 'text/plain' });
    for (let i = 0; i < 10; i++) await c.index.written({ owner: 'bob', bucket: 'docs', key: `bob-${i}.pdf`, size: 100 + i });
  });

  test('all of one user\'s index keys fall in one partition, whatever the bucket and key', () => {
    assert.ok(GROUPED_BUCKETS.has(USER_INDEX_BUCKET));
    const p = c.ring.partitionOf(USER_INDEX_BUCKET, indexKey('alice', 'photos', 'a'));
    for (const k of [indexKey('alice', 'docs', 'x/y/z'), indexKey('alice', 'zzz', 'q'), `${encodeUser('alice')}`]) assert.equal(c.ring.partitionOf(USER_INDEX_BUCKET, k), p);
    // Other buckets are placed by the whole key as before.
    const spread = new Set(Array.from({ length: 50 }, (_, i) => c.ring.partitionOf('photos', `alice/${i}`)));
    assert.ok(spread.size > 10, `ordinary keys spread over ${spread.size} partitions`);
  });

  test('a user lists every file across buckets in path order, paging past the replicas\' page size', async () => {
    const r = await c.index.list('alice', { limit: 1000 });
    assert.equal(r.files.length, 30);
    const paths = r.files.map((f) => `${f.bucket}/${f.key}`);
    assert.deepEqual(paths, [...paths].sort());
    assert.ok(r.files.every((f) => f.owner === 'alice'));
    assert.equal(r.truncated, false);
    const first = await c.index.list('alice', { limit: 4 });
    assert.equal(first.files.length, 4);
    assert.equal(first.truncated, true);
    const last = first.files[3]!;
    const next = await c.index.list('alice', { limit: 1000, after: `${last.bucket}/${last.key}` });
    assert.equal(first.files.length + next.files.length, 30);
    const docs = await c.index.list('alice', { limit: 1000, prefix: 'docs/' });
    assert.equal(docs.files.length, 15);
    assert.ok(docs.files.every((f) => f.bucket === 'docs'));
  });

  test('a listing asks only the user\'s N index replicas, never the rest of the cluster', async () => {
    c.listsTo.clear();
    const r = await c.index.search('bob', 'bob', { limit: 100 });
    assert.equal(r.files.length, 10);
    const { owners } = c.ring.preference(c.ring.partitionOf(USER_INDEX_BUCKET, encodeUser('bob')), 3);
    // R = 2 of the N = 3 owners answer, as in a quorum read; nobody else is asked.
    assert.equal(r.replicas.length, 2);
    assert.ok(r.replicas.every((id) => owners.includes(id)), `${r.replicas} within ${owners}`);
    assert.deepEqual([...c.listsTo.keys()].sort(), [...r.replicas].sort());
    // And only those replicas store bob's entries.
    for (const [id, store] of c.stores) {
      const held = [...store.scanBucket(USER_INDEX_BUCKET, { prefix: 'bob/' })].length;
      if (owners.includes(id)) assert.ok(held >= 2, `${id} is an owner and holds ${held}`);
      else assert.equal(held, 0, `${id} is not an owner of bob's index`);
    }
  });

  test('search matches a substring anywhere in bucket/key, ignoring case, or a glob', async () => {
    assert.equal((await c.index.search('alice', 'FILE-0', { limit: 100 })).files.length, 10);
    const pdfs = await c.index.search('alice', '*.pdf', { limit: 100 });
    assert.equal(pdfs.files.length, 6);
    assert.ok(pdfs.files.every((f) => f.key.endsWith('.pdf')));
    assert.equal((await c.index.search('alice', 'photos/dir1/*', { limit: 100 })).files.length, 5);
    assert.equal((await c.index.search('alice', 'bob', { limit: 100 })).files.length, 0, 'one user never sees another\'s files');
    const limited = await c.index.search('alice', 'file', { limit: 3 });
    assert.equal(limited.files.length, 3);
    assert.equal(limited.truncated, true);
  });

  test('an update replaces the entry and a delete removes it', async () => {
    await c.index.written({ owner: 'carol', bucket: 'b1', key: 'report.pdf', size: 10 });
    await c.index.written({ owner: 'carol', bucket: 'b1', key: 'report.pdf', size: 20, etag: 'e2' });
    let r = await c.index.list('carol', { limit: 10 });
    assert.equal(r.files.length, 1);
    assert.equal(r.files[0]!.size, 20);
    assert.equal(r.files[0]!.etag, 'e2');
    await c.index.deleted({ owner: 'carol', bucket: 'b1', key: 'report.pdf' });
    r = await c.index.list('carol', { limit: 10 });
    assert.equal(r.files.length, 0);
  });

  test('a write waits for its index entry at most waitMs when the index replicas are out of reach, and the entry lands once they are back', async () => {
    const cut = startCluster(undefined, 150);
    // n1 alone: the index write (W=2) cannot complete.
    for (const id of IDS.slice(1)) cut.net.partition('n1', id);
    const t0 = Date.now();
    await cut.index.written({ owner: 'erin', bucket: 'b3', key: 'late.txt', size: 1, w: 2 });
    const waited = Date.now() - t0;
    assert.ok(waited >= 140 && waited < 5000, `waited ${waited} ms`);
    for (const id of IDS.slice(1)) cut.net.heal('n1', id);
    await cut.index.written({ owner: 'erin', bucket: 'b3', key: 'on-time.txt', size: 2, w: 2 });
    const r = await cut.index.list('erin', { limit: 10 });
    assert.ok(r.files.some((f) => f.key === 'on-time.txt'));
  });

  test('an entry lost on one replica still lists (R of N answer, merged like any replicated key)', async () => {
    await c.index.written({ owner: 'dave', bucket: 'b2', key: 'kept.txt', size: 5 });
    const { owners } = c.ring.preference(c.ring.partitionOf(USER_INDEX_BUCKET, 'dave'), 3);
    const victim = c.stores.get(owners[0]!)!;
    await victim.remove(c.ring.partitionOf(USER_INDEX_BUCKET, 'dave'), USER_INDEX_BUCKET, indexKey('dave', 'b2', 'kept.txt'));
    assert.equal(victim.read(USER_INDEX_BUCKET, indexKey('dave', 'b2', 'kept.txt')), undefined);
    const r = await c.index.list('dave', { limit: 10 });
    assert.deepEqual(r.files.map((f) => f.key), ['kept.txt']);
  });
});

describe('index keys and name matching', () => {
  test('index keys carry the user percent-encoded, so a user name may hold a slash', () => {
    const k = indexKey('team/a%b', 'photos', 'dir/x.pdf');
    assert.equal(k, 'team%2Fa%25b/photos/dir/x.pdf');
    assert.deepEqual(parseIndexKey(k), { owner: 'team/a%b', bucket: 'photos', key: 'dir/x.pdf' });
    assert.equal(parseIndexKey('alice/photos'), undefined);
    assert.equal(parseIndexKey('alice//x'), undefined);
    assert.equal(parseIndexKey('%E0%A4%A/b/c'), undefined);
  });

  test('globs: * stays in a segment, ** crosses them, ? is one character, [..] a class', () => {
    assert.ok(isGlob('*.pdf') && isGlob('a?c') && isGlob('[ab]') && !isGlob('plain.txt'));
    assert.ok(globToRegExp('*.pdf').test('a.pdf'));
    assert.ok(!globToRegExp('*.pdf').test('dir/a.pdf'));
    assert.ok(globToRegExp('docs/**').test('docs/a/b/c.txt'));
    assert.ok(globToRegExp('file-?.txt').test('file-7.txt'));
    assert.ok(!globToRegExp('file-?.txt').test('file-77.txt'));
    assert.ok(globToRegExp('[!a]x').test('bx') && !globToRegExp('[!a]x').test('ax'));
    assert.ok(globToRegExp('f[0-9].txt').test('f5.txt'));
    assert.ok(globToRegExp('a(b)+.txt').test('a(b)+.txt'), 'regex characters are literal');
    assert.ok(globToRegExp('a[b').test('a[b'), 'an unclosed [ is literal');
  });

  test('a glob without a slash matches the base name; with one, the whole bucket/key', () => {
    assert.ok(fileMatcher('*.pdf')('photos/deep/dir/x.pdf'));
    assert.ok(!fileMatcher('*.pdf')('photos/x.pdf.txt'));
    assert.ok(fileMatcher('photos/*/x.pdf')('photos/deep/x.pdf'));
    assert.ok(!fileMatcher('photos/*/x.pdf')('photos/a/b/x.pdf'));
    assert.ok(fileMatcher('REPORT')('docs/q3-report.pdf'), 'substrings ignore case');
  });
});

describe('gRPC file API signatures', () => {
  const creds = { accessKey: 'RSTESTKEY00000000001', secretKey: 'a-secret-of-some-length' };
  const store = new StaticCredentials([{ ...creds, owner: 'alice', createdMs: 0 }]);
  const method = '/ringstore.files.v1.FileService/List';
  const getter = (md: Record<string, string>) => (n: string) => md[n];

  test('a signed call is accepted once and names the key\'s owner; its replay is refused', async () => {
    const now = Date.parse('2026-12-02T05:00:00Z');
    const nonces = new NonceCache();
    const md = signCall(creds, method, new Date(now), 'abcdefghijklmnop');
    assert.deepEqual(await verifyCall(getter(md), method, store, nonces, now + 1000), { accessKey: creds.accessKey, owner: 'alice' });
    await assert.rejects(verifyCall(getter(md), method, store, nonces, now + 2000), (e: AuthError) => e.code === 'ReplayedNonce');
    // Remembered for twice the skew window, then forgotten (the date is refused by then anyway).
    assert.equal(nonces.size, 1);
    nonces.use('other', 'zzzzzzzzzzzzzzzz', now + 2 * MAX_SKEW_MS + 5000);
    assert.equal(nonces.size, 1);
  });

  test('wrong secret, other method, unknown key, skewed date, missing or malformed metadata are refused with their codes', async () => {
    const now = Date.now();
    const cases: [Record<string, string>, string, string][] = [
      [signCall({ ...creds, secretKey: 'wrong' }, method), method, 'SignatureDoesNotMatch'],
      [signCall(creds, '/ringstore.files.v1.FileService/Delete'), method, 'SignatureDoesNotMatch'],
      [signCall({ ...creds, accessKey: 'RSNOSUCHKEY000000001' }, method), method, 'InvalidAccessKeyId'],
      [signCall(creds, method, new Date(now - MAX_SKEW_MS - 60_000)), method, 'RequestTimeTooSkewed'],
      [{}, method, 'MissingAuthentication'],
      [{ ...signCall(creds, method), [H_DATE]: 'yesterday' }, method, 'MalformedAuthentication'],
      [signCall(creds, method, new Date(now), 'short'), method, 'MalformedAuthentication'],
    ];
    for (const [md, m, code] of cases) await assert.rejects(verifyCall(getter(md), m, store, new NonceCache(), now), (e: AuthError) => e.code === code, code);
  });
});
