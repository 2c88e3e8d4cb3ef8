// The course's key-value store (seed 004) as its test script drives it:
// real `ringstore server` processes started with only K, VIEW and ip_port
// (plus a data folder and the dev fault switch), on distinct 127.x.y.z
// addresses sharing one port. 4 nodes with K=2 and 60 keys through random
// nodes; the partition queries; view changes 4 -> 7 -> 3 with partition and
// key counts after each (and a removed node added back, empty); a whole partition cut off and answered non-200;
// a heal and the replicas' agreement; a causal payload across nodes; a
// delete then 404. The course's limits are 1 s and 5 s; CI asserts 3 s and
// 15 s and prints what it measured (BENCHMARKS.md records it).
//
// Open by design: course mode asks for no credentials, so this test does not
// go through test/helpers/auth.ts; the fault switch takes course mode's
// public admin token (node/course-mode.ts courseCredentials).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ringstoreBin } from '../../src/node/dev-cluster.js';
import { courseCredentials, derivedPorts } from '../../src/node/course-mode.js';
import { waitFor } from '../helpers/cluster.js';

const K = 2;
// A random 127.x.y.0/24 and port, so that runs and other tests do not meet.
const NET = `127.${20 + Math.floor(Math.random() * 200)}.${1 + Math.floor(Math.random() * 250)}`;
const PORT = 20_000 + 10 * Math.floor(Math.random() * 3000);
const ADMIN = courseCredentials().adminToken;
const dir = mkdtempSync(path.join(os.tmpdir(), 'ringstore-kvs-'));
const procs = new Map<string, ChildProcess>();
const measured: Record<string, number> = {};

const ipPort = (i: number): string => `${NET}.${i}:${PORT}`;
const INITIAL = [1, 2, 3, 4].map(ipPort);

function start(ip: string, view?: readonly string[]): void {
  const fd = openSync(path.join(dir, `${ip.replace(/[.:]/g, '_')}.log`), 'a');
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], K: String(K), ip_port: ip, RINGSTORE_DATA: path.join(dir, ip.replace(/[.:]/g, '_')), RINGSTORE_FAULTS: '1', RINGSTORE_LOG_LEVEL: process.env['KVS_TEST_LOG_LEVEL'] ?? 'warn' };
  if (view !== undefined) env['VIEW'] = view.join(',');
  const child = spawn(process.execPath, [ringstoreBin(), 'server'], { stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  procs.set(ip, child);
}

after(async () => {
  for (const c of procs.values()) c.kill('SIGTERM');
  await Promise.all([...procs.values()].map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
  console.log(`kvs course test measured: ${JSON.stringify(measured)}`);
  if (process.env['KEEP_KVS_TEST'] === undefined) rmSync(dir, { recursive: true, force: true });
  else console.log(`kept ${dir}`);
});

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly ms: number;
}

async function kvs(ip: string, method: string, p: string, form?: Record<string, string>, timeoutMs = 10_000): Promise<Answer> {
  const t = performance.now();
  const res = await fetch(`http://${ip}${p}`, {
    method,
    signal: AbortSignal.timeout(timeoutMs),
    ...(form !== undefined ? { body: new URLSearchParams(form).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } } : {}),
  });
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, body, ms: performance.now() - t };
}

/**
 * A key operation that should succeed: on this busy 2-core machine (other
 * suites run beside this one) a node may miss the course's one-second budget
 * and answer 503, which the course counts as "unavailable", not as wrong. So
 * it is tried again for a while, and the 503s are counted and printed.
 */
