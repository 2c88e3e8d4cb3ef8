// The native JSON API's HTTP layer, in process, against a stub coordinator
// that keeps sibling sets in memory with the real version code: routing,
// validation, status codes, answer shapes, streaming limits, multipart.

import { hash64hex } from '../../src/util/hash.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createHash } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from './s3-harness.js';
import { createHttpServer } from '../../src/api/http.js';
import { testAuth, type TestAuth } from '../helpers/auth.js';
import { createNativeApi } from '../../src/api/native.js';
import type { NativeBuckets, NativeCoordinator } from '../../src/api/native-deps.js';
import { resolveQuorum, validateBucketName } from '../../src/api/native-params.js';
import { ControlBucketCatalog } from '../../src/control/bucket-catalog.js';
import { LocalControlPlane } from '../../src/control/plane.js';
import { QuorumError, type GetRequest, type GetResult, type ListRequest, type ListResult, type PutRequest, type PutResult } from '../../src/coordinator/types.js';
import { EMPTY_SET, liveSiblings, newEvent, setClock, vvJoin, type SiblingSet } from '../../src/version/dvv.js';

const NODES = ['n1', 'n2', 'n3'];
const MAX = 64 * 1024;

/** A one-replica stand-in for the coordinator: real DVV semantics, fake fan-out. */
class StubCoordinator implements NativeCoordinator {
  readonly data = new Map<string, SiblingSet>();
  readonly puts: PutRequest[] = [];
  readonly gets: GetRequest[] = [];
  failNext: Error | undefined;
  private origin = 0;

  async put(req: PutRequest): Promise<PutResult> {
    this.puts.push(req);
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = undefined;
      throw e;
    }
    // Alternate origins so that two writes without context become siblings.
    const node = NODES[this.origin++ % NODES.length] as string;
    const k = `${req.bucket}\u0000${req.key}`;
    const cur = this.data.get(k) ?? EMPTY_SET;
    const context = req.supersedeVisible ? vvJoin(req.context ?? {}, setClock(cur)) : req.context ?? {};
    const set = newEvent(cur, node, context, req.value, req.meta ?? {}, Date.now()).set;
    this.data.set(k, set);
    const clock = setClock(set);
    return {
      coordinator: 'n1',
      origin: node,
      partition: 7,
      preferenceList: NODES,
      replicasWritten: NODES.slice(0, req.w ?? 2),
      hinted: [],
      vectorClocks: Object.fromEntries(NODES.slice(0, req.w ?? 2).map((n) => [n, clock])),
      set,
      context: clock,
    };
  }

  async get(req: GetRequest): Promise<GetResult> {
    this.gets.push(req);
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = undefined;
      throw e;
    }
    const set = this.data.get(`${req.bucket}\u0000${req.key}`) ?? EMPTY_SET;
    const clock = setClock(set);
    const read = NODES.slice(0, req.r ?? 2);
    return {
      coordinator: 'n1',
      partition: 7,
      preferenceList: NODES,
      replicasRead: read,
      vectorClocks: Object.fromEntries(read.map((n) => [n, set.siblings.length ? clock : null])),
      set,
      context: clock,
    };
  }

  async list(req: ListRequest): Promise<ListResult> {
    const keys: { key: string; set: SiblingSet }[] = [];
    const all = [...this.data.entries()]
      .filter(([k]) => k.startsWith(`${req.bucket}\u0000`))
      .map(([k, set]) => ({ key: k.slice(req.bucket.length + 1), set }))
      .filter((e) => liveSiblings(e.set).length > 0 && e.key.startsWith(req.prefix ?? '') && e.key > (req.after ?? ''))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    for (const e of all.slice(0, req.limit)) keys.push(e);
    return { keys, truncated: all.length > req.limit };
  }
}

let server: Server;
let base: string;
let coord: StubCoordinator;
/** The signing helper (test/helpers/auth.ts): every request below goes through auth.fetch. */
let auth: TestAuth;
/** Buckets whose ACL is public-read (what the node asks S3's ACL store). */
const publicBuckets = new Set<string>();

