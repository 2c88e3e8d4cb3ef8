// Every acknowledged write is durable on W nodes (issue 13, "What it must
// show"): a 3-node cluster (N=3, W=2) runs under the durability shim
// (native/durashim.cpp), authenticated clients write 4 KiB values, and all
// three nodes are killed with SIGKILL while writes are in flight. The shim's
// restore then throws away every byte the nodes had not fsynced, as a power
// cut would, and each acknowledged write must be in the store of every
// replica its answer named (`replicas_written`, at least W), read offline
// from the restored files. Then the cluster restarts and serves every one.
//
// With RINGSTORE_STORE_LOG=1 in the test's environment the nodes run with the
// write log in front of LMDB (store/write-log.ts), and the offline check
// opens each store with it, replaying what it holds.
//
// A plain kill -9 cannot tell these apart: the page cache outlives the
// process. shim.test.ts shows the shim losing LMDB commits that were
// acknowledged without fdatasync.

import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { buildShim, restoreSynced, shimEnv } from './shim.js';
import { startCluster, waitFor, type TestCluster } from '../helpers/cluster.js';
import { openLmdbStore } from '../../src/store/lmdb-store.js';

const VALUE_BYTES = 4096;
const CONCURRENCY = 16;
/** Kill once this many writes were acknowledged and writes ran this long, or at MAX_WRITE_MS (a busy machine) with at least FEWEST_ACKS. */
const MIN_ACKS = 300;
const MIN_WRITE_MS = 2500;
const MAX_WRITE_MS = 15_000;
const FEWEST_ACKS = 20;

function valueOf(i: number): Buffer {
  const b = Buffer.alloc(VALUE_BYTES);
  for (let j = 0; j < VALUE_BYTES; j += 4) b.writeUInt32LE((Math.imul(i + 1, 2654435761) ^ Math.imul(j, 40503)) >>> 0, j);
  return b;
}

let cluster: TestCluster | undefined;
let dir: string;
let shadow: string;

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ringstore-durable-'));
  shadow = path.join(dir, 'shadow');
  mkdirSync(shadow);
});

after(async () => {
  await cluster?.stop();
  if (process.env['RINGSTORE_KEEP_TEST_DATA'] === undefined) rmSync(dir, { recursive: true, force: true });
});

/** The nodes' config files say so (dev clusters ignore RINGSTORE_* variables). */
const storeLog = process.env['RINGSTORE_STORE_LOG'] === '1' || process.env['RINGSTORE_STORE_LOG'] === 'true';

