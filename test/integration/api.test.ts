// The native JSON API (docs/api.md) against a real 3-node cluster of
// separate processes: buckets, raw and multipart writes, the JSON read shape,
// siblings, every error code, and that a refused request wrote nothing.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, waitFor, type TestCluster } from '../helpers/cluster.js';

let cluster: TestCluster;
const MAX_OBJECT = 16 * 1024 * 1024;

before(async () => {
  cluster = await startCluster({ nodes: 3 });
});

after(async () => {
  await cluster?.stop();
});

const node = (i: number) => cluster.nodes[i]!;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

async function call(i: number, method: string, path: string, body?: any, headers: Record<string, string> = {}): Promise<Answer> {
  const init: Record<string, unknown> = { method, headers };
  if (body !== undefined) init['body'] = body;
  if (body instanceof ReadableStream) init['duplex'] = 'half';
  const res = await cluster.fetch(node(i).http + path, init as RequestInit);
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

function assertError(r: Answer, status: number, code: string): void {
  assert.equal(r.status, status, r.text.slice(0, 500));
  assert.equal(r.json?.ok, false, r.text.slice(0, 500));
  assert.equal(r.json.error.code, code);
  assert.equal(typeof r.json.error.message, 'string');
}

/** Nothing is stored under bucket/key: every node answers 404 NoSuchKey, and the listing does not show it. */
async function assertNothingWritten(bucket: string, key: string): Promise<void> {
  for (let i = 0; i < 3; i++) assertError(await call(i, 'GET', `/buckets/${bucket}/${encodeURIComponent(key)}?r=3`), 404, 'NoSuchKey');
  const list = await call(0, 'GET', `/buckets/${bucket}?prefix=${encodeURIComponent(key)}`);
  assert.ok(!list.json.keys.some((k: any) => k.key === key), `${key} is not listed`);
}

describe('buckets', () => {
  test('create answers created true then false, on any node; list and info show it; an empty bucket deletes', async () => {
    const c = await call(0, 'POST', '/buckets/alpha-1');
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.ok, true);
    assert.equal(c.json.created, true);
    assert.equal(c.json.bucket.name, 'alpha-1');
    assert.deepEqual(c.json.bucket.quorum, { n: 3, r: 2, w: 2 });
    const again = await call(1, 'PUT', '/buckets/alpha-1');
    assert.equal(again.status, 200);
    assert.equal(again.json.created, false);
    const list = await call(2, 'GET', '/buckets');
    assert.ok(list.json.buckets.some((b: any) => b.name === 'alpha-1'));
    const info = await call(2, 'GET', '/buckets/alpha-1');
    assert.equal(info.status, 200);
    assert.deepEqual(info.json.keys, []);
    const del = await call(1, 'DELETE', '/buckets/alpha-1');
    assert.equal(del.status, 200, del.text);
    assert.equal(del.json.deleted, true);
    await waitFor(async () => (await call(0, 'GET', '/buckets/alpha-1')).status === 404, { what: 'the deleted bucket to be gone on n1' });
    assertError(await call(0, 'GET', '/buckets/alpha-1'), 404, 'NoSuchBucket');
  });

  test('bucket quorum defaults from the query or a JSON body; impossible ones are refused', async () => {
    const q = await call(0, 'POST', '/buckets/quorum-q?n=2&r=1&w=1');
    assert.deepEqual(q.json.bucket.quorum, { n: 2, r: 1, w: 1 });
    const b = await call(0, 'POST', '/buckets/quorum-b', JSON.stringify({ n: 3, r: 3, w: 1 }), { 'content-type': 'application/json' });
    assert.deepEqual(b.json.bucket.quorum, { n: 3, r: 3, w: 1 });
    assertError(await call(0, 'POST', '/buckets/quorum-x?n=4'), 400, 'InvalidQuorum');
    assertError(await call(0, 'POST', '/buckets/quorum-x?r=0'), 400, 'InvalidQuorum');
    assertError(await call(0, 'GET', '/buckets/quorum-x'), 404, 'NoSuchBucket');
  });

  test('bad names, unknown buckets, non-empty buckets', async () => {
    for (const bad of ['Bad_Name', 'ab', 'x'.repeat(64), '-dash', 'a..b', '10.0.0.1']) assertError(await call(0, 'POST', `/buckets/${bad}`), 400, 'InvalidBucketName');
    assertError(await call(0, 'GET', '/buckets/no-such-bucket'), 404, 'NoSuchBucket');
    assertError(await call(1, 'DELETE', '/buckets/no-such-bucket'), 404, 'NoSuchBucket');
    assertError(await call(2, 'PUT', '/buckets/no-such-bucket/k', 'v'), 404, 'NoSuchBucket');
    assertError(await call(2, 'GET', '/buckets/no-such-bucket/k'), 404, 'NoSuchBucket');
    assertError(await call(2, 'DELETE', '/buckets/no-such-bucket/k'), 404, 'NoSuchBucket');
    assert.equal((await call(0, 'POST', '/buckets/full')).status, 200);
    assert.equal((await call(0, 'PUT', '/buckets/full/k', 'v')).status, 200);
    assertError(await call(1, 'DELETE', '/buckets/full'), 409, 'BucketNotEmpty');
  });
});

