// Merkle anti-entropy and tombstone collection (Dynamo §4.7; README,
// "Anti-entropy and deletes") on
// real node processes over loopback: a node that missed writes while it was
// down is repaired by anti-entropy alone (nothing reads those keys), and a
// key deleted while one owner is down stays deleted after that owner
// returns, after anti-entropy, and after the tombstone grace period, when
// the tombstone is collected everywhere.
//
// The partition here is a kill -9 and restart; short anti-entropy intervals
// and a 4 s grace period keep the file to about 20 s.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, waitFor, type TestCluster } from '../helpers/cluster.js';

const GRACE_MS = 4000;
let cluster: TestCluster;

before(async () => {
  cluster = await startCluster({
    nodes: 3,
    nodeSettings: { antiEntropy: { intervalMs: 200, tombstoneGraceMs: GRACE_MS, gcIntervalMs: 300, maxDataAgeMs: 5000, maxClockSkewMs: 0 } },
  });
  const res = await cluster.fetch(`${cluster.nodes[0]!.http}/buckets/antientropy`, { method: 'PUT' });
  assert.equal(res.status, 200);
});

after(async () => {
  await cluster?.stop();
});

const node = (id: string) => cluster.nodes.find((n) => n.id === id)!;
const objectUrl = (id: string, key: string, query = '') => `${node(id).http}/buckets/antientropy/${encodeURIComponent(key)}${query}`;

async function put(id: string, key: string, body: string, query = ''): Promise<number> {
  const res = await cluster.fetch(objectUrl(id, key, query), { method: 'PUT', body });
  const text = await res.text();
  if (res.status !== 200) process.stderr.write(`PUT ${key} via ${id}${query}: ${res.status} ${text}\n`);
  return res.status;
}

async function getStatus(id: string, key: string, query = ''): Promise<number> {
  const res = await cluster.fetch(objectUrl(id, key, query));
  const text = await res.text();
  if (res.status >= 500) process.stderr.write(`GET ${key} via ${id}${query}: ${res.status} ${text}\n`);
  return res.status;
}

/**
 * The status of a read once it is not a 503: right after a node restarts,
 * the others' connections to it may still be in reconnect backoff, so a
 * read that needs it (r=3) can fail for a moment; a resurrected value would
 * answer 200, never 503.
 */
async function settledStatus(id: string, key: string, query = ''): Promise<number> {
  let status = 0;
  await waitFor(async () => (status = await getStatus(id, key, query)) !== 503, { what: `GET ${key} via ${id}${query} to answer`, intervalMs: 200 });
  return status;
}

interface KeyView {
  present: boolean;
  tombstone_only: boolean;
  dots: string[];
}

async function keyView(id: string, key: string): Promise<KeyView> {
  const res = await cluster.fetch(`${node(id).http}/_antientropy/key?bucket=antientropy&key=${encodeURIComponent(key)}`);
  assert.equal(res.status, 200);
  return (await res.json()) as KeyView;
}

async function roots(id: string): Promise<Record<string, string>> {
  const res = await cluster.fetch(`${node(id).http}/_antientropy/roots`);
  return ((await res.json()) as { partitions: Record<string, string> }).partitions;
}

/** Every partition's root is the same on every node that replicates it (all three here: N=3). */
async function rootsAgree(): Promise<boolean> {
  const all = await Promise.all(cluster.nodes.map((n) => roots(n.id)));
  const first = all[0]!;
  return all.every((r) => Object.keys(r).length === Object.keys(first).length && Object.entries(first).every(([p, h]) => r[p] === h));
}

async function rounds(id: string): Promise<number> {
  const res = await cluster.fetch(`${node(id).http}/_antientropy`);
  return ((await res.json()) as { rounds: number }).rounds;
}

