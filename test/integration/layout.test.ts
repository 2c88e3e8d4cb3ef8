// Grow, shrink and heal a real cluster while it takes writes (issue 10,
// docs/layout.md): separate `ringstore server` processes started by the dev
// cluster code, authenticated as every client is. Three founding nodes; two
// nodes added (the first receiver killed with SIGKILL while it pulls, a
// sender killed while the second pulls, both restarted: the sync resumes);
// one of the founders decommissioned; one killed for good and replaced by a
// node with a new id (skip-dead lets the old versions retire without it).
// Writers run throughout through the native API and S3 (small objects and
// multi-chunk ones). At the end every acknowledged key reads its latest value
// with r = N, every replica sits on exactly the final layout's owners, and
// the removed node held nothing before it stopped.
//
// Layout syncs are throttled (layoutSyncRate) so that a transfer lasts long
// enough to be interrupted on purpose; everything else waits on conditions.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { pendingHints, startCluster, waitFor, type TestCluster, type TestNode } from '../helpers/cluster.js';
import { ControlState } from '../../src/control/state.js';
import { ownersOf } from '../../src/layout/types.js';
import type { LayoutProgressEvent } from '../../src/node/dev-cluster.js';

const MiB = 1024 * 1024;
const NATIVE_BUCKET = 'layout-native';
const S3_BUCKET = 'layout-s3';
/** New native keys written before the writers turn to overwriting existing ones (bounded work for CI). */
const NATIVE_KEYS = 2000;
const S3_KEYS = 400;
const BIG = 9 * MiB; // three 4 MiB chunks

/** Nodes the writers use: up and serving (a node is left out from just before it is killed until it is back, and from its start until it has joined). */
const ready = new Set(['n1', 'n2', 'n3']);
const running = (c: TestCluster): TestNode[] => c.nodes.filter((n) => n.pid !== 0 && ready.has(n.id));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

interface Sync {
  syncing: number | null;
  partitionsTotal: number;
  partitionsDone: number;
  bytesPulled: number;
  ownsNothing: boolean;
}

