// The upgrade of a data folder written before the control plane (docs/architecture.md,
// "Bucket metadata", Upgrade): its bucket records in the system bucket `__ringstore` are
// imported into the control state on the node's first start, and the
// bucket's objects, stored under its name, stay readable.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUCKET_ACL_KEY_PREFIX, BUCKET_KEY_PREFIX, SYSTEM_BUCKET } from '../../src/coordinator/buckets.js';
import { DEFAULT_PARTITIONS } from '../../src/ring/layout.js';
import { Ring } from '../../src/ring/ring.js';
import { openLmdbStore } from '../../src/store/lmdb-store.js';
import { EMPTY_SET, newEvent } from '../../src/version/dvv.js';
import { startCluster, waitFor, type TestCluster } from '../helpers/cluster.js';

const enc = new TextEncoder();

/** Writes what the previous version left in n1's data folder: a bucket record, its ACL record, and one object under the bucket's name. */
async function writeOldFolder(dir: string): Promise<void> {
  const data = path.join(dir, 'n1', 'data');
  mkdirSync(data, { recursive: true });
  const ring = new Ring({ epoch: 1, partitions: DEFAULT_PARTITIONS, nodes: [{ id: 'n1', zone: 'local', weight: 1 }] });
  const store = await openLmdbStore(data);
  const put = async (bucket: string, key: string, value: string, contentType: string): Promise<void> => {
    await store.update(ring.partitionOf(bucket, key), bucket, key, (cur) => newEvent(cur ?? EMPTY_SET, 'n1', {}, enc.encode(value), { contentType }, 1_700_000_000_000).set);
  };
  const json = 'application/json';
  await put(SYSTEM_BUCKET, BUCKET_KEY_PREFIX + 'vintage', JSON.stringify({ name: 'vintage', owner: 'dev', createdMs: 1_600_000_000_000, quorum: { n: 1, r: 1, w: 1 } }), json);
  await put(SYSTEM_BUCKET, BUCKET_ACL_KEY_PREFIX + 'vintage', JSON.stringify({ bucketCreatedMs: 1_600_000_000_000, acl: 'public-read', setMs: 1_600_000_000_001 }), json);
  await put('vintage', 'hello.txt', 'written by the previous version', 'text/plain');
  await store.close();
}

describe('a data folder from before the control plane', () => {
  let cluster: TestCluster;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ringstore-upgrade-'));
    await writeOldFolder(dir);
    cluster = await startCluster({ nodes: 1, dir });
  });
  after(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('is upgraded on first start: its buckets move into the control state and their objects stay readable', async () => {
    const n = cluster.nodes[0]!;
    let control: { buckets: { name: string; owner: string; legacyStorage?: string; legacy_storage?: string }[] } = { buckets: [] };
    await waitFor(
      async () => {
        control = (await (await cluster.fetch(`${n.http}/cluster/control`)).json()) as typeof control;
        return control.buckets.some((b) => b.name === 'vintage');
      },
      { what: 'the old bucket record imported into the control state', timeoutMs: 60_000 },
    );
    const info = (await (await cluster.fetch(`${n.http}/buckets/vintage`)).json()) as { owner: string; quorum: { n: number }; keys: { key: string }[] };
    assert.equal(info.owner, 'dev');
    assert.equal(info.quorum.n, 1);
    assert.deepEqual(info.keys.map((k) => k.key), ['hello.txt']);
    const got = await cluster.fetch(`${n.http}/buckets/vintage/hello.txt`);
    assert.equal(got.status, 200);
    assert.equal(await got.text(), 'written by the previous version');
    // Its ACL came along: anyone reads it over S3 without a key.
    const anon = await fetch(`${n.s3}/vintage/hello.txt`);
    assert.equal(anon.status, 200);
    // A bucket made now is stored under its id, beside the old one.
    const fresh = await cluster.fetch(`${n.http}/buckets/modern`, { method: 'PUT' });
    assert.equal(fresh.status, 200);
    const listed = (await (await cluster.fetch(`${n.http}/buckets`)).json()) as { buckets: { name: string }[] };
    assert.deepEqual(listed.buckets.map((b) => b.name), ['modern', 'vintage']);
  });

  test('a restart imports nothing again', async () => {
    const n = cluster.nodes[0]!;
    const before = ((await (await cluster.fetch(`${n.http}/cluster/control`)).json()) as { buckets: unknown[] }).buckets;
    await cluster.kill('n1', 'SIGTERM');
    await cluster.restart('n1');
    const m = cluster.nodes[0]!;
    await waitFor(async () => (await cluster.fetch(`${m.http}/buckets/vintage`)).status === 200, { what: 'n1 serves again', timeoutMs: 60_000 });
    const afterRestart = ((await (await cluster.fetch(`${m.http}/cluster/control`)).json()) as { buckets: unknown[] }).buckets;
    assert.deepEqual(afterRestart, before);
  });
});