it('kill -9 of every node, unsynced bytes discarded: each acknowledged write is on the replicas that acknowledged it', { timeout: 240_000 }, async () => {
  const { shim } = buildShim();
  const home = path.join(dir, 'cluster');
  // The nodes inherit the environment the cluster is started with (restarts too); this process stays unshimmed.
  const env = shimEnv(shim, shadow, [home]);
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    cluster = await startCluster({ nodes: 3, dir: home, logLevel: 'warn', quorum: { n: 3, r: 2, w: 2 }, ...(storeLog ? { nodeSettings: { storeLog: true } } : {}) });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  const c = cluster;
  const created = await c.fetch(`${c.nodes[0]!.http}/buckets/durable`, { method: 'POST' });
  assert.equal(created.status, 200, await created.clone().text());
  const bucketId = ((await created.json()) as { bucket: { id: number } }).bucket.id;

  // ---- write until killed ----------------------------------------------------
  const acked = new Map<number, readonly string[]>();
  let next = 0;
  let stop = false;
  let failures = 0;
  const worker = async (): Promise<void> => {
    while (!stop) {
      const i = next++;
      const node = c.nodes[i % 3]!;
      try {
        const res = await c.fetch(`${node.http}/buckets/durable/k/${i}`, { method: 'PUT', body: valueOf(i), headers: { 'content-type': 'application/octet-stream' } });
        if (res.status !== 200) {
          failures++;
          await res.arrayBuffer();
          continue;
        }
        const body = (await res.json()) as { replicas_written: string[] };
        // An answer that arrived counts, even after the kill began: the node sent it.
        acked.set(i, body.replicas_written);
      } catch {
        failures++; // the connection died with the node: not acknowledged
      }
    }
  };
  const started = Date.now();
  const workers = Array.from({ length: CONCURRENCY }, worker);
  await waitFor(() => (acked.size >= MIN_ACKS && Date.now() - started >= MIN_WRITE_MS) || (acked.size >= FEWEST_ACKS && Date.now() - started > MAX_WRITE_MS), {
    what: `${FEWEST_ACKS} writes acknowledged`,
    timeoutMs: MAX_WRITE_MS + 60_000,
  });
  assert.ok(acked.size >= FEWEST_ACKS, `only ${acked.size} writes acknowledged in ${MAX_WRITE_MS} ms`);
  // Kill while writes are in flight: their commits are the unsynced bytes the shim throws away.
  await Promise.all(c.nodes.map((n) => c.kill(n.id, 'SIGKILL')));
  stop = true;
  await Promise.all(workers);
  const span = (Date.now() - started) / 1000;
  process.stdout.write(`# ${acked.size} writes acknowledged in ${span.toFixed(1)} s (${failures} failed or cut by the kill)\n`);

  // ---- the power cut -----------------------------------------------------------
  let changed = 0;
  let discarded = 0;
  for (const n of c.nodes) {
    const r = restoreSynced(shadow, path.join(home, n.id));
    assert.ok(r.files > 0, `node ${n.id}: the shim tracked its files`);
    changed += r.changed;
    discarded += r.discardedBytes;
  }
  process.stdout.write(`# the restore put ${changed} files back to their synced contents, ${discarded} bytes discarded\n`);

  // ---- offline: every acknowledged write is in every store that acknowledged it -----
  let copies = 0;
  for (const n of c.nodes) {
    if (storeLog) assert.ok(existsSync(path.join(home, n.id, 'data', 'wal')), `node ${n.id} ran with the write log`);
    const store = await openLmdbStore(path.join(home, n.id, 'data'), { log: storeLog });
    if (storeLog) process.stdout.write(`# ${n.id}: replayed ${store.replayed?.records ?? 0} write-log records\n`);
    try {
      for (const [i, written] of acked) {
        if (!written.includes(n.id)) continue;
        const want = valueOf(i);
        const set = store.read(`#${bucketId}`, `k/${i}`);
        const hinted = store.readHints(`#${bucketId}`, `k/${i}`).flatMap((h) => h.set.siblings);
        const siblings = [...(set?.siblings ?? []), ...hinted];
        assert.ok(
          siblings.some((s) => s.value !== null && Buffer.from(s.value).equals(want)),
          `write k/${i} was acknowledged by ${written.join(', ')} but ${n.id} lost it`,
        );
        copies++;
      }
    } finally {
      await store.close();
    }
  }
  for (const [i, written] of acked) assert.ok(written.length >= 2, `write k/${i} acknowledged by ${written.length} replicas`);
  process.stdout.write(`# ${copies} acknowledged copies checked in the restored stores\n`);

  // ---- and the cluster comes back with them ----------------------------------
  // Together: a node answers /health once the control plane has a quorum.
  await Promise.all(c.nodes.map((n) => c.restart(n.id)));
  const keys = [...acked.keys()];
  let k = 0;
  const reader = async (): Promise<void> => {
    while (k < keys.length) {
      const i = keys[k++]!;
      const node = c.nodes[i % 3]!;
      await waitFor(
        async () => {
          const res = await c.fetch(`${node.http}/buckets/durable/k/${i}`);
          const body = Buffer.from(await res.arrayBuffer());
          return res.status === 200 && body.equals(valueOf(i));
        },
        { what: `k/${i} served after the restart`, timeoutMs: 60_000, intervalMs: 250 },
      );
    }
  };
  await Promise.all(Array.from({ length: 8 }, reader));
});