before(async () => {
  coord = new StubCoordinator();
  auth = await testAuth();
  // The real catalog over a control plane of one node.
  const buckets: NativeBuckets = new ControlBucketCatalog({
    plane: new LocalControlPlane(() => Date.now()),
    isEmpty: async (storage) => (await coord.list({ bucket: storage, limit: 1 })).keys.length === 0,
  });
  const registry = new Registry();
  const native = createNativeApi({
    self: 'n1',
    coordinator: coord,
    buckets,
    clusterSize: () => 3,
    defaultQuorum: { n: 3, r: 2, w: 2 },
    maxObjectBytes: MAX,
    publicRead: async (b) => publicBuckets.has(b.name),
  });
  server = createHttpServer({ self: 'n1', logger: pino({ level: 'silent' }), registry, auth: auth.http, mounts: [{ prefix: '/buckets', handler: native, access: 'user' }] });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function call(method: string, path: string, body?: any, headers: Record<string, string> = {}) {
  const res = await auth.fetch(base + path, { method, body: body ?? null, headers, ...(body instanceof ReadableStream ? { duplex: 'half' } : {}) } as RequestInit);
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

function assertError(r: { status: number; json: any }, status: number, code: string) {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.equal(r.json.ok, false);
  assert.equal(r.json.error.code, code);
  assert.equal(typeof r.json.error.message, 'string');
}

describe('validation helpers', () => {
  test('bucket names follow the S3 rules', () => {
    for (const ok of ['abc', 'my-bucket', 'a.b.c', 'x'.repeat(63), '123', 'a.-b']) validateBucketName(ok);
    for (const bad of ['ab', 'x'.repeat(64), 'Upper', 'under_score', '-start', 'end-', 'a..b', '192.168.1.1', 'sp ace', 'xn--abc', 'photos-s3alias']) {
      assert.throws(() => validateBucketName(bad), (e: any) => e.code === 'InvalidBucketName', bad);
    }
  });
  test('quorums: explicit values are strict, defaults are clamped to n', () => {
    assert.deepEqual(resolveQuorum({ n: 3, r: 2, w: 2 }, {}, 3), { n: 3, r: 2, w: 2 });
    assert.deepEqual(resolveQuorum({ n: 3, r: 2, w: 2 }, { n: 1 }, 3), { n: 1, r: 1, w: 1 });
    assert.deepEqual(resolveQuorum({ n: 3, r: 2, w: 2 }, {}, 1), { n: 1, r: 1, w: 1 });
    assert.throws(() => resolveQuorum({ n: 3, r: 2, w: 2 }, { n: 4 }, 3), (e: any) => e.code === 'InvalidQuorum');
    assert.throws(() => resolveQuorum({ n: 3, r: 2, w: 2 }, { n: 2, r: 3 }, 3), (e: any) => e.code === 'InvalidQuorum');
  });
});

describe('buckets', () => {
  test('create answers created true, then false; list and info show it', async () => {
    const a = await call('POST', '/buckets/alpha');
    assert.equal(a.status, 200);
    assert.equal(a.json.ok, true);
    assert.equal(a.json.created, true);
    assert.equal(a.json.bucket.name, 'alpha');
    const again = await call('PUT', '/buckets/alpha');
    assert.equal(again.json.created, false);
    const list = await call('GET', '/buckets');
    assert.ok(list.json.buckets.some((b: any) => b.name === 'alpha'));
    const info = await call('GET', '/buckets/alpha');
    assert.equal(info.status, 200);
    assert.equal(info.json.name, 'alpha');
    assert.deepEqual(info.json.keys, []);
  });

  test('the same owner making a bucket again gets created false with its bucket and id; naming another owner is refused', async () => {
    const json = { 'content-type': 'application/json' };
    const mine = await call('POST', '/buckets/taken');
    assert.equal(mine.json.created, true);
    assert.equal(typeof mine.json.bucket.id, 'number');
    const again = await call('POST', '/buckets/taken');
    assert.equal(again.status, 200);
    assert.equal(again.json.created, false);
    assert.equal(again.json.bucket.id, mine.json.bucket.id);
    // A bucket belongs to its creator (as on S3): a body naming someone else is refused before anything is proposed.
    assertError(await call('POST', '/buckets/taken-2', JSON.stringify({ owner: 'bob' }), json), 403, 'AccessDenied');
    assert.equal((await call('GET', '/buckets/taken-2')).status, 404);
  });

  test('bucket quorum defaults come from the JSON body or the query, validated', async () => {
    const q = await call('POST', '/buckets/quorum-q?n=2&r=1&w=2');
    assert.deepEqual(q.json.bucket.quorum, { n: 2, r: 1, w: 2 });
    const b = await call('POST', '/buckets/quorum-b', JSON.stringify({ n: 3, r: 1, w: 3 }), { 'content-type': 'application/json' });
    assert.deepEqual(b.json.bucket.quorum, { n: 3, r: 1, w: 3 });
    assertError(await call('POST', '/buckets/quorum-bad?n=4'), 400, 'InvalidQuorum');
    assertError(await call('POST', '/buckets/quorum-bad?r=0'), 400, 'InvalidQuorum');
    assertError(await call('POST', '/buckets/quorum-bad', '{nope'), 400, 'MalformedRequest');
    assert.equal((await call('GET', '/buckets/quorum-bad')).status, 404);
  });

  test('bad names, unknown buckets, non-empty buckets', async () => {
    assertError(await call('POST', '/buckets/Bad_Name'), 400, 'InvalidBucketName');
    assertError(await call('POST', '/buckets/ab'), 400, 'InvalidBucketName');
    assertError(await call('GET', '/buckets/nosuch'), 404, 'NoSuchBucket');
    assertError(await call('DELETE', '/buckets/nosuch'), 404, 'NoSuchBucket');
    assertError(await call('PUT', '/buckets/nosuch/k', 'v'), 404, 'NoSuchBucket');
    assertError(await call('GET', '/buckets/nosuch/k'), 404, 'NoSuchBucket');
    await call('POST', '/buckets/full');
    await call('PUT', '/buckets/full/k', 'v');
    assertError(await call('DELETE', '/buckets/full'), 409, 'BucketNotEmpty');
    await call('DELETE', '/buckets/full/k');
    const del = await call('DELETE', '/buckets/full');
    assert.equal(del.status, 200);
    assert.equal(del.json.deleted, true);
  });
});

describe('objects', () => {
  before(async () => {
    await call('POST', '/buckets/objs');
  });

  test('a raw PUT answers the write transparency fields; GET returns the bytes and headers', async () => {
    const w = await call('PUT', '/buckets/objs/dir/sub/file.txt', 'hello', { 'content-type': 'text/plain' });
    assert.equal(w.status, 200);
    for (const f of ['ok', 'bucket', 'key', 'coordinator', 'origin', 'partition', 'preference_list', 'replicas_written', 'hinted', 'vector_clocks', 'siblings', 'context']) {
      assert.ok(f in w.json, `write answer has ${f}`);
    }
    assert.equal(w.json.key, 'dir/sub/file.txt');
    assert.equal(w.json.siblings, 1);
    assert.equal(w.headers.get('x-ringstore-context'), w.json.context);
    const r = await call('GET', '/buckets/objs/dir/sub/file.txt');
    assert.equal(r.status, 200);
    assert.equal(r.text, 'hello');
    assert.equal(r.headers.get('content-type'), 'text/plain');
    assert.equal(r.headers.get('x-ringstore-coordinator'), 'n1');
    assert.ok(r.headers.get('x-ringstore-context'));
    const h = await auth.fetch(`${base}/buckets/objs/dir/sub/file.txt`, { method: 'HEAD' });
    assert.equal(h.status, 200);
    assert.equal(h.headers.get('content-length'), '5');
  });

  test('percent-encoded keys are decoded; binary values survive', async () => {
    const bytes = Buffer.from([0, 255, 1, 254, 10]);
    await call('PUT', '/buckets/objs/' + encodeURIComponent('a b/ü?.bin'), bytes);
    const res = await auth.fetch(`${base}/buckets/objs/${encodeURIComponent('a b/ü?.bin')}`);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
    const j = await call('GET', `/buckets/objs/${encodeURIComponent('a b/ü?.bin')}?json=1`);
    assert.equal(j.json.key, 'a b/ü?.bin');
    assert.equal(j.json.siblings[0].value, undefined, 'no utf8 value for invalid UTF-8');
    assert.equal(j.json.siblings[0].value_base64, bytes.toString('base64'));
  });

  test('JSON reads show siblings, clocks, replicas and the context; 300 without JSON', async () => {
    await call('PUT', '/buckets/objs/sib', 'one');
    await call('PUT', '/buckets/objs/sib', 'two');
    const plain = await call('GET', '/buckets/objs/sib');
    assert.equal(plain.status, 300);
    assert.equal(plain.json.siblings.length, 2);
    const j = await call('GET', '/buckets/objs/sib', undefined, { accept: 'application/json' });
    assert.equal(j.status, 200);
    for (const f of ['ok', 'bucket', 'key', 'coordinator', 'partition', 'preference_list', 'replicas_read', 'vector_clocks', 'context', 'siblings']) assert.ok(f in j.json, f);
    assert.deepEqual(j.json.siblings.map((s: any) => s.value).sort(), ['one', 'two']);
    for (const s of j.json.siblings) for (const f of ['dot', 'clock', 'last_modified', 'content_type', 'size', 'value_base64']) assert.ok(f in s, f);
    const w = await call('PUT', '/buckets/objs/sib', 'merged', { 'x-ringstore-context': j.json.context });
    assert.equal(w.json.siblings, 1);
    assert.equal((await call('GET', '/buckets/objs/sib')).text, 'merged');
  });

  test('delete writes a tombstone: 404 NoSuchKey that still carries a context', async () => {
    await call('PUT', '/buckets/objs/gone', 'x');
    const d = await call('DELETE', '/buckets/objs/gone');
    assert.equal(d.status, 200);
    assert.equal(d.json.deleted, true);
    assert.equal(d.json.siblings, 0);
    const r = await call('GET', '/buckets/objs/gone');
    assertError(r, 404, 'NoSuchKey');
    assert.ok(r.json.error.context);
    assertError(await call('GET', '/buckets/objs/never'), 404, 'NoSuchKey');
    const h = await auth.fetch(`${base}/buckets/objs/never`, { method: 'HEAD' });
    assert.equal(h.status, 404);
  });

  test('a context-less DELETE reads at R first (strict with sloppy=false) and mints its tombstone with what that read saw', async () => {
    await call('PUT', '/buckets/objs/rf', 'a');
    await call('PUT', '/buckets/objs/rf', 'b');
    const seen = await call('GET', '/buckets/objs/rf?json=1');
    assert.equal(seen.json.siblings.length, 2);
    const gets = coord.gets.length;
    const d = await call('DELETE', '/buckets/objs/rf?r=3&sloppy=false');
    assert.equal(d.status, 200);
    const read = coord.gets[gets];
    assert.ok(read !== undefined, 'the delete read first');
    assert.equal(read.r, 3);
    assert.equal(read.sloppy, false);
    assert.equal(read.omitValues, true);
    const put = coord.puts[coord.puts.length - 1]!;
    assert.deepEqual(put.context, { n1: 1, n2: 1 }, 'the tombstone carries the clock of both values it read');
    assert.equal(put.sloppy, false);
    assertError(await call('GET', '/buckets/objs/rf'), 404, 'NoSuchKey');
  });

  test('a DELETE with a context supersedes exactly that context, nothing the origin holds besides', async () => {
    const first = await call('PUT', '/buckets/objs/ctxdel', 'one');
    await call('PUT', '/buckets/objs/ctxdel', 'two');
    const gets = coord.gets.length;
    await call('DELETE', '/buckets/objs/ctxdel', undefined, { 'x-ringstore-context': first.json.context });
    assert.equal(coord.gets.length, gets, 'no read: the client said what it saw');
    assert.equal(coord.puts[coord.puts.length - 1]!.supersedeVisible, false);
  });

  test('a value concurrent with a tombstone answers 300 listing both, marked conflict "delete"', async () => {
    const one = await call('PUT', '/buckets/objs/vt', 'one');
    await call('PUT', '/buckets/objs/vt', 'two');
    // Deletes only what it saw ("one"): "two" was written without seeing the delete.
    await call('DELETE', '/buckets/objs/vt', undefined, { 'x-ringstore-context': one.json.context });
    const plain = await call('GET', '/buckets/objs/vt');
    assert.equal(plain.status, 300);
    assert.equal(plain.headers.get('x-ringstore-conflict'), 'delete');
    assert.equal(plain.json.conflict, 'delete');
    assert.deepEqual(plain.json.siblings.map((s: any) => s.value), ['two']);
    assert.equal(plain.json.tombstones.length, 1);
    const head = await auth.fetch(`${base}/buckets/objs/vt`, { method: 'HEAD' });
    assert.equal(head.status, 300);
    const j = await call('GET', '/buckets/objs/vt?json=1');
    assert.equal(j.status, 200);
    assert.equal(j.json.conflict, 'delete');
    // Resolving it with the read's context leaves one value and no conflict.
    await call('PUT', '/buckets/objs/vt', 'three', { 'x-ringstore-context': j.json.context });
    const after = await call('GET', '/buckets/objs/vt');
    assert.equal(after.status, 200);
    assert.equal(after.text, 'three');
    assert.equal(after.headers.get('x-ringstore-conflict'), null);
  });

  test('a context-less PUT re-creates a deleted key (it supersedes the tombstone) but stays a sibling of a value', async () => {
    await call('PUT', '/buckets/objs/again', 'old');
    await call('DELETE', '/buckets/objs/again');
    await call('PUT', '/buckets/objs/again', 'new');
    const r = await call('GET', '/buckets/objs/again?json=1');
    assert.equal(r.json.conflict, null);
    assert.deepEqual(r.json.siblings.map((s: any) => s.value), ['new']);
    assert.deepEqual(r.json.tombstones, []);
    await call('PUT', '/buckets/objs/again', 'newer');
    const both = await call('GET', '/buckets/objs/again');
    assert.equal(both.status, 300);
    assert.equal(both.json.conflict, 'siblings');
    assert.deepEqual(both.json.siblings.map((s: any) => s.value).sort(), ['new', 'newer']);
  });

  test('listing with prefix, after and limit', async () => {
    await call('POST', '/buckets/listing');
    for (const k of ['a/1', 'a/2', 'a/3', 'b/1']) await call('PUT', `/buckets/listing/${k}`, k);
    const p = await call('GET', '/buckets/listing?prefix=a/&limit=2');
    assert.deepEqual(p.json.keys.map((k: any) => k.key), ['a/1', 'a/2']);
    assert.equal(p.json.truncated, true);
    assert.equal(p.json.next_after, 'a/2');
    const q = await call('GET', `/buckets/listing?prefix=a/&after=${p.json.next_after}`);
    assert.deepEqual(q.json.keys.map((k: any) => k.key), ['a/3']);
    assertError(await call('GET', '/buckets/listing?limit=0'), 400, 'InvalidArgument');
  });
});

describe('errors leave nothing written', () => {
  before(async () => {
    await call('POST', '/buckets/errs');
  });
  const nothing = async (key: string) => assert.equal((await call('GET', `/buckets/errs/${key}`)).status, 404);

  test('key too long, empty key, bad encoding', async () => {
    assertError(await call('PUT', `/buckets/errs/${'k'.repeat(1025)}`, 'v'), 400, 'KeyTooLong');
    assertError(await call('PUT', `/buckets/errs/${'é'.repeat(513)}`, 'v'), 400, 'KeyTooLong');
    assert.equal((await call('PUT', `/buckets/errs/${'k'.repeat(1024)}`, 'v')).status, 200);
    assertError(await call('PUT', '/buckets/errs/', 'v'), 400, 'InvalidKey');
    assertError(await call('PUT', '/buckets/errs/%E0%A4%A', 'v'), 400, 'InvalidKey');
    // Characters the store cannot list back faithfully in long keys (store/names.ts): refused, short or long.
    assertError(await call('PUT', `/buckets/errs/a%01${'b'.repeat(70)}`, 'v'), 400, 'InvalidKey');
    assertError(await call('PUT', '/buckets/errs/a%04', 'v'), 400, 'InvalidKey');
    assertError(await call('PUT', '/buckets/errs/a%ED%A0%80', 'v'), 400, 'InvalidKey');
    assert.equal((await call('PUT', `/buckets/errs/a%05${'b'.repeat(70)}`, 'v')).status, 200);
  });

  test('oversized bodies: declared and chunked', async () => {
    const before = coord.puts.length;
    assertError(await call('PUT', '/buckets/errs/big', Buffer.alloc(MAX + 1)), 413, 'EntityTooLarge');
    const chunked = new ReadableStream({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(new Uint8Array(MAX / 2));
        c.close();
      },
    });
    const r = await call('PUT', '/buckets/errs/big2', chunked);
    assertError(r, 413, 'EntityTooLarge');
    assert.equal(coord.puts.length, before, 'no write reached the coordinator');
    await nothing('big');
    await nothing('big2');
    assert.equal((await call('PUT', '/buckets/errs/exact', Buffer.alloc(MAX))).status, 200);
  });

  test('bad contexts: garbage, edited, or another key', async () => {
    assertError(await call('PUT', '/buckets/errs/c', 'v', { 'x-ringstore-context': 'not a context!' }), 400, 'InvalidContext');
    const w = await call('PUT', '/buckets/errs/other', 'v');
    assertError(await call('PUT', '/buckets/errs/c', 'v', { 'x-ringstore-context': w.json.context }), 400, 'InvalidContext');
    assertError(await call('PUT', `/buckets/errs/c?context=${w.json.context.slice(0, -2)}`, 'v'), 400, 'InvalidContext');
    assertError(await call('DELETE', '/buckets/errs/c', JSON.stringify({ context: 'zz' })), 400, 'InvalidContext');
    await nothing('c');
  });

  test('bad quorums', async () => {
    for (const q of ['r=4', 'w=4', 'n=4', 'w=0', 'r=abc', 'n=2&w=3', 'n=-1']) {
      assertError(await call('PUT', `/buckets/errs/q?${q}`, 'v'), 400, 'InvalidQuorum');
    }
    assertError(await call('GET', '/buckets/errs/q?r=4'), 400, 'InvalidQuorum');
    await nothing('q');
    const ok = await call('PUT', '/buckets/errs/q?w=3', 'v');
    assert.equal(ok.status, 200);
    assert.equal(coord.puts.at(-1)?.w, 3);
  });

  test('quorum failures answer 503 with who answered and the outcome', async () => {
    coord.failNext = new QuorumError('write', 2, ['n1'], [{ node: 'n2', code: 'Timeout', reason: 'timeout' }], 'unknown');
    const r = await call('PUT', '/buckets/errs/qf', 'v');
    assertError(r, 503, 'QuorumNotReached');
    assert.deepEqual(r.json.error.answered, ['n1']);
    assert.deepEqual(r.json.error.failed, [{ node: 'n2', code: 'Timeout', reason: 'timeout' }]);
    assert.equal(r.json.error.outcome, 'unknown');
  });

  test('unexpected failures are 500 InternalError and the server keeps serving', async () => {
    coord.failNext = new Error('disk on fire');
    assertError(await call('GET', '/buckets/errs/x'), 500, 'InternalError');
    assert.equal((await call('GET', '/buckets/errs')).status, 200);
  });

  test('wrong methods and unknown routes', async () => {
    const r = await call('PATCH', '/buckets/errs/k');
    assertError(r, 405, 'MethodNotAllowed');
    assert.ok(r.headers.get('allow'));
    assertError(await call('POST', '/buckets/errs/k'), 405, 'MethodNotAllowed');
    assertError(await call('DELETE', '/buckets'), 405, 'MethodNotAllowed');
    assertError(await call('GET', '/nope'), 404, 'NotFound');
  });
});

describe('multipart uploads', () => {
  before(async () => {
    await call('POST', '/buckets/uploads');
  });

  test('each file is stored under its file name, with an answer per file', async () => {
    const form = new FormData();
    form.append('file', new Blob(['first'], { type: 'text/plain' }), 'one.txt');
    form.append('file', new Blob(['second']), 'docs/two.bin');
    form.append('note', 'a plain field is ignored');
    const r = await call('POST', '/buckets/uploads/files', form);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ok, true);
    assert.deepEqual(r.json.files.map((f: any) => [f.key, f.ok, f.size]), [
      ['one.txt', true, 5],
      ['docs/two.bin', true, 6],
    ]);
    for (const f of r.json.files) for (const k of ['coordinator', 'replicas_written', 'vector_clocks', 'context']) assert.ok(k in f, k);
    assert.equal((await call('GET', '/buckets/uploads/one.txt')).text, 'first');
    assert.equal((await call('GET', '/buckets/uploads/one.txt')).headers.get('content-type'), 'text/plain');
    assert.equal((await call('GET', '/buckets/uploads/docs/two.bin')).text, 'second');
  });

  test('a file above the limit is not stored and the answer is 413', async () => {
    const form = new FormData();
    form.append('file', new Blob(['small']), 'ok-first.txt');
    form.append('file', new Blob([Buffer.alloc(MAX + 10)]), 'huge.bin');
    form.append('file', new Blob(['after']), 'after.txt');
    const r = await call('POST', '/buckets/uploads/files', form);
    assertError(r, 413, 'EntityTooLarge');
    const byName = Object.fromEntries(r.json.files.map((f: any) => [f.filename, f]));
    assert.equal(byName['ok-first.txt'].ok, true);
    assert.equal(byName['huge.bin'].ok, false);
    assert.equal((await call('GET', '/buckets/uploads/huge.bin')).status, 404);
    assert.equal((await call('GET', '/buckets/uploads/after.txt')).status, 404);
  });

  test('malformed or non-multipart bodies are 400 MalformedRequest', async () => {
    assertError(await call('POST', '/buckets/uploads/files', 'just text', { 'content-type': 'text/plain' }), 400, 'MalformedRequest');
    assertError(
      await call('POST', '/buckets/uploads/files', '--xyz\r\nContent-Disposition: form-data; name="f"; filename="t.txt"\r\n\r\nunterminated', {
        'content-type': 'multipart/form-data; boundary=xyz',
      }),
      400,
      'MalformedRequest',
    );
    assert.equal((await call('GET', '/buckets/uploads/t.txt')).status, 404);
    const empty = new FormData();
    empty.append('field', 'no files');
    assertError(await call('POST', '/buckets/uploads/files', empty), 400, 'MalformedRequest');
    assertError(await call('POST', '/buckets/nosuch/files', new FormData()), 404, 'NoSuchBucket');
  });
});

describe('health, metrics, malformed HTTP', () => {
  test('/health names the node; /metrics counts requests by route and status', async () => {
    const h = await call('GET', '/health');
    assert.equal(h.status, 200);
    assert.equal(h.json.node, 'n1');
    const m = await call('GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.text, /ringstore_http_requests_total\{route="object",method="PUT",status="200"\} \d+/);
    assert.match(m.text, /ringstore_http_request_duration_seconds_bucket/);
  });

  test('garbage on the socket gets a 400 and the server survives', async () => {
    const { connect } = await import('node:net');
    const url = new URL(base);
    const reply = await new Promise<string>((resolve) => {
      const s = connect(Number(url.port), url.hostname, () => s.write('NOT HTTP AT ALL\r\n\r\n'));
      let data = '';
      s.on('data', (d) => (data += d.toString()));
      s.on('close', () => resolve(data));
    });
    assert.match(reply, /^HTTP\/1.1 400/);
    assert.equal((await call('GET', '/health')).status, 200);
  });

  test('a 413 on a keep-alive connection does not break the next request', async () => {
    const agentReq = (body: Buffer) =>
      new Promise<number>((resolve, reject) => {
        const u = new URL(`${base}/buckets/objs/ka`);
        const req = httpRequest({ method: 'PUT', hostname: u.hostname, port: u.port, path: u.pathname, headers: { authorization: `Bearer ${auth.userToken}` } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end(body);
      });
    assert.equal(await agentReq(Buffer.alloc(MAX + 1)), 413);
    assert.equal(await agentReq(Buffer.from('fine')), 200);
  });
});

describe('authentication and bucket ownership (issue 11)', () => {
  const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
  const codeOf = async (res: Response): Promise<string> => ((await res.json()) as { error: { code: string } }).error.code;
  let bob: string;
  let sigv4: SignatureV4;

  before(async () => {
    bob = (await auth.directory.createUserToken('bob', 0)).token;
    sigv4 = new SignatureV4({ credentials: { accessKeyId: auth.accessKey, secretAccessKey: auth.secretKey }, region: 'us-east-1', service: 's3', sha256: Sha256 as never, uriEscapePath: false, applyChecksum: false });
    assert.equal((await call('POST', '/buckets/alices')).status, 200);
    assert.equal((await call('PUT', '/buckets/alices/k', 'mine')).status, 200);
  });

  test('a request without credentials is refused with 401 MissingAuthentication and a WWW-Authenticate header, and writes nothing', async () => {
    const before = coord.puts.length;
    const res = await fetch(`${base}/buckets/alices/k`, { method: 'PUT', body: 'anon' });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /Bearer/);
    assert.equal(await codeOf(res), 'MissingAuthentication');
    assert.equal((await fetch(`${base}/buckets`)).status, 401);
    assert.equal(coord.puts.length, before, 'nothing written');
  });

  test('an unknown, malformed, revoked or expired token is 401 with its own code; an admin token is no user token', async () => {
    const forged = auth.userToken.slice(0, -4) + 'AAAA';
    assert.equal(await codeOf(await auth.fetch(`${base}/buckets`, { headers: bearer(forged) })), 'InvalidToken');
    assert.equal(await codeOf(await auth.fetch(`${base}/buckets`, { headers: bearer('hunter2') })), 'InvalidToken');
    assert.equal(await codeOf(await auth.fetch(`${base}/buckets`, { headers: bearer(auth.adminToken) })), 'InvalidToken');
    const t = await auth.directory.createUserToken(auth.user, 0);
    assert.equal((await auth.fetch(`${base}/buckets`, { headers: bearer(t.token) })).status, 200);
    await auth.directory.revokeUserToken(t.tokenId);
    const revoked = await auth.fetch(`${base}/buckets`, { headers: bearer(t.token) });
    assert.equal(revoked.status, 401);
    assert.equal(await codeOf(revoked), 'InvalidToken');
    const short = await auth.directory.createUserToken(auth.user, 1);
    await waitUntil(() => Date.now() > short.expiresMs);
    const expired = await auth.fetch(`${base}/buckets`, { headers: bearer(short.token) });
    assert.equal(expired.status, 401);
    assert.equal(await codeOf(expired), 'ExpiredToken');
  });

  test("another user's bucket is 403 AccessDenied for reads and writes, and its name cannot be taken", async () => {
    for (const [method, path, body] of [
      ['GET', '/buckets/alices/k', undefined],
      ['PUT', '/buckets/alices/k', 'stolen'],
      ['DELETE', '/buckets/alices/k', undefined],
      ['GET', '/buckets/alices', undefined],
      ['DELETE', '/buckets/alices', undefined],
    ] as const) {
      const res = await auth.fetch(`${base}${path}`, { method, headers: bearer(bob), ...(body !== undefined ? { body } : {}) });
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal(await codeOf(res), 'AccessDenied');
    }
    assert.equal(await codeOf(await auth.fetch(`${base}/buckets/alices`, { method: 'POST', headers: bearer(bob) })), 'AccessDenied');
    assert.equal((await call('GET', '/buckets/alices/k')).text, 'mine', 'the owner still reads her value');
    const listed = (await (await auth.fetch(`${base}/buckets`, { headers: bearer(bob) })).json()) as { buckets: { name: string }[] };
    assert.ok(!listed.buckets.some((b) => b.name === 'alices'), 'a user lists only their own buckets');
    assert.equal(await codeOf(await auth.fetch(`${base}/buckets/bobs`, { method: 'POST', headers: bearer(bob), body: JSON.stringify({ owner: 'alice' }) })), 'AccessDenied');
  });

  test('a public-read bucket is readable by anyone, anonymously too, and still writable only by its owner', async () => {
    assert.equal((await call('POST', '/buckets/open')).status, 200);
    assert.equal((await call('PUT', '/buckets/open/readme', 'hello all')).status, 200);
    assert.equal((await fetch(`${base}/buckets/open/readme`)).status, 401, 'private until its ACL says otherwise');
    publicBuckets.add('open');
    try {
      const anon = await fetch(`${base}/buckets/open/readme`);
      assert.equal(anon.status, 200);
      assert.equal(await anon.text(), 'hello all');
      assert.equal((await auth.fetch(`${base}/buckets/open/readme`, { headers: bearer(bob) })).status, 200);
      assert.equal((await fetch(`${base}/buckets/open/readme`, { method: 'PUT', body: 'x' })).status, 401);
      assert.equal((await auth.fetch(`${base}/buckets/open/readme`, { method: 'PUT', body: 'x', headers: bearer(bob) })).status, 403);
    } finally {
      publicBuckets.delete('open');
    }
  });

  async function signed(method: string, path: string, body: string, opts: { payloadHash?: string; secret?: string } = {}): Promise<Response> {
    const port = Number(new URL(base).port);
    const s = opts.secret === undefined ? sigv4 : new SignatureV4({ credentials: { accessKeyId: auth.accessKey, secretAccessKey: opts.secret }, region: 'us-east-1', service: 's3', sha256: Sha256 as never, uriEscapePath: false, applyChecksum: false });
    const headers = { host: `127.0.0.1:${port}`, 'x-amz-content-sha256': opts.payloadHash ?? createHash('sha256').update(body).digest('hex') };
    const req = (await s.sign({ method, protocol: 'http:', hostname: '127.0.0.1', port, path, query: {}, headers } as never)) as unknown as { headers: Record<string, string> };
    return fetch(`${base}${path}`, { method, headers: req.headers, ...(method === 'GET' || method === 'HEAD' ? {} : { body }) });
  }

  test('SigV4 with the S3 access key works on the native API; a wrong secret or a swapped body is refused', async () => {
    const put = await signed('PUT', '/buckets/alices/signed', 'by sigv4');
    assert.equal(put.status, 200, await put.clone().text());
    const get = await signed('GET', '/buckets/alices/signed', '');
    assert.equal(await get.text(), 'by sigv4');
    const wrong = await signed('GET', '/buckets/alices/signed', '', { secret: 'not-the-secret-at-all' });
    assert.equal(wrong.status, 401);
    assert.equal(await codeOf(wrong), 'SignatureDoesNotMatch');
    const before = coord.puts.length;
    // A captured signature replayed with another body: the signed hash is checked against what arrives.
    const mismatch = await signed('PUT', '/buckets/alices/signed', 'another body', { payloadHash: createHash('sha256').update('by sigv4').digest('hex') });
    assert.equal(mismatch.status, 400);
    assert.equal(await codeOf(mismatch), 'XAmzContentSHA256Mismatch');
    assert.equal(coord.puts.length, before, 'nothing written');
  });

  test('a presigned URL reads on the native API, and an expired one is refused', async () => {
    const port = Number(new URL(base).port);
    const presign = async (expiresIn: number, signingDate?: Date) =>
      (await sigv4.presign({ method: 'GET', protocol: 'http:', hostname: '127.0.0.1', port, path: '/buckets/alices/k', query: {}, headers: { host: `127.0.0.1:${port}`, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } } as never, { expiresIn, ...(signingDate ? { signingDate } : {}) })) as unknown as { query: Record<string, string> };
    const ok = await presign(300);
    const qs = new URLSearchParams(ok.query).toString();
    const res = await fetch(`${base}/buckets/alices/k?${qs}`);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(await res.text(), 'mine');
    const old = await presign(60, new Date(Date.now() - 3600_000));
    const expired = await fetch(`${base}/buckets/alices/k?${new URLSearchParams(old.query).toString()}`);
    assert.equal(expired.status, 403);
    assert.equal(await codeOf(expired), 'AccessDenied');
  });
});

async function waitUntil(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}
// Last: its writes would shift the stub coordinator's round-robin origins that earlier tests expect.
describe('bucket ids', () => {
  test('keys are stored under the bucket id, not its name: a bucket made again under a name starts empty', async () => {
    await call('POST', '/buckets/phoenix');
    assert.equal((await call('PUT', '/buckets/phoenix/k', 'old')).status, 200);
    const first = (await call('GET', '/buckets/phoenix')).json.id as number;
    assert.ok(coord.puts.some((p) => p.bucket === `#${first}` && p.key === 'k'), 'the write went to the storage name');
    assert.ok(!coord.puts.some((p) => p.bucket === 'phoenix'), 'nothing is stored under the name');
    await call('DELETE', '/buckets/phoenix/k');
    assert.equal((await call('DELETE', '/buckets/phoenix')).status, 200);
    await call('POST', '/buckets/phoenix');
    const second = (await call('GET', '/buckets/phoenix')).json;
    assert.notEqual(second.id, first);
    assert.deepEqual(second.keys, []);
  });
});

describe('context tokens are MACed with a cluster key (issue 11 review)', () => {
  test('a forged context token (unkeyed check value, counter 2^53-1) is refused with 400 InvalidContext and nothing is written', async () => {
    const w = await call('PUT', '/buckets/objs/forge', 'v1');
    const real = Buffer.from(w.json.context, 'base64url').toString('utf8').split('|');
    const body = `${real[0]}|${real[1]}|${real[2]}|n1=${2 ** 53 - 1}`;
    const forged = Buffer.from(`${body}|${hash64hex(body)}`, 'utf8').toString('base64url');
    const before = coord.puts.length;
    assertError(await call('PUT', '/buckets/objs/forge', 'v2', { 'x-ringstore-context': forged }), 400, 'InvalidContext');
    assertError(await call('PUT', '/buckets/objs/forge', 'v2', { 'x-ringstore-context': 'A'.repeat(5000) }), 400, 'InvalidContext');
    assertError(await call('DELETE', '/buckets/objs/forge', JSON.stringify({ context: forged })), 400, 'InvalidContext');
    assert.equal(coord.puts.length, before, 'no write reached the coordinator');
    assert.equal((await call('GET', '/buckets/objs/forge')).text, 'v1');
  });
});