describe('objects', () => {
  before(async () => {
    assert.equal((await call(0, 'POST', '/buckets/objects')).status, 200);
  });

  test('a raw PUT answers every transparency field; another node reads the bytes back with its headers', async () => {
    const w = await call(0, 'PUT', '/buckets/objects/hello.txt', 'hello ringstore', { 'content-type': 'text/plain' });
    assert.equal(w.status, 200, w.text);
    for (const f of ['ok', 'bucket', 'key', 'coordinator', 'origin', 'partition', 'preference_list', 'replicas_written', 'hinted', 'vector_clocks', 'siblings', 'context']) {
      assert.ok(f in w.json, `write answer has ${f}`);
    }
    assert.equal(w.json.ok, true);
    assert.equal(w.json.coordinator, node(0).id);
    assert.equal(w.json.preference_list.length, 3);
    assert.ok(w.json.replicas_written.length >= 2);
    for (const r of w.json.replicas_written) assert.ok(r in w.json.vector_clocks, `clock of ${r}`);
    assert.equal(w.json.siblings, 1);
    assert.equal(w.headers.get('x-ringstore-context'), w.json.context);

    const r = await call(1, 'GET', '/buckets/objects/hello.txt');
    assert.equal(r.status, 200);
    assert.equal(r.text, 'hello ringstore');
    assert.equal(r.headers.get('content-type'), 'text/plain');
    assert.equal(r.headers.get('x-ringstore-coordinator'), node(1).id);
    assert.ok(r.headers.get('x-ringstore-context'));
    const head = await cluster.fetch(`${node(2).http}/buckets/objects/hello.txt`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '15');
  });

  test('keys may contain slashes and any percent-encoded character; listing finds them by prefix', async () => {
    const keys = ['photos/2024/cat.jpg', 'photos/2024/dog.jpg', 'photos/2025/a b+c?d#e%f.txt', 'photos/ünïcødé/ключ'];
    for (const k of keys) {
      const w = await call(0, 'PUT', `/buckets/objects/${k.split('/').map(encodeURIComponent).join('/')}`, `value of ${k}`);
      assert.equal(w.status, 200, w.text);
      assert.equal(w.json.key, k);
    }
    for (const k of keys) {
      const r = await call(2, 'GET', `/buckets/objects/${encodeURIComponent(k)}`);
      assert.equal(r.status, 200, k);
      assert.equal(r.text, `value of ${k}`);
    }
    const page = await call(1, 'GET', `/buckets/objects?prefix=${encodeURIComponent('photos/2024/')}`);
    assert.deepEqual(
      page.json.keys.map((k: any) => k.key),
      ['photos/2024/cat.jpg', 'photos/2024/dog.jpg'],
    );
    const limited = await call(1, 'GET', '/buckets/objects?prefix=photos/&limit=2');
    assert.equal(limited.json.keys.length, 2);
    assert.equal(limited.json.truncated, true);
    const rest = await call(1, 'GET', `/buckets/objects?prefix=photos/&after=${encodeURIComponent(limited.json.next_after)}`);
    assert.deepEqual([...limited.json.keys, ...rest.json.keys].map((k: any) => k.key), [...keys].sort());
  });

  test('a binary value round-trips; its JSON form has value_base64 and no utf8 value', async () => {
    const bytes = Buffer.from([0, 1, 2, 253, 254, 255, 0xc3, 0x28]);
    assert.equal((await call(0, 'PUT', '/buckets/objects/bin', bytes, { 'content-type': 'application/octet-stream' })).status, 200);
    const res = await cluster.fetch(`${node(1).http}/buckets/objects/bin`);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
    const j = await call(2, 'GET', '/buckets/objects/bin?json=1');
    assert.equal(j.json.siblings[0].value, undefined);
    assert.equal(j.json.siblings[0].value_base64, bytes.toString('base64'));
  });

  test('the JSON read shows siblings, clocks, replicas read, coordinator and context', async () => {
    assert.equal((await call(0, 'PUT', '/buckets/objects/shape', 'shaped', { 'content-type': 'text/plain' })).status, 200);
    const r = await call(1, 'GET', '/buckets/objects/shape?r=3', undefined, { accept: 'application/json' });
    assert.equal(r.status, 200, r.text);
    for (const f of ['ok', 'bucket', 'key', 'coordinator', 'partition', 'preference_list', 'replicas_read', 'vector_clocks', 'context', 'siblings', 'tombstones']) {
      assert.ok(f in r.json, `read answer has ${f}`);
    }
    assert.equal(r.json.coordinator, node(1).id);
    assert.equal(r.json.replicas_read.length, 3);
    assert.deepEqual(Object.keys(r.json.vector_clocks).sort(), [...r.json.replicas_read].sort());
    assert.equal(r.json.siblings.length, 1);
    const s = r.json.siblings[0];
    for (const f of ['dot', 'clock', 'last_modified', 'content_type', 'size', 'value', 'value_base64']) assert.ok(f in s, `sibling has ${f}`);
    assert.equal(s.value, 'shaped');
    assert.equal(s.content_type, 'text/plain');
    assert.equal(s.size, 6);
    assert.equal(r.headers.get('x-ringstore-context'), r.json.context);
  });

  test('concurrent writes answer 300 with every sibling; a write with the context resolves them', async () => {
    assert.equal((await call(0, 'PUT', '/buckets/objects/sib', 'from-n1')).status, 200);
    assert.equal((await call(1, 'PUT', '/buckets/objects/sib', 'from-n2')).status, 200);
    const plain = await call(2, 'GET', '/buckets/objects/sib?r=3');
    assert.equal(plain.status, 300, plain.text);
    assert.equal(plain.json.siblings.length, 2);
    assert.deepEqual(plain.json.siblings.map((s: any) => s.value).sort(), ['from-n1', 'from-n2']);
    const w = await call(2, 'PUT', '/buckets/objects/sib', 'resolved', { 'x-ringstore-context': plain.json.context });
    assert.equal(w.status, 200);
    assert.equal(w.json.siblings, 1);
    const r = await call(0, 'GET', '/buckets/objects/sib?r=3');
    assert.equal(r.status, 200);
    assert.equal(r.text, 'resolved');
  });

  test('DELETE writes a tombstone: every node then answers 404 NoSuchKey', async () => {
    assert.equal((await call(0, 'PUT', '/buckets/objects/doomed', 'x')).status, 200);
    const d = await call(1, 'DELETE', '/buckets/objects/doomed');
    assert.equal(d.status, 200, d.text);
    assert.equal(d.json.deleted, true);
    assert.equal(d.json.siblings, 0);
    for (let i = 0; i < 3; i++) {
      const r = await call(i, 'GET', '/buckets/objects/doomed?r=2');
      assertError(r, 404, 'NoSuchKey');
    }
    const head = await cluster.fetch(`${node(2).http}/buckets/objects/doomed`, { method: 'HEAD' });
    assert.equal(head.status, 404);
    assertError(await call(0, 'GET', '/buckets/objects/never-written'), 404, 'NoSuchKey');
  });
});

