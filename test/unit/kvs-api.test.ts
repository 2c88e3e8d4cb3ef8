// The course's /kvs routes (src/api/kvs.ts) over a fake group of two
// replicas whose reachability and replication the test controls: status
// codes and bodies, last-write-wins, tombstones, causal sessions (a stale
// replica is never the answer: the read widens to the group, or says
// unavailable), the one-second budget, and the payload codec.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createKvsApi, type KvsCluster, type KvsCoordinator } from '../../src/api/kvs.js';
import { decodePayload, encodePayload, PayloadError, winner } from '../../src/api/kvs-payload.js';
import { QuorumError, type GetResult, type PutResult } from '../../src/coordinator/types.js';
import { EMPTY_SET, newEvent, setClock, sync, vvJoin, type SiblingSet, type VersionVector } from '../../src/version/dvv.js';

class FakeGroup implements KvsCoordinator {
  readonly replicas = new Map<string, Map<string, SiblingSet>>([
    ['a', new Map()],
    ['b', new Map()],
  ]);
  /** Which replica a one-replica read reaches first. */
  first = 'a';
  /** Which replica mints writes. */
  origin = 'a';
  down = new Set<string>();
  replicate = true;
  hang = false;
  now = 1_000_000;

  #live(): string[] {
    return [...this.replicas.keys()].filter((r) => !this.down.has(r));
  }

  async get(req: { key: string; r?: number }): Promise<GetResult> {
    if (this.hang) await new Promise(() => undefined);
    const live = this.#live();
    const r = req.r ?? 1;
    const asked = r === 1 ? (live.includes(this.first) ? [this.first] : live.slice(0, 1)) : live;
    if (asked.length < r || asked.length === 0) throw new QuorumError('read', r, asked, [], 'none');
    let set = EMPTY_SET;
    for (const x of asked) set = sync(set, this.replicas.get(x)!.get(req.key) ?? EMPTY_SET);
    return { coordinator: 'a', partition: 0, preferenceList: ['a', 'b'], replicasRead: asked, vectorClocks: {}, set, context: setClock(set) };
  }

  async put(req: { key: string; value: Uint8Array | null; context: VersionVector | null; supersedeVisible?: boolean }): Promise<PutResult> {
    if (this.hang) await new Promise(() => undefined);
    if (this.down.has(this.origin)) throw new QuorumError('write', 1, [], [], 'not_applied');
    const store = this.replicas.get(this.origin)!;
    const cur = store.get(req.key) ?? EMPTY_SET;
    const ctx = req.supersedeVisible === true ? vvJoin(req.context ?? {}, setClock(cur)) : (req.context ?? {});
    const ev = newEvent(cur, this.origin, ctx, req.value, {}, this.now++);
    store.set(req.key, ev.set);
    const written = [this.origin];
    if (this.replicate) {
      for (const x of this.#live()) {
        if (x === this.origin) continue;
        const m = this.replicas.get(x)!;
        m.set(req.key, sync(m.get(req.key) ?? EMPTY_SET, ev.set));
        written.push(x);
      }
    }
    return { coordinator: 'a', origin: this.origin, partition: 0, preferenceList: ['a', 'b'], replicasWritten: written, hinted: [], vectorClocks: {}, set: ev.set, context: setClock(ev.set) };
  }
}

const cluster: KvsCluster = {
  groups: () => [['127.0.0.2:8080', '127.0.0.3:8080'], ['127.0.0.4:8080']],
  selfGroup: () => 0,
  placeKey: () => ({ group: 1, replicas: 2 }),
  countKeys: async () => 7,
  viewUpdate: async (type) => (type === 'add' ? { partitionId: 2, partitions: 3 } : { partitions: 2 }),
};