async function metric(id: string, name: string): Promise<number> {
  const text = await (await cluster.fetch(`${node(id).http}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

test('a node that missed writes while down is repaired by anti-entropy alone; roots converge', async () => {
  await waitFor(rootsAgree, { what: 'roots to agree before the test' });
  await cluster.kill('n3');
  const keys = Array.from({ length: 300 }, (_, i) => `missed-${i}`);
  for (let i = 0; i < keys.length; i += 20) {
    // Strict quorum (sloppy=false): no hint is kept for n3 anywhere, so only anti-entropy can bring it these keys.
    const statuses = await Promise.all(keys.slice(i, i + 20).map((k, j) => put(j % 2 === 0 ? 'n1' : 'n2', k, `v-${k}`, '?sloppy=false')));
    assert.ok(statuses.every((s) => s === 200), `writes while n3 is down: ${statuses.join(',')}`);
  }
  assert.equal(await rootsAgree().catch(() => false), false);
  await cluster.restart('n3');
  await waitFor(rootsAgree, { what: 'Merkle roots of all three nodes to agree after n3 returns', timeoutMs: 30_000, intervalMs: 100 });
  // Nothing read these keys and no hint was kept, so n3 has them from anti-entropy.
  for (const k of [keys[0]!, keys[150]!, keys[299]!]) assert.equal((await keyView('n3', k)).present, true, k);
  const repaired = (await metric('n1', 'ringstore_antientropy_keys_repaired_total')) + (await metric('n2', 'ringstore_antientropy_keys_repaired_total')) + (await metric('n3', 'ringstore_antientropy_keys_repaired_total'));
  assert.ok(repaired >= 300, `keys repaired: ${repaired}`);
  const health = (await (await cluster.fetch(`${node('n3').http}/health`)).json()) as { anti_entropy: { running: boolean; rounds: number } };
  assert.equal(health.anti_entropy.running, true);
});

test('a key deleted while one owner is down stays deleted: after the owner returns, after anti-entropy, after the grace period', async () => {
  // W=3 so that n3 surely holds the value; n3 was restarted by the test above, so allow the connections to it a moment.
  await waitFor(async () => (await put('n1', 'doomed', 'alive', '?w=3')) === 200, { what: 'a W=3 write to succeed', intervalMs: 200 });
  assert.equal((await keyView('n3', 'doomed')).present, true);
  await cluster.kill('n3');
  const del = await cluster.fetch(objectUrl('n1', 'doomed'), { method: 'DELETE' });
  assert.equal(del.status, 200);
  await del.arrayBuffer();
  const deletedAt = Date.now();
  assert.equal(await put('n2', 'survivor', 'written while n3 was down'), 200);
  assert.equal(await settledStatus('n1', 'doomed'), 404);

  // n3 comes back holding the old live value (anti-entropy may already be replacing it: no assertion on that race).
  await cluster.restart('n3');
  // After the owner returns: a quorum read through it, and reads through the others, say deleted.
  for (const id of ['n3', 'n1', 'n2']) assert.equal(await settledStatus(id, 'doomed'), 404, `read via ${id}`);

  // After anti-entropy: n3 holds the tombstone (or nothing, if the grace period already let it go), never the value.
  await waitFor(async () => !(await keyView('n3', 'doomed')).dots.some((d) => !d.endsWith(':tombstone')), { what: 'anti-entropy to bring the tombstone to n3', timeoutMs: 20_000 });
  await waitFor(rootsAgree, { what: 'roots to agree after the delete', timeoutMs: 20_000 });
  assert.equal(await settledStatus('n2', 'doomed', '?r=3'), 404);
  assert.equal((await keyView('n3', 'survivor')).present, true);

  // After the grace period: the tombstone is collected on every node, and nothing brings the value back.
  await waitFor(async () => (await Promise.all(cluster.nodes.map((n) => keyView(n.id, 'doomed')))).every((v) => !v.present), {
    what: 'the tombstone to be collected on all three nodes',
    timeoutMs: 30_000,
  });
  assert.ok(Date.now() - deletedAt >= GRACE_MS, 'collected only after the grace period');
  const seen = await Promise.all(cluster.nodes.map((n) => rounds(n.id)));
  await waitFor(async () => (await Promise.all(cluster.nodes.map((n) => rounds(n.id)))).every((r, i) => r >= seen[i]! + 3), { what: 'three more rounds on every node' });
  for (const n of cluster.nodes) assert.equal((await keyView(n.id, 'doomed')).present, false, `doomed came back on ${n.id}`);
  for (const id of ['n1', 'n2', 'n3']) assert.equal(await settledStatus(id, 'doomed', '?r=3'), 404);
  assert.equal(await settledStatus('n1', 'survivor', '?r=3'), 200);
  assert.ok((await metric('n1', 'ringstore_tombstones_collected_total')) >= 1);
});
