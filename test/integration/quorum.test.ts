// Quorum reads and writes (Dynamo §4.5), on real node processes over loopback:
// quorum writes read back through another coordinator, siblings and their
// resolution by context, a kill -9 that loses nothing acknowledged, and
// read repair of the restarted node.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, waitFor, type TestCluster } from '../helpers/cluster.js';

let cluster: TestCluster;

before(async () => {
  cluster = await startCluster({ nodes: 3 });
  const res = await cluster.fetch(`${cluster.nodes[0]!.http}/buckets/quorum`, { method: 'PUT' });
  assert.equal(res.status, 200);
});

after(async () => {
  await cluster?.stop();
});

const url = (i: number, path: string) => `${cluster.nodes[i]!.http}${path}`;

async function put(i: number, key: string, body: string, headers: Record<string, string> = {}, query = '') {
  const res = await cluster.fetch(url(i, `/buckets/quorum/${key}${query}`), { method: 'PUT', body, headers });
  return { status: res.status, json: (await res.json()) as any };
}

async function getJson(i: number, key: string, query = '') {
  const res = await cluster.fetch(url(i, `/buckets/quorum/${key}${query}`), { headers: { accept: 'application/json' } });
  return { status: res.status, json: (await res.json()) as any, context: res.headers.get('x-ringstore-context') };
}

test('a W=2 write is read back with R=2 through a different coordinator', async () => {
  const w = await put(0, 'alpha', 'one', {}, '?w=2');
  assert.equal(w.status, 200);
  assert.equal(w.json.ok, true);
  assert.equal(w.json.coordinator, cluster.nodes[0]!.id);
  assert.ok(w.json.replicas_written.length >= 2);
  assert.equal(Object.keys(w.json.vector_clocks).length, w.json.replicas_written.length);
  const res = await cluster.fetch(url(1, '/buckets/quorum/alpha?r=2'));
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'one');
  const r = await getJson(2, 'alpha', '?r=2');
  assert.equal(r.json.coordinator, cluster.nodes[2]!.id);
  assert.ok(r.json.replicas_read.length >= 2);
});

test('two writes without context make two siblings; a write with the read context replaces them with one', async () => {
  assert.equal((await put(0, 'beta', 'from-a')).status, 200);
  assert.equal((await put(1, 'beta', 'from-b')).status, 200);
  const plain = await cluster.fetch(url(2, '/buckets/quorum/beta?r=3'));
  assert.equal(plain.status, 300, 'siblings answer 300 Multiple Choices without Accept: application/json');
  const r = await getJson(2, 'beta', '?r=3');
  const values = r.json.siblings.map((s: any) => s.value).sort();
  assert.deepEqual(values, ['from-a', 'from-b']);
  assert.ok(r.context);
  const w = await put(0, 'beta', 'merged', { 'x-ringstore-context': r.context! });
  assert.equal(w.status, 200);
  const after1 = await getJson(1, 'beta', '?r=3');
  assert.equal(after1.json.siblings.length, 1);
  assert.equal(after1.json.siblings[0].value, 'merged');
});

test('kill -9 of one node leaves W=2 writes and R=2 reads working; the restarted node keeps its data and is read-repaired', async () => {
  // Written while all three are up: must survive the kill on the victim's disk.
  for (let i = 0; i < 20; i++) assert.equal((await put(i % 3, `before-${i}`, `b${i}`, {}, '?w=3')).status, 200);
  const victim = cluster.nodes[2]!;
  await cluster.kill(victim.id, 'SIGKILL');

  const written: string[] = [];
  // The survivors notice the dead node through failed requests; writes must keep succeeding.
  for (let i = 0; i < 30; i++) {
    const key = `during-${i}`;
    const w = await put(i % 2, key, `d${i}`, {}, '?w=2');
    assert.equal(w.status, 200, JSON.stringify(w.json));
    assert.ok(!w.json.replicas_written.includes(victim.id));
    written.push(key);
  }
  for (const key of written) {
    const res = await cluster.fetch(url(1, `/buckets/quorum/${key}?r=2`));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), `d${key.slice('during-'.length)}`);
  }

  await cluster.restart(victim.id);
  // The restart is done when the victim serves; n1 reaches it again only once
  // its connection's reconnect backoff ends or a SWIM packet from the victim
  // cuts it short. Until then an R=3 read fails 'unreachable'.
  await waitFor(async () => (await getJson(0, 'before-0', '?r=3')).status === 200, { what: `${cluster.nodes[0]!.id} reaches the restarted ${victim.id}` });

  // Data written before the kill is intact on the victim: its clock matches the others'.
  for (let i = 0; i < 20; i++) {
    const r = await getJson(0, `before-${i}`, '?r=3');
    assert.equal(r.status, 200);
    const clocks = Object.values(r.json.vector_clocks).map((c) => JSON.stringify(c));
    assert.equal(r.json.replicas_read.length, 3);
    assert.equal(new Set(clocks).size, 1, `replica clocks differ for before-${i}: ${JSON.stringify(r.json.vector_clocks)}`);
  }

  // Keys written while it was down: first read sees it stale, read repair then brings it up to date.
  for (const key of written) {
    const first = await getJson(0, key, '?r=3');
    assert.equal(first.status, 200);
    await waitFor(
      async () => {
        const r = await getJson(1, key, '?r=3');
        const clocks = Object.values(r.json.vector_clocks).map((c) => JSON.stringify(c));
        return r.json.replicas_read.length === 3 && new Set(clocks).size === 1;
      },
      { timeoutMs: 30_000, what: `read repair of ${key}` },
    );
  }
});