async function serve(group: FakeGroup, budgetMs = 800): Promise<{ url: string; server: Server }> {
  const api = createKvsApi({ coordinator: group, cluster, k: 2, now: () => group.now, budgetMs });
  const server = createServer((req, res) => void api(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function call(url: string, method: string, path: string, form?: Record<string, string>): Promise<{ status: number; body: Record<string, unknown>; ms: number }> {
  const t = performance.now();
  const res = await fetch(url + path, { method, ...(form ? { body: new URLSearchParams(form).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } } : {}) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, ms: performance.now() - t };
}

test('kvs: PUT 201 then 200 replaced, GET with integer partition_id and a URL-safe payload, DELETE then 404', async () => {
  const g = new FakeGroup();
  const { url, server } = await serve(g);
  try {
    const p1 = await call(url, 'PUT', '/kvs', { key: 'k1', value: '1', causal_payload: '' });
    assert.equal(p1.status, 201);
    assert.deepEqual(Object.keys(p1.body).sort(), ['causal_payload', 'msg', 'partition_id', 'replaced', 'timestamp']);
    assert.equal(p1.body['msg'], 'success');
    assert.equal(p1.body['partition_id'], 1);
    assert.match(String(p1.body['causal_payload']), /^[A-Za-z0-9_-]+$/);
    assert.match(String(p1.body['timestamp']), /^\d+$/);
    const p2 = await call(url, 'PUT', '/kvs', { key: 'k1', value: '2', causal_payload: String(p1.body['causal_payload']) });
    assert.equal(p2.status, 200);
    assert.equal(p2.body['replaced'], 1);
    const r = await call(url, 'GET', `/kvs?key=k1&causal_payload=${String(p2.body['causal_payload'])}`);
    assert.equal(r.status, 200);
    assert.equal(r.body['value'], '2');
    assert.equal(Number(r.body['value']), 2);
    assert.equal(r.body['partition_id'], 1);
    const d = await call(url, 'DELETE', `/kvs?key=k1&causal_payload=${String(r.body['causal_payload'])}`);
    assert.equal(d.status, 200);
    assert.equal(d.body['msg'], 'success');
    const gone = await call(url, 'GET', '/kvs?key=k1');
    assert.equal(gone.status, 404);
    assert.deepEqual(gone.body, { msg: 'error', error: 'key does not exist' });
    // The tombstone stays: the key is not brought back by a replica, and deleting again is a 404.
    assert.equal(winner(g.replicas.get('b')!.get('k1')!)?.value, null);
    assert.equal((await call(url, 'DELETE', '/kvs?key=k1')).status, 404);
    assert.equal((await call(url, 'GET', '/kvs?key=never')).status, 404);
    // A put after the delete creates the key again: 201.
    assert.equal((await call(url, 'PUT', '/kvs', { key: 'k1', value: '3' })).status, 201);
  } finally {
    server.close();
  }
});

test('kvs: a client passing its payload never reads older data: the read widens to the group, or answers 503', async () => {
  const g = new FakeGroup();
  const { url, server } = await serve(g);
  try {
    await call(url, 'PUT', '/kvs', { key: 'x', value: 'old', causal_payload: '' });
    g.replicate = false; // the next write lands on a only
    const w = await call(url, 'PUT', '/kvs', { key: 'x', value: 'new', causal_payload: '' });
    g.first = 'b'; // a one-replica read now reaches the stale replica
    const stale = await call(url, 'GET', '/kvs?key=x');
    assert.equal(stale.body['value'], 'old', 'without a payload any replica will do');
    const fresh = await call(url, 'GET', `/kvs?key=x&causal_payload=${String(w.body['causal_payload'])}`);
    assert.equal(fresh.status, 200);
    assert.equal(fresh.body['value'], 'new');
    g.down.add('a');
    const none = await call(url, 'GET', `/kvs?key=x&causal_payload=${String(w.body['causal_payload'])}`);
    assert.equal(none.status, 503);
    assert.deepEqual(none.body, { msg: 'error', error: 'key value store is not available' });
    // A write that carries the payload wins over what it saw, even through the stale replica.
    g.origin = 'b';
    const w2 = await call(url, 'PUT', '/kvs', { key: 'x', value: 'newer', causal_payload: String(w.body['causal_payload']) });
    assert.equal(w2.status, 503, 'the stale replica cannot show it has seen the payload');
    g.down.clear();
    g.replicate = true;
    const w3 = await call(url, 'PUT', '/kvs', { key: 'x', value: 'newer', causal_payload: String(w.body['causal_payload']) });
    assert.equal(w3.status, 200);
    const r = await call(url, 'GET', `/kvs?key=x&causal_payload=${String(w3.body['causal_payload'])}`);
    assert.equal(r.body['value'], 'newer');
    assert.equal(g.replicas.get('a')!.get('x')!.siblings.length, 1, 'the new write superseded everything it saw');
  } finally {
    server.close();
  }
});

test('kvs: a group that cannot answer gets a non-200 within the budget', async () => {
  const g = new FakeGroup();
  const { url, server } = await serve(g, 150);
  try {
    g.down.add('a').add('b');
    const r = await call(url, 'GET', '/kvs?key=z');
    assert.equal(r.status, 503);
    const w = await call(url, 'PUT', '/kvs', { key: 'z', value: '1' });
    assert.equal(w.status, 503);
    g.down.clear();
    g.hang = true;
    const h = await call(url, 'GET', '/kvs?key=z');
    assert.equal(h.status, 503);
    assert.ok(h.ms < 1000, `answered in ${h.ms} ms`);
  } finally {
    server.close();
  }
});

test('kvs: concurrent writes resolve by the later timestamp, ties by node identity', () => {
  let a = newEvent(EMPTY_SET, 'n1', {}, Buffer.from('one'), {}, 100).set;
  const b = newEvent(EMPTY_SET, 'n2', {}, Buffer.from('two'), {}, 200).set;
  assert.equal(Buffer.from(winner(sync(a, b))!.value!).toString(), 'two');
  a = newEvent(EMPTY_SET, 'n3', {}, null, {}, 300).set;
  assert.equal(winner(sync(a, b))!.value, null, 'a later delete wins: last write wins, no conflict shown');
  const t1 = newEvent(EMPTY_SET, 'n1', {}, Buffer.from('one'), {}, 500).set;
  const t2 = newEvent(EMPTY_SET, 'n2', {}, Buffer.from('two'), {}, 500).set;
  assert.equal(Buffer.from(winner(sync(t1, t2))!.value!).toString(), 'two');
  assert.equal(Buffer.from(winner(sync(t2, t1))!.value!).toString(), 'two');
});

test('kvs: the payload codec: URL-safe, round trip, "" for nothing, garbage refused (400 at the API)', async () => {
  const vv = { '127.0.0.2_8080': 3, '127.0.0.4_8080-2~1': 12 };
  const text = encodePayload(vv);
  assert.match(text, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(decodePayload(text), vv);
  assert.equal(encodePayload({}), '');
  assert.equal(decodePayload(''), null);
  assert.equal(decodePayload(undefined), null);
  for (const bad of ['1.0.0.4', '{"a":1}', Buffer.from('[1,2]').toString('base64url'), Buffer.from('{"a":-1}').toString('base64url'), Buffer.from('{"__proto__":1}').toString('base64url')]) {
    assert.throws(() => decodePayload(bad), PayloadError, bad);
  }
  const g = new FakeGroup();
  const { url, server } = await serve(g);
  try {
    const r = await call(url, 'GET', '/kvs?key=a&causal_payload=1.0.0.4');
    assert.equal(r.status, 400);
    assert.equal(r.body['msg'], 'error');
  } finally {
    server.close();
  }
});

test('kvs: the partition queries and view_update answer in the spec\'s shapes', async () => {
  const g = new FakeGroup();
  const { url, server } = await serve(g);
  try {
    assert.deepEqual((await call(url, 'GET', '/kvs/get_partition_id')).body, { msg: 'success', partition_id: 0 });
    assert.deepEqual((await call(url, 'GET', '/kvs/get_all_partition_ids')).body, { msg: 'success', partition_id_list: [0, 1] });
    assert.deepEqual((await call(url, 'GET', '/kvs/get_partition_members?partition_id=1')).body, { msg: 'success', partition_members: ['127.0.0.4:8080'] });
    assert.equal((await call(url, 'GET', '/kvs/get_partition_members?partition_id=9')).status, 404);
    assert.equal((await call(url, 'GET', '/kvs/get_number_of_keys')).body['count'], 7);
    assert.deepEqual((await call(url, 'PUT', '/kvs/view_update', { ip_port: '127.0.0.9:8080', type: 'add' })).body, { msg: 'success', partition_id: 2, number_of_partitions: 3 });
    assert.deepEqual((await call(url, 'PUT', '/kvs/view_update', { ip_port: '127.0.0.9:8080', type: 'remove' })).body, { msg: 'success', number_of_partitions: 2 });
    assert.equal((await call(url, 'PUT', '/kvs/view_update', { ip_port: '127.0.0.9:8080', type: 'move' })).status, 400);
    assert.equal((await call(url, 'PUT', '/kvs', { value: '1' })).status, 400);
    assert.equal((await call(url, 'PUT', '/kvs', { key: 'k' })).status, 400);
    assert.equal((await call(url, 'PUT', '/kvs', { key: 'k'.repeat(201), value: '1' })).status, 400);
  } finally {
    server.close();
  }
});
