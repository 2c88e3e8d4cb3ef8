// S3 administration on a real 3-node dev cluster, through the `ringstore`
// command: access keys created for another owner work at once (and own
// their buckets), are listed and deleted; `ringstore s3-gc` collects the
// chunks of a deleted object on its second run; the read cache's counters
// are on /metrics. Every one of these routes needs an admin token.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, ListBucketsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startCluster, waitFor, type TestCluster } from '../helpers/cluster.js';

const BIN = fileURLToPath(new URL('../../../bin/ringstore.js', import.meta.url));
const MiB = 1024 * 1024;

/** The admin token the commands below send (RINGSTORE_ADMIN_TOKEN), set once the cluster runs. */
let adminToken = '';

function ringstore(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 120_000, env: { ...process.env, RINGSTORE_ADMIN_TOKEN: adminToken } }, (err, stdout, stderr) =>
      err !== null ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; Code?: string };
    return e.Code ?? e.name;
  }
  assert.fail('expected the request to fail');
}

describe('S3 administration: access keys and chunk collection', () => {
  let cluster: TestCluster;
  const clients: S3Client[] = [];
  const client = (i: number, accessKeyId: string, secretAccessKey: string): S3Client => {
    const c = new S3Client({ endpoint: cluster.nodes[i]!.s3, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } });
    clients.push(c);
    return c;
  };

  before(async () => {
    cluster = await startCluster({ nodes: 3, logLevel: 'warn', nodeSettings: { s3Gc: { intervalMs: 0, graceMs: 0, minGapMs: 0 } } });
    adminToken = cluster.adminToken;
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await cluster?.stop();
  });

  test('`ringstore s3-key create` makes a key that works on every node and owns its buckets; list and delete', async () => {
    const out = await ringstore(['s3-key', 'create', '--owner', 'alice', '--node', cluster.nodes[0]!.http, '--json']);
    const key = JSON.parse(out) as { access_key: string; secret_key: string; owner: string };
    assert.equal(key.owner, 'alice');
    assert.match(key.access_key, /^RS[0-9A-F]{18}$/);
    const alice = client(2, key.access_key, key.secret_key);
    await alice.send(new CreateBucketCommand({ Bucket: 'alices' }));
    await alice.send(new PutObjectCommand({ Bucket: 'alices', Key: 'k', Body: 'hers' }));
    const dev = client(1, cluster.accessKey, cluster.secretKey);
    assert.equal(await failure(dev.send(new GetObjectCommand({ Bucket: 'alices', Key: 'k' }))), 'AccessDenied');
    assert.deepEqual((await alice.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name), ['alices']);

    const listed = await ringstore(['s3-key', 'list', '--node', cluster.nodes[1]!.http]);
    assert.match(listed, new RegExp(`^${key.access_key}  alice  `, 'm'));
    assert.doesNotMatch(listed, new RegExp(key.secret_key));

    await ringstore(['s3-key', 'delete', key.access_key, '--node', cluster.nodes[2]!.http]);
    // Nodes cache a key's lookup for a few seconds.
    await waitFor(async () => (await failure(alice.send(new ListBucketsCommand({})))) === 'InvalidAccessKeyId', { what: 'the deleted key to be refused', timeoutMs: 20_000 });
    await assert.rejects(ringstore(['s3-key', 'delete', key.access_key, '--node', cluster.nodes[0]!.http]), /404/);
    await assert.rejects(ringstore(['s3-key', 'create', '--owner', 'no spaces', '--node', cluster.nodes[0]!.http]), /400/);
  });

  test('`ringstore s3-gc` collects the chunks of a deleted object on its second run, and not those still referenced', async () => {
    const dev = client(0, cluster.accessKey, cluster.secretKey);
    await dev.send(new CreateBucketCommand({ Bucket: 'collect' }));
    const kept = randomBytes(6 * MiB);
    await dev.send(new PutObjectCommand({ Bucket: 'collect', Key: 'kept', Body: kept }));
    await dev.send(new PutObjectCommand({ Bucket: 'collect', Key: 'gone', Body: randomBytes(9 * MiB) }));
    await dev.send(new DeleteObjectCommand({ Bucket: 'collect', Key: 'gone' }));
    const run = async (): Promise<{ ok: boolean; deleted: number; keptFirstSeen: number; unreferenced: number }> => JSON.parse(await ringstore(['s3-gc', '--node', cluster.nodes[1]!.http])) as never;
    const first = await run();
    assert.equal(first.ok, true);
    assert.equal(first.deleted, 0);
    assert.ok(first.keptFirstSeen >= 3, JSON.stringify(first));
    const second = await run();
    assert.ok(second.deleted >= 3, JSON.stringify(second));
    const got = await client(2, cluster.accessKey, cluster.secretKey).send(new GetObjectCommand({ Bucket: 'collect', Key: 'kept' }));
    assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(kept));
  });

  test('the read cache counts hits and misses on /metrics', async () => {
    const dev = client(0, cluster.accessKey, cluster.secretKey);
    await dev.send(new CreateBucketCommand({ Bucket: 'cached' }));
    const data = randomBytes(5 * MiB);
    await dev.send(new PutObjectCommand({ Bucket: 'cached', Key: 'big', Body: data }));
    for (let i = 0; i < 3; i++) {
      const got = await dev.send(new GetObjectCommand({ Bucket: 'cached', Key: 'big' }));
      assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(data));
    }
    const metrics = await (await cluster.fetch(new URL('/metrics', cluster.nodes[0]!.http).href)).text();
    const value = (name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(metrics)?.[1] ?? NaN);
    assert.ok(value('ringstore_s3_chunk_cache_hits_total') >= 4, metrics.split('\n').filter((l) => l.includes('s3_chunk')).join('\n'));
    assert.ok(value('ringstore_s3_chunk_cache_misses_total') >= 2);
  });

  test('key administration needs an admin token: none or a user token is 401, a metrics-read token 403, and no key is made', async () => {
    const url = `${cluster.nodes[0]!.http}/_s3/keys?owner=mallory`;
    const codeOf = async (res: Response): Promise<[number, string]> => [res.status, ((await res.json()) as { error: { code: string } }).error.code];
    assert.deepEqual(await codeOf(await fetch(url, { method: 'POST' })), [401, 'MissingAuthentication']);
    assert.deepEqual(await codeOf(await cluster.fetch(url, { method: 'POST', headers: { authorization: `Bearer ${cluster.userToken}` } })), [401, 'InvalidToken']);
    const metricsOnly = JSON.parse(await ringstore(['admin-token', 'create', '--scope', 'metrics-read', '--ttl', '1h', '--node', cluster.nodes[1]!.http, '--json'])) as { token: string };
    assert.deepEqual(await codeOf(await cluster.fetch(url, { method: 'POST', headers: { authorization: `Bearer ${metricsOnly.token}` } })), [403, 'InsufficientScope']);
    assert.equal((await cluster.fetch(`${cluster.nodes[2]!.http}/metrics`, { headers: { authorization: `Bearer ${metricsOnly.token}` } })).status, 200, 'metrics-read opens /metrics');
    assert.doesNotMatch(await ringstore(['user', 'list', '--node', cluster.nodes[0]!.http]), /mallory/);
  });
});