async function layoutOf(c: TestCluster, node: TestNode): Promise<{ currentVersion: number; live: { version: number; storageNodes: string[] }[]; sync: Sync }> {
  const res = await c.fetch(`${node.http}/cluster/layout`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  return (await res.json()) as { currentVersion: number; live: { version: number; storageNodes: string[] }[]; sync: Sync };
}

/**
 * What was written: per key, the last acknowledged value, and the values
 * of attempts after it that got no answer (they may or may not have landed,
 * and then win, since each overwrite carries the context of the last ack).
 */
class Ledger {
  readonly acked = new Map<string, string>();
  readonly unsure = new Map<string, Set<string>>();
  readonly context = new Map<string, string>();
  readonly busy = new Set<string>();
  ok = 0;
  failed = 0;
  /** Why attempts went unanswered (status or error), for the log. */
  readonly reasons = new Map<string, number>();
  ack(key: string, value: string, context?: string): void {
    this.acked.set(key, value);
    this.unsure.delete(key);
    if (context !== undefined) this.context.set(key, context);
    this.ok++;
  }
  fail(key: string, value: string, why: string): void {
    this.reasons.set(why, (this.reasons.get(why) ?? 0) + 1);
    let s = this.unsure.get(key);
    if (s === undefined) this.unsure.set(key, (s = new Set()));
    s.add(value);
    this.failed++;
  }
  /** A key to overwrite: acknowledged, never left in doubt, not being written. */
  overwritable(): string | undefined {
    const keys = [...this.acked.keys()];
    for (let i = 0; i < 20; i++) {
      const k = pick(keys);
      if (!this.unsure.has(k) && !this.busy.has(k)) return k;
    }
    return undefined;
  }
  keys(): string[] {
    return [...new Set([...this.acked.keys(), ...this.unsure.keys()])];
  }
}

/**
 * Each layout change must settle well within the test's own timeout, so that
 * one that never does fails with what it was waiting for (dev-cluster.ts
 * settle) and the cluster is stopped, instead of the test timing out with
 * its processes still running.
 */
const CHANGE_TIMEOUT_MS = 240_000;

test('a cluster grows, shrinks and replaces a dead node under native and S3 writes; nothing acknowledged is lost; replicas sit on the final owners only', { timeout: 900_000 }, async () => {
  const started = Date.now();
  // Anti-entropy also carries data to new owners (it pairs with the owners of every version from the read one up), unthrottled:
  // rarer rounds leave the transfer to the layout sync, so that it lasts long enough to be interrupted.
  // 64 partitions: every sync and anti-entropy round compares fewer trees (the layout logic is the same at any P).
  const cluster = await startCluster({ nodes: 3, partitions: 64, nodeSettings: { layoutSyncRate: '1MiB', antiEntropy: { intervalMs: 10_000 } } });
  const s3Clients = new Map<string, S3Client>();
  const s3 = (node: TestNode): S3Client => {
    let c = s3Clients.get(node.s3);
    if (c === undefined) s3Clients.set(node.s3, (c = new S3Client({ endpoint: node.s3, region: 'us-east-1', forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: cluster.accessKey, secretAccessKey: cluster.secretKey } })));
    return c;
  };
  const log = (msg: string): void => {
    process.stderr.write(`[layout test +${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
  };
  const progress = (e: LayoutProgressEvent): void => {
    if (e.phase !== 'syncing') log(e.message);
  };
  let stopWriters = false;
  const writers: Promise<void>[] = [];
  try {
    assert.equal((await cluster.fetch(`${cluster.nodes[0]!.http}/buckets/${NATIVE_BUCKET}`, { method: 'POST' })).status, 200);
    await s3(cluster.nodes[1]!).send(new CreateBucketCommand({ Bucket: S3_BUCKET }));

    // ------------------------------------------------------------ writers
    const native = new Ledger();
    let nextNative = 0;
    const nativeWriter = async (): Promise<void> => {
      let seq = 0;
      while (!stopWriters) {
        const fresh = nextNative < NATIVE_KEYS;
        const key = fresh ? `k${String(nextNative++).padStart(5, '0')}` : native.overwritable();
        if (key === undefined) continue;
        const context = fresh ? undefined : native.context.get(key);
        const value = `${key}/${seq++}/${randomBytes(8).toString('hex')}/${'x'.repeat(100 + Math.floor(Math.random() * 400))}`;
        const node = pick(running(cluster));
        native.busy.add(key);
        try {
          const res = await cluster.fetch(`${node.http}/buckets/${NATIVE_BUCKET}/${key}`, {
            method: 'PUT',
            body: value,
            headers: { accept: 'application/json', 'content-type': 'text/plain', ...(context !== undefined ? { 'x-ringstore-context': context } : {}) },
            signal: AbortSignal.timeout(20_000),
          });
          const body = (await res.json().catch(() => ({}))) as { context?: string };
          if (res.status === 200) native.ack(key, value, body.context);
          else native.fail(key, value, `${res.status} ${(body as { error?: { code?: string } }).error?.code ?? ''}`);
        } catch (err) {
          native.fail(key, value, (err as Error).name === 'TimeoutError' ? 'timeout' : ((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message));
        } finally {
          native.busy.delete(key);
        }
      }
    };
    const objects = new Ledger();
    let nextObject = 0;
    const s3Writer = async (): Promise<void> => {
      while (!stopWriters) {
        // After the first S3_KEYS, overwrite: S3 replaces the object (the newest write wins).
        const fresh = nextObject < S3_KEYS;
        const key = fresh ? `o/${String(nextObject++).padStart(4, '0')}` : objects.overwritable();
        if (key === undefined) continue;
        const body = randomBytes(200 + Math.floor(Math.random() * 3000));
        const digest = createHash('sha256').update(body).digest('hex');
        objects.busy.add(key);
        try {
          await s3(pick(running(cluster))).send(new PutObjectCommand({ Bucket: S3_BUCKET, Key: key, Body: body }), { abortSignal: AbortSignal.timeout(20_000) });
          objects.ack(key, digest);
        } catch (err) {
          objects.fail(key, digest, (err as Error).name);
        } finally {
          objects.busy.delete(key);
        }
      }
    };
    let bigs = 0;
    const putBig = async (): Promise<void> => {
      const key = `big/${bigs++}`;
      const body = randomBytes(BIG + bigs * 1000);
      const digest = createHash('sha256').update(body).digest('hex');
      try {
        await s3(pick(running(cluster))).send(new PutObjectCommand({ Bucket: S3_BUCKET, Key: key, Body: body }), { abortSignal: AbortSignal.timeout(60_000) });
        objects.ack(key, digest);
      } catch (err) {
        objects.fail(key, digest, `big: ${(err as Error).name}`);
      }
    };
    for (let i = 0; i < 4; i++) await putBig();
    for (let i = 0; i < 3; i++) writers.push(nativeWriter());
    writers.push(s3Writer());
    await waitFor(() => native.ok >= 200 && objects.ok >= 40, { timeoutMs: 120_000, what: 'the writers to get going' });
    log(`writers running: ${native.ok} native, ${objects.ok} S3 writes acknowledged`);

    /** Starts a change, waits until `watch` (once it exists) is moving data, kills `victim` with SIGKILL, restarts it, and lets the change finish. */
    const interrupt = async (change: Promise<unknown>, watch: () => TestNode | undefined, victim: () => string): Promise<void> => {
      let failed: unknown;
      change.catch((err: unknown) => (failed = err));
      // Twice in a row, 300 ms apart: the partitions already in agreement have been recorded by then (what a restart resumes from).
      let seenAt = 0;
      await waitFor(
        async () => {
          if (failed !== undefined) throw failed;
          const w = watch();
          if (w === undefined || w.pid === 0) return false;
          const s = (await layoutOf(cluster, w)).sync;
          const moving = s.syncing !== null && s.partitionsDone >= 1 && s.partitionsDone < s.partitionsTotal;
          if (!moving) seenAt = 0;
          else if (seenAt === 0) seenAt = Date.now();
          return moving && Date.now() - seenAt >= 300;
        },
        { timeoutMs: 180_000, what: 'a layout sync to be moving data', intervalMs: 50 },
      );
      const id = victim();
      log(`kill -9 ${id} while data moves`);
      ready.delete(id);
      await cluster.kill(id, 'SIGKILL');
      await cluster.restart(id);
      ready.add(id);
      log(`${id} restarted`);
      await change;
    };

    // ------------------------------------------------------------ add two nodes
    // The first: its receiving end killed mid-transfer.
    let n4: TestNode | undefined;
    const addFirst = cluster.addNode({ onProgress: progress, timeoutMs: CHANGE_TIMEOUT_MS });
    await interrupt(
      addFirst,
      () => (n4 = cluster.nodes.find((n) => n.id === 'n4')),
      () => 'n4',
    );
    assert.ok(n4 !== undefined);
    ready.add('n4');
    assert.match(readFileSync(n4.log, 'utf8'), /resuming an interrupted sync/, 'n4 resumed its sync from where the kill stopped it');
    await putBig();

    // The second: a sending end killed mid-transfer (n2 holds a share of every partition n5 pulls from a read quorum of three).
    const addSecond = cluster.addNode({ onProgress: progress, timeoutMs: CHANGE_TIMEOUT_MS });
    await interrupt(
      addSecond,
      () => cluster.nodes.find((n) => n.id === 'n5'),
      () => 'n2',
    );
    ready.add('n5');
    await putBig();
    assert.deepEqual(
      cluster.nodes.map((n) => n.id),
      ['n1', 'n2', 'n3', 'n4', 'n5'],
    );

    // ------------------------------------------------------------ decommission a founder
    let n1Checked = false;
    await cluster.removeNode('n1', {
      onProgress: progress,
      timeoutMs: CHANGE_TIMEOUT_MS,
      beforeStop: async (node) => {
        // Still running: it owns nothing in its own view and stores no key, replica or hint, of any bucket.
        assert.equal((await layoutOf(cluster, node)).sync.ownsNothing, true);
        for (const bucket of [NATIVE_BUCKET, S3_BUCKET, '__chunks']) {
          const res = await cluster.fetch(`${node.http}/cluster/keys?bucket=${bucket}&limit=10`);
          const body = (await res.json()) as { keys: unknown[]; hints: unknown[] };
          assert.deepEqual([body.keys.length, body.hints.length], [0, 0], `${node.id} still holds ${bucket} data`);
        }
        assert.equal(await pendingHints(cluster, node), 0);
        n1Checked = true;
        ready.delete('n1');
      },
    });
    assert.ok(n1Checked, 'the removed node was looked at before it stopped');
    assert.ok(!cluster.nodes.some((n) => n.id === 'n1'));
    assert.ok(!existsSync(path.join(cluster.dir, 'n1', 'data')), 'n1\'s data folder is wiped');
    await putBig();

    // ------------------------------------------------------------ replace a node that died for good
    log('kill -9 n3 for good');
    ready.delete('n3');
    await cluster.kill('n3', 'SIGKILL');
    await cluster.removeNode('n3', { onProgress: progress, timeoutMs: CHANGE_TIMEOUT_MS });
    const n6 = await cluster.addNode({ onProgress: progress, timeoutMs: CHANGE_TIMEOUT_MS });
    assert.equal(n6.id, 'n6', 'a replacement never reuses an id');
    ready.add('n6');
    await putBig();

    stopWriters = true;
    await Promise.all(writers);
    log(`writers stopped: native ${native.ok} acked / ${native.failed} unanswered ${JSON.stringify(Object.fromEntries(native.reasons))}, S3 ${objects.ok} acked / ${objects.failed} unanswered ${JSON.stringify(Object.fromEntries(objects.reasons))}`);

    // ------------------------------------------------------------ the end state
    const finalIds = ['n2', 'n4', 'n5', 'n6'];
    assert.deepEqual(
      cluster.nodes.map((n) => n.id),
      finalIds,
    );
    for (const node of cluster.nodes) {
      const l = await layoutOf(cluster, node);
      assert.equal(l.live.length, 1, `${node.id} sees one live layout version`);
      assert.deepEqual([...l.live[0]!.storageNodes].sort(), finalIds);
    }

    // Every acknowledged native key reads its latest value with r = N.
    const keys = native.keys();
    let next = 0;
    const problems: string[] = [];
    const reader = async (): Promise<void> => {
      while (next < keys.length) {
        const key = keys[next++]!;
        const node = cluster.nodes[next % cluster.nodes.length]!;
        const res = await cluster.fetch(`${node.http}/buckets/${NATIVE_BUCKET}/${key}?r=3`, { headers: { accept: 'application/json' } });
        const acked = native.acked.get(key);
        const unsure = native.unsure.get(key) ?? new Set<string>();
        if (res.status === 404) {
          if (acked !== undefined) problems.push(`${key}: 404, acknowledged ${acked.slice(0, 30)}`);
          continue;
        }
        if (res.status !== 200) {
          problems.push(`${key}: status ${res.status} ${await res.text()}`);
          continue;
        }
        const body = (await res.json()) as { siblings: { value: string }[]; replicas_read: string[] };
        const values = body.siblings.map((s) => s.value);
        if (unsure.size === 0) {
          if (values.length !== 1 || values[0] !== acked) problems.push(`${key}: read ${JSON.stringify(values.map((v) => v.slice(0, 30)))}, acknowledged ${acked?.slice(0, 30)}`);
        } else if (values.length === 0 || values.some((v) => v !== acked && !unsure.has(v))) {
          problems.push(`${key}: read ${JSON.stringify(values.map((v) => v.slice(0, 30)))}, not among the written values`);
        }
        if (body.replicas_read.length !== 3) problems.push(`${key}: read from ${body.replicas_read.join(',')} with r=3`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, reader));
    assert.deepEqual(problems.slice(0, 20), [], `${problems.length} native keys wrong`);
    log(`${keys.length} native keys read back with r=3`);

    // Every acknowledged S3 object reads back byte for byte (the big ones are multi-chunk).
    for (const key of objects.keys()) {
      const acked = objects.acked.get(key);
      const unsure = objects.unsure.get(key) ?? new Set<string>();
      let digest: string | undefined;
      try {
        const got = await s3(pick(cluster.nodes)).send(new GetObjectCommand({ Bucket: S3_BUCKET, Key: key }));
        digest = createHash('sha256')
          .update(await got.Body!.transformToByteArray())
          .digest('hex');
      } catch (err) {
        if ((err as { name?: string }).name !== 'NoSuchKey') throw err;
      }
      if (digest === undefined) assert.equal(acked, undefined, `${key}: missing, but a write of it was acknowledged`);
      else assert.ok(digest === acked || unsure.has(digest), `${key}: reads bytes no write put there`);
    }
    log(`${objects.keys().length} S3 objects read back (${bigs} of ${BIG / MiB}+ MiB)`);

    // Replicas sit on exactly the final owners: the assignment from the control state (its backup), the keys from each node.
    const backup = await cluster.fetch(`${cluster.nodes[0]!.http}/cluster/control/backup`);
    assert.equal(backup.status, 200);
    const history = ControlState.restore(new Uint8Array(await backup.arrayBuffer())).layoutHistory();
    assert.equal(history.versions.length, 1);
    const assignment = history.versions[0]!.assignment;
    const holdersWrong = async (): Promise<string[]> => {
      const wrong: string[] = [];
      for (const bucket of [NATIVE_BUCKET, S3_BUCKET, '__chunks']) {
        const holders = new Map<string, { partition: number; on: string[] }>();
        for (const node of cluster.nodes) {
          let after: string | undefined;
          for (;;) {
            const res = await cluster.fetch(`${node.http}/cluster/keys?bucket=${bucket}&limit=10000${after !== undefined ? `&after=${encodeURIComponent(after)}` : ''}`);
            const body = (await res.json()) as { keys: { key: string; partition: number }[]; hints: unknown[]; truncated: boolean };
            if (body.hints.length > 0) wrong.push(`${node.id} still holds ${body.hints.length} hints of ${bucket}`);
            for (const k of body.keys) {
              const h = holders.get(k.key) ?? { partition: k.partition, on: [] };
              h.on.push(node.id);
              holders.set(k.key, h);
            }
            if (!body.truncated || body.keys.length === 0) break;
            after = body.keys[body.keys.length - 1]!.key;
          }
        }
        if (bucket === NATIVE_BUCKET) assert.ok(holders.size >= native.acked.size, `${bucket}: ${holders.size} keys stored, ${native.acked.size} acknowledged`);
        for (const [key, h] of holders) {
          const owners = ownersOf(assignment, h.partition).sort();
          const on = h.on.sort();
          if (owners.join() !== on.join()) wrong.push(`${bucket}/${key} (partition ${h.partition}) on ${on.join(',')}, owners ${owners.join(',')}`);
        }
      }
      return wrong;
    };
    let lastWrong: string[] = [];
    await waitFor(
      async () => {
        lastWrong = await holdersWrong();
        return lastWrong.length === 0;
      },
      { timeoutMs: 120_000, intervalMs: 1000, what: 'every key to sit on exactly its final owners' },
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}: ${lastWrong.length} wrong, e.g. ${lastWrong.slice(0, 5).join('; ')}`);
    });
    for (const node of cluster.nodes) assert.equal(await pendingHints(cluster, node), 0, `${node.id} holds no hint`);
    log('every replica on its final owners, and only there');
  } finally {
    stopWriters = true;
    await Promise.allSettled(writers);
    for (const c of s3Clients.values()) c.destroy();
    await cluster.stop();
  }
});