describe('multipart uploads', () => {
  before(async () => {
    assert.equal((await call(0, 'POST', '/buckets/uploads')).status, 200);
  });

  test('two files are stored under their file names, with an answer per file', async () => {
    const form = new FormData();
    form.append('file', new Blob(['first file'], { type: 'text/plain' }), 'one.txt');
    form.append('file', new Blob([Buffer.from([1, 2, 3, 4])], { type: 'application/octet-stream' }), 'nested/two.bin');
    const r = await call(0, 'POST', '/buckets/uploads/files', form);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ok, true);
    assert.deepEqual(
      r.json.files.map((f: any) => [f.key, f.ok, f.size]),
      [
        ['one.txt', true, 10],
        ['nested/two.bin', true, 4],
      ],
    );
    for (const f of r.json.files) {
      for (const k of ['coordinator', 'preference_list', 'replicas_written', 'vector_clocks', 'context']) assert.ok(k in f, `file answer has ${k}`);
    }
    const one = await call(2, 'GET', '/buckets/uploads/one.txt');
    assert.equal(one.text, 'first file');
    assert.equal(one.headers.get('content-type'), 'text/plain');
    const two = await cluster.fetch(`${node(1).http}/buckets/uploads/nested/two.bin`);
    assert.deepEqual(Buffer.from(await two.arrayBuffer()), Buffer.from([1, 2, 3, 4]));
  });

  test('a file above the object limit is refused (413) and never stored', async () => {
    const form = new FormData();
    form.append('file', new Blob([Buffer.alloc(MAX_OBJECT + 1)]), 'too-big.bin');
    const r = await call(1, 'POST', '/buckets/uploads/files', form);
    assertError(r, 413, 'EntityTooLarge');
    assert.equal(r.json.files[0].ok, false);
    await assertNothingWritten('uploads', 'too-big.bin');
  });

  test('malformed multipart is 400 MalformedRequest and stores nothing', async () => {
    const r = await call(0, 'POST', '/buckets/uploads/files', '--b\r\nContent-Disposition: form-data; name="f"; filename="half.txt"\r\n\r\nno end', {
      'content-type': 'multipart/form-data; boundary=b',
    });
    assertError(r, 400, 'MalformedRequest');
    assertError(await call(0, 'POST', '/buckets/uploads/files', 'plain', { 'content-type': 'text/plain' }), 400, 'MalformedRequest');
    await assertNothingWritten('uploads', 'half.txt');
  });
});