async function kvsOk(ip: string, method: string, p: string, form?: Record<string, string>): Promise<Answer & { retried: boolean }> {
  const deadline = Date.now() + 30_000;
  for (let retried = false; ; retried = true) {
    const a = await kvs(ip, method, p, form);
    if (a.status !== 503 || Date.now() > deadline) return { ...a, retried };
    measured['busy_503s'] = (measured['busy_503s'] ?? 0) + 1;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

async function status(ip: string): Promise<{ id: string; count: number; digest: string; version: number; live: number }> {
  const res = await fetch(`http://${ip}/kvs/_course/status`, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as { id: string; count: number; digest: string; version: number; live: number };
}

async function partitions(ip: string): Promise<string[][]> {
  const ids = (await kvs(ip, 'GET', '/kvs/get_all_partition_ids')).body['partition_id_list'] as number[];
  const out: string[][] = [];
  for (const id of ids) {
    assert.equal(typeof id, 'number');
    out.push((await kvs(ip, 'GET', `/kvs/get_partition_members?partition_id=${id}`)).body['partition_members'] as string[]);
  }
  return out;
}

/** Every node of the view agrees on the partitions; ceil(n/K) of them, K members each but the last; the key counts sum to `keys`. */
async function checkView(view: readonly string[], keys: number): Promise<string[][]> {
  const parts = await partitions(pick(view));
  assert.equal(parts.length, Math.ceil(view.length / K), `${view.length} nodes: ceil(n/K) partitions`);
  assert.deepEqual(parts.flat().sort(), [...view].sort());
  parts.forEach((m, i) => assert.ok(i === parts.length - 1 ? m.length >= 1 && m.length <= K : m.length === K));
  for (const ip of view) {
    const mine = (await kvs(ip, 'GET', '/kvs/get_partition_id')).body['partition_id'] as number;
    assert.ok(parts[mine]!.includes(ip), `${ip} in its partition ${mine}`);
    assert.deepEqual(await partitions(ip), parts, `${ip} gives the same partitions`);
  }
  let sum = 0;
  for (const members of parts) {
    const counts = await Promise.all(members.map(async (ip) => (await kvs(ip, 'GET', '/kvs/get_number_of_keys')).body['count'] as number));
    assert.ok(counts.every((c) => c === counts[0]), `the members of a partition hold the same keys: ${members.join(', ')} -> ${counts.join(', ')}`);
    sum += counts[0]!;
  }
  assert.equal(sum, keys, 'get_number_of_keys summed over one member per partition');
  return parts;
}

test('kvs: the course\'s script on real processes', { timeout: 15 * 60_000 }, async (t) => {
  for (const ip of INITIAL) start(ip, INITIAL);
  await waitFor(async () => (await Promise.all(INITIAL.map((ip) => kvs(ip, 'GET', '/kvs/get_all_partition_ids', undefined, 2000)))).every((a) => JSON.stringify(a.body['partition_id_list']) === '[0,1]'), { what: 'the founding groups', timeoutMs: 60_000 });
  // Ready as the course's script assumes after its start-up pause: every node answers a key operation (a missing key: 404).
  await waitFor(async () => (await Promise.all(INITIAL.map((ip) => kvs(ip, 'GET', '/kvs?key=nothing', undefined, 2000)))).every((a) => a.status === 404), { what: 'every node serving /kvs', timeoutMs: 60_000 });

  const keys = new Map<string, string>();
  let view = [...INITIAL];

  await t.test('4 nodes, K=2: 60 keys through random nodes, then the partition queries', async () => {
    for (let i = 0; i < 60; i++) {
      const a = await kvsOk(pick(view), 'PUT', '/kvs', { key: `key${i}`, value: String(i), causal_payload: '' });
      // A retried PUT may find its own first attempt, which answered 503 but was applied (outcome unknown): then 200.
      assert.ok(a.status === 201 || (a.retried && a.status === 200), JSON.stringify(a.body));
      assert.equal(typeof a.body['partition_id'], 'number');
      keys.set(`key${i}`, String(i));
    }
    const again = await kvsOk(pick(view), 'PUT', '/kvs', { key: 'key0', value: '0', causal_payload: '' });
    assert.equal(again.status, 200);
    assert.equal(again.body['replaced'], 1);
    for (const [k, v] of keys) {
      const a = await kvsOk(pick(view), 'GET', `/kvs?key=${k}&causal_payload=`);
      assert.equal(a.status, 200);
      assert.equal(a.body['value'], v);
    }
    await waitFor(async () => (await checkView(view, 60).then(() => true)), { what: 'replicas of each partition agree', timeoutMs: 15_000 });
  });

  await t.test('view changes 4 -> 7 -> 3, with partition and key counts after each', async () => {
    const expectAdd = [3, 3, 4];
    for (const [n, i] of [5, 6, 7].entries()) {
      const ip = ipPort(i);
      start(ip);
      await waitFor(async () => (await kvs(ip, 'GET', '/kvs/get_number_of_keys', undefined, 2000)).status === 200, { what: `${ip} up`, timeoutMs: 30_000 });
      const t0 = performance.now();
      const a = await kvs(pick(view), 'PUT', '/kvs/view_update', { ip_port: ip, type: 'add' }, 120_000);
      measured[`add_${view.length + 1}_ms`] = Math.round(performance.now() - t0);
      assert.ok(a.status === 200 || a.status === 201, JSON.stringify(a.body));
      assert.equal(a.body['number_of_partitions'], expectAdd[n]);
      view.push(ip);
      assert.equal((await kvs(ip, 'GET', '/kvs/get_partition_id')).body['partition_id'], a.body['partition_id']);
      await checkView(view, keys.size);
    }
    const expectRemove = [3, 3, 2, 2];
    for (const [n, i] of [2, 5, 1, 7].entries()) {
      const ip = ipPort(i);
      const via = pick(view.filter((x) => x !== ip));
      const t0 = performance.now();
      const a = await kvs(via, 'PUT', '/kvs/view_update', { ip_port: ip, type: 'remove' }, 120_000);
      measured[`remove_${view.length - 1}_ms`] = Math.round(performance.now() - t0);
      assert.ok(a.status === 200 || a.status === 201, JSON.stringify(a.body));
      assert.equal(a.body['number_of_partitions'], expectRemove[n]);
      view = view.filter((x) => x !== ip);
      await checkView(view, keys.size);
      // A removed node drops its data: its folder is wiped.
      await waitFor(async () => (await kvs(ip, 'GET', '/kvs/get_number_of_keys', undefined, 2000)).body['count'] === 0 && !existsSync(path.join(dir, ip.replace(/[.:]/g, '_'), 'raft')), { what: `${ip} wiped`, timeoutMs: 30_000 });
    }
    assert.equal(view.length, 3);
    // An ip_port removed earlier can be added again: it starts empty (under a new id) and gets its group's keys.
    const back = ipPort(2);
    const a = await kvs(pick(view), 'PUT', '/kvs/view_update', { ip_port: back, type: 'add' }, 120_000);
    assert.ok(a.status === 200 || a.status === 201, JSON.stringify(a.body));
    assert.equal(a.body['number_of_partitions'], 2);
    view.push(back);
    await checkView(view, keys.size);
    for (const [k, v] of keys) {
      const a = await kvsOk(pick(view), 'GET', `/kvs?key=${k}`);
      assert.equal(a.status, 200, `${k}: ${JSON.stringify(a.body)}`);
      assert.equal(a.body['value'], v);
    }
  });

  await t.test('a whole partition cut off answers non-200 in time; after the heal its replicas agree', async () => {
    const parts = await partitions(view[0]!);
    const full = parts.findIndex((m) => m.length === K);
    const group = parts[full]!;
    const others = view.filter((ip) => !group.includes(ip));
    const ids = new Map(await Promise.all(view.map(async (ip) => [ip, (await status(ip)).id] as const)));
    let inGroup: string | undefined;
    for (const k of keys.keys()) {
      if ((await kvsOk(others[0]!, 'GET', `/kvs?key=${k}`)).body['partition_id'] === full) {
        inGroup = k;
        break;
      }
    }
    assert.ok(inGroup !== undefined, `some key in partition ${full}`);
    const faults = (ip: string, spec: object | undefined): Promise<Response> => {
      const [host, port] = ip.split(':');
      return fetch(`http://${host}:${derivedPorts(Number(port)).http}/_faults`, { method: spec === undefined ? 'DELETE' : 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, ...(spec !== undefined ? { body: JSON.stringify(spec) } : {}) });
    };
    // The group cut from every other node.
    for (const ip of group) assert.equal((await faults(ip, { drop: others.map((o) => ids.get(o)!), direction: 'both' })).status, 200);
    let worst = 0;
    for (let i = 0; i < 5; i++) {
      const a = await kvs(others[0]!, 'GET', `/kvs?key=${inGroup}`);
      assert.notEqual(a.status, 200, JSON.stringify(a.body));
      assert.notEqual(a.status, 201);
      worst = Math.max(worst, a.ms);
      const w = await kvs(others[0]!, 'PUT', '/kvs', { key: inGroup, value: 'cut', causal_payload: '' });
      assert.ok(w.status !== 200 && w.status !== 201, JSON.stringify(w.body));
      worst = Math.max(worst, w.ms);
    }
    measured['cut_partition_answer_worst_ms'] = Math.round(worst);
    assert.ok(worst < 3000, `answered non-200 in ${worst} ms (course: 1 s)`);
    for (const ip of group) assert.equal((await faults(ip, undefined)).status, 200);

    // Then one replica of the group cut from everything; writes through the other; heal; the replicas agree.
    const [a, b] = group as [string, string];
    await faults(b, { drop: view.filter((x) => x !== b).map((o) => ids.get(o)!), direction: 'both' });
    const written: string[] = [];
    for (const k of keys.keys()) {
      if (written.length >= 5) break;
      const r = await kvsOk(a, 'GET', `/kvs?key=${k}`);
      if (r.body['partition_id'] !== full) continue;
      const w = await kvsOk(a, 'PUT', '/kvs', { key: k, value: `healed-${k}`, causal_payload: String(r.body['causal_payload']) });
      assert.equal(w.status, 200, JSON.stringify(w.body));
      keys.set(k, `healed-${k}`);
      written.push(k);
    }
    assert.ok(written.length > 0);
    assert.notEqual((await status(a)).digest, (await status(b)).digest, 'the cut replica missed the writes');
    await faults(b, undefined);
    const t0 = performance.now();
    await waitFor(async () => (await status(a)).digest === (await status(b)).digest, { what: `${a} and ${b} agree`, timeoutMs: 15_000 });
    measured['agreement_after_heal_ms'] = Math.round(performance.now() - t0);
  });

  await t.test('a causal payload carried across nodes; a delete then 404', async () => {
    let payload = '';
    for (let i = 0; i < 6; i++) {
      const w = await kvsOk(view[i % view.length]!, 'PUT', '/kvs', { key: 'causal', value: `v${i}`, causal_payload: payload });
      assert.ok(w.status === 200 || w.status === 201);
      const r = await kvsOk(view[(i + 1) % view.length]!, 'GET', `/kvs?key=causal&causal_payload=${String(w.body['causal_payload'])}`);
      assert.equal(r.status, 200);
      assert.equal(r.body['value'], `v${i}`, 'a read with the payload sees the write it names');
      payload = String(r.body['causal_payload']);
      assert.match(payload, /^[A-Za-z0-9_-]+$/);
    }
    const d = await kvsOk(view[0]!, 'DELETE', `/kvs?key=causal&causal_payload=${payload}`);
    assert.equal(d.status, 200);
    for (const ip of view) {
      const g = await kvsOk(ip, 'GET', `/kvs?key=causal&causal_payload=${String(d.body['causal_payload'])}`);
      assert.equal(g.status, 404);
      assert.equal(g.body['msg'], 'error');
    }
    // The tombstone holds on every replica after anti-entropy.
    await waitFor(async () => (await Promise.all(view.map(async (ip) => (await kvs(ip, 'GET', '/kvs?key=causal')).status))).every((s) => s === 404), { what: 'the delete everywhere', timeoutMs: 15_000 });
  });
});