describe('refused requests write nothing', () => {
  before(async () => {
    assert.equal((await call(0, 'POST', '/buckets/refusals')).status, 200);
  });

  test('keys: too long (over 1024 UTF-8 bytes) or empty', async () => {
    assertError(await call(0, 'PUT', `/buckets/refusals/${'k'.repeat(1025)}`, 'v'), 400, 'KeyTooLong');
    assertError(await call(0, 'PUT', `/buckets/refusals/${encodeURIComponent('é'.repeat(513))}`, 'v'), 400, 'KeyTooLong');
    assertError(await call(0, 'PUT', '/buckets/refusals/', 'v'), 400, 'InvalidKey');
    const list = await call(0, 'GET', '/buckets/refusals');
    assert.deepEqual(list.json.keys, []);
    assert.equal((await call(0, 'PUT', `/buckets/refusals/${'k'.repeat(1024)}`, 'v')).status, 200, 'exactly 1024 bytes is fine');
  });

  test('bodies above the object limit, declared or streamed, are 413 and store nothing', async () => {
    assertError(await call(0, 'PUT', '/buckets/refusals/big-declared', Buffer.alloc(MAX_OBJECT + 1)), 413, 'EntityTooLarge');
    const chunk = new Uint8Array(1024 * 1024);
    let sent = 0;
    const stream = new ReadableStream({
      pull(c) {
        if (sent > MAX_OBJECT + chunk.length) c.close();
        else {
          sent += chunk.length;
          c.enqueue(chunk);
        }
      },
    });
    assertError(await call(1, 'PUT', '/buckets/refusals/big-streamed', stream), 413, 'EntityTooLarge');
    await assertNothingWritten('refusals', 'big-declared');
    await assertNothingWritten('refusals', 'big-streamed');
  });

  test('bad contexts: garbage, truncated, or minted for another key', async () => {
    const other = await call(0, 'PUT', '/buckets/refusals/other', 'v');
    assertError(await call(0, 'PUT', '/buckets/refusals/ctx', 'v', { 'x-ringstore-context': 'garbage!' }), 400, 'InvalidContext');
    assertError(await call(1, 'PUT', '/buckets/refusals/ctx', 'v', { 'x-ringstore-context': other.json.context }), 400, 'InvalidContext');
    assertError(await call(2, 'PUT', `/buckets/refusals/ctx?context=${other.json.context.slice(0, -3)}`, 'v'), 400, 'InvalidContext');
    assertError(await call(2, 'DELETE', '/buckets/refusals/other', undefined, { 'x-ringstore-context': 'nope' }), 400, 'InvalidContext');
    await assertNothingWritten('refusals', 'ctx');
    assert.equal((await call(0, 'GET', '/buckets/refusals/other')).status, 200, 'the refused delete deleted nothing');
  });

  test('bad quorums: beyond the cluster, above n, zero, not a number', async () => {
    for (const q of ['n=4', 'w=4', 'r=4', 'w=0', 'w=two', 'n=2&w=3', 'n=1&r=2']) {
      assertError(await call(0, 'PUT', `/buckets/refusals/quorum?${q}`, 'v'), 400, 'InvalidQuorum');
    }
    assertError(await call(0, 'GET', '/buckets/refusals/quorum?r=5'), 400, 'InvalidQuorum');
    await assertNothingWritten('refusals', 'quorum');
    const ok = await call(0, 'PUT', '/buckets/refusals/quorum?w=3', 'v');
    assert.equal(ok.status, 200);
    assert.equal(ok.json.replicas_written.length, 3);
  });

  test('wrong methods are 405 with Allow; unknown endpoints 404', async () => {
    const p = await call(0, 'PATCH', '/buckets/refusals/k');
    assertError(p, 405, 'MethodNotAllowed');
    assert.ok(p.headers.get('allow'));
    assertError(await call(0, 'POST', '/buckets/refusals/not-files'), 405, 'MethodNotAllowed');
    assertError(await call(0, 'GET', '/no-such-endpoint'), 404, 'NotFound');
  });
});

describe('health, metrics', () => {
  test('/health names each node; /metrics counts requests by route and status', async () => {
    for (let i = 0; i < 3; i++) {
      const h = await call(i, 'GET', '/health');
      assert.equal(h.status, 200);
      assert.equal(h.json.node, node(i).id);
    }
    const m = await call(0, 'GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.text, /ringstore_http_requests_total\{route="object",method="PUT",status="200"/);
    assert.match(m.text, /ringstore_http_requests_total\{route="object",method="PUT",status="413"/);
  });
});

// Last: it kills a node.
describe('quorum failures', () => {
  test('with a node down, W=3 fails with 503 QuorumNotReached saying who answered, who failed, and the outcome', async () => {
    assert.equal((await call(0, 'POST', '/buckets/strict')).status, 200);
    const victim = node(2);
    await cluster.kill(victim.id, 'SIGKILL');
    try {
      const r = await call(0, 'PUT', '/buckets/strict/k?w=3', 'v');
      assertError(r, 503, 'QuorumNotReached');
      assert.ok(Array.isArray(r.json.error.answered));
      assert.ok(r.json.error.answered.length < 3);
      assert.ok(r.json.error.failed.some((f: any) => f.node === victim.id), JSON.stringify(r.json.error.failed));
      assert.ok(['unknown', 'not_applied'].includes(r.json.error.outcome));
      const g = await call(1, 'GET', '/buckets/strict/k?r=3');
      assertError(g, 503, 'QuorumNotReached');
      // W=2 still works with one node down.
      assert.equal((await call(0, 'PUT', '/buckets/strict/k2?w=2', 'v')).status, 200);
    } finally {
      await cluster.restart(victim.id);
    }
    assert.equal((await call(2, 'GET', '/health')).status, 200);
  });
});

describe("RingSync's REST shape (seed-apis.md §2)", () => {
  const post = (i: number, op: string, body: unknown) => call(i, 'POST', `/${op}`, JSON.stringify(body), { 'content-type': 'application/json' });

  test('create, read, update and delete answer with its fields, through any node', async () => {
    const c = await post(0, 'create', { key: 'rs-1', value: 'one' });
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.update, 'False', 'a new key was not overwritten');
    assert.equal(c.json.key, 'rs-1');
    assert.equal(c.json.value, 'one');
    assert.ok(Array.isArray(c.json.vector) && c.json.vector.length >= 2, 'one clock per replica written (W=2)');
    assert.ok(Array.isArray(c.json.hashes) && Number.isInteger(c.json.hashes[0]));
    assert.ok(c.json.servers.length >= 2);

    const r = await post(1, 'read', { key: 'rs-1' });
    assert.equal(r.json.update, 'True');
    assert.equal(r.json.key, 'one', 'a read carries the value in "key"');

    const u = await post(2, 'update', { key: 'rs-1', value: 'two' });
    assert.equal(u.json.update, 'True');
    const again = await post(0, 'create', { key: 'rs-1', value: 'three' });
    assert.equal(again.json.update, 'True', 'create over an existing key says it overwrote');
    const r2 = await post(1, 'read', { key: 'rs-1' });
    assert.equal(r2.json.key, 'three');
    assert.equal(r2.json.values, undefined, 'each write superseded the one before: no siblings');

    const d = await post(1, 'delete', { key: 'rs-1' });
    assert.equal(d.json.update, 'True');
    const gone = await post(2, 'read', { key: 'rs-1' });
    assert.equal(gone.status, 200);
    assert.equal(gone.json.update, 'False');
    assert.equal(gone.json.key, null);
    assert.equal((await post(0, 'delete', { key: 'rs-1' })).json.update, 'False', 'deleting a missing key changes nothing');
  });

  test('update of a missing key writes nothing; bad bodies get a 4xx with a code', async () => {
    const u = await post(0, 'update', { key: 'rs-never', value: 'x' });
    assert.equal(u.json.update, 'False');
    assert.equal((await post(1, 'read', { key: 'rs-never' })).json.update, 'False');
    assertError(await call(0, 'POST', '/create', '{not json', { 'content-type': 'application/json' }), 400, 'MalformedRequest');
    assertError(await post(0, 'create', { key: 'k' }), 400, 'InvalidArgument');
    assertError(await post(0, 'read', { key: 7 }), 400, 'InvalidArgument');
    assertError(await call(0, 'GET', '/read'), 405, 'MethodNotAllowed');
  });
});

describe("seed 001's bucket and file routes (seed-apis.md §1)", () => {
  test('bucket create and delete, a file_content upload and a file delete answer with its fields; /checkServerStatus is open', async () => {
    const b = await call(0, 'POST', '/buckets/seed001');
    assert.equal(b.json.is_bucket_created, true, b.text);
    const form = new FormData();
    form.append('file_content', new Blob(['seed one']), 'notes.txt');
    const up = await call(1, 'POST', '/buckets/seed001/files', form);
    assert.equal(up.status, 200, up.text);
    assert.equal(up.json.pref_list.length, 3, 'N=3 owners');
    assert.ok(up.json.replicas_written.length >= 2, 'W=2 acknowledged');
    assert.equal(up.json.vector_clock_list.length, up.json.replicas_written.length);
    for (const c of up.json.vector_clock_list) assert.match(c, /^(n\d+ : \d+ , )+$/, 'the seed\'s "node : counter , " text');
    assert.equal((await call(2, 'GET', '/buckets/seed001/notes.txt')).text, 'seed one');
    const del = await call(2, 'DELETE', '/buckets/seed001/notes.txt');
    assert.equal(del.json.is_file_deleted, true);
    assert.equal(del.json.pref_list.length, 3);
    assert.equal((await call(0, 'DELETE', '/buckets/seed001')).json.is_bucket_deleted, true);
    const probe = await fetch(`${node(1).http}/checkServerStatus`);
    assert.equal(probe.status, 200, 'no credentials needed: it reveals nothing');
    assert.equal(await probe.text(), 'Server Up and Running');
  });
});
